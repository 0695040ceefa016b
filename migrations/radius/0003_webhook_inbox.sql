-- Durable webhook inbox. A verified delivery is committed here before OfficeRnD gets its 2xx;
-- the event id is the primary key, so a redelivery is recognised and not processed twice.
-- Rows are kept at least 7 days after processing for that deduplication.
CREATE TABLE radsync_inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- arrival order
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    t            TEXT    NOT NULL,                    -- the signed timestamp, as sent
    received_at  INTEGER NOT NULL,                    -- unix seconds
    body         BLOB    NOT NULL,                    -- the exact bytes that were verified
    processed_at INTEGER,                             -- NULL until applied to the snapshot
    result       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX radsync_inbox_pending ON radsync_inbox(processed_at, seq);
