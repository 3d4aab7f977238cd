-- Named queries, PostgreSQL dialect. Every name here exists in sqlite/queries.sql too (a test checks).
-- Parameters are %(name)s.

-- name: insert_letter
INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, corr_date, subject, secret_code,
                     speed_code, digest, signed, state, delivery, accept_id, created_at, updated_at)
VALUES (%(process_id)s, %(sender_org)s, %(receiver_org)s, %(letter_no)s, %(corr_date)s, %(subject)s, %(secret_code)s,
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
WHERE sender_org = %(sender_org)s AND receiver_org = %(receiver_org)s AND letter_no = %(letter_no)s
  AND corr_date = %(corr_date)s AND state <> 'withdrawn';

-- name: find_withdrawn_letter
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND receiver_org = %(receiver_org)s AND letter_no = %(letter_no)s
  AND corr_date = %(corr_date)s AND state = 'withdrawn'
ORDER BY id DESC LIMIT 1;

-- name: letters_to_receiver
SELECT * FROM letters
WHERE receiver_org = %(receiver_org)s AND letter_no = %(letter_no)s AND corr_date = %(corr_date)s
  AND state <> 'withdrawn'
ORDER BY id;

-- name: letters_from_sender
SELECT * FROM letters
WHERE sender_org = %(sender_org)s AND letter_no = %(letter_no)s AND corr_date = %(corr_date)s
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

-- name: notices_of_letter
SELECT * FROM notices WHERE letter_id = %(letter_id)s ORDER BY id;

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
       (SELECT count(*) FROM queue) AS queue;
