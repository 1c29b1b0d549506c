-- Automated Device Enrollment (DEP): one link per Apple Business Manager
-- server token, the devices Apple reports for each, and their history.
-- Keys use the "C" collation, as in 0001.

-- One row per link. token_sealed is encrypted by the caller; the store never
-- sees the token in clear.
CREATE TABLE dep_links (
    name         TEXT COLLATE "C" PRIMARY KEY,
    token_sealed TEXT    NOT NULL,
    token_expiry BIGINT,
    consumer_key TEXT    NOT NULL,
    account_json TEXT,
    server_name  TEXT,
    server_uuid  TEXT,
    org_name     TEXT,
    cursor       TEXT,
    phase        TEXT    NOT NULL DEFAULT 'fetch' CHECK (phase IN ('fetch', 'sync')),
    cursor_at    BIGINT,
    last_sync_at BIGINT,
    last_sync_ok BOOLEAN,
    last_error   TEXT,
    profile_uuid TEXT,
    profile_hash TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

-- The last record Apple sent of each device of a link (Apple's text values,
-- dates included), and the service's state of assigning it a profile.
-- raw_json is TEXT: the record exactly as Apple sent it.
CREATE TABLE dep_devices (
    link                 TEXT COLLATE "C" NOT NULL REFERENCES dep_links (name) ON DELETE CASCADE,
    serial_number        TEXT COLLATE "C" NOT NULL,
    model                TEXT,
    description          TEXT,
    color                TEXT,
    asset_tag            TEXT,
    os                   TEXT,
    device_family        TEXT,
    profile_status       TEXT,
    profile_uuid         TEXT,
    profile_assign_time  TEXT,
    profile_push_time    TEXT,
    device_assigned_date TEXT,
    device_assigned_by   TEXT,
    op_type              TEXT,
    op_date              TEXT,
    deleted              BOOLEAN NOT NULL DEFAULT FALSE,
    raw_json             TEXT    NOT NULL,
    assign_status        TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (assign_status IN ('pending', 'assigned', 'failed',
                                                  'not_accessible', 'throttled', 'skipped')),
    assign_detail        TEXT,
    assign_profile_uuid  TEXT,
    assign_at            BIGINT,
    retry_after          BIGINT,
    first_seen_at        BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    PRIMARY KEY (link, serial_number)
);
-- A serial number on any link.
CREATE INDEX dep_devices_serial ON dep_devices (serial_number);
-- Listings filtered by state (of one link or all), counts per state of a
-- link (covering).
CREATE INDEX dep_devices_status ON dep_devices (assign_status, link, serial_number, deleted);
-- The devices due for an assignment, oldest first. Partial: the assigned
-- majority never weighs on it.
CREATE INDEX dep_devices_todo ON dep_devices (link, first_seen_at, serial_number)
    WHERE NOT deleted AND assign_status IN ('pending', 'throttled');

-- One row per device record received with an op_type; pruned by the caller.
CREATE TABLE dep_device_events (
    id            BIGSERIAL PRIMARY KEY,
    link          TEXT COLLATE "C" NOT NULL REFERENCES dep_links (name) ON DELETE CASCADE,
    serial_number TEXT COLLATE "C" NOT NULL,
    op_type       TEXT   NOT NULL,
    op_date       TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX dep_device_events_device ON dep_device_events (link, serial_number, id);
CREATE INDEX dep_device_events_at ON dep_device_events (at);
