-- The SQLite schema as the migrations leave it, written by tools/dump_schema.py.
-- tests/integration/test_schema.py checks that this file and the migrations build the same schema.
-- Not run by the node: migrations/ is the source of truth.

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
, signed_by TEXT NOT NULL DEFAULT '', signer TEXT NOT NULL DEFAULT '', signer_org TEXT NOT NULL DEFAULT '', certificate_sha256 TEXT NOT NULL DEFAULT '', signature_method TEXT NOT NULL DEFAULT '', digest_method TEXT NOT NULL DEFAULT '', c14n_method TEXT NOT NULL DEFAULT '', signature_policy TEXT NOT NULL DEFAULT '', signature_digest TEXT NOT NULL DEFAULT '', verified_at INTEGER, path TEXT NOT NULL DEFAULT '[]', letter_key TEXT NOT NULL DEFAULT '');

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
, path TEXT NOT NULL DEFAULT '[]');

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

CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id        TEXT    NOT NULL UNIQUE,
    kind              TEXT    NOT NULL,
    process_id        TEXT    NOT NULL,
    letter_process_id TEXT    NOT NULL,
    sender_org        TEXT    NOT NULL,
    receiver_org      TEXT    NOT NULL,
    next_node         TEXT    NOT NULL,
    path              TEXT    NOT NULL DEFAULT '[]',
    payload           BLOB   NOT NULL,
    state             TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER  NOT NULL,
    next_attempt_at   INTEGER  NOT NULL,
    deadline_at       INTEGER  NOT NULL,
    lease_until       INTEGER  NOT NULL DEFAULT 0,
    lease_token       TEXT    NOT NULL DEFAULT '',
    last_error        TEXT    NOT NULL DEFAULT '',
    receipt           BLOB,
    receipt_at        INTEGER,
    delivered_late    INTEGER NOT NULL DEFAULT 0,
    finished_at       INTEGER
, abandoned_at INTEGER, abandoned_by TEXT NOT NULL DEFAULT '', attestation BLOB NOT NULL DEFAULT x'');

CREATE TABLE received (
    sender_node    TEXT    NOT NULL,
    message_id     TEXT    NOT NULL,
    process_id     TEXT    NOT NULL,
    payload_digest TEXT    NOT NULL,
    receipt        BLOB   NOT NULL,
    received_at    INTEGER  NOT NULL,
    PRIMARY KEY (sender_node, message_id)
);

CREATE TABLE console_accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'auditor')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE console_sessions (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES console_accounts (id),
    csrf_token    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE TABLE console_audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    username      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '',
    remote_addr   TEXT    NOT NULL DEFAULT ''
);

CREATE VIRTUAL TABLE letters_fts USING fts5(subject, content='letters', content_rowid='id', tokenize='trigram');

CREATE TABLE evidence (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    process_id    TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    item          TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '{}',
    digest        TEXT    NOT NULL DEFAULT '',
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL UNIQUE,
    UNIQUE (process_id, prev_hash)
);

CREATE TABLE evidence_checkpoints (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    upto_id         INTEGER NOT NULL,
    entries         INTEGER NOT NULL,
    root            TEXT    NOT NULL,
    prev_root       TEXT    NOT NULL,
    document        BLOB    NOT NULL,
    timestamp_token BLOB    NOT NULL DEFAULT x''
);

CREATE TABLE blobs (
    digest      TEXT    PRIMARY KEY,
    size        BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE blob_chunks (
    digest  TEXT     NOT NULL REFERENCES blobs (digest),
    seq     INTEGER  NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (digest, seq)
);

CREATE TABLE letter_parts (
    letter_id  INTEGER  NOT NULL REFERENCES letters (id),
    seq        INTEGER  NOT NULL,
    digest     TEXT     NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (letter_id, seq)
);

CREATE INDEX letters_by_sender_time ON letters (sender_org, created_at);

CREATE UNIQUE INDEX notices_once ON notices (letter_id, kind, accept_id);

CREATE INDEX queue_next ON queue (org, visible_at, id) WHERE deleted_at IS NULL;

CREATE INDEX queue_by_letter ON queue (letter_id);

CREATE INDEX letters_by_signature ON letters (sender_org, signature_digest);

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE INDEX outbox_by_letter ON outbox (letter_process_id, id) WHERE state = 'pending';

CREATE UNIQUE INDEX letters_identity ON letters (sender_org, receiver_org, letter_key, corr_date)
    WHERE state <> 'withdrawn';

CREATE INDEX letters_by_receiver ON letters (receiver_org, letter_key, corr_date);

CREATE INDEX letters_by_sender ON letters (sender_org, letter_key, corr_date);

CREATE INDEX queue_open_by_org ON queue (org, id) WHERE deleted_at IS NULL;

CREATE INDEX outbox_of_letter ON outbox (letter_process_id);

CREATE INDEX console_sessions_by_account ON console_sessions (account_id);

CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

CREATE INDEX console_audit_by_target ON console_audit (target);

CREATE INDEX outbox_failed_open ON outbox (id) WHERE state = 'failed' AND abandoned_at IS NULL;

CREATE INDEX outbox_delivered_by_receipt ON outbox (receipt_at) WHERE state = 'delivered';

CREATE INDEX letters_unregistered ON letters (created_at, id)
    WHERE delivery = 'delivered' AND state IN ('sent', 'received');

CREATE INDEX received_by_process_id ON received (process_id);

CREATE TRIGGER letters_fts_insert AFTER INSERT ON letters BEGIN
    INSERT INTO letters_fts (rowid, subject) VALUES (new.id, new.subject);
END;

CREATE TRIGGER letters_fts_delete AFTER DELETE ON letters BEGIN
    INSERT INTO letters_fts (letters_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
END;

CREATE TRIGGER letters_fts_update AFTER UPDATE OF subject ON letters BEGIN
    INSERT INTO letters_fts (letters_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
    INSERT INTO letters_fts (rowid, subject) VALUES (new.id, new.subject);
END;

CREATE INDEX evidence_by_process_id ON evidence (process_id, id);

CREATE UNIQUE INDEX evidence_checkpoints_one_successor ON evidence_checkpoints (prev_root);

CREATE INDEX letter_parts_by_digest ON letter_parts (digest);
