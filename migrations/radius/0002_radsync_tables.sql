-- radsync's own tables. All prefixed radsync_ so they never collide with FreeRADIUS's.

-- Which FreeRADIUS rows radsync wrote. The FreeRADIUS tables keep their stock columns, so
-- ownership lives here; ids come from AUTOINCREMENT and are never reused, so a deleted row of
-- ours can never be mistaken for an operator's later row.
CREATE TABLE radsync_owned_rows (
    tbl     TEXT    NOT NULL,
    row_id  INTEGER NOT NULL,
    PRIMARY KEY (tbl, row_id)
) WITHOUT ROWID;

-- One WiFi account per member radsync has provisioned (active) or disabled (revoked).
CREATE TABLE radsync_accounts (
    member_id   TEXT    PRIMARY KEY,
    username    TEXT    NOT NULL,
    password    TEXT    NOT NULL DEFAULT '',   -- generated password; '' when taken from OfficeRnD
    state       TEXT    NOT NULL CHECK (state IN ('active', 'revoked')),
    state_since INTEGER NOT NULL,              -- unix seconds
    grp         TEXT    NOT NULL DEFAULT '',
    locations   TEXT    NOT NULL DEFAULT '',
    expires     INTEGER,                       -- unix seconds, NULL = open-ended
    reason      TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL
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
    raw         TEXT    NOT NULL
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
