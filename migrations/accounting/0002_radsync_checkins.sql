-- OfficeRnD check-ins radsync made from presence (sessions.checkins): one row per member,
-- location and local day, written before the call to OfficeRnD and settled after it, so that a
-- retry or a restart never creates a second check-in for the same day.
CREATE TABLE radsync_checkins (
    member_id   TEXT    NOT NULL,
    location_id TEXT    NOT NULL,
    day         TEXT    NOT NULL,   -- the location's local date, YYYY-MM-DD
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'open', 'adopted', 'closed', 'failed')),
    starts_at   INTEGER NOT NULL,   -- unix seconds
    ends_at     INTEGER,            -- unix seconds, once checked out
    checkin_id  TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (member_id, location_id, day)
) WITHOUT ROWID;
CREATE INDEX radsync_checkins_day ON radsync_checkins(day);
