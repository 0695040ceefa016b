-- What meeting-room guests need: the rooms and their types (which bookings give guests WiFi)
-- and the visitors (their names and e-mails). Same layout as the other snapshot tables.
CREATE TABLE radsync_resources (
    id          TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL DEFAULT '',
    location    TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_resource_types (
    id          TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);

CREATE TABLE radsync_visitors (
    id          TEXT    PRIMARY KEY,
    member      TEXT    NOT NULL DEFAULT '',
    modified_at INTEGER,
    removed     INTEGER NOT NULL DEFAULT 0,
    raw         TEXT    NOT NULL
);
