-- Apps and Books (VPP): one row per location content token, the assets
-- (apps and books) each token owns with their license counts, the service's
-- license assignments to devices, and the ids of the notifications Apple
-- sent (to drop repeats). Keys use the "C" collation, as in 0001.

-- One row per token. token_sealed and notify_secret_sealed are encrypted by
-- the caller; the store never sees them in clear.
CREATE TABLE vpp_tokens (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    description          TEXT    NOT NULL DEFAULT '',
    org_type             TEXT    NOT NULL CHECK (org_type IN ('business', 'education')),
    token_sealed         TEXT    NOT NULL,
    org_name             TEXT    NOT NULL,
    token_expiry         BIGINT,
    notify_secret_sealed TEXT,
    location_name        TEXT,
    u_id                 TEXT,
    country              TEXT,
    default_platform     TEXT,
    claimed_at           BIGINT,
    claim_error          TEXT,
    assets_version       TEXT,
    assets_synced_at     BIGINT,
    last_sync_at         BIGINT,
    last_sync_ok         BOOLEAN,
    last_error           TEXT,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);

-- Each asset as the last walk of GET assets described it (generation: the
-- walk that stored it; finishing a walk deletes the rows of other walks),
-- and the app metadata looked up for it. platforms is a JSON array (text,
-- as SQLite keeps it).
CREATE TABLE vpp_assets (
    token             TEXT COLLATE "C" NOT NULL REFERENCES vpp_tokens (name) ON DELETE CASCADE,
    adam_id           TEXT COLLATE "C" NOT NULL,
    pricing_param     TEXT COLLATE "C" NOT NULL,
    product_type      TEXT,
    total_count       BIGINT,
    assigned_count    BIGINT  NOT NULL,
    available_count   BIGINT,
    retired_count     BIGINT,
    device_assignable BOOLEAN NOT NULL,
    revocable         BOOLEAN NOT NULL,
    platforms         TEXT    NOT NULL,
    name              TEXT,
    bundle_id         TEXT,
    icon_url          TEXT,
    version           TEXT,
    metadata_at       BIGINT,
    generation        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    PRIMARY KEY (token, adam_id, pricing_param)
);
-- The assets whose metadata is still to be looked up. Partial: the looked-up
-- majority never weighs on it.
CREATE INDEX vpp_assets_no_metadata ON vpp_assets (token, adam_id) WHERE metadata_at IS NULL;

-- One row per (token, asset, device serial number) the service assigned a
-- license to, in the states of VppAssignState. Goes with its asset.
CREATE TABLE vpp_assignments (
    token         TEXT COLLATE "C" NOT NULL,
    adam_id       TEXT COLLATE "C" NOT NULL,
    pricing_param TEXT COLLATE "C" NOT NULL,
    serial_number TEXT COLLATE "C" NOT NULL,
    udid          TEXT,
    state         TEXT    NOT NULL
                  CHECK (state IN ('pending_associate', 'associating', 'installing', 'installed',
                                   'failed', 'pending_remove', 'removing',
                                   'pending_disassociate', 'disassociating', 'removed')),
    event_id      TEXT,
    command_uuid  TEXT,
    detail        TEXT,
    options_json  TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT,
    requested_by  TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (token, adam_id, pricing_param, serial_number),
    FOREIGN KEY (token, adam_id, pricing_param)
        REFERENCES vpp_assets (token, adam_id, pricing_param) ON DELETE CASCADE
);
-- The work in one state, oldest change first (the order is the index's, so
-- a batch reads only its rows however many wait), and the counts per state.
CREATE INDEX vpp_assignments_due
    ON vpp_assignments (token, state, updated_at, adam_id, pricing_param, serial_number);
-- Licenses asked for and not yet in Apple's counts, per asset (covering).
-- Partial: only the few assignments under way.
CREATE INDEX vpp_assignments_requested ON vpp_assignments (token, adam_id, pricing_param, state)
    WHERE state IN ('pending_associate', 'associating');
-- A device's assignments, on any token.
CREATE INDEX vpp_assignments_serial ON vpp_assignments (serial_number);
-- The assignments of an Apple job, and of an MDM command.
CREATE INDEX vpp_assignments_event ON vpp_assignments (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX vpp_assignments_command ON vpp_assignments (command_uuid)
    WHERE command_uuid IS NOT NULL;

-- The notification ids seen, to drop the ones Apple sends again; pruned by
-- the caller.
CREATE TABLE vpp_notifications (
    notification_id TEXT    PRIMARY KEY,
    token           TEXT COLLATE "C" NOT NULL REFERENCES vpp_tokens (name) ON DELETE CASCADE,
    received_at     BIGINT  NOT NULL
);
CREATE INDEX vpp_notifications_token ON vpp_notifications (token);
CREATE INDEX vpp_notifications_at ON vpp_notifications (received_at);
