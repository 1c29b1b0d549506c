-- DEP profile assignment retries: a failed assignment (an error answer to
-- the request, or FAILED for the device) is tried again after a back-off
-- (retry_after) until assign_attempts reaches the caller's limit; then it
-- stays failed, with no retry_after.
ALTER TABLE dep_devices ADD COLUMN assign_attempts INTEGER NOT NULL DEFAULT 0;

-- The devices due for an assignment now include the failed ones waiting for
-- a retry (the query keeps those with a retry_after).
DROP INDEX dep_devices_todo;
CREATE INDEX dep_devices_todo ON dep_devices (link, first_seen_at, serial_number)
    WHERE NOT deleted AND assign_status IN ('pending', 'throttled', 'failed');
