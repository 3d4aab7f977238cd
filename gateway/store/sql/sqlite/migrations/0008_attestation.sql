-- 0008: notifiers and withdrawals signed end to end (docs/node-exchange.md): the organisation's signed
-- attestation travels with the outbox item, unchanged through every hub.
ALTER TABLE outbox ADD COLUMN attestation BLOB NOT NULL DEFAULT x'';
