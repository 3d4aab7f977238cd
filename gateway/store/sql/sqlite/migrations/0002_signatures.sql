-- 0002: what verification of each letter's signature established (issue 3).
ALTER TABLE letters ADD COLUMN signed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN signer TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN signer_org TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN certificate_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN signature_method TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN digest_method TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN c14n_method TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN signature_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN signature_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN verified_at INTEGER;
-- A signed letter replayed after its withdrawal is found by its signature.
CREATE INDEX letters_by_signature ON letters (sender_org, signature_digest);
