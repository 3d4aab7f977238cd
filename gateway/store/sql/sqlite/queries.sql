-- Named queries, SQLite dialect. Every name here exists in postgres/queries.sql too (a test checks).
-- Parameters are :name.

-- name: insert_letter
INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, letter_key, corr_date, subject, secret_code,
                     speed_code, digest, signed, state, delivery, accept_id, created_at, updated_at)
VALUES (:process_id, :sender_org, :receiver_org, :letter_no, :letter_key, :corr_date, :subject, :secret_code,
        :speed_code, :digest, :signed, :state, :delivery, '', :now, :now)
RETURNING id;

-- name: record_verification
UPDATE letters SET signed_by = :signed_by, signer = :signer, signer_org = :signer_org,
       certificate_sha256 = :certificate_sha256, signature_method = :signature_method,
       digest_method = :digest_method, c14n_method = :c14n_method,
       signature_policy = :signature_policy, signature_digest = :signature_digest,
       verified_at = :verified_at
WHERE id = :id;

-- name: letters_by_signature
SELECT * FROM letters WHERE sender_org = :sender_org AND signature_digest = :signature_digest
ORDER BY id;

-- name: insert_letter_blob
INSERT INTO letter_blobs (letter_id, raw, document) VALUES (:letter_id, :raw, :document);

-- name: find_live_letter
SELECT * FROM letters
WHERE sender_org = :sender_org AND receiver_org = :receiver_org AND letter_key = :letter_key
  AND corr_date = :corr_date AND state <> 'withdrawn';

-- name: find_withdrawn_letter
SELECT * FROM letters
WHERE sender_org = :sender_org AND receiver_org = :receiver_org AND letter_key = :letter_key
  AND corr_date = :corr_date AND state = 'withdrawn'
ORDER BY id DESC LIMIT 1;

-- name: letters_to_receiver
SELECT * FROM letters
WHERE receiver_org = :receiver_org AND letter_key = :letter_key AND corr_date = :corr_date
  AND state <> 'withdrawn'
ORDER BY id;

-- name: letters_from_sender
SELECT * FROM letters
WHERE sender_org = :sender_org AND letter_key = :letter_key AND corr_date = :corr_date
  AND state <> 'withdrawn'
ORDER BY id;

-- name: get_letter
SELECT * FROM letters WHERE id = :id;

-- name: letter_by_process_id
SELECT * FROM letters WHERE process_id = :process_id;

-- name: letter_document
SELECT document FROM letter_blobs WHERE letter_id = :letter_id;

-- name: letter_raw
SELECT raw FROM letter_blobs WHERE letter_id = :letter_id;

-- name: set_letter_state
UPDATE letters SET state = :new_state, accept_id = :accept_id, updated_at = :now
WHERE id = :id AND state = :expected_state;

-- name: set_letter_pulled
UPDATE letters SET pulled_at = :now WHERE id = :id AND pulled_at IS NULL;

-- name: outbound_status
SELECT * FROM letters
WHERE sender_org = :sender_org AND created_at >= :since
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: recent_letters
SELECT * FROM letters
WHERE (sender_org = :org OR receiver_org = :org)
ORDER BY id DESC
LIMIT :limit;

-- name: insert_notice
INSERT INTO notices (process_id, letter_id, kind, accept_id, from_org, to_org, payload, raw, created_at)
VALUES (:process_id, :letter_id, :kind, :accept_id, :from_org, :to_org, :payload, :raw, :now)
RETURNING id;

-- name: find_notice
SELECT * FROM notices WHERE letter_id = :letter_id AND kind = :kind AND accept_id = :accept_id;

-- name: latest_notice
SELECT * FROM notices WHERE letter_id = :letter_id AND kind = :kind ORDER BY id DESC LIMIT 1;

-- name: get_notice
SELECT * FROM notices WHERE id = :id;

-- name: enqueue
INSERT INTO queue (org, process_id, item_kind, letter_id, notice_id, created_at, visible_at)
VALUES (:org, :process_id, :item_kind, :letter_id, :notice_id, :now, :now);

-- name: claim_next
-- The oldest visible, undeleted item of the organisation becomes invisible for the
-- visibility timeout; SQLite runs one writer at a time, so no row lock is needed.
UPDATE queue SET visible_at = :until, pulled_at = :now, pull_count = pull_count + 1
WHERE id = (SELECT id FROM queue
            WHERE org = :org AND deleted_at IS NULL AND visible_at <= :now
            ORDER BY id LIMIT 1)
