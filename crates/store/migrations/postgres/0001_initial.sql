-- Pippin store, PostgreSQL dialect: the initial schema.
-- Times are Unix milliseconds (BIGINT). Text keys use the "C" collation so
-- that they sort byte-wise, as in SQLite.

-- One row per enrollment: a device channel (user_key = '') or a user channel
-- (user_key = the UserID / EnrollmentUserID), which points at its device
-- channel through device_pk.
CREATE TABLE enrollments (
    pk                     BIGSERIAL PRIMARY KEY,
    device                 TEXT COLLATE "C" NOT NULL,
    user_key               TEXT COLLATE "C" NOT NULL DEFAULT '',
    device_pk              BIGINT REFERENCES enrollments (pk) ON DELETE CASCADE,
    enrolled               BOOLEAN NOT NULL DEFAULT FALSE,
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
    push_token             BYTEA,
    push_magic             TEXT,
    unlock_token           BYTEA,
    awaiting_configuration BOOLEAN NOT NULL DEFAULT FALSE,
    user_short_name        TEXT,
    user_long_name         TEXT,
    identity_sha256        BYTEA,
    bootstrap_token        BYTEA,
    token_invalid          BOOLEAN NOT NULL DEFAULT FALSE,
    push_at                BIGINT,
    push_status            TEXT,
    push_reason            TEXT,
    created_at             BIGINT NOT NULL,
    authenticated_at       BIGINT,
    token_updated_at       BIGINT,
    checked_out_at         BIGINT,
    last_seen_at           BIGINT,
    UNIQUE (device, user_key)
);
CREATE INDEX enrollments_device_pk ON enrollments (device_pk) WHERE device_pk IS NOT NULL;
CREATE INDEX enrollments_serial_number ON enrollments (serial_number) WHERE serial_number IS NOT NULL;

-- One row per command, however many enrollments it is queued for.
CREATE TABLE commands (
    pk           BIGSERIAL PRIMARY KEY,
    uuid         TEXT    NOT NULL UNIQUE,
    request_type TEXT    NOT NULL,
    body         BYTEA   NOT NULL,
    priority     INTEGER NOT NULL,
    queued_by    TEXT    NOT NULL,
    queued_at    BIGINT  NOT NULL
);

-- One row per (command, enrollment). seq is the insertion order (the last
-- tie-breaker of the queue order); priority and queued_at are copied from the
-- command so that queue_next holds the whole order.
CREATE TABLE queue (
    seq           BIGSERIAL PRIMARY KEY,
    enrollment    BIGINT  NOT NULL REFERENCES enrollments (pk) ON DELETE CASCADE,
    command       BIGINT  NOT NULL REFERENCES commands (pk) ON DELETE CASCADE,
    priority      INTEGER NOT NULL,
    queued_at     BIGINT  NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'sent', 'not_now', 'acknowledged',
                                                    'error', 'command_format_error', 'cancelled')),
    deliveries    INTEGER NOT NULL DEFAULT 0,
    not_now_count INTEGER NOT NULL DEFAULT 0,
    sent_at       BIGINT,
    status_at     BIGINT,
    result        BYTEA,
    UNIQUE (command, enrollment)
);
-- The next command of an enrollment: the first row of this index for it.
-- Partial, so completed entries never weigh on the hot path.
CREATE INDEX queue_next ON queue (enrollment, priority DESC, queued_at, seq)
    WHERE state IN ('queued', 'sent');
-- NotNow entries to release on Idle, depths, cancellation.
CREATE INDEX queue_state ON queue (state, enrollment);

-- The latest inventory of each kind per enrollment. JSON rather than JSONB:
-- it keeps any string a device sends (JSONB refuses \u0000).
CREATE TABLE inventory (
    enrollment BIGINT NOT NULL REFERENCES enrollments (pk) ON DELETE CASCADE,
    kind       TEXT   NOT NULL,
    data       JSON   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (enrollment, kind)
);

CREATE TABLE audit (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    detail JSON   NOT NULL
);
CREATE INDEX audit_target ON audit (target, id);
