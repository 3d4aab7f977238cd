-- The PostgreSQL schema as the migrations leave it, written by tools/dump_schema.py.
-- tests/integration/test_schema.py checks that this file and the migrations build the same schema.
-- Not run by the node: migrations/ is the source of truth.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE public.blob_chunks (
    digest text NOT NULL,
    seq integer NOT NULL,
    data bytea NOT NULL
);

CREATE TABLE public.blobs (
    digest text NOT NULL,
    size bigint NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE public.console_accounts (
    id bigint NOT NULL,
    username text NOT NULL,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    created_at bigint NOT NULL,
    CONSTRAINT console_accounts_role_check CHECK ((role = ANY (ARRAY['operator'::text, 'auditor'::text])))
);

CREATE SEQUENCE public.console_accounts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.console_accounts_id_seq OWNED BY public.console_accounts.id;

CREATE TABLE public.console_audit (
    id bigint NOT NULL,
    at bigint NOT NULL,
    username text NOT NULL,
    action text NOT NULL,
    target text DEFAULT ''::text NOT NULL,
    detail text DEFAULT ''::text NOT NULL,
    remote_addr text DEFAULT ''::text NOT NULL
);

CREATE SEQUENCE public.console_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.console_audit_id_seq OWNED BY public.console_audit.id;

CREATE TABLE public.console_sessions (
    token_hash text NOT NULL,
    account_id bigint NOT NULL,
    csrf_token text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);

CREATE TABLE public.evidence (
    id bigint NOT NULL,
    at bigint NOT NULL,
    process_id text NOT NULL,
    event text NOT NULL,
    item text DEFAULT ''::text NOT NULL,
    detail text DEFAULT '{}'::text NOT NULL,
    digest text DEFAULT ''::text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE TABLE public.evidence_checkpoints (
    id bigint NOT NULL,
    at bigint NOT NULL,
    upto_id bigint NOT NULL,
    entries bigint NOT NULL,
    root text NOT NULL,
    prev_root text NOT NULL,
    document bytea NOT NULL,
    timestamp_token bytea DEFAULT '\x'::bytea NOT NULL
);

CREATE SEQUENCE public.evidence_checkpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.evidence_checkpoints_id_seq OWNED BY public.evidence_checkpoints.id;

CREATE SEQUENCE public.evidence_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.evidence_id_seq OWNED BY public.evidence.id;

CREATE TABLE public.letter_blobs (
    letter_id bigint NOT NULL,
    raw bytea NOT NULL,
    document bytea NOT NULL
);

CREATE TABLE public.letter_parts (
    letter_id bigint NOT NULL,
    seq integer NOT NULL,
    digest text NOT NULL
);

CREATE TABLE public.letters (
    id bigint NOT NULL,
    process_id text NOT NULL,
    sender_org text NOT NULL,
    receiver_org text NOT NULL,
    letter_no text NOT NULL,
    corr_date text NOT NULL,
    subject text NOT NULL,
    secret_code text NOT NULL,
    speed_code text NOT NULL,
    digest text NOT NULL,
    signed boolean NOT NULL,
    state text NOT NULL,
    delivery text NOT NULL,
    accept_id text DEFAULT ''::text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    pulled_at bigint,
    signed_by text DEFAULT ''::text NOT NULL,
    signer text DEFAULT ''::text NOT NULL,
    signer_org text DEFAULT ''::text NOT NULL,
    certificate_sha256 text DEFAULT ''::text NOT NULL,
    signature_method text DEFAULT ''::text NOT NULL,
    digest_method text DEFAULT ''::text NOT NULL,
    c14n_method text DEFAULT ''::text NOT NULL,
    signature_policy text DEFAULT ''::text NOT NULL,
    signature_digest text DEFAULT ''::text NOT NULL,
    verified_at bigint,
    path text DEFAULT '[]'::text NOT NULL,
    letter_key text DEFAULT ''::text NOT NULL
);

CREATE SEQUENCE public.letters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.letters_id_seq OWNED BY public.letters.id;

CREATE TABLE public.notices (
    id bigint NOT NULL,
    process_id text NOT NULL,
    letter_id bigint NOT NULL,
    kind text NOT NULL,
    accept_id text DEFAULT ''::text NOT NULL,
    from_org text NOT NULL,
    to_org text NOT NULL,
    payload bytea NOT NULL,
    raw bytea NOT NULL,
    created_at bigint NOT NULL,
    path text DEFAULT '[]'::text NOT NULL
);

CREATE SEQUENCE public.notices_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.notices_id_seq OWNED BY public.notices.id;

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    message_id text NOT NULL,
    kind text NOT NULL,
    process_id text NOT NULL,
    letter_process_id text NOT NULL,
    sender_org text NOT NULL,
    receiver_org text NOT NULL,
    next_node text NOT NULL,
    path text DEFAULT '[]'::text NOT NULL,
    payload bytea NOT NULL,
    state text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    created_at bigint NOT NULL,
    next_attempt_at bigint NOT NULL,
    deadline_at bigint NOT NULL,
    lease_until bigint DEFAULT 0 NOT NULL,
    lease_token text DEFAULT ''::text NOT NULL,
    last_error text DEFAULT ''::text NOT NULL,
    receipt bytea,
    receipt_at bigint,
    delivered_late integer DEFAULT 0 NOT NULL,
    finished_at bigint,
    abandoned_at bigint,
    abandoned_by text DEFAULT ''::text NOT NULL,
    attestation bytea DEFAULT '\x'::bytea NOT NULL
);

CREATE SEQUENCE public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.outbox_id_seq OWNED BY public.outbox.id;

CREATE TABLE public.queue (
    id bigint NOT NULL,
    org text NOT NULL,
    process_id text NOT NULL,
    item_kind text NOT NULL,
    letter_id bigint NOT NULL,
    notice_id bigint,
    created_at bigint NOT NULL,
    visible_at bigint NOT NULL,
    pulled_at bigint,
    pull_count integer DEFAULT 0 NOT NULL,
    deleted_at bigint
);

CREATE SEQUENCE public.queue_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.queue_id_seq OWNED BY public.queue.id;

CREATE TABLE public.received (
    sender_node text NOT NULL,
    message_id text NOT NULL,
    process_id text NOT NULL,
    payload_digest text NOT NULL,
    receipt bytea NOT NULL,
    received_at bigint NOT NULL
);

ALTER TABLE ONLY public.console_accounts ALTER COLUMN id SET DEFAULT nextval('public.console_accounts_id_seq'::regclass);

ALTER TABLE ONLY public.console_audit ALTER COLUMN id SET DEFAULT nextval('public.console_audit_id_seq'::regclass);

ALTER TABLE ONLY public.evidence ALTER COLUMN id SET DEFAULT nextval('public.evidence_id_seq'::regclass);

ALTER TABLE ONLY public.evidence_checkpoints ALTER COLUMN id SET DEFAULT nextval('public.evidence_checkpoints_id_seq'::regclass);

ALTER TABLE ONLY public.letters ALTER COLUMN id SET DEFAULT nextval('public.letters_id_seq'::regclass);

ALTER TABLE ONLY public.notices ALTER COLUMN id SET DEFAULT nextval('public.notices_id_seq'::regclass);

ALTER TABLE ONLY public.outbox ALTER COLUMN id SET DEFAULT nextval('public.outbox_id_seq'::regclass);

ALTER TABLE ONLY public.queue ALTER COLUMN id SET DEFAULT nextval('public.queue_id_seq'::regclass);

ALTER TABLE ONLY public.blob_chunks
    ADD CONSTRAINT blob_chunks_pkey PRIMARY KEY (digest, seq);

ALTER TABLE ONLY public.blobs
    ADD CONSTRAINT blobs_pkey PRIMARY KEY (digest);

ALTER TABLE ONLY public.console_accounts
    ADD CONSTRAINT console_accounts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.console_accounts
    ADD CONSTRAINT console_accounts_username_key UNIQUE (username);

ALTER TABLE ONLY public.console_audit
    ADD CONSTRAINT console_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.console_sessions
    ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.evidence_checkpoints
    ADD CONSTRAINT evidence_checkpoints_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.evidence
    ADD CONSTRAINT evidence_hash_key UNIQUE (hash);

ALTER TABLE ONLY public.evidence
    ADD CONSTRAINT evidence_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.evidence
    ADD CONSTRAINT evidence_process_id_prev_hash_key UNIQUE (process_id, prev_hash);

ALTER TABLE ONLY public.letter_blobs
    ADD CONSTRAINT letter_blobs_pkey PRIMARY KEY (letter_id);

ALTER TABLE ONLY public.letter_parts
    ADD CONSTRAINT letter_parts_pkey PRIMARY KEY (letter_id, seq);

ALTER TABLE ONLY public.letters
    ADD CONSTRAINT letters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.letters
    ADD CONSTRAINT letters_process_id_key UNIQUE (process_id);

ALTER TABLE ONLY public.notices
    ADD CONSTRAINT notices_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.notices
    ADD CONSTRAINT notices_process_id_key UNIQUE (process_id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_message_id_key UNIQUE (message_id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_org_process_id_key UNIQUE (org, process_id);

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.received
    ADD CONSTRAINT received_pkey PRIMARY KEY (sender_node, message_id);

CREATE INDEX console_audit_by_target ON public.console_audit USING btree (target);

CREATE INDEX console_sessions_by_account ON public.console_sessions USING btree (account_id);

CREATE INDEX console_sessions_by_expiry ON public.console_sessions USING btree (expires_at);

CREATE INDEX evidence_by_process_id ON public.evidence USING btree (process_id, id);

CREATE UNIQUE INDEX evidence_checkpoints_one_successor ON public.evidence_checkpoints USING btree (prev_root);

CREATE INDEX letter_parts_by_digest ON public.letter_parts USING btree (digest);

CREATE INDEX letters_by_receiver ON public.letters USING btree (receiver_org, letter_key, corr_date);

CREATE INDEX letters_by_sender ON public.letters USING btree (sender_org, letter_key, corr_date);

CREATE INDEX letters_by_sender_time ON public.letters USING btree (sender_org, created_at);

CREATE INDEX letters_by_signature ON public.letters USING btree (sender_org, signature_digest);

CREATE UNIQUE INDEX letters_identity ON public.letters USING btree (sender_org, receiver_org, letter_key, corr_date) WHERE (state <> 'withdrawn'::text);

CREATE INDEX letters_subject_trgm ON public.letters USING gin (subject public.gin_trgm_ops);

CREATE INDEX letters_unregistered ON public.letters USING btree (created_at, id) WHERE ((delivery = 'delivered'::text) AND (state = ANY (ARRAY['sent'::text, 'received'::text])));

CREATE UNIQUE INDEX notices_once ON public.notices USING btree (letter_id, kind, accept_id);

CREATE INDEX outbox_by_letter ON public.outbox USING btree (letter_process_id, id) WHERE (state = 'pending'::text);

CREATE INDEX outbox_delivered_by_receipt ON public.outbox USING btree (receipt_at) WHERE (state = 'delivered'::text);

CREATE INDEX outbox_due ON public.outbox USING btree (next_attempt_at, id) WHERE (state = 'pending'::text);

CREATE INDEX outbox_failed_open ON public.outbox USING btree (id) WHERE ((state = 'failed'::text) AND (abandoned_at IS NULL));

CREATE INDEX outbox_of_letter ON public.outbox USING btree (letter_process_id);

CREATE INDEX queue_by_letter ON public.queue USING btree (letter_id);

CREATE INDEX queue_next ON public.queue USING btree (org, visible_at, id) WHERE (deleted_at IS NULL);

CREATE INDEX queue_open_by_org ON public.queue USING btree (org, id) WHERE (deleted_at IS NULL);

CREATE INDEX received_by_process_id ON public.received USING btree (process_id);

ALTER TABLE ONLY public.blob_chunks
    ADD CONSTRAINT blob_chunks_digest_fkey FOREIGN KEY (digest) REFERENCES public.blobs(digest);

ALTER TABLE ONLY public.console_sessions
    ADD CONSTRAINT console_sessions_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.console_accounts(id);

ALTER TABLE ONLY public.letter_blobs
    ADD CONSTRAINT letter_blobs_letter_id_fkey FOREIGN KEY (letter_id) REFERENCES public.letters(id);

ALTER TABLE ONLY public.letter_parts
    ADD CONSTRAINT letter_parts_digest_fkey FOREIGN KEY (digest) REFERENCES public.blobs(digest);

ALTER TABLE ONLY public.letter_parts
    ADD CONSTRAINT letter_parts_letter_id_fkey FOREIGN KEY (letter_id) REFERENCES public.letters(id);

ALTER TABLE ONLY public.notices
    ADD CONSTRAINT notices_letter_id_fkey FOREIGN KEY (letter_id) REFERENCES public.letters(id);

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_letter_id_fkey FOREIGN KEY (letter_id) REFERENCES public.letters(id);

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_notice_id_fkey FOREIGN KEY (notice_id) REFERENCES public.notices(id);