RETURNING *;

-- name: queue_item
SELECT * FROM queue WHERE org = :org AND process_id = :process_id;

-- name: delete_queue_item
UPDATE queue SET deleted_at = :now WHERE org = :org AND process_id = :process_id AND deleted_at IS NULL;

-- name: delete_letter_items
UPDATE queue SET deleted_at = :now WHERE org = :org AND letter_id = :letter_id AND item_kind = 'letter'
  AND deleted_at IS NULL;

-- name: queue_depth
SELECT org, count(*) AS items FROM queue WHERE deleted_at IS NULL GROUP BY org ORDER BY org;

-- name: table_counts
SELECT (SELECT count(*) FROM letters) AS letters,
       (SELECT count(*) FROM letter_blobs) AS letter_blobs,
       (SELECT count(*) FROM notices) AS notices,
       (SELECT count(*) FROM queue) AS queue,
       (SELECT count(*) FROM outbox) AS outbox,
       (SELECT count(*) FROM received) AS received;

-- name: insert_outbox
INSERT INTO outbox (message_id, kind, process_id, letter_process_id, sender_org, receiver_org, next_node,
                    path, payload, attestation, state, created_at, next_attempt_at, deadline_at)
VALUES (:message_id, :kind, :process_id, :letter_process_id, :sender_org,
        :receiver_org, :next_node, :path, :payload, :attestation, 'pending', :now, :now,
        :deadline);

-- name: notify_outbox
-- Wakes idle workers (PostgreSQL LISTEN/NOTIFY, delivered at commit); a no-op on SQLite.
SELECT 1 AS notified;

-- name: claim_outbox
-- Due items whose letter has no earlier pending item, leased to one worker.
UPDATE outbox SET lease_until = :until, lease_token = :token, attempts = attempts + 1
WHERE id IN (SELECT o.id FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= :now AND o.lease_until <= :now
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.letter_process_id = o.letter_process_id
                               AND p.state = 'pending' AND p.id < o.id)
             ORDER BY o.next_attempt_at, o.id
             LIMIT :limit)
RETURNING *;

-- name: outbox_delivered
UPDATE outbox SET state = 'delivered', receipt = :receipt, receipt_at = :now,
       delivered_late = CASE WHEN state = 'failed' THEN 1 ELSE 0 END, finished_at = :now,
       lease_until = 0, last_error = ''
WHERE id = :id AND state IN ('pending', 'failed');

-- name: outbox_retry
UPDATE outbox SET next_attempt_at = :next_at, last_error = :error, lease_until = 0
WHERE id = :id AND state = 'pending' AND lease_token = :token;

-- name: outbox_failed
UPDATE outbox SET state = 'failed', last_error = :error, finished_at = :now, lease_until = 0
WHERE id = :id AND state = 'pending';

-- name: expired_outbox
SELECT * FROM outbox WHERE state = 'pending' AND deadline_at < :now AND lease_until <= :now
ORDER BY id LIMIT :limit;

-- name: outbox_item
SELECT * FROM outbox WHERE id = :id;

-- name: outbox_by_message_id
SELECT * FROM outbox WHERE message_id = :message_id;

-- name: outbox_of_letter
SELECT * FROM outbox WHERE letter_process_id = :letter_process_id ORDER BY id;

-- name: outbox_counts
SELECT state, count(*) AS items FROM outbox GROUP BY state ORDER BY state;

-- name: next_due_at
SELECT min(next_attempt_at) AS due FROM outbox WHERE state = 'pending';

-- name: insert_received
INSERT INTO received (sender_node, message_id, process_id, payload_digest, receipt, received_at)
VALUES (:sender_node, :message_id, :process_id, :payload_digest, :receipt, :now);

-- name: received_message
SELECT * FROM received WHERE sender_node = :sender_node AND message_id = :message_id;

-- name: set_letter_delivery
UPDATE letters SET delivery = :delivery, updated_at = :now
WHERE process_id = :process_id AND delivery <> :delivery;

-- name: set_letter_path
UPDATE letters SET path = :path WHERE id = :id;

-- name: set_notice_path
UPDATE notices SET path = :path WHERE id = :id;

-- name: notice_by_process_id
SELECT * FROM notices WHERE process_id = :process_id;

-- Registers, statistics and retention (issue 13: operations/registers.py, operations/retention.py).

