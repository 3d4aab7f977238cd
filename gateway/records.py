"""What the store keeps, as frozen rows the core can reason about (no I/O here)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.state import Delivery, Event, LetterState


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
    # what verifying its signature established (issue 3)
    signed_by: str = ""             # "client" (arrived signed) or "node" (signed here on the sender's behalf)
    signer: str = ""
    signer_org: str = ""
    certificate_sha256: str = ""
    signature_method: str = ""
    digest_method: str = ""
    c14n_method: str = ""
    signature_policy: str = ""
    signature_digest: str = ""
    verified_at: dt.datetime | None = None


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
    item_kind: str          # "letter" or "notice"
    letter_id: int
    notice_id: int | None
    created_at: dt.datetime
    visible_at: dt.datetime
    pulled_at: dt.datetime | None
    pull_count: int
    deleted_at: dt.datetime | None
