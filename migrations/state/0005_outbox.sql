-- The e-mail outbox: credentials queued in the same transaction that provisions the account
-- (or resets its password), sent by the mailer, never twice after the relay's 250.
--   status: pending  -> waiting for next_attempt_at
--           sending  -> handed to the mailer; a start finds it here after a crash and sends
--                       it again, once, with the same message_id
--           sent     -> the relay answered 250; payload wiped
--           parked   -> failed max_attempts times (or permanently); `radsync outbox requeue`
--           cancelled-> the account lost access, or a newer password superseded it; wiped
-- payload is the JSON the message is rendered from, sealed (AES-256-GCM) under the state
-- database's key; it holds the password, so it is NULL once the message is sent or cancelled.
CREATE TABLE radsync_outbox (
    id               INTEGER PRIMARY KEY,
    subject          TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    recipient_role   TEXT    NOT NULL,
    message_id       TEXT    NOT NULL UNIQUE,
    payload          TEXT,
    carries_password INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    sent_at          INTEGER,
    last_error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX radsync_outbox_due ON radsync_outbox (status, next_attempt_at);
CREATE INDEX radsync_outbox_subject ON radsync_outbox (subject);
