-- radsync's private state (the state database, mode 0600, read by nobody but radsync).

-- Key/value facts about this database, e.g. that it was split out of a one-file database.
CREATE TABLE radsync_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One WiFi account per member radsync has provisioned (active) or disabled (revoked). No
-- password in clear: `secret` is the password row's value (an NT hash, or the password only
-- when accounts.password.storage is cleartext), `secret_mac` the keyed hash of a custom
-- property's value that the secret came from.
CREATE TABLE radsync_accounts (
    member_id        TEXT    PRIMARY KEY,
    username         TEXT    NOT NULL,
    secret           TEXT    NOT NULL DEFAULT '',
    secret_attribute TEXT    NOT NULL DEFAULT '',
    secret_mac       TEXT    NOT NULL DEFAULT '',
    state            TEXT    NOT NULL CHECK (state IN ('active', 'revoked')),
    state_since      INTEGER NOT NULL,              -- unix seconds
    grp              TEXT    NOT NULL DEFAULT '',
    locations        TEXT    NOT NULL DEFAULT '',
    expires          INTEGER,                       -- unix seconds, NULL = open-ended
    reason           TEXT    NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL
);
-- Not UNIQUE: the mapping engine guarantees one holder per name, and two members swapping
-- names inside one transaction must not trip over the order of the writes.
CREATE INDEX radsync_accounts_username ON radsync_accounts(username);

-- Snapshot of OfficeRnD entities: the fields radsync queries, plus the object as received.
CREATE TABLE radsync_members (
    id          TEXT    PRIMARY KEY,
    email       TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT '',
    company     TEXT    NOT NULL DEFAULT '',
    location    TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL,
    -- Keyed hash (the state key) of the object as OfficeRnD sent it, before its password
    -- properties were replaced by their hashes in raw: a poll tells an unchanged member by it
    -- without redacting it again. '' when unknown (written by a webhook or the split).
    source_mac  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX radsync_members_email ON radsync_members(email);
CREATE INDEX radsync_members_company ON radsync_members(company);

CREATE TABLE radsync_companies (
    id          TEXT    PRIMARY KEY,
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_memberships (
    id          TEXT    PRIMARY KEY,
    member      TEXT    NOT NULL DEFAULT '',
    company     TEXT    NOT NULL DEFAULT '',
    plan        TEXT    NOT NULL DEFAULT '',
    location    TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);
CREATE INDEX radsync_memberships_member ON radsync_memberships(member);
CREATE INDEX radsync_memberships_company ON radsync_memberships(company);

CREATE TABLE radsync_plans (
    id          TEXT    PRIMARY KEY,
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_locations (
    id          TEXT    PRIMARY KEY,
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_passes (
    id          TEXT    PRIMARY KEY,
    member      TEXT    NOT NULL DEFAULT '',
    company     TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_bookings (
    id          TEXT    PRIMARY KEY,
    member      TEXT    NOT NULL DEFAULT '',
    location    TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

-- One row per reconcile run (file, full, member).
CREATE TABLE radsync_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    mode             TEXT    NOT NULL,
    source           TEXT    NOT NULL DEFAULT '',
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    result           TEXT    NOT NULL,
    rows_inserted    INTEGER NOT NULL DEFAULT 0,
    rows_updated     INTEGER NOT NULL DEFAULT 0,
    rows_deleted     INTEGER NOT NULL DEFAULT 0,
    accounts_written INTEGER NOT NULL DEFAULT 0,
    accounts_deleted INTEGER NOT NULL DEFAULT 0,
    error            TEXT    NOT NULL DEFAULT ''
);

-- Every change radsync made to a FreeRADIUS table. Password values are stored as "(secret)".
CREATE TABLE radsync_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id    INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    op        TEXT    NOT NULL,
    tbl       TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    attribute TEXT    NOT NULL,
    old_value TEXT    NOT NULL DEFAULT '',
    new_value TEXT    NOT NULL DEFAULT '',
    reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX radsync_audit_name ON radsync_audit(name);
CREATE INDEX radsync_audit_run ON radsync_audit(run_id);

CREATE TABLE radsync_inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- arrival order
    event_id     TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    t            TEXT    NOT NULL,                    -- the signed timestamp, as sent
    received_at  INTEGER NOT NULL,                    -- unix seconds
    body         BLOB    NOT NULL,                    -- the verified bytes (sealed, see at_rest)
    processed_at INTEGER,                             -- NULL until applied to the snapshot
    result       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX radsync_inbox_pending ON radsync_inbox(processed_at, seq);
