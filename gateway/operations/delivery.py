"""The delivery loop: claim due outbox items, push them, record receipts or schedule retries.

Theory of operation
-------------------
An item is claimed with a lease (``lease_until``, a random token) in a short
transaction; several workers, in one process or many on one PostgreSQL
database, never hold the same item (``FOR UPDATE SKIP LOCKED``). The push
happens outside any transaction. Its outcome is written with compare-and-set:

* a receipt that verifies (signed by the next node, naming our MessageId and
  the digest of our Payload) marks the item delivered and keeps the receipt as
  proof, even when the item had meanwhile been marked FAILED (a late receipt
  is still recorded);
* a retryable failure schedules the next attempt (exponential backoff, full
  jitter) unless the retry window is over: then FAILED;
* a definite refusal marks it FAILED at once.

A worker killed mid-push loses nothing: the lease runs out and the item is
pushed again with the same MessageId, which the receiver answers with its
first receipt. Items of one letter leave in order (the claim query holds back
an item while an earlier one of the same letter is pending).

Each push is counted (``gateway_delivery_attempts_total`` by outcome, retries,
failures by reason, the latency from the item's creation to its receipt), and
its log lines carry the item's ProcessID as their correlation id, which the
push hands to the next node (X-Correlation-ID).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lxml import etree

from gateway.core import evidence as chain
from gateway.core.errors import DeliveryError, ErrorCode, GatewayError, RemoteError
from gateway.core.network import nodemsg
from gateway.core.network.directory import Directory
from gateway.core.network.nodemsg import NodeMessage
from gateway.core.network.retry import RetryPolicy
from gateway.core.network.status import Status
from gateway.core.records import OutboxRow
from gateway.core.state import Delivery, DeliveryOutcome, ItemKind
from gateway.core.trust import signing
from gateway.core.trust.keyring import Keyring
from gateway.operations import enclosures, evidence
from gateway.pipeline import outbound
from gateway.ports import Clock, Peer

if TYPE_CHECKING:
    from gateway.operations.relay import Relay
from gateway.store import Store, run
from gateway.telemetry import Metrics, log_context

log = logging.getLogger(__name__)

BATCH = 4  # small claims: the other delivery threads take the rest


@dataclass(frozen=True, kw_only=True)
class Outcome:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


class Worker:
    def __init__(self, *, store: Store, directory: Directory, keyring: Keyring, clock: Clock, peer: Peer,
                 retry: RetryPolicy, node_id: str, lease: dt.timedelta, rng: random.Random | None = None,
                 metrics: Metrics | None = None, relay: "Relay | None" = None) -> None:
        self.store = store
        self.relay = relay   # reports a forwarded letter's failure (and late delivery) back to its origin
        self.directory = directory
        self.keyring = keyring
        self.clock = clock
        self.peer = peer
        self.retry = retry
        self.node_id = node_id
        self.lease = lease
        self.rng = rng or random.SystemRandom()
        self.metrics = metrics or Metrics()

    # ------------------------------------------------------------------ loop
    def run_once(self, limit: int = BATCH) -> Outcome:
        """Expire what ran out of time, then push up to ``limit`` due items."""
        failed = self.expire()
        token = secrets.token_hex(8)
        now = self.clock.now()
        rows = run(self.store, lambda tx: tx.claim_outbox(now=now, until=now + self.lease, token=token,
                                                          limit=limit))
        delivered = retried = 0
        for row in rows:
            result = self.deliver(row, token)
            delivered += result is DeliveryOutcome.DELIVERED
            retried += result is DeliveryOutcome.RETRY
            failed += result is DeliveryOutcome.FAILED
        return Outcome(delivered=delivered, retried=retried, failed=failed)

    def run_forever(self, stop: threading.Event, wait: Callable[[float], None], poll: dt.timedelta) -> None:
        """Work until ``stop`` is set; between rounds sleep in ``wait`` (woken early by new items)."""
        while not stop.is_set():
            try:
                outcome = self.run_once()
            except GatewayError as exc:  # the store is down: keep trying, the work is in the store
                log.warning("delivery round failed: %s", exc)
                wait(min(poll.total_seconds(), 1.0))
                continue
            except Exception:  # noqa: BLE001 - a bug must not stop the thread; the lease frees the item
                log.exception("delivery round failed unexpectedly")
                wait(min(poll.total_seconds(), 1.0))
                continue
            if outcome.delivered or outcome.retried or outcome.failed:
                continue  # there may be more
            wait(self._idle_for(poll))

    def _idle_for(self, poll: dt.timedelta) -> float:
        try:
            due = run(self.store, lambda tx: tx.next_due_at())
        except GatewayError:
            return poll.total_seconds()
        if due is None:
            return poll.total_seconds()
        return max(0.01, min(poll.total_seconds(), (due - self.clock.now()).total_seconds()))

    # --------------------------------------------------------------- one item
    def deliver(self, row: OutboxRow, token: str) -> DeliveryOutcome:
        """Push one claimed item and record what came of it (counted; logged with its correlation id)."""
        with log_context(correlation_id=row.process_id, process_id=row.process_id, org=row.receiver_org,
                         node=self.node_id, next_node=row.next_node):
            outcome = self._push(row, token)
        self.metrics.delivery(outcome.value, retry=row.attempts > 1)  # attempts counts this push
        return outcome

    def _push(self, row: OutboxRow, token: str) -> DeliveryOutcome:
        peer = self.directory.nodes.get(row.next_node)
        if peer is None:
            return self._fail(row, f"node {row.next_node} is no longer in the directory", reason="unroutable")
        now = self.clock.now()
        payload = enclosures.whole(self.store, row.letter_process_id, row.payload) \
            if row.kind == ItemKind.LETTER else row.payload
        message = outbound.node_message(NodeMessage(
            message_id=row.message_id, sender_node=self.node_id, receiver_node=row.next_node,
            sender_org=row.sender_org, receiver_org=row.receiver_org, timestamp=now, kind=row.kind,
            process_id=row.process_id, letter_process_id=row.letter_process_id,
            path=nodemsg.path_from_json(row.path), payload=payload, attestation=row.attestation),
            self.keyring.node_signer)
        try:
            receipt_element = self.peer.deliver(peer.url, message)
            receipt = self._check_receipt(row, receipt_element, payload)
        except DeliveryError as exc:
            if not exc.retryable:
                return self._fail(row, str(exc), reason="refused")
            return self._retry(row, token, str(exc))
        except RemoteError as exc:  # the receipt does not verify: the peer is broken; try again later
            return self._retry(row, token, f"bad receipt: {exc}")
        self._record(row, etree.tostring(receipt_element, encoding="utf-8"), receipt)
        return DeliveryOutcome.DELIVERED

    def _check_receipt(self, row: OutboxRow, element: etree._Element, payload: bytes) -> nodemsg.Receipt:
        trusted = self.keyring.node_trusted(row.next_node)  # during a rotation, its old and its new certificate
        signed, _ = signing.verify_document(element, trusted=trusted, now=self.clock.now())
        receipt = nodemsg.read_receipt(signed)
        if receipt.message_id != row.message_id or receipt.payload_digest != nodemsg.digest(payload):
            raise RemoteError(ErrorCode.SIGNATURE_POLICY, "the receipt names another message or payload")
        return receipt

    def _record(self, row: OutboxRow, receipt_bytes: bytes, receipt: nodemsg.Receipt) -> None:
        now = self.clock.now()

        def work(tx):
            delivered = tx.outbox_delivered(row.id, receipt=receipt_bytes, now=now)
            if delivered:
                evidence.record(tx, process_id=row.letter_process_id, event=evidence.Event.DELIVERED, now=now,
                                item=row.message_id, digest=chain.sha256(receipt_bytes), kind=row.kind.value,
                                next_node=row.next_node)
            if delivered and row.kind == ItemKind.LETTER:
                tx.set_letter_delivery(process_id=row.process_id, delivery=Delivery.DELIVERED, now=now)
                if row.last_error:   # it had failed or erred: the origin may have been told FAILED
                    self._report(tx, row, Status.DELIVERED, "", now)

        run(self.store, work)
        self.metrics.delivered_after((now - row.created_at).total_seconds())
        log.info("delivered %s %s to %s (%s)", row.kind, row.process_id, row.next_node, row.message_id)

    def _retry(self, row: OutboxRow, token: str, error: str) -> DeliveryOutcome:
        now = self.clock.now()
        next_at = self.retry.next_attempt(attempts=row.attempts, now=now, deadline=row.deadline_at, rng=self.rng)
        if next_at is None:
            return self._fail(row, f"retry window over; last error: {error}", reason="expired")
        run(self.store, lambda tx: tx.outbox_retry(row.id, token=token, next_at=next_at, error=error))
        log.info("retrying %s to %s at %s: %s", row.message_id, row.next_node, next_at.isoformat(), error)
        return DeliveryOutcome.RETRY

    def _fail(self, row: OutboxRow, error: str, *, reason: str) -> DeliveryOutcome:
        now = self.clock.now()

        def work(tx):
            failed = tx.outbox_failed(row.id, error=error, now=now)
            if failed:
                evidence.record(tx, process_id=row.letter_process_id, event=evidence.Event.FAILED, now=now,
                                item=row.message_id, kind=row.kind.value, next_node=row.next_node, reason=reason,
                                error=error[:300])
            if failed and row.kind == ItemKind.LETTER:
                tx.set_letter_delivery(process_id=row.process_id, delivery=Delivery.FAILED, now=now)
                self._report(tx, row, Status.FAILED, error, now)

        run(self.store, work)
        self.metrics.failed(reason)
        log.warning("FAILED %s %s to %s: %s", row.kind, row.process_id, row.next_node, error)
        return DeliveryOutcome.FAILED

    def _report(self, tx, row: OutboxRow, outcome: "Status", detail: str, now: dt.datetime) -> None:
        """A letter this node only forwards (no letter row here): its origin hears what became of it."""
        if self.relay is not None and tx.letter_by_process_id(row.process_id) is None:
            self.relay.report(tx, letter_process_id=row.letter_process_id, sender_org=row.sender_org,
                              receiver_org=row.receiver_org, outcome=outcome, detail=detail, now=now)

    def expire(self) -> int:
        """Mark FAILED what is past its window and not being pushed right now."""
        now = self.clock.now()
        rows = run(self.store, lambda tx: tx.expired_outbox(now=now, limit=100))
        for row in rows:
            with log_context(correlation_id=row.process_id, process_id=row.process_id, org=row.receiver_org,
                             node=self.node_id, next_node=row.next_node):
                self._fail(row, row.last_error or "retry window over", reason="expired")
        return len(rows)
