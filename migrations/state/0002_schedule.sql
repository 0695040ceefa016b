-- The schedule: for every account whose access changes by itself at a known moment (a
-- membership starting or ending, a pass or booking window, a disabled account's retention
-- running out), the earliest such moment. The daemon wakes for the earliest row, so a
-- transition happens on time without a poll, after a restart too, and one missed while radsync
-- was down is applied at start. Rewritten by every run for the accounts it decided.
CREATE TABLE radsync_schedule (
    subject TEXT    PRIMARY KEY,  -- the account's key (member id)
    at      INTEGER NOT NULL,     -- unix seconds
    what    TEXT    NOT NULL      -- what happens then, for status and the log
) WITHOUT ROWID;
CREATE INDEX radsync_schedule_at ON radsync_schedule(at);
