-- Pippin store, SQLite dialect: the initial schema.
-- Times are Unix milliseconds (INTEGER); booleans are 0/1.

-- One row per enrollment: a device channel (user_key = '') or a user channel
-- (user_key = the UserID / EnrollmentUserID), which points at its device
-- channel through device_pk.
CREATE TABLE enrollments (
    pk                     INTEGER PRIMARY KEY,
    device                 TEXT    NOT NULL,
    user_key               TEXT    NOT NULL DEFAULT '',
    device_pk              INTEGER REFERENCES enrollments (pk) ON DELETE CASCADE,
    enrolled               INTEGER NOT NULL DEFAULT 0,
    serial_number          TEXT,
    model                  TEXT,
    model_name             TEXT,
    product_name           TEXT,
    os_version             TEXT,
    build_version          TEXT,
    device_name            TEXT,
    imei                   TEXT,
    meid                   TEXT,
    topic                  TEXT,
    push_token             BLOB,
    push_magic             TEXT,
    unlock_token           BLOB,
    awaiting_configuration INTEGER NOT NULL DEFAULT 0,
    user_short_name        TEXT,
    user_long_name         TEXT,
    identity_sha256        BLOB,
    bootstrap_token        BLOB,
    token_invalid          INTEGER NOT NULL DEFAULT 0,
    push_at                INTEGER,
    push_status            TEXT,
    push_reason            TEXT,
    created_at             INTEGER NOT NULL,
    authenticated_at       INTEGER,
    token_updated_at       INTEGER,
    checked_out_at         INTEGER,
    last_seen_at           INTEGER,
    UNIQUE (device, user_key)
);
CREATE INDEX enrollments_device_pk ON enrollments (device_pk) WHERE device_pk IS NOT NULL;
CREATE INDEX enrollments_serial_number ON enrollments (serial_number) WHERE serial_number IS NOT NULL;

-- One row per command, however many enrollments it is queued for.
CREATE TABLE commands (
    pk           INTEGER PRIMARY KEY,
    uuid         TEXT    NOT NULL UNIQUE,
    request_type TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    priority     INTEGER NOT NULL,
    queued_by    TEXT    NOT NULL,
    queued_at    INTEGER NOT NULL
);

-- One row per (command, enrollment). seq is the insertion order (the last
-- tie-breaker of the queue order); priority and queued_at are copied from the
-- command so that queue_next holds the whole order.
CREATE TABLE queue (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment    INTEGER NOT NULL REFERENCES enrollments (pk) ON DELETE CASCADE,
    command       INTEGER NOT NULL REFERENCES commands (pk) ON DELETE CASCADE,
    priority      INTEGER NOT NULL,
    queued_at     INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'sent', 'not_now', 'acknowledged',
                                                    'error', 'command_format_error', 'cancelled')),
    deliveries    INTEGER NOT NULL DEFAULT 0,
    not_now_count INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER,
    status_at     INTEGER,
    result        BLOB,
    UNIQUE (command, enrollment)
);
-- The next command of an enrollment: the first row of this index for it.
-- Partial, so completed entries never weigh on the hot path.
CREATE INDEX queue_next ON queue (enrollment, priority DESC, queued_at, seq)
    WHERE state IN ('queued', 'sent');
-- NotNow entries to release on Idle, depths, cancellation.
CREATE INDEX queue_state ON queue (state, enrollment);

-- The latest inventory of each kind per enrollment (JSON text).
CREATE TABLE inventory (
    enrollment INTEGER NOT NULL REFERENCES enrollments (pk) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (enrollment, kind)
) WITHOUT ROWID;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
CREATE INDEX audit_target ON audit (target, id);
