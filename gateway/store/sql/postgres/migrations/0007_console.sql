-- 0007: the web console (issue 13): its accounts, sessions and audit log; an operator's retry or
-- abandonment of an outbox item; letters found by any part of their subject.

CREATE TABLE console_accounts (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'auditor')),
    disabled      BOOLEAN NOT NULL DEFAULT false,
    created_at    BIGINT  NOT NULL
);

-- A logged-in browser, by the hash of its cookie's token (the token itself is never stored).
CREATE TABLE console_sessions (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    account_id    BIGINT  NOT NULL REFERENCES console_accounts (id),
    csrf_token    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX console_sessions_by_account ON console_sessions (account_id);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- What was done through the console, by whom and from where; rows are only ever added.
CREATE TABLE console_audit (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT  NOT NULL,
    username      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '',
    remote_addr   TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX console_audit_by_target ON console_audit (target);

-- An item an operator gave up stays failed, marked; it leaves the console's list of failures.
ALTER TABLE outbox ADD COLUMN abandoned_at BIGINT;
ALTER TABLE outbox ADD COLUMN abandoned_by TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_failed_open ON outbox (id) WHERE state = 'failed' AND abandoned_at IS NULL;
-- The dashboard's delivery times, and its letters delivered but never registered.
CREATE INDEX outbox_delivered_by_receipt ON outbox (receipt_at) WHERE state = 'delivered';
CREATE INDEX letters_unregistered ON letters (created_at, id)
    WHERE delivery = 'delivered' AND state IN ('sent', 'received');
-- A letter's timeline: the messages peers pushed for it.
CREATE INDEX received_by_process_id ON received (process_id);

-- Subject search: Thai is written without spaces between words, so the index is of every three
-- characters (pg_trgm), which serves ILIKE '%...%' for any substring of three or more characters.
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: a role that may create objects
-- in the database may create it, no superuser needed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX letters_subject_trgm ON letters USING gin (subject gin_trgm_ops);