-- name: register_received
-- The receive register (ทะเบียนหนังสือรับ) of an organisation: letters to it, each entered when it was
-- registered (its latest AcceptLetterNotifier) or, while it is not, when it arrived here.
SELECT r.* FROM (
    SELECT l.*, (SELECT max(n.created_at) FROM notices n WHERE n.letter_id = l.id AND n.kind = 'accept')
                AS accepted_at
    FROM letters l WHERE l.receiver_org = :org AND l.created_at < :until) r
WHERE coalesce(r.accepted_at, r.created_at) >= :since AND coalesce(r.accepted_at, r.created_at) < :until
ORDER BY coalesce(r.accepted_at, r.created_at), r.id;

-- name: register_sent
-- The send register (ทะเบียนหนังสือส่ง) of an organisation: the letters it sent, when they were stored.
SELECT l.*, (SELECT max(n.created_at) FROM notices n WHERE n.letter_id = l.id AND n.kind = 'accept')
            AS accepted_at
FROM letters l WHERE l.sender_org = :org AND l.created_at >= :since AND l.created_at < :until
ORDER BY l.created_at, l.id;

-- name: letter_counts
-- An organisation's letters stored in [since, until): sent (and delivered of them), received, their bytes.
SELECT count(CASE WHEN l.sender_org = :org THEN 1 END) AS sent,
       count(CASE WHEN l.sender_org = :org AND l.delivery = 'delivered' THEN 1 END) AS sent_delivered,
       coalesce(sum(CASE WHEN l.sender_org = :org THEN length(b.document) END), 0) AS sent_bytes,
       count(CASE WHEN l.receiver_org = :org THEN 1 END) AS received,
       coalesce(sum(CASE WHEN l.receiver_org = :org THEN length(b.document) END), 0) AS received_bytes
FROM letters l JOIN letter_blobs b ON b.letter_id = l.id
WHERE (l.sender_org = :org OR l.receiver_org = :org) AND l.created_at >= :since AND l.created_at < :until;

-- name: notice_counts
-- Letters an organisation received and answered in [since, until) with each kind of notifier.
SELECT n.kind, count(DISTINCT n.letter_id) AS letters
FROM notices n JOIN letters l ON l.id = n.letter_id
WHERE l.receiver_org = :org AND n.from_org = :org AND n.created_at >= :since AND n.created_at < :until
GROUP BY n.kind ORDER BY n.kind;

-- name: purge_candidates
-- Letters done with before the cut-off: in a final state (or never delivered and given up), nothing of
-- them newer (notice, queue item, outbox item) and nothing in flight (an undeleted queue item, a
-- pending outbox item). In id order, after the last id seen.
SELECT l.* FROM letters l
WHERE l.id > :after AND l.updated_at < :before AND coalesce(l.pulled_at, 0) < :before
  AND (l.state IN ('accepted', 'rejected', 'invalid', 'withdrawn') OR (l.state = 'sent' AND l.delivery = 'failed'))
  AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.letter_id = l.id AND n.created_at >= :before)
  AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.letter_id = l.id
                  AND (q.deleted_at IS NULL OR q.deleted_at >= :before))
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.letter_process_id = l.process_id
                  AND (o.state = 'pending' OR coalesce(o.finished_at, o.created_at) >= :before))
ORDER BY l.id LIMIT :limit;

-- name: transit_purge_candidates
-- Outbox items this node only forwarded (no letter of theirs is stored here), finished before the cut-off.
SELECT o.id, o.kind, o.letter_process_id, o.next_node, o.state FROM outbox o
WHERE o.id > :after AND o.state <> 'pending' AND coalesce(o.finished_at, o.created_at) < :before
  AND NOT EXISTS (SELECT 1 FROM letters l WHERE l.process_id = o.letter_process_id)
ORDER BY o.id LIMIT :limit;

-- name: purge_letter_queue
DELETE FROM queue WHERE letter_id = :letter_id;

-- name: purge_letter_notices
DELETE FROM notices WHERE letter_id = :letter_id;

-- name: purge_letter_outbox
DELETE FROM outbox WHERE letter_process_id = :letter_process_id;

-- name: purge_letter_blob
DELETE FROM letter_blobs WHERE letter_id = :letter_id;

-- name: purge_letter
DELETE FROM letters WHERE id = :letter_id;

-- name: purge_outbox_item
DELETE FROM outbox WHERE id = :id AND state <> 'pending';

