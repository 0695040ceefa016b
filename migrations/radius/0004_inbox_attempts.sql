-- Failed processing attempts per inbox event. An event that keeps failing on its own is parked
-- (processed_at set, result "parked: <error>") after a few attempts, so it no longer blocks the
-- events behind it.
ALTER TABLE radsync_inbox ADD COLUMN attempts   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE radsync_inbox ADD COLUMN last_error TEXT    NOT NULL DEFAULT '';
