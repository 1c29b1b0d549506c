-- Automated Device Enrollment (DEP): one link per Apple Business Manager
-- server token, the devices Apple reports for each, and their history.

-- One row per link. token_sealed is encrypted by the caller; the store never
-- sees the token in clear.
CREATE TABLE dep_links (
    name         TEXT    PRIMARY KEY NOT NULL,
    token_sealed TEXT    NOT NULL,
    token_expiry INTEGER,
    consumer_key TEXT    NOT NULL,
    account_json TEXT,
    server_name  TEXT,
    server_uuid  TEXT,
    org_name     TEXT,
    cursor       TEXT,
    phase        TEXT    NOT NULL DEFAULT 'fetch' CHECK (phase IN ('fetch', 'sync')),
    cursor_at    INTEGER,
    last_sync_at INTEGER,
    last_sync_ok INTEGER,
    last_error   TEXT,
    profile_uuid TEXT,
    profile_hash TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- The last record Apple sent of each device of a link (Apple's text values,
-- dates included), and the service's state of assigning it a profile.
CREATE TABLE dep_devices (
    link                 TEXT    NOT NULL REFERENCES dep_links (name) ON DELETE CASCADE,
    serial_number        TEXT    NOT NULL,
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
    deleted              INTEGER NOT NULL DEFAULT 0,
    raw_json             TEXT    NOT NULL,
    assign_status        TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (assign_status IN ('pending', 'assigned', 'failed',
                                                  'not_accessible', 'throttled', 'skipped')),
    assign_detail        TEXT,
    assign_profile_uuid  TEXT,
    assign_at            INTEGER,
    retry_after          INTEGER,
    first_seen_at        INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
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
    WHERE deleted = 0 AND assign_status IN ('pending', 'throttled');

-- One row per device record received with an op_type; pruned by the caller.
CREATE TABLE dep_device_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    link          TEXT    NOT NULL REFERENCES dep_links (name) ON DELETE CASCADE,
    serial_number TEXT    NOT NULL,
    op_type       TEXT    NOT NULL,
    op_date       TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX dep_device_events_device ON dep_device_events (link, serial_number, id);
CREATE INDEX dep_device_events_at ON dep_device_events (at);
