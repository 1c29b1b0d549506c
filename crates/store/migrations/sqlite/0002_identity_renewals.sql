-- SCEP renewals: a certificate issued as the renewal of another. The MDM
-- service re-binds a device to the new certificate the first time the
-- device presents it.
CREATE TABLE identity_renewals (
    new_sha256 BLOB PRIMARY KEY NOT NULL,
    old_sha256 BLOB NOT NULL,
    renewed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX identity_renewals_at ON identity_renewals (renewed_at);
