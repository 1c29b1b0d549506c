-- SCEP renewals: a certificate issued as the renewal of another. The MDM
-- service re-binds a device to the new certificate the first time the
-- device presents it.
CREATE TABLE identity_renewals (
    new_sha256 BYTEA PRIMARY KEY,
    old_sha256 BYTEA NOT NULL,
    renewed_at BIGINT NOT NULL
);
CREATE INDEX identity_renewals_at ON identity_renewals (renewed_at);
