-- Named queries, PostgreSQL dialect. Every name here exists in sqlite/queries.sql too (a test checks).
-- Parameters are %(name)s.

-- name: insert_letter
INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, letter_key, corr_date, subject, secret_code,
                     speed_code, digest, signed, state, delivery, accept_id, created_at, updated_at)
VALUES (%(process_id)s, %(sender_org)s, %(receiver_org)s, %(letter_no)s, %(letter_key)s, %(corr_date)s, %(subject)s, %(secret_code)s,
        %(speed_code)s, %(digest)s, %(signed)s, %(state)s, %(delivery)s, '', %(now)s, %(now)s)
RETURNING id;

-- name: record_verification
UPDATE letters SET signed_by = %(signed_by)s, signer = %(signer)s, signer_org = %(signer_org)s,
       certificate_sha256 = %(certificate_sha256)s, signature_method = %(signature_method)s,
       digest_method = %(digest_method)s, c14n_method = %(c14n_method)s,
       signature_policy = %(signature_policy)s, signature_digest = %(signature_digest)s,
       verified_at = %(verified_at)s
WHERE id = %(id)s;

-- name: letters_by_signature
SELECT * FROM letters WHERE sender_org = %(sender_org)s AND signature_digest = %(signature_digest)s
ORDER BY id;

-- name: insert_letter_blob
INSERT INTO letter_blobs (letter_id, raw, document) VALUES (%(letter_id)s, %(raw)s, %(document)s);

-- name: find_live_letter
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND receiver_org = %(receiver_org)s AND letter_key = %(letter_key)s
  AND corr_date = %(corr_date)s AND state <> 'withdrawn';

-- name: find_withdrawn_letter
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND receiver_org = %(receiver_org)s AND letter_key = %(letter_key)s
  AND corr_date = %(corr_date)s AND state = 'withdrawn'
ORDER BY id DESC LIMIT 1;

-- name: letters_to_receiver
SELECT * FROM letters
WHERE receiver_org = %(receiver_org)s AND letter_key = %(letter_key)s AND corr_date = %(corr_date)s
  AND state <> 'withdrawn'
ORDER BY id;

-- name: letters_from_sender
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND letter_key = %(letter_key)s AND corr_date = %(corr_date)s
  AND state <> 'withdrawn'
ORDER BY id;

-- name: get_letter
SELECT * FROM letters WHERE id = %(id)s;

-- name: letter_by_process_id
SELECT * FROM letters WHERE process_id = %(process_id)s;

-- name: letter_document
SELECT document FROM letter_blobs WHERE letter_id = %(letter_id)s;

-- name: letter_raw
SELECT raw FROM letter_blobs WHERE letter_id = %(letter_id)s;

-- name: set_letter_state
UPDATE letters SET state = %(new_state)s, accept_id = %(accept_id)s, updated_at = %(now)s
WHERE id = %(id)s AND state = %(expected_state)s;

-- name: set_letter_pulled
UPDATE letters SET pulled_at = %(now)s WHERE id = %(id)s AND pulled_at IS NULL;

