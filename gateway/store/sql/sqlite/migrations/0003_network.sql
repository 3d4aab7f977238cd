-- 0003: node-to-node exchange (issue 4): the outbox, received messages, letter paths.

-- One row per item to push to a neighbour node. It is written in the same transaction
-- that answers the e-Saraban (or stores an item to forward), so nothing is lost between.
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
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
-- Items of one letter leave in order: a notifier never overtakes its letter.
CREATE INDEX outbox_by_letter ON outbox (letter_process_id, id) WHERE state = 'pending';

-- Every message accepted from a peer, with the receipt issued for it: a repeat of
-- (sender node, MessageId) is answered with that receipt, byte for byte.
CREATE TABLE received (
    sender_node    TEXT    NOT NULL,
    message_id     TEXT    NOT NULL,
    process_id     TEXT    NOT NULL,
    payload_digest TEXT    NOT NULL,
    receipt        BLOB   NOT NULL,
    received_at    INTEGER  NOT NULL,
    PRIMARY KEY (sender_node, message_id)
);

ALTER TABLE letters ADD COLUMN path TEXT NOT NULL DEFAULT '[]';
ALTER TABLE notices ADD COLUMN path TEXT NOT NULL DEFAULT '[]';