-- The web console (issue 13: store/console.py).

-- name: insert_account
INSERT INTO console_accounts (username, display_name, password_hash, role, disabled, created_at)
VALUES (:username, :display_name, :password_hash, :role, 0, :now)
RETURNING id;

-- name: account
SELECT * FROM console_accounts WHERE username = :username;

-- name: accounts
SELECT * FROM console_accounts ORDER BY username;

-- name: set_account_password
UPDATE console_accounts SET password_hash = :password_hash WHERE username = :username;

-- name: set_account_disabled
UPDATE console_accounts SET disabled = :disabled WHERE username = :username;

-- name: delete_account_sessions
DELETE FROM console_sessions
WHERE account_id IN (SELECT id FROM console_accounts WHERE username = :username);

-- name: insert_session
INSERT INTO console_sessions (token_hash, account_id, csrf_token, created_at, expires_at)
VALUES (:token_hash, :account_id, :csrf_token, :now, :expires);

-- name: session
-- A session counts until it expires, and only while its account is enabled.
SELECT s.*, a.username, a.display_name, a.role
FROM console_sessions s JOIN console_accounts a ON a.id = s.account_id
WHERE s.token_hash = :token_hash AND s.expires_at > :now AND a.disabled = 0;

-- name: delete_session
DELETE FROM console_sessions WHERE token_hash = :token_hash;

-- name: delete_expired_sessions
DELETE FROM console_sessions WHERE expires_at <= :now;

-- name: insert_audit
INSERT INTO console_audit (at, username, action, target, detail, remote_addr)
VALUES (:now, :username, :action, :target, :detail, :remote_addr)
RETURNING id;

-- name: audit_log
SELECT * FROM console_audit WHERE id < :before_id ORDER BY id DESC LIMIT :limit;

-- name: audit_of_target
-- What operators did to one letter (its timeline), oldest first.
SELECT * FROM console_audit WHERE target = :target ORDER BY id;

-- name: failed_outbox
SELECT * FROM outbox WHERE state = 'failed' AND abandoned_at IS NULL ORDER BY id DESC LIMIT :limit;

-- name: retrying_outbox
SELECT * FROM outbox WHERE state = 'pending' AND last_error <> '' ORDER BY next_attempt_at, id LIMIT :limit;

-- name: delivery_latencies
SELECT receipt_at, created_at FROM outbox WHERE state = 'delivered' AND receipt_at >= :since
ORDER BY receipt_at, id;

-- name: outbox_retry_now
-- An operator's "push it again now": a failed item, or a pending one no worker holds the lease of.
UPDATE outbox SET state = 'pending', next_attempt_at = :now, deadline_at = :deadline, lease_until = 0,
       finished_at = NULL, abandoned_at = NULL, abandoned_by = ''
WHERE id = :id AND state IN ('failed', 'pending') AND (state = 'failed' OR lease_until <= :now);

-- name: outbox_abandon
-- An operator gives an item up: a failed one not abandoned yet, or a pending one no worker holds.
UPDATE outbox SET state = 'failed', finished_at = coalesce(finished_at, :now), abandoned_at = :now,
       abandoned_by = :by, lease_until = 0,
       last_error = CASE WHEN last_error = '' THEN 'abandoned by ' || :by ELSE last_error END
WHERE id = :id AND state IN ('pending', 'failed') AND abandoned_at IS NULL
  AND (state = 'failed' OR lease_until <= :now);

-- name: unregistered_letters
-- Letters in their receiver's queue that it has not registered (no Accept, Reject or Invalid yet).
SELECT * FROM letters
WHERE delivery = 'delivered' AND state IN ('sent', 'received') AND created_at < :before
ORDER BY created_at, id LIMIT :limit;

