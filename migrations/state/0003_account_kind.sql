-- What an account was last granted through: 'member' (a membership; kept disabled for the
-- revoked retention when access ends), 'pass' (day passes alone; swept at the location's
-- sweep time once they expire), 'guest' (a booking's visitor).
ALTER TABLE radsync_accounts ADD COLUMN kind TEXT NOT NULL DEFAULT 'member'
    CHECK (kind IN ('member', 'pass', 'guest'));

-- The account's own Framed-IP-Address (from a pool or a member property), '' for none. It
-- stays with the account, disabled ones included, until the account is finally removed.
ALTER TABLE radsync_accounts ADD COLUMN address TEXT NOT NULL DEFAULT '';
CREATE INDEX radsync_accounts_address ON radsync_accounts(address) WHERE address <> '';
