"""What the store keeps, as frozen rows the core can reason about (no I/O here)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import enum

from gateway.core.state import Delivery, Event, ItemKind, LetterState, OutboxState, QueueKind


class SignedBy(enum.StrEnum):
    """Whose signature a stored letter carries."""

    CLIENT = "client"    # it arrived signed by its e-Saraban
    NODE = "node"        # signed here, on behalf of the sending organisation
    ORIGIN = "origin"    # it came from another node, signed where it was sent


@dataclass(frozen=True, kw_only=True)
class LetterRow:
    id: int
    process_id: str
    sender_org: str
    receiver_org: str
    letter_no: str
    corr_date: str
    subject: str
    secret_code: str
    speed_code: str
    digest: str
    signed: bool
    state: LetterState
    delivery: Delivery
    accept_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    pulled_at: dt.datetime | None
    # what verifying its signature established
    signed_by: str = ""             # a SignedBy value; "" for letters stored before signatures
    signer: str = ""
    signer_org: str = ""
    certificate_sha256: str = ""
    signature_method: str = ""
    digest_method: str = ""
    c14n_method: str = ""
    signature_policy: str = ""
    signature_digest: str = ""
    verified_at: dt.datetime | None = None
    path: str = "[]"                 # JSON list of the hops it took to reach this node


@dataclass(frozen=True, kw_only=True)
class NoticeRow:
    id: int
    process_id: str
    letter_id: int
    kind: Event
    accept_id: str
    from_org: str
    to_org: str
    payload: bytes
    created_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class QueueRow:
    id: int
    org: str
    process_id: str
    item_kind: QueueKind
    letter_id: int
    notice_id: int | None
    created_at: dt.datetime
    visible_at: dt.datetime
    pulled_at: dt.datetime | None
    pull_count: int
    deleted_at: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    """One item waiting to be pushed to (or pushed to) a neighbour node."""

    id: int
    message_id: str
    kind: ItemKind
    process_id: str
    letter_process_id: str
    sender_org: str
    receiver_org: str
    next_node: str
    path: str
    payload: bytes
    state: OutboxState
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    deadline_at: dt.datetime
    lease_until: dt.datetime
    lease_token: str
    last_error: str
    receipt: bytes | None
    receipt_at: dt.datetime | None
    delivered_late: bool
    finished_at: dt.datetime | None
    abandoned_at: dt.datetime | None = None   # an operator gave it up in the console (it stays failed)
    abandoned_by: str = ""                    # who: the console account's username
    attestation: bytes = b""                  # a notifier's or withdrawal's signed ItemAttestation (or empty)


@dataclass(frozen=True, kw_only=True)
class ReceivedRow:
    sender_node: str
    message_id: str
    process_id: str
    payload_digest: str
    receipt: bytes
    received_at: dt.datetime


# ------------------------------------------------------------------ the web console (issue 13)
@dataclass(frozen=True, kw_only=True)
class AccountRow:
    """Someone who may log in to the console; ``role`` is 'operator' or 'auditor'."""

    id: int
    username: str
    display_name: str
    password_hash: str
    role: str
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class SessionRow:
    """A logged-in browser (the hash of its cookie's token), with the account it belongs to."""

    token_hash: str
    account_id: int
    username: str
    display_name: str
    role: str
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class AuditRow:
    """One thing done through the console: who, what, to what, from where."""

    id: int
    at: dt.datetime
    username: str
    action: str
    target: str
    detail: str
    remote_addr: str


# ------------------------------------------------------------------ the evidence log (issue 14)
@dataclass(frozen=True, kw_only=True)
class EvidenceRow:
    """One event of a letter (ProcessID) in the evidence log, chained to the letter's entry before it."""

    id: int
    at: dt.datetime
    process_id: str
    event: str
    item: str            # the item the event concerns ('' when none)
    detail: str          # a JSON object, stored as given
    digest: str
    prev_hash: str       # the hash of the letter's previous entry
    hash: str


@dataclass(frozen=True, kw_only=True)
class CheckpointRow:
    """A checkpoint the node signed over every entry up to ``upto_id``."""

    id: int
    at: dt.datetime
    upto_id: int
    entries: int
    root: str
    prev_root: str       # the root of the checkpoint before it
    document: bytes      # the signed checkpoint document
    timestamp_token: bytes   # its RFC 3161 time-stamp token; empty when no TSA is configured