-- name: search_letters
-- Subject text of 3 or more characters: the trigram index (letters_fts) finds the letters whose
-- subject contains the phrase. Number: as written, or its normalised letter_key.
SELECT l.* FROM letters l
WHERE l.id IN (SELECT rowid FROM letters_fts WHERE letters_fts MATCH :phrase)
  AND (:no_pattern = '' OR l.letter_no LIKE :no_pattern ESCAPE '\' OR l.letter_key LIKE :key_pattern ESCAPE '\')
  AND (:org = '' OR l.sender_org = :org OR l.receiver_org = :org)
  AND l.created_at >= :since AND l.created_at < :until
ORDER BY l.created_at DESC, l.id DESC LIMIT :limit;

-- name: search_letters_like
-- Subject text of fewer than 3 characters (or none): too short for the trigram index, so LIKE.
SELECT l.* FROM letters l
WHERE (:subject_pattern = '' OR l.subject LIKE :subject_pattern ESCAPE '\')
  AND (:no_pattern = '' OR l.letter_no LIKE :no_pattern ESCAPE '\' OR l.letter_key LIKE :key_pattern ESCAPE '\')
  AND (:org = '' OR l.sender_org = :org OR l.receiver_org = :org)
  AND l.created_at >= :since AND l.created_at < :until
ORDER BY l.created_at DESC, l.id DESC LIMIT :limit;

-- name: notices_of_letter
SELECT * FROM notices WHERE letter_id = :letter_id ORDER BY id;

-- name: queue_items_of_letter
SELECT * FROM queue WHERE letter_id = :letter_id ORDER BY id;

-- name: received_by_process_id
SELECT * FROM received WHERE process_id = :process_id ORDER BY received_at, sender_node, message_id;

-- The evidence log (issue 14: store/evidence.py). Rows are only ever added.
-- name: evidence_head
-- The hash of the letter's newest entry, which the next entry names as its prev_hash.
SELECT hash FROM evidence WHERE process_id = :process_id ORDER BY id DESC LIMIT 1;

-- name: insert_evidence
INSERT INTO evidence (at, process_id, event, item, detail, digest, prev_hash, hash)
VALUES (:at, :process_id, :event, :item, :detail, :digest, :prev_hash, :hash)
RETURNING id;

-- name: evidence_of
SELECT * FROM evidence WHERE process_id = :process_id ORDER BY id;

-- name: evidence_after
-- The log in order, a page at a time (verification and checkpoints walk it).
SELECT * FROM evidence WHERE id > :after_id ORDER BY id LIMIT :limit;

-- name: evidence_max_id
SELECT coalesce(max(id), 0) AS max_id FROM evidence;

-- name: letters_after
-- Letters in id order, a page at a time (the evidence log's verification walks them all).
SELECT * FROM letters WHERE id > :after_id ORDER BY id LIMIT :limit;

-- name: insert_checkpoint
INSERT INTO evidence_checkpoints (at, upto_id, entries, root, prev_root, document, timestamp_token)
VALUES (:at, :upto_id, :entries, :root, :prev_root, :document, :timestamp_token)
RETURNING id;

-- name: last_checkpoint
SELECT * FROM evidence_checkpoints ORDER BY id DESC LIMIT 1;

-- name: checkpoints
SELECT * FROM evidence_checkpoints ORDER BY id;

-- Large enclosures beside the letter rows (issue 10: store/blobs.py).

-- name: insert_blob
-- One blob per digest: the same enclosure twice is stored once (no row comes back the second time).
INSERT INTO blobs (digest, size, created_at) VALUES (:digest, :size, :now)
ON CONFLICT (digest) DO NOTHING
RETURNING digest;

-- name: insert_blob_chunk
INSERT INTO blob_chunks (digest, seq, data) VALUES (:digest, :seq, :data);

-- name: link_part
INSERT INTO letter_parts (letter_id, seq, digest) VALUES (:letter_id, :seq, :digest);

-- name: letter_parts
SELECT p.seq, p.digest, b.size FROM letter_parts p JOIN blobs b ON b.digest = p.digest
WHERE p.letter_id = :letter_id ORDER BY p.seq;

-- name: blob_size
SELECT size FROM blobs WHERE digest = :digest;

-- name: blob_chunk
SELECT data FROM blob_chunks WHERE digest = :digest AND seq = :seq;

-- name: purge_letter_parts
DELETE FROM letter_parts WHERE letter_id = :letter_id;

-- name: unreferenced_blobs
-- Blobs no letter names any more (their letters purged), older than a cut-off, oldest first.
SELECT digest FROM blobs b
WHERE b.created_at < :before AND NOT EXISTS (SELECT 1 FROM letter_parts p WHERE p.digest = b.digest)
ORDER BY b.created_at, b.digest LIMIT :limit;

-- name: delete_blob_chunks
DELETE FROM blob_chunks WHERE digest = :digest;

-- name: delete_blob
DELETE FROM blobs WHERE digest = :digest
  AND NOT EXISTS (SELECT 1 FROM letter_parts p WHERE p.digest = blobs.digest);
