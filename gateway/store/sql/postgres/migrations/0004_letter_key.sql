-- 0004: a letter's identity uses its normalised number (letter_key): Thai digits as ASCII digits,
-- no invisible characters, single spaces; the number as written stays in letter_no.
ALTER TABLE letters ADD COLUMN letter_key TEXT NOT NULL DEFAULT '';
UPDATE letters SET letter_key = btrim(regexp_replace(
    regexp_replace(translate(normalize(letter_no, NFC), '๐๑๒๓๔๕๖๗๘๙', '0123456789'),
                   '[\u200B\u200C\u200D\u2060\uFEFF\u00AD]', '', 'g'),
    '\s+', ' ', 'g'));
-- Letters that the old identity let through twice keep distinct keys (the later ones name their ProcessID).
UPDATE letters SET letter_key = letter_key || ' (' || process_id || ')'
WHERE state <> 'withdrawn' AND EXISTS (
    SELECT 1 FROM letters o WHERE o.sender_org = letters.sender_org AND o.receiver_org = letters.receiver_org
      AND o.letter_key = letters.letter_key AND o.corr_date = letters.corr_date AND o.state <> 'withdrawn'
      AND o.id < letters.id);
DROP INDEX letters_identity;
CREATE UNIQUE INDEX letters_identity ON letters (sender_org, receiver_org, letter_key, corr_date)
    WHERE state <> 'withdrawn';
DROP INDEX letters_by_receiver;
CREATE INDEX letters_by_receiver ON letters (receiver_org, letter_key, corr_date);
CREATE INDEX letters_by_sender ON letters (sender_org, letter_key, corr_date);
