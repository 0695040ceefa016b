-- What an account was last granted through: 'member' (a membership; kept disabled for the
-- revoked retention when access ends), 'pass' (day passes alone; swept at the location's
-- sweep time once they expire), 'guest' (a booking's visitor).
ALTER TABLE radsync_accounts ADD COLUMN kind TEXT NOT NULL DEFAULT 'member'
    CHECK (kind IN ('member', 'pass', 'guest'));