-- name: outbound_status
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND created_at >= %(since)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: recent_letters
SELECT * FROM letters
WHERE (sender_org = %(org)s OR receiver_org = %(org)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: insert_notice
INSERT INTO notices (process_id, letter_id, kind, accept_id, from_org, to_org, payload, raw, created_at)
VALUES (%(process_id)s, %(letter_id)s, %(kind)s, %(accept_id)s, %(from_org)s, %(to_org)s, %(payload)s, %(raw)s, %(now)s)
RETURNING id;

-- name: find_notice
SELECT * FROM notices WHERE letter_id = %(letter_id)s AND kind = %(kind)s AND accept_id = %(accept_id)s;

-- name: latest_notice
SELECT * FROM notices WHERE letter_id = %(letter_id)s AND kind = %(kind)s ORDER BY id DESC LIMIT 1;

-- name: get_notice
SELECT * FROM notices WHERE id = %(id)s;

-- name: enqueue
INSERT INTO queue (org, process_id, item_kind, letter_id, notice_id, created_at, visible_at)
VALUES (%(org)s, %(process_id)s, %(item_kind)s, %(letter_id)s, %(notice_id)s, %(now)s, %(now)s);

-- name: claim_next
-- The oldest visible, undeleted item of the organisation becomes invisible for the
-- visibility timeout. SKIP LOCKED lets concurrent pulls of one organisation take
-- different items instead of waiting for each other.
UPDATE queue SET visible_at = %(until)s, pulled_at = %(now)s, pull_count = pull_count + 1
WHERE id = (SELECT id FROM queue
            WHERE org = %(org)s AND deleted_at IS NULL AND visible_at <= %(now)s
            ORDER BY id LIMIT 1
            FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: queue_item
SELECT * FROM queue WHERE org = %(org)s AND process_id = %(process_id)s;

-- name: delete_queue_item
UPDATE queue SET deleted_at = %(now)s WHERE org = %(org)s AND process_id = %(process_id)s AND deleted_at IS NULL;

-- name: delete_letter_items
UPDATE queue SET deleted_at = %(now)s WHERE org = %(org)s AND letter_id = %(letter_id)s AND item_kind = 'letter'
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
VALUES (%(message_id)s, %(kind)s, %(process_id)s, %(letter_process_id)s, %(sender_org)s,
        %(receiver_org)s, %(next_node)s, %(path)s, %(payload)s, %(attestation)s, 'pending', %(now)s, %(now)s,
        %(deadline)s);

-- name: notify_outbox
-- Wakes idle workers (PostgreSQL LISTEN/NOTIFY, delivered at commit); a no-op on SQLite.
SELECT pg_notify('gateway_outbox', '') AS notified;

-- name: claim_outbox
-- Due items whose letter has no earlier pending item, leased to one worker.
UPDATE outbox SET lease_until = %(until)s, lease_token = %(token)s, attempts = attempts + 1
WHERE id IN (SELECT o.id FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= %(now)s AND o.lease_until <= %(now)s
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.letter_process_id = o.letter_process_id
                               AND p.state = 'pending' AND p.id < o.id)
             ORDER BY o.next_attempt_at, o.id
             LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: outbox_delivered
UPDATE outbox SET state = 'delivered', receipt = %(receipt)s, receipt_at = %(now)s,
       delivered_late = CASE WHEN state = 'failed' THEN 1 ELSE 0 END, finished_at = %(now)s,
       lease_until = 0, last_error = ''
WHERE id = %(id)s AND state IN ('pending', 'failed');

-- name: outbox_retry
UPDATE outbox SET next_attempt_at = %(next_at)s, last_error = %(error)s, lease_until = 0
WHERE id = %(id)s AND state = 'pending' AND lease_token = %(token)s;

-- name: outbox_failed
UPDATE outbox SET state = 'failed', last_error = %(error)s, finished_at = %(now)s, lease_until = 0
WHERE id = %(id)s AND state = 'pending';

-- name: expired_outbox
SELECT * FROM outbox WHERE state = 'pending' AND deadline_at < %(now)s AND lease_until <= %(now)s
ORDER BY id LIMIT %(limit)s;

-- name: outbox_item
SELECT * FROM outbox WHERE id = %(id)s;

-- name: outbox_by_message_id
SELECT * FROM outbox WHERE message_id = %(message_id)s;

-- name: outbox_of_letter
SELECT * FROM outbox WHERE letter_process_id = %(letter_process_id)s ORDER BY id;

-- name: outbox_counts
SELECT state, count(*) AS items FROM outbox GROUP BY state ORDER BY state;

-- name: next_due_at
SELECT min(next_attempt_at) AS due FROM outbox WHERE state = 'pending';

-- name: insert_received
INSERT INTO received (sender_node, message_id, process_id, payload_digest, receipt, received_at)
VALUES (%(sender_node)s, %(message_id)s, %(process_id)s, %(payload_digest)s, %(receipt)s, %(now)s);

-- name: received_message
SELECT * FROM received WHERE sender_node = %(sender_node)s AND message_id = %(message_id)s;

-- name: set_letter_delivery
UPDATE letters SET delivery = %(delivery)s, updated_at = %(now)s
WHERE process_id = %(process_id)s AND delivery <> %(delivery)s;

-- name: set_letter_path
UPDATE letters SET path = %(path)s WHERE id = %(id)s;

-- name: set_notice_path
UPDATE notices SET path = %(path)s WHERE id = %(id)s;

-- name: notice_by_process_id
SELECT * FROM notices WHERE process_id = %(process_id)s;

-- Registers, statistics and retention (issue 13: operations/registers.py, operations/retention.py).

-- name: register_received
-- The receive register (ทะเบียนหนังสือรับ) of an organisation: letters to it, each entered when it was
-- registered (its latest AcceptLetterNotifier) or, while it is not, when it arrived here.
SELECT r.* FROM (
    SELECT l.*, (SELECT max(n.created_at) FROM notices n WHERE n.letter_id = l.id AND n.kind = 'accept')
                AS accepted_at
    FROM letters l WHERE l.receiver_org = %(org)s AND l.created_at < %(until)s) r
WHERE coalesce(r.accepted_at, r.created_at) >= %(since)s AND coalesce(r.accepted_at, r.created_at) < %(until)s
ORDER BY coalesce(r.accepted_at, r.created_at), r.id;

-- name: register_sent
-- The send register (ทะเบียนหนังสือส่ง) of an organisation: the letters it sent, when they were stored.
SELECT l.*, (SELECT max(n.created_at) FROM notices n WHERE n.letter_id = l.id AND n.kind = 'accept')
            AS accepted_at
FROM letters l WHERE l.sender_org = %(org)s AND l.created_at >= %(since)s AND l.created_at < %(until)s
ORDER BY l.created_at, l.id;

-- name: letter_counts
-- An organisation's letters stored in [since, until): sent (and delivered of them), received, their bytes.
SELECT count(CASE WHEN l.sender_org = %(org)s THEN 1 END) AS sent,
       count(CASE WHEN l.sender_org = %(org)s AND l.delivery = 'delivered' THEN 1 END) AS sent_delivered,
       coalesce(sum(CASE WHEN l.sender_org = %(org)s THEN octet_length(b.document) END), 0) AS sent_bytes,
       count(CASE WHEN l.receiver_org = %(org)s THEN 1 END) AS received,
       coalesce(sum(CASE WHEN l.receiver_org = %(org)s THEN octet_length(b.document) END), 0) AS received_bytes
FROM letters l JOIN letter_blobs b ON b.letter_id = l.id
WHERE (l.sender_org = %(org)s OR l.receiver_org = %(org)s) AND l.created_at >= %(since)s AND l.created_at < %(until)s;

-- name: notice_counts
-- Letters an organisation received and answered in [since, until) with each kind of notifier.
SELECT n.kind, count(DISTINCT n.letter_id) AS letters
FROM notices n JOIN letters l ON l.id = n.letter_id
WHERE l.receiver_org = %(org)s AND n.from_org = %(org)s AND n.created_at >= %(since)s AND n.created_at < %(until)s
GROUP BY n.kind ORDER BY n.kind;

-- name: purge_candidates
-- Letters done with before the cut-off: in a final state (or never delivered and given up), nothing of
-- them newer (notice, queue item, outbox item) and nothing in flight (an undeleted queue item, a
-- pending outbox item). In id order, after the last id seen. Rows a concurrent transaction holds are skipped (the
-- next run takes them).
SELECT l.* FROM letters l
WHERE l.id > %(after)s AND l.updated_at < %(before)s AND coalesce(l.pulled_at, 0) < %(before)s
  AND (l.state IN ('accepted', 'rejected', 'invalid', 'withdrawn') OR (l.state = 'sent' AND l.delivery = 'failed'))
  AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.letter_id = l.id AND n.created_at >= %(before)s)
  AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.letter_id = l.id
                  AND (q.deleted_at IS NULL OR q.deleted_at >= %(before)s))
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.letter_process_id = l.process_id
                  AND (o.state = 'pending' OR coalesce(o.finished_at, o.created_at) >= %(before)s))
