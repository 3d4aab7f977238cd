-- 0009: the tamper-evident evidence log (issue 14). Every event of a letter is an entry, chained per
-- letter (ProcessID) by hash: each entry names the hash of the letter's entry before it. Rows are only
-- ever added, and purging a letter leaves them.
CREATE TABLE evidence (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT  NOT NULL,
    process_id    TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    item          TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '{}',
    digest        TEXT    NOT NULL DEFAULT '',
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL UNIQUE,
    -- two appends to one letter's chain at once name the same previous entry: the second conflicts
    UNIQUE (process_id, prev_hash)
);
CREATE INDEX evidence_by_process_id ON evidence (process_id, id);

-- The node's signed checkpoints, each covering every entry up to upto_id (with an RFC 3161 time-stamp
-- token when a TSA is configured, else empty).
CREATE TABLE evidence_checkpoints (
    id              BIGSERIAL PRIMARY KEY,
    at              BIGINT  NOT NULL,
    upto_id         BIGINT  NOT NULL,
    entries         BIGINT  NOT NULL,
    root            TEXT    NOT NULL,
    prev_root       TEXT    NOT NULL,
    document        BYTEA   NOT NULL,
    timestamp_token BYTEA   NOT NULL DEFAULT '\x'::bytea
);
