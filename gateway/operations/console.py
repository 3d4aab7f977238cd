"""What the web console shows and does (docs/console.md): read models and the two delivery actions.

Each function is one store transaction and returns values; the HTTP adapter
(``adapters/http/console.py``) renders them. Actions record who did them in
the audit log within the same transaction.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from gateway.core.network.directory import Directory
from gateway.core.network.status import Status
from gateway.core.records import LetterRow, OutboxRow
from gateway.core.state import Delivery, ItemKind, OutboxState, process_status
from gateway.core.time import BANGKOK, BUDDHIST_ERA_OFFSET
from gateway.operations import evidence
from gateway.operations.accounts import Action, record
from gateway.store import Store, run
from gateway.telemetry import CertificateExpiry

if TYPE_CHECKING:
    from gateway.operations.relay import Relay

EXPIRY_WARNING = dt.timedelta(days=30)     # certificates expiring within this show on the dashboard
UNREGISTERED_WORKING_DAYS = 3              # delivered and no AcceptLetterNotifier after this many working days
LIST_LIMIT = 200                           # rows per table on a page
SEARCH_LIMIT = 100
_BE_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


class ConsoleError(ValueError):
    """A request the console cannot do, said in Thai and English (shown in #error / #flash)."""

    def __init__(self, th: str, en: str) -> None:
        super().__init__(f"{th} / {en}")
        self.th, self.en = th, en


# ---------------------------------------------------------------- dashboard

@dataclass(frozen=True)
class LatencyBucket:
    start: dt.datetime          # the hour (Bangkok) the receipts arrived in
    count: int
    median_s: float
    max_s: float


@dataclass(frozen=True)
class Dashboard:
    queue_depth: dict[str, int]                # hosted organisation -> items waiting or pulled, not deleted
    in_flight: int                             # outbox items still being delivered
    failed: list[OutboxRow]                    # FAILED and not abandoned
    latency: list[LatencyBucket]               # the last 24 hours, one bucket per hour, oldest first
    expiring: list[CertificateExpiry]          # within EXPIRY_WARNING (or expired), soonest first
    unregistered: list[LetterRow]              # delivered here, no AcceptLetterNotifier after N working days
    unregistered_days: int = UNREGISTERED_WORKING_DAYS


def working_days_before(now: dt.datetime, days: int) -> dt.datetime:
    """The Bangkok midnight ``days`` working days (Monday to Friday) before today.

    Public holidays are not known to the node; they make the list longer, never shorter.
    """
    day = now.astimezone(BANGKOK).date()
    left = days
    while left > 0:
        day -= dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return dt.datetime(day.year, day.month, day.day, tzinfo=BANGKOK)


def latency_buckets(samples: Iterable[tuple[dt.datetime, float]], *, now: dt.datetime,
                    hours: int = 24) -> list[LatencyBucket]:
    """Delivery latency per Bangkok hour over the last ``hours`` hours (empty hours included)."""
    top = now.astimezone(BANGKOK).replace(minute=0, second=0, microsecond=0)
    starts = [top - dt.timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    per: dict[dt.datetime, list[float]] = {start: [] for start in starts}
    for at, seconds in samples:
        hour = at.astimezone(BANGKOK).replace(minute=0, second=0, microsecond=0)
        if hour in per:
            per[hour].append(seconds)
    return [LatencyBucket(start=s, count=len(v), median_s=statistics.median(v) if v else 0.0,
                          max_s=max(v) if v else 0.0) for s, v in per.items()]


def dashboard(store: Store, directory: Directory, *, certificates: Iterable[CertificateExpiry], now: dt.datetime,
              unregistered_days: int = UNREGISTERED_WORKING_DAYS) -> Dashboard:
    hosted = [org.id for org in directory.hosted()]
    with store.transaction() as tx:
        depth = tx.queue_depth()
        counts = tx.outbox_counts()
        failed = tx.failed_outbox(limit=LIST_LIMIT)
        latencies = tx.delivery_latencies(since=now - dt.timedelta(hours=24))
        late = tx.unregistered_letters(before=working_days_before(now, unregistered_days), limit=LIST_LIMIT * 5)
    soon = now.timestamp() + EXPIRY_WARNING.total_seconds()
    return Dashboard(
        queue_depth={org: int(depth.get(org, 0)) for org in hosted},
        in_flight=int(counts.get(OutboxState.PENDING.value, 0)),
        failed=failed,
        latency=latency_buckets(latencies, now=now),
        expiring=sorted((c for c in certificates if c.not_after < soon), key=lambda c: c.not_after),
        unregistered=[row for row in late if directory.is_hosted(row.receiver_org)][:LIST_LIMIT],
        unregistered_days=unregistered_days)


# ---------------------------------------------------------------- search

@dataclass(frozen=True)
class Search:
    q: str = ""
    letter_no: str = ""
    org: str = ""
    date_from: str = ""      # d/m/yyyy in the Buddhist Era, as typed
    date_to: str = ""

    @property
    def empty(self) -> bool:
        return not (self.q or self.letter_no or self.org or self.date_from or self.date_to)


def parse_be_date(text: str) -> dt.date:
    """``2/12/2569`` (day/month/Buddhist-Era year; Thai digits too) as a date; ConsoleError otherwise."""
    found = _BE_DATE.match(text or "")
    if found:
        day, month, year = (int(g) for g in found.groups())
        try:
            if year > 2400:
                return dt.date(year - BUDDHIST_ERA_OFFSET, month, day)
        except ValueError:
            pass
    raise ConsoleError(f"วันที่ {text!r} ไม่ถูกต้อง ใช้ วัน/เดือน/ปี พ.ศ. เช่น 2/12/2569",
                       f"the date {text!r} is not valid: use day/month/Buddhist-Era year, e.g. 2/12/2569")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=BANGKOK)


def search(store: Store, query: Search, *, limit: int = SEARCH_LIMIT) -> list[LetterRow]:
    """Letters by subject substring (trigram index), letter number, organisation and Bangkok date range."""
    since = _midnight(parse_be_date(query.date_from)) if query.date_from else None
    until = _midnight(parse_be_date(query.date_to)) + dt.timedelta(days=1) if query.date_to else None
    if since and until and since >= until:
        raise ConsoleError("วันเริ่มต้องไม่หลังวันสิ้นสุด", "the first date must not be after the last")
    if len(query.q) > 200 or len(query.letter_no) > 100:
        raise ConsoleError("คำค้นยาวเกินไป", "the search text is too long")
    with store.transaction() as tx:
        return tx.search_letters(text=query.q.strip(), letter_no=query.letter_no.strip(), org=query.org.strip(),
                                 since=since, until=until, limit=limit)


# ---------------------------------------------------------------- timeline

@dataclass(frozen=True)
class Step:
    """One line of a letter's timeline: when, what (``kind``, the li's data-kind) and its particulars."""

    at: dt.datetime
    kind: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    letter: LetterRow
    status: str                 # what OutboundStatus reports (ProcessStatus)
    path: list[str]             # the nodes it passed through to reach this node
    steps: list[Step]
    outbox: list[OutboxRow]
    evidence: list = field(default_factory=list)   # the letter's evidence-log entries (EvidenceRow), oldest first


# Events of the same instant in the order they happen.
_ORDER = {kind: i for i, kind in enumerate((
    "received-from-node", "stored", "verified", "queued", "pushed-pending", "delivered", "failed", "abandoned",
    "pulled", "deleted"))}


def timeline(store: Store, process_id: str) -> Timeline | None:
    """Every state, hop, notifier, receipt and verification of one letter, oldest first (None: unknown)."""
    with store.transaction() as tx:
        letter = tx.letter_by_process_id(process_id)
        if letter is None:
            return None
        notices = tx.notices_of_letter(letter.id)
        queue = tx.queue_items_of_letter(letter.id)
        outbox = tx.outbox_of_letter(letter.process_id)
        received = [r for pid in [letter.process_id, *(n.process_id for n in notices)]
                    for r in tx.received_by_process_id(pid)]
        entries = tx.evidence_of(letter.process_id)
        operators = [a for a in tx.audit_of_target(letter.process_id)
                     if a.action in (Action.RETRY.value, Action.ABANDON.value)]
    steps = [Step(letter.created_at, "stored", {"from": letter.sender_org, "to": letter.receiver_org})]
    if letter.verified_at is not None:
        steps.append(Step(letter.verified_at, "verified", {
            "signed_by": letter.signed_by, "signer": letter.signer, "signer_org": letter.signer_org,
            "certificate_sha256": letter.certificate_sha256, "method": letter.signature_method}))
    for r in received:
        steps.append(Step(r.received_at, "received-from-node", {"node": r.sender_node, "message_id": r.message_id,
                                                               "process_id": r.process_id}))
    for q in queue:
        steps.append(Step(q.created_at, "queued", {"org": q.org, "item": q.item_kind.value}))
        if q.pulled_at is not None:
            steps.append(Step(q.pulled_at, "pulled", {"org": q.org, "times": q.pull_count}))
        if q.deleted_at is not None:
            steps.append(Step(q.deleted_at, "deleted", {"org": q.org}))
    for n in notices:
        steps.append(Step(n.created_at, f"notice-{n.kind.value}", {"from": n.from_org, "to": n.to_org,
                                                                   "accept_id": n.accept_id}))
    for o in outbox:
        hop = {"kind": o.kind.value, "next_node": o.next_node, "attempts": o.attempts, "error": o.last_error,
               "message_id": o.message_id}
        steps.append(Step(o.created_at, "pushed-pending", hop))
        if o.state is OutboxState.DELIVERED and o.receipt_at is not None:
            steps.append(Step(o.receipt_at, "delivered", {**hop, "late": o.delivered_late}))
        elif o.state is OutboxState.FAILED and o.finished_at is not None:
            steps.append(Step(o.finished_at, "failed", hop))
        if o.abandoned_at is not None:
            steps.append(Step(o.abandoned_at, "abandoned", {**hop, "by": o.abandoned_by}))
    for a in operators:   # the outbox row keeps only its latest state; the audit log keeps every retry
        steps.append(Step(a.at, f"operator-{a.action}", {"by": a.username, "detail": a.detail}))
    steps.sort(key=lambda s: (s.at, _ORDER.get(s.kind, len(_ORDER))))   # stable: stored before verified
    status = process_status(letter.state, letter.delivery, letter.pulled_at is not None).value
    return Timeline(letter=letter, status=status, path=json.loads(letter.path or "[]"), steps=steps, outbox=outbox,
                    evidence=entries)


# ---------------------------------------------------------------- deliveries

@dataclass(frozen=True)
class Deliveries:
    failed: list[OutboxRow]
    retrying: list[OutboxRow]


def deliveries(store: Store) -> Deliveries:
    with store.transaction() as tx:
        return Deliveries(failed=tx.failed_outbox(limit=LIST_LIMIT), retrying=tx.retrying_outbox(limit=LIST_LIMIT))


def retry(store: Store, outbox_id: int, *, window: dt.timedelta, now: dt.datetime, who: str, remote: str) -> OutboxRow:
    """Push a FAILED (or waiting) item again now, with a fresh retry window; recorded as ``retry``."""
    def work(tx) -> OutboxRow:   # again if it lost a race (an evidence chain or a worker)
        item = _item(tx, outbox_id)
        if not tx.outbox_retry_now(outbox_id, now=now, deadline=now + window):
            raise ConsoleError(f"รายการ {outbox_id} กำลังส่งอยู่หรือส่งถึงแล้ว",
                               f"item {outbox_id} is being pushed right now or was delivered")
        if item.kind == ItemKind.LETTER:
            tx.set_letter_delivery(process_id=item.process_id, delivery=Delivery.PENDING, now=now)
        evidence.record(tx, process_id=item.letter_process_id, event=evidence.Event.OPERATOR, now=now,
                        item=item.message_id, action="retry", by=who)
        record(tx, now=now, who=who, action=Action.RETRY, target=item.letter_process_id,
               detail=f"outbox {outbox_id} {item.kind.value} to {item.next_node}", remote=remote)
        return tx.outbox_item(outbox_id)

    return run(store, work)


def abandon(store: Store, outbox_id: int, *, now: dt.datetime, who: str, remote: str,
            relay: "Relay | None" = None) -> OutboxRow:
    """Stop trying: the item is FAILED (the letter's sender sees FAILED, told through ``relay`` when the
    letter is only forwarded here) and leaves the dashboard's list."""
    def work(tx) -> OutboxRow:   # again if it lost a race (an evidence chain or a worker)
        item = _item(tx, outbox_id)
        if not tx.outbox_abandon(outbox_id, now=now, by=who):
            raise ConsoleError(f"รายการ {outbox_id} กำลังส่งอยู่ ส่งถึงแล้ว หรือถูกยกเลิกแล้ว",
                               f"item {outbox_id} is being pushed right now, was delivered, or was abandoned")
        if item.kind == ItemKind.LETTER:
            tx.set_letter_delivery(process_id=item.process_id, delivery=Delivery.FAILED, now=now)
            if relay is not None and item.state is OutboxState.PENDING and tx.letter_by_process_id(item.process_id) is None:
                relay.report(tx, letter_process_id=item.letter_process_id, sender_org=item.sender_org,
                             receiver_org=item.receiver_org, outcome=Status.FAILED,
                             detail=f"abandoned by the operator {who} at {item.next_node}", now=now)
        evidence.record(tx, process_id=item.letter_process_id, event=evidence.Event.OPERATOR, now=now,
                        item=item.message_id, action="abandon", by=who)
        record(tx, now=now, who=who, action=Action.ABANDON, target=item.letter_process_id,
               detail=f"outbox {outbox_id} {item.kind.value} to {item.next_node}", remote=remote)
        return tx.outbox_item(outbox_id)

    return run(store, work)


def _item(tx, outbox_id: int) -> OutboxRow:
    try:
        return tx.outbox_item(outbox_id)
    except (TypeError, KeyError):   # no such row: the row mapper got None
        raise ConsoleError(f"ไม่มีรายการส่ง {outbox_id}", f"no outbox item {outbox_id}") from None


# ---------------------------------------------------------------- directory

@dataclass(frozen=True)
class CertStatus:
    status: str                  # ok, expiring, expired, missing
    not_after: dt.datetime | None


def certificate_status(certificates: Iterable[CertificateExpiry], kind: str, ident: str, *,
                       now: dt.datetime) -> CertStatus:
    found = [c for c in certificates if c.kind == kind and c.id == ident]
    if not found:
        return CertStatus("missing", None)
    latest = max(c.not_after for c in found)    # during a rotation the newest counts
    at = dt.datetime.fromtimestamp(latest, dt.timezone.utc)
    if latest <= now.timestamp():
        return CertStatus("expired", at)
    if latest <= now.timestamp() + EXPIRY_WARNING.total_seconds():
        return CertStatus("expiring", at)
    return CertStatus("ok", at)
