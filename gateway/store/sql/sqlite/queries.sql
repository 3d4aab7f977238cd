-- Named queries, SQLite dialect. Every name here exists in postgres/queries.sql too (a test checks).
-- Parameters are :name.

-- name: insert_letter
INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, corr_date, subject, secret_code,
                     speed_code, digest, signed, state, delivery, accept_id, created_at, updated_at)
VALUES (:process_id, :sender_org, :receiver_org, :letter_no, :corr_date, :subject, :secret_code,
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
WHERE sender_org = :sender_org AND receiver_org = :receiver_org AND letter_no = :letter_no
  AND corr_date = :corr_date AND state <> 'withdrawn';

-- name: find_withdrawn_letter
SELECT * FROM letters
WHERE sender_org = :sender_org AND receiver_org = :receiver_org AND letter_no = :letter_no
  AND corr_date = :corr_date AND state = 'withdrawn'
ORDER BY id DESC LIMIT 1;

-- name: letters_to_receiver
SELECT * FROM letters
WHERE receiver_org = :receiver_org AND letter_no = :letter_no AND corr_date = :corr_date
  AND state <> 'withdrawn'
ORDER BY id;

-- name: letters_from_sender
SELECT * FROM letters
WHERE sender_org = :sender_org AND letter_no = :letter_no AND corr_date = :corr_date
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

-- name: notices_of_letter
SELECT * FROM notices WHERE letter_id = :letter_id ORDER BY id;

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
       (SELECT count(*) FROM queue) AS queue;