ORDER BY l.id LIMIT %(limit)s
FOR UPDATE OF l SKIP LOCKED;

-- name: transit_purge_candidates
-- Outbox items this node only forwarded (no letter of theirs is stored here), finished before the cut-off.
SELECT o.id, o.kind, o.letter_process_id, o.next_node, o.state FROM outbox o
WHERE o.id > %(after)s AND o.state <> 'pending' AND coalesce(o.finished_at, o.created_at) < %(before)s
  AND NOT EXISTS (SELECT 1 FROM letters l WHERE l.process_id = o.letter_process_id)
ORDER BY o.id LIMIT %(limit)s;

-- name: purge_letter_queue
DELETE FROM queue WHERE letter_id = %(letter_id)s;

-- name: purge_letter_notices
DELETE FROM notices WHERE letter_id = %(letter_id)s;

-- name: purge_letter_outbox
DELETE FROM outbox WHERE letter_process_id = %(letter_process_id)s;

-- name: purge_letter_blob
DELETE FROM letter_blobs WHERE letter_id = %(letter_id)s;

-- name: purge_letter
DELETE FROM letters WHERE id = %(letter_id)s;

-- name: purge_outbox_item
DELETE FROM outbox WHERE id = %(id)s AND state <> 'pending';

-- The web console (issue 13: store/console.py).

-- name: insert_account
INSERT INTO console_accounts (username, display_name, password_hash, role, disabled, created_at)
VALUES (%(username)s, %(display_name)s, %(password_hash)s, %(role)s, false, %(now)s)
RETURNING id;

