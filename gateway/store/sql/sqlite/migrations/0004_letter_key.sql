-- 0004: a letter's identity uses its normalised number (letter_key): Thai digits as ASCII digits,
-- no invisible characters, single spaces; the number as written stays in letter_no.
ALTER TABLE letters ADD COLUMN letter_key TEXT NOT NULL DEFAULT '';
UPDATE letters SET letter_key = trim(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
    replace(replace(replace(replace(replace(replace(replace(replace(letter_no,
    '๐', '0'), '๑', '1'), '๒', '2'), '๓', '3'), '๔', '4'), '๕', '5'), '๖', '6'), '๗', '7'), '๘', '8'), '๙', '9'),
    char(8203), ''), char(8204), ''), char(8205), ''), char(8288), ''), char(65279), ''), char(173), ''),
    '  ', ' '), '  ', ' '));
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
