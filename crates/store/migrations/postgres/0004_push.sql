-- Push outcomes in full: the HTTP status and apns-id APNs answered with,
-- and for 410 Unregistered the time APNs says the token stopped being
-- valid (a TokenUpdate after it keeps the token).
ALTER TABLE enrollments
    ADD COLUMN push_http_status INTEGER,
    ADD COLUMN push_apns_id TEXT,
    ADD COLUMN push_unregistered_at BIGINT;

-- The push topics enrolled devices use, counted when a push certificate is
-- loaded or replaced.
CREATE INDEX enrollments_enrolled_topic ON enrollments (topic) WHERE enrolled;