-- name: account
SELECT * FROM console_accounts WHERE username = %(username)s;

-- name: accounts
SELECT * FROM console_accounts ORDER BY username;

-- name: set_account_password
UPDATE console_accounts SET password_hash = %(password_hash)s WHERE username = %(username)s;

-- name: set_account_disabled
UPDATE console_accounts SET disabled = %(disabled)s WHERE username = %(username)s;

-- name: delete_account_sessions
DELETE FROM console_sessions
WHERE account_id IN (SELECT id FROM console_accounts WHERE username = %(username)s);

-- name: insert_session
INSERT INTO console_sessions (token_hash, account_id, csrf_token, created_at, expires_at)
VALUES (%(token_hash)s, %(account_id)s, %(csrf_token)s, %(now)s, %(expires)s);

-- name: session
-- A session counts until it expires, and only while its account is enabled.
SELECT s.*, a.username, a.display_name, a.role
FROM console_sessions s JOIN console_accounts a ON a.id = s.account_id
WHERE s.token_hash = %(token_hash)s AND s.expires_at > %(now)s AND NOT a.disabled;

-- name: delete_session
DELETE FROM console_sessions WHERE token_hash = %(token_hash)s;

-- name: delete_expired_sessions
DELETE FROM console_sessions WHERE expires_at <= %(now)s;

-- name: insert_audit
INSERT INTO console_audit (at, username, action, target, detail, remote_addr)
VALUES (%(now)s, %(username)s, %(action)s, %(target)s, %(detail)s, %(remote_addr)s)
RETURNING id;

-- name: audit_log
SELECT * FROM console_audit WHERE id < %(before_id)s ORDER BY id DESC LIMIT %(limit)s;

-- name: audit_of_target
-- What operators did to one letter (its timeline), oldest first.
SELECT * FROM console_audit WHERE target = %(target)s ORDER BY id;

-- name: failed_outbox
SELECT * FROM outbox WHERE state = 'failed' AND abandoned_at IS NULL ORDER BY id DESC LIMIT %(limit)s;

-- name: retrying_outbox
SELECT * FROM outbox WHERE state = 'pending' AND last_error <> '' ORDER BY next_attempt_at, id LIMIT %(limit)s;

-- name: delivery_latencies
SELECT receipt_at, created_at FROM outbox WHERE state = 'delivered' AND receipt_at >= %(since)s
ORDER BY receipt_at, id;

-- name: outbox_retry_now
-- An operator's "push it again now": a failed item, or a pending one no worker holds the lease of.
UPDATE outbox SET state = 'pending', next_attempt_at = %(now)s, deadline_at = %(deadline)s, lease_until = 0,
       finished_at = NULL, abandoned_at = NULL, abandoned_by = ''
WHERE id = %(id)s AND state IN ('failed', 'pending') AND (state = 'failed' OR lease_until <= %(now)s);

-- name: outbox_abandon
-- An operator gives an item up: a failed one not abandoned yet, or a pending one no worker holds.
UPDATE outbox SET state = 'failed', finished_at = coalesce(finished_at, %(now)s), abandoned_at = %(now)s,
       abandoned_by = %(by)s, lease_until = 0,
       last_error = CASE WHEN last_error = '' THEN 'abandoned by ' || %(by)s ELSE last_error END
WHERE id = %(id)s AND state IN ('pending', 'failed') AND abandoned_at IS NULL
  AND (state = 'failed' OR lease_until <= %(now)s);

-- name: unregistered_letters
-- Letters in their receiver's queue that it has not registered (no Accept, Reject or Invalid yet).
SELECT * FROM letters
WHERE delivery = 'delivered' AND state IN ('sent', 'received') AND created_at < %(before)s
ORDER BY created_at, id LIMIT %(limit)s;

