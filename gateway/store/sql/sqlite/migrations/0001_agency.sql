-- 0001: letters, notices and per-organisation queues (issue 2).
-- Times are integer microseconds since the Unix epoch (UTC) in both dialects.

CREATE TABLE letters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id    TEXT    NOT NULL UNIQUE,
    sender_org    TEXT    NOT NULL,
    receiver_org  TEXT    NOT NULL,
    letter_no     TEXT    NOT NULL,
    corr_date     TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    secret_code   TEXT    NOT NULL,
    speed_code    TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    signed        INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    delivery      TEXT    NOT NULL,
    accept_id     TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    pulled_at     INTEGER
);
-- One live letter per identity; a withdrawn one frees it for the resend.
CREATE UNIQUE INDEX letters_identity ON letters (sender_org, receiver_org, letter_no, corr_date)
    WHERE state <> 'withdrawn';
CREATE INDEX letters_by_receiver ON letters (receiver_org, letter_no, corr_date);
CREATE INDEX letters_by_sender_time ON letters (sender_org, created_at);

-- The bytes: raw = the request body exactly as received; document = the letter as stored and served.
CREATE TABLE letter_blobs (
    letter_id     INTEGER PRIMARY KEY REFERENCES letters (id),
    raw           BLOB    NOT NULL,
    document      BLOB    NOT NULL
);

CREATE TABLE notices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id    TEXT    NOT NULL UNIQUE,
    letter_id     INTEGER NOT NULL REFERENCES letters (id),
    kind          TEXT    NOT NULL,
    accept_id     TEXT    NOT NULL DEFAULT '',
    from_org      TEXT    NOT NULL,
    to_org        TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    raw           BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);
-- A notifier repeated by a retrying client is the same notifier.
CREATE UNIQUE INDEX notices_once ON notices (letter_id, kind, accept_id);

CREATE TABLE queue (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org           TEXT    NOT NULL,
    process_id    TEXT    NOT NULL,
    item_kind     TEXT    NOT NULL,
    letter_id     INTEGER NOT NULL REFERENCES letters (id),
    notice_id     INTEGER REFERENCES notices (id),
    created_at    INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    pulled_at     INTEGER,
    pull_count    INTEGER NOT NULL DEFAULT 0,
    deleted_at    INTEGER,
    UNIQUE (org, process_id)
);
CREATE INDEX queue_next ON queue (org, visible_at, id) WHERE deleted_at IS NULL;
CREATE INDEX queue_by_letter ON queue (letter_id);
