-- 0011: large enclosures beside the letter rows (issue 10). A blob is an enclosure's exact base64 text,
-- named by its SHA-256 (hex); the letter's stored document names it by placeholder (core/letters/parts.py).
-- Chunked rows of 1 MiB, in the same transaction as the letter that names them: every gateway process on
-- every host reaches them through the database, a crash leaves no letter without its blobs and no blob
-- the transaction did not commit, and nothing outside the database needs cleaning or backing up.
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
CREATE INDEX letter_parts_by_digest ON letter_parts (digest);