-- name: search_letters
-- Subject text of 3 or more characters: the trigram index (letters_subject_trgm) serves the ILIKE.
-- Number: as written, or its normalised letter_key.
SELECT l.* FROM letters l
WHERE l.subject ILIKE %(subject_pattern)s ESCAPE '\'
  AND (%(no_pattern)s = '' OR l.letter_no ILIKE %(no_pattern)s ESCAPE '\' OR l.letter_key ILIKE %(key_pattern)s ESCAPE '\')
  AND (%(org)s = '' OR l.sender_org = %(org)s OR l.receiver_org = %(org)s)
  AND l.created_at >= %(since)s AND l.created_at < %(until)s
ORDER BY l.created_at DESC, l.id DESC LIMIT %(limit)s;

-- name: search_letters_like
-- Subject text of fewer than 3 characters (or none): too short for the trigram index to help.
SELECT l.* FROM letters l
WHERE (%(subject_pattern)s = '' OR l.subject ILIKE %(subject_pattern)s ESCAPE '\')
  AND (%(no_pattern)s = '' OR l.letter_no ILIKE %(no_pattern)s ESCAPE '\' OR l.letter_key ILIKE %(key_pattern)s ESCAPE '\')
  AND (%(org)s = '' OR l.sender_org = %(org)s OR l.receiver_org = %(org)s)
  AND l.created_at >= %(since)s AND l.created_at < %(until)s
ORDER BY l.created_at DESC, l.id DESC LIMIT %(limit)s;

-- name: notices_of_letter
SELECT * FROM notices WHERE letter_id = %(letter_id)s ORDER BY id;

-- name: queue_items_of_letter
SELECT * FROM queue WHERE letter_id = %(letter_id)s ORDER BY id;

-- name: received_by_process_id
SELECT * FROM received WHERE process_id = %(process_id)s ORDER BY received_at, sender_node, message_id;

-- The evidence log (issue 14: store/evidence.py). Rows are only ever added.
-- name: evidence_head
-- The hash of the letter's newest entry, which the next entry names as its prev_hash.
SELECT hash FROM evidence WHERE process_id = %(process_id)s ORDER BY id DESC LIMIT 1;

-- name: insert_evidence
INSERT INTO evidence (at, process_id, event, item, detail, digest, prev_hash, hash)
VALUES (%(at)s, %(process_id)s, %(event)s, %(item)s, %(detail)s, %(digest)s, %(prev_hash)s, %(hash)s)
RETURNING id;

-- name: evidence_of
SELECT * FROM evidence WHERE process_id = %(process_id)s ORDER BY id;

-- name: evidence_after
-- The log in order, a page at a time (verification and checkpoints walk it).
SELECT * FROM evidence WHERE id > %(after_id)s ORDER BY id LIMIT %(limit)s;

-- name: evidence_max_id
SELECT coalesce(max(id), 0) AS max_id FROM evidence;

-- name: letters_after
-- Letters in id order, a page at a time (the evidence log's verification walks them all).
SELECT * FROM letters WHERE id > %(after_id)s ORDER BY id LIMIT %(limit)s;

-- name: insert_checkpoint
INSERT INTO evidence_checkpoints (at, upto_id, entries, root, prev_root, document, timestamp_token)
VALUES (%(at)s, %(upto_id)s, %(entries)s, %(root)s, %(prev_root)s, %(document)s, %(timestamp_token)s)
RETURNING id;

-- name: last_checkpoint
SELECT * FROM evidence_checkpoints ORDER BY id DESC LIMIT 1;

-- name: checkpoints
SELECT * FROM evidence_checkpoints ORDER BY id;

-- Large enclosures beside the letter rows (issue 10: store/blobs.py).

-- name: insert_blob
-- One blob per digest: the same enclosure twice is stored once (no row comes back the second time).
INSERT INTO blobs (digest, size, created_at) VALUES (%(digest)s, %(size)s, %(now)s)
ON CONFLICT (digest) DO NOTHING
RETURNING digest;

-- name: insert_blob_chunk
INSERT INTO blob_chunks (digest, seq, data) VALUES (%(digest)s, %(seq)s, %(data)s);

-- name: link_part
INSERT INTO letter_parts (letter_id, seq, digest) VALUES (%(letter_id)s, %(seq)s, %(digest)s);

-- name: letter_parts
SELECT p.seq, p.digest, b.size FROM letter_parts p JOIN blobs b ON b.digest = p.digest
WHERE p.letter_id = %(letter_id)s ORDER BY p.seq;

-- name: blob_size
SELECT size FROM blobs WHERE digest = %(digest)s;

-- name: blob_chunk
SELECT data FROM blob_chunks WHERE digest = %(digest)s AND seq = %(seq)s;

-- name: purge_letter_parts
DELETE FROM letter_parts WHERE letter_id = %(letter_id)s;

-- name: unreferenced_blobs
-- Blobs no letter names any more (their letters purged), older than a cut-off, oldest first.
SELECT digest FROM blobs b
WHERE b.created_at < %(before)s AND NOT EXISTS (SELECT 1 FROM letter_parts p WHERE p.digest = b.digest)
ORDER BY b.created_at, b.digest LIMIT %(limit)s;

-- name: delete_blob_chunks
DELETE FROM blob_chunks WHERE digest = %(digest)s;

-- name: delete_blob
DELETE FROM blobs WHERE digest = %(digest)s
  AND NOT EXISTS (SELECT 1 FROM letter_parts p WHERE p.digest = blobs.digest);
