-- 0006: every outbox item of one letter, whatever its state (issue 13, `gateway purge`).
-- outbox_by_letter (0003) covers pending items only. Purging a letter deletes its delivered and
-- failed items too, by letter_process_id: without this index each purged letter scanned the whole
-- outbox, which keeps one row per item ever pushed.
CREATE INDEX outbox_of_letter ON outbox (letter_process_id);
