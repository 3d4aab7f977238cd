"""Node-to-node exchange, application layer (DESIGN section 4).

Sending: :meth:`Relay.enqueue` puts an item in the outbox inside the caller's
transaction (the one that answers the e-Saraban, or stores an item to
forward), so an acknowledged item is never lost; the delivery worker pushes it.

Receiving: :meth:`Relay.accept` takes one NodeMessage that the node pipeline
(``pipeline/node.py``) has checked: the sending node's signature pinned to the
directory, the timestamp window, and for a letter its end-to-end signature.
In one transaction it answers a repeated (sender node, MessageId) with the
receipt it issued first, or stores the item (queue for a hosted organisation,
outbox for one it routes to) and issues and keeps a signed receipt. A refused
message gets a fault and no receipt; nothing of it is stored.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.core.errors import ConflictError, ErrorCode, RemoteError
from gateway.core.letters import decide, parts
from gateway.core.letters.fields import letter_key
from gateway.core.letters.letter import make_notifier
from gateway.core.network import attestation as attest, nodemsg
from gateway.core.network.directory import Directory
from gateway.core.network.nodemsg import Hop, NodeMessage, Receipt
from gateway.core.network.retry import RetryPolicy
from gateway.core.network.status import DeliveryStatus, Status
from gateway.core.records import LetterRow, SignedBy
from gateway.core.state import ACTOR, Actor, Delivery, Event, ItemKind, LetterState, QueueKind, next_state
from gateway.core.trust import sealing
from gateway.core.trust.keyring import Keyring
from gateway.operations import evidence
from gateway.pipeline import outbound
from gateway.pipeline.node import Checked, CheckedLetter, CheckedNotifier, CheckedSealedLetter, CheckedStatus
from gateway.ports import Clock, IdFactory
from gateway.store import Store, Tx, run
from gateway.telemetry import Metrics


@dataclass(frozen=True, kw_only=True)
class RelayPolicy:
    retry: RetryPolicy
    encrypt_secret: bool = True   # policy.encrypt_secret: ลับ and ลับมาก letters leave this node sealed


class Relay:
    def __init__(self, *, store: Store, directory: Directory, keyring: Keyring, clock: Clock, new_id: IdFactory,
                 node_id: str, policy: RelayPolicy, metrics: Metrics | None = None) -> None:
        self.store = store
        self.directory = directory
        self.keyring = keyring
        self.clock = clock
        self.new_id = new_id
        self.node_id = node_id
        self.policy = policy
        self.duplicates = 0  # repeats answered with the first receipt (a worker retried)
        self.metrics = metrics or Metrics()  # gateway_duplicate_messages_total

    # ------------------------------------------------------------- sending
    def enqueue(self, tx: Tx, place: decide.Outbox, *, kind: ItemKind, process_id: str, letter_process_id: str,
                sender_org: str, payload: bytes, path: tuple[Hop, ...], now: dt.datetime,
                attestation: bytes | None = None) -> None:
        """Put one item in the outbox for the next node towards ``place.org``.

        A notifier or withdrawal made here is attested end to end with its organisation's key; a
        forwarded one keeps the ``attestation`` it came with.
        """
        if attestation is None:
            attestation = b""
            if kind.value in attest.ATTESTED_KINDS:
                attestation = outbound.attestation(attest.Attestation(
                    organization=sender_org, kind=kind.value, process_id=process_id,
                    letter_process_id=letter_process_id, payload_digest=attest.payload_digest(payload)),
                    self.keyring.signer_for(sender_org))
        tx.insert_outbox(message_id=self.new_id(), kind=kind.value, process_id=process_id,
                         letter_process_id=letter_process_id, sender_org=sender_org, receiver_org=place.org,
                         next_node=place.next_node, path=nodemsg.path_json(path), payload=payload, now=now,
                         deadline=now + self.policy.retry.window, attestation=attestation)

    def seals(self, secret_code: str) -> bool:
        """Whether an item of a letter with ``secret_code`` leaves this node sealed (policy.encrypt_secret)."""
        return self.policy.encrypt_secret and sealing.should_seal(secret_code)

    def letter_payload(self, *, receiver_org: str, secret_code: str, stored: bytes,
                       texts: parts.Texts | None = None) -> bytes:
        """What a letter leaving this node carries: its stored bytes, or, for a secret letter, those bytes
        sealed to the receiving organisation (core/trust/sealing.py), so no node in between can read it.

        A large letter's enclosures (``texts``) are spliced in by the worker as it pushes; sealed, they are
        spliced in here, whole, as the ciphertext must be the same on every retry.
        """
        if not self.seals(secret_code):
            return stored
        if texts is not None and parts.has_parts(stored):
            stored = b"".join(parts.splice(stored, texts))
        certificate = self.keyring.sealing_certificate(receiver_org)
        if certificate is None:
            raise RemoteError(ErrorCode.ENCRYPTION, f"the directory holds no certificate of organisation "
                                                    f"{receiver_org} or its node to encrypt a secret letter to")
        return sealing.seal(stored, certificate)

    def open_letter(self, org: str, stored: bytes) -> bytes:
        """A stored secret letter in clear, for ``org``'s own e-Saraban at pull time; other letters unchanged."""
        if not sealing.is_sealed(stored):
            return stored
        return sealing.open_sealed(stored, self.keyring.opening_keys(org))

    def report(self, tx: Tx, *, letter_process_id: str, sender_org: str, receiver_org: str, outcome: Status,
               detail: str, now: dt.datetime) -> bool:
        """Tell a letter's origin what became of it here (core/network/status.py), in the caller's transaction.

        ``sender_org`` and ``receiver_org`` are the letter's. Nothing is sent when the origin is this
        node, or no longer in the directory (the letter's own item goes on regardless). True when queued.
        """
        try:
            place = decide.place(sender_org, self.directory)
        except RemoteError:
            return False
        if not isinstance(place, decide.Outbox):
            return False
        payload = outbound.delivery_status(DeliveryStatus(
            letter_process_id=letter_process_id, status=outcome, at=now, node=self.node_id,
            organization=receiver_org, detail=detail),
            # a pull is the receiving organisation's to tell (its key, as for its notifiers); a push, ours
            self.keyring.signer_for(receiver_org) if outcome is Status.PULLED else self.keyring.node_signer)
        self.enqueue(tx, place, kind=ItemKind.STATUS, process_id=self.new_id(), letter_process_id=letter_process_id,
                     sender_org=receiver_org, payload=payload, path=(self.here(now),), now=now)
        return True

    def here(self, now: dt.datetime) -> Hop:
        return Hop(node=self.node_id, at=now.isoformat(timespec="seconds"))

    # ----------------------------------------------------------- receiving
    def accept(self, checked: Checked) -> bytes:
        """Store a checked message (or find it already stored) and return the signed receipt's bytes."""
        message = checked.message
        now = self.clock.now()

        def work(tx: Tx) -> bytes:
            seen = tx.received_message(sender_node=message.sender_node, message_id=message.message_id)
            if seen is not None:
                if seen.payload_digest != message.payload_digest:
                    raise RemoteError(ErrorCode.REPLAY, f"MessageId {message.message_id} was used for another item")
                self.metrics.duplicate()
                self.duplicates += 1
                return seen.receipt
            self._store(tx, checked, now)
            receipt = outbound.node_receipt(Receipt(
                message_id=message.message_id, sender_node=message.sender_node, receiver_node=self.node_id,
                process_id=message.process_id, payload_digest=message.payload_digest, received_at=now),
                self.keyring.node_signer)
            tx.insert_received(sender_node=message.sender_node, message_id=message.message_id,
                               process_id=message.process_id, payload_digest=message.payload_digest,
                               receipt=receipt, now=now)
            return receipt

        try:
            return run(self.store, work)
        except ConflictError as exc:
            # Still clashing after the retries: not a race but an item that collides with one stored
            # before (a reused identifier). A client fault, so the sender stops retrying a poison message.
            raise RemoteError(ErrorCode.REPLAY, "the message collides with an item this node already stores") from exc

    def _store(self, tx: Tx, checked: Checked, now: dt.datetime) -> None:
        message = checked.message
        path = (*message.path, self.here(now))
        place = decide.place(message.receiver_org, self.directory)
        evidence.record(tx, process_id=message.letter_process_id, event=evidence.Event.RECEIVED_FROM_NODE, now=now,
                        item=message.message_id, digest=message.payload_digest, node=message.sender_node,
                        kind=message.kind, item_process_id=message.process_id)
        if isinstance(place, decide.Outbox):
            # A hub: store, then forward the same bytes (the letter keeps its signature).
            self.enqueue(tx, place, kind=ItemKind(message.kind), process_id=message.process_id,
                         letter_process_id=message.letter_process_id, sender_org=message.sender_org,
                         payload=message.payload, path=path, now=now, attestation=message.attestation)
            evidence.record(tx, process_id=message.letter_process_id, event=evidence.Event.FORWARDED, now=now,
                            item=message.process_id, kind=message.kind, next_node=place.next_node)
        elif isinstance(checked, CheckedSealedLetter):   # the pipeline opens what is for an organisation here
            raise RemoteError(ErrorCode.ENCRYPTION, f"a sealed letter for {message.receiver_org} that this node "
                                                    "cannot open")
        elif isinstance(checked, CheckedLetter):
            self._store_letter(tx, checked, path, now)
        elif isinstance(checked, CheckedNotifier):
            self._store_notifier(tx, checked, path, now)
        elif isinstance(checked, CheckedStatus):
            self._store_status(tx, checked, now)
        else:
            self._store_withdrawal(tx, message, now)

    def _store_letter(self, tx: Tx, checked: CheckedLetter, path: tuple[Hop, ...], now: dt.datetime) -> None:
        message, letter, verified = checked.message, checked.letter, checked.verified
        # A sealed letter stays sealed at rest: opened for its e-Saraban at pull time; its subject is not kept.
        subject = sealing.SEALED_SUBJECT if checked.sealed else letter.subject
        same_id = tx.letter_by_process_id(message.process_id)
        if same_id is not None:
            if same_id.digest == letter.digest and (same_id.sender_org, same_id.receiver_org) == \
                    (message.sender_org, message.receiver_org):
                return  # the same letter through another message: already here
            raise RemoteError(ErrorCode.REPLAY, f"ProcessID {message.process_id} names another letter on this node")
        existing = tx.find_live_letter(letter.identity)
        decide.decide_submit(letter, existing)  # a different live letter with this identity: refused
        if existing is not None:
            return  # same content resent by its origin under a new ProcessID: keep the first
        letter_id = tx.insert_letter(
            process_id=message.process_id, sender_org=message.sender_org, receiver_org=message.receiver_org,
            letter_no=letter.letter_id, corr_date=letter.correspondence_date, subject=subject,
            secret_code=letter.secret_code, speed_code=letter.speed_code, digest=letter.digest, signed=True,
            state=LetterState.SENT, delivery=Delivery.DELIVERED, raw=message.payload, document=message.payload,
            now=now)
        tx.record_verification(letter_id, verified, signed_by=SignedBy.ORIGIN, signature_digest="")
        evidence.letter_stored(tx, letter_id, message.payload, now=now)
        tx.set_letter_path(letter_id, nodemsg.path_json(path))
        tx.enqueue(org=message.receiver_org, process_id=message.process_id, item_kind=QueueKind.LETTER.value,
                   letter_id=letter_id, notice_id=None, now=now)

    def _letter_for(self, tx: Tx, message: NodeMessage, event: Event) -> LetterRow:
        letter = tx.letter_by_process_id(message.letter_process_id)
        actor = ACTOR[event]
        expected = ((letter.receiver_org, letter.sender_org) if actor is Actor.RECEIVER
                    else (letter.sender_org, letter.receiver_org)) if letter else None
        if letter is None or expected != (message.sender_org, message.receiver_org):
            raise RemoteError(ErrorCode.LETTER_NOT_FOUND,
                              f"no letter {message.letter_process_id} between {message.sender_org} and "
                              f"{message.receiver_org}")
        return letter

    def _store_notifier(self, tx: Tx, checked: CheckedNotifier, path: tuple[Hop, ...], now: dt.datetime) -> None:
        message, event, element = checked.message, checked.event, checked.element
        known = tx.notice_by_process_id(message.process_id)
        if known is not None:
            if known.payload != message.payload:
                raise RemoteError(ErrorCode.REPLAY, f"ProcessID {message.process_id} names another notifier on this node")
            return  # the same notifier through another message: already here
        letter = self._letter_for(tx, message, event)
        fields = {c.tag: (c.text or "").strip() for c in element}
        notifier = make_notifier(event, letter_id=fields.get("LetterID", ""),
                                 correspondence_date=fields.get("CorrespondenceDate", ""),
                                 subject=fields.get("Subject", ""), accept_id=fields.get("AcceptID", ""))
        if (letter_key(notifier.letter_id), notifier.correspondence_date) != (letter_key(letter.letter_no),
                                                                             letter.corr_date):
            raise RemoteError(ErrorCode.LETTER_NOT_FOUND, "the notifier names another letter")
        new_state = next_state(letter.state, event)
        tx.set_letter_state(letter_id=letter.id, expected=letter.state, new=new_state,
                            accept_id=decide.accept_id_after(event, letter, notifier), now=now)
        notice_id = tx.insert_notice(process_id=message.process_id, letter_id=letter.id, kind=event,
                                     accept_id=notifier.accept_id, from_org=message.sender_org,
                                     to_org=message.receiver_org, payload=message.payload, raw=message.payload,
                                     now=now)
        tx.set_notice_path(notice_id, nodemsg.path_json(path))
        evidence.notice_stored(tx, notice_id, letter_process_id=letter.process_id, state=new_state.value, now=now)
        tx.enqueue(org=message.receiver_org, process_id=message.process_id, item_kind=QueueKind.NOTICE.value,
                   letter_id=letter.id, notice_id=notice_id, now=now)

    def _store_status(self, tx: Tx, checked: CheckedStatus, now: dt.datetime) -> None:
        """At the letter's origin: what OutboundStatus reports follows what the reporting node saw."""
        message, report = checked.message, checked.report
        letter = tx.letter_by_process_id(report.letter_process_id)
        if letter is None or (letter.receiver_org, letter.sender_org) != (message.sender_org, message.receiver_org):
            raise RemoteError(ErrorCode.LETTER_NOT_FOUND, f"no letter {report.letter_process_id} from "
                                                          f"{message.receiver_org} to {message.sender_org}")
        at = min(report.at, now)
        evidence.record(tx, process_id=letter.process_id, event=evidence.Event.STATUS, now=now,
                        status=report.status.value, node=report.node, detail=report.detail)
        if report.status is Status.PULLED:
            tx.set_letter_pulled(letter.id, at)
            if letter.delivery is not Delivery.DELIVERED:
                tx.set_letter_delivery(process_id=letter.process_id, delivery=Delivery.DELIVERED, now=now)
        elif report.status is Status.FAILED:
            if letter.pulled_at is None:   # a failure reported after the pull is old news
                tx.set_letter_delivery(process_id=letter.process_id, delivery=Delivery.FAILED, now=now)
        elif letter.delivery is Delivery.FAILED:
            tx.set_letter_delivery(process_id=letter.process_id, delivery=Delivery.DELIVERED, now=now)

    def _store_withdrawal(self, tx: Tx, message: NodeMessage, now: dt.datetime) -> None:
        letter = self._letter_for(tx, message, Event.WITHDRAW)
        if letter.state is LetterState.WITHDRAWN:
            return
        tx.set_letter_state(letter_id=letter.id, expected=letter.state,
                            new=next_state(letter.state, Event.WITHDRAW), accept_id=letter.accept_id, now=now)
        evidence.record(tx, process_id=letter.process_id, event=evidence.Event.WITHDRAWN, now=now,
                        org=message.sender_org, state=LetterState.WITHDRAWN.value)
        tx.delete_letter_items(org=letter.receiver_org, letter_id=letter.id, now=now)
