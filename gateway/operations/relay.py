"""Node-to-node exchange, application layer (DESIGN section 4).

Sending: :meth:`Relay.enqueue` puts an item in the outbox inside the caller's
transaction (the one that answers the e-Saraban, or stores an item to
forward), so an acknowledged item is never lost; the delivery worker pushes it.

Receiving: :meth:`Relay.receive` takes one NodeMessage from the node port.
It verifies the sending node's signature (pinned to the directory), the
timestamp window, and for a letter its end-to-end signature; then, in one
transaction, it answers a repeated (sender node, MessageId) with the receipt
it issued first, or stores the item (queue for a hosted organisation, outbox
for one it routes to) and issues and keeps a signed receipt. A refused
message gets a fault and no receipt; nothing of it is stored.
"""
from __future__ import annotations

import datetime as dt
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from gateway.core.xml import contract, safe as xmlsafe
from gateway.core.letters import decide as exchange
from gateway.core.network import nodemsg
from gateway.core import ns
from gateway.core.trust import signing
from gateway.ports import Clock, IdFactory
from gateway.core.network.directory import Directory
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.letters.letter import NOTIFIER_ELEMENTS, make_notifier, read_letter
from gateway.core.network.nodemsg import Hop, NodeMessage
from gateway.core.records import LetterRow
from gateway.core.network.retry import RetryPolicy
from gateway.core.trust.signing import VerifyPolicy
from gateway.core.state import ACTOR, Actor, Delivery, Event, LetterState, next_state
from gateway.store import Store, Tx, run
from gateway.core.trust.keyring import Keyring


@dataclass(frozen=True, kw_only=True)
class Checked:
    """A NodeMessage whose signature, addressing and payload were checked; not yet stored."""

    message: NodeMessage
    prepared: object


@dataclass(frozen=True, kw_only=True)
class RelayPolicy:
    retry: RetryPolicy
    clock_skew: dt.timedelta
    verify: VerifyPolicy
    allow_top_secret: bool


class Relay:
    def __init__(self, *, store: Store, directory: Directory, keyring: Keyring, clock: Clock, new_id: IdFactory,
                 node_id: str, policy: RelayPolicy) -> None:
        self.store = store
        self.directory = directory
        self.keyring = keyring
        self.clock = clock
        self.new_id = new_id
        self.node_id = node_id
        self.policy = policy
        self.duplicates = 0  # repeats answered with the first receipt (a metric; a worker retried)

    # ------------------------------------------------------------- sending
    def can_route(self, org_id: str) -> bool:
        return self.directory.next_hop(org_id) is not None

    def enqueue(self, tx: Tx, *, kind: str, process_id: str, letter_process_id: str, sender_org: str,
                receiver_org: str, payload: bytes, path: tuple[Hop, ...], now: dt.datetime) -> None:
        """Put one item in the outbox for the next node towards ``receiver_org``."""
        hop = self.directory.next_hop(receiver_org)
        if hop is None:
            raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, f"no route to {receiver_org}")
        tx.insert_outbox(message_id=self.new_id(), kind=kind, process_id=process_id,
                         letter_process_id=letter_process_id, sender_org=sender_org, receiver_org=receiver_org,
                         next_node=hop.id, path=nodemsg.path_json(path), payload=payload, now=now,
                         deadline=now + self.policy.retry.window)

    def here(self, now: dt.datetime) -> Hop:
        return Hop(node=self.node_id, at=now.isoformat(timespec="seconds"))

    # ----------------------------------------------------------- receiving
    def check(self, document: etree._Element) -> "Checked":
        """Schema, the sending node's signature, addressing, timestamp, and the payload (a letter's
        own signature): everything that needs no store. Runs before Spyne sees the request."""
        now = self.clock.now()
        contract.validate(document, contract.node_schema())
        claimed = (document.findtext(ns.node("SenderNode")) or "").strip()
        trusted = self.keyring.node_certificates.get(claimed)
        if trusted is None:
            raise RemoteError(ErrorCode.UNTRUSTED_SIGNER, f"node {claimed!r} is not in this node's directory")
        signed, _ = signing.verify_document(document, trusted=[trusted], now=now)
        message = nodemsg.read_message(signed)   # only the signed content flows on
        if message.receiver_node != self.node_id:
            raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, f"the message is for node {message.receiver_node}, "
                                                          f"this is {self.node_id}")
        nodemsg.check_timestamp(message, now, self.policy.clock_skew)
        self._check_sender_node(message)
        if len(message.path) >= nodemsg.MAX_HOPS - 1:
            raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, "too many hops: a routing loop?")
        return Checked(message=message, prepared=self._prepare(message, now))

    def accept(self, checked: "Checked") -> bytes:
        """Store a checked message (or find it already stored) and return the signed receipt's bytes."""
        message, prepared = checked.message, checked.prepared
        now = self.clock.now()

        def work(tx: Tx) -> bytes:
            seen = tx.received_message(sender_node=message.sender_node, message_id=message.message_id)
            if seen is not None:
                if seen.payload_digest != message.payload_digest:
                    raise RemoteError(ErrorCode.REPLAY, f"MessageId {message.message_id} was used for another item")
                self.duplicates += 1
                return seen.receipt
            self._store(tx, message, prepared, now)
            receipt = signing.sign_document(nodemsg.build_receipt(nodemsg.Receipt(
                message_id=message.message_id, sender_node=message.sender_node, receiver_node=self.node_id,
                process_id=message.process_id, payload_digest=message.payload_digest, received_at=now)),
                self.keyring.node_signer)
            receipt_bytes = etree.tostring(receipt, encoding="utf-8")
            tx.insert_received(sender_node=message.sender_node, message_id=message.message_id,
                               process_id=message.process_id, payload_digest=message.payload_digest,
                               receipt=receipt_bytes, now=now)
            return receipt_bytes

        return run(self.store, work)

    def _check_sender_node(self, message: NodeMessage) -> None:
        """A node may send only for organisations it hosts or routes for us (DESIGN section 6)."""
        org = self.directory.get(message.sender_org)
        if org is None or org.hosted:
            raise RemoteError(ErrorCode.UNTRUSTED_SIGNER,
                              f"organisation {message.sender_org} is not reached through node {message.sender_node}")
        if message.sender_node not in (org.node, org.via):
            raise RemoteError(ErrorCode.UNTRUSTED_SIGNER,
                              f"node {message.sender_node} may not send for {message.sender_org}")

    def _prepare(self, message: NodeMessage, now: dt.datetime):
        """Everything that needs no store: parse and verify the payload."""
        if message.kind == "letter":
            document = xmlsafe.parse(message.payload)
            if document.tag != ns.rsm("GovernmentDocument"):
                raise RemoteError(ErrorCode.SCHEMA_INVALID, "a letter's Payload is an rsm:GovernmentDocument")
            contract.validate(document)
            verified = signing.verify_letter(document, trusted=self.keyring.trusted_for(message.sender_org),
                                             policy=self.policy.verify, now=now)
            letter = read_letter(document, allow_top_secret=self.policy.allow_top_secret)
            if (letter.sender.department_id, letter.receiver.department_id) != \
                    (message.sender_org, message.receiver_org):
                raise RemoteError(ErrorCode.SENDER_MISMATCH, "the letter's parties differ from the message's")
            if message.process_id != message.letter_process_id:
                raise RemoteError(ErrorCode.INVALID_FIELD, "a letter's LetterProcessID is its own ProcessID")
            return letter, verified
        if message.kind == "notifier":
            element = xmlsafe.parse(message.payload)
            event = NOTIFIER_ELEMENTS.get(element.tag)
            if event is None:
                raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{element.tag!r} is not a notifier")
            return event, element
        return None  # withdrawal: the letter reference is the message's LetterProcessID

    def _store(self, tx: Tx, message: NodeMessage, prepared, now: dt.datetime) -> None:
        path = (*message.path, self.here(now))
        hosted = self.directory.is_hosted(message.receiver_org)
        if not hosted:
            # A hub: store, then forward the same bytes (the letter keeps its signature).
            self.enqueue(tx, kind=message.kind, process_id=message.process_id,
                         letter_process_id=message.letter_process_id, sender_org=message.sender_org,
                         receiver_org=message.receiver_org, payload=message.payload, path=path, now=now)
            return
        if message.kind == "letter":
            self._store_letter(tx, message, prepared, path, now)
        elif message.kind == "notifier":
            self._store_notifier(tx, message, prepared, path, now)
        else:
            self._store_withdrawal(tx, message, now)

    def _store_letter(self, tx: Tx, message: NodeMessage, prepared, path, now: dt.datetime) -> None:
        letter, verified = prepared
        existing = tx.find_live_letter(sender_org=message.sender_org, receiver_org=message.receiver_org,
                                       letter_no=letter.letter_id, corr_date=letter.correspondence_date)
        if existing is not None and existing.process_id == message.process_id:
            return  # the same letter through another message: already here
        exchange.decide_submit(letter, existing)  # a different live letter with this identity: refused
        if existing is not None:
            return  # same content resent by its origin under a new ProcessID: keep the first
        letter_id = tx.insert_letter(
            process_id=message.process_id, sender_org=message.sender_org, receiver_org=message.receiver_org,
            letter_no=letter.letter_id, corr_date=letter.correspondence_date, subject=letter.subject,
            secret_code=letter.secret_code, speed_code=letter.speed_code, digest=letter.digest, signed=True,
            state=LetterState.SENT, delivery=Delivery.DELIVERED, raw=message.payload, document=message.payload,
            now=now)
        tx.record_verification(
            letter_id, signed_by="origin", signer=verified.signer, signer_org=verified.signer_org,
            certificate_sha256=verified.certificate_sha256, signature_method=verified.signature_method,
            digest_method=verified.digest_method, c14n_method=verified.c14n_method,
            signature_policy=verified.policy, signature_digest="", verified_at=verified.verified_at)
        tx.set_letter_path(letter_id, nodemsg.path_json(path))
        tx.enqueue(org=message.receiver_org, process_id=message.process_id, item_kind="letter",
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

    def _store_notifier(self, tx: Tx, message: NodeMessage, prepared, path, now: dt.datetime) -> None:
        event, element = prepared
        if tx.notice_by_process_id(message.process_id) is not None:
            return
        letter = self._letter_for(tx, message, event)
        fields = {c.tag: (c.text or "").strip() for c in element}
        notifier = make_notifier(event, letter_id=fields.get("LetterID", ""),
                                 correspondence_date=fields.get("CorrespondenceDate", ""),
                                 subject=fields.get("Subject", ""), accept_id=fields.get("AcceptID", ""))
        if (notifier.letter_id, notifier.correspondence_date) != (letter.letter_no, letter.corr_date):
            raise RemoteError(ErrorCode.LETTER_NOT_FOUND, "the notifier names another letter")
        new_state = next_state(letter.state, event)
        tx.set_letter_state(letter_id=letter.id, expected=letter.state, new=new_state,
                            accept_id=exchange.accept_id_after(event, letter, notifier), now=now)
        notice_id = tx.insert_notice(process_id=message.process_id, letter_id=letter.id, kind=event,
                                     accept_id=notifier.accept_id, from_org=message.sender_org,
                                     to_org=message.receiver_org, payload=message.payload, raw=message.payload,
                                     now=now)
        tx.set_notice_path(notice_id, nodemsg.path_json(path))
        tx.enqueue(org=message.receiver_org, process_id=message.process_id, item_kind="notice",
                   letter_id=letter.id, notice_id=notice_id, now=now)

    def _store_withdrawal(self, tx: Tx, message: NodeMessage, now: dt.datetime) -> None:
        letter = self._letter_for(tx, message, Event.WITHDRAW)
        if letter.state is LetterState.WITHDRAWN:
            return
        tx.set_letter_state(letter_id=letter.id, expected=letter.state,
                            new=next_state(letter.state, Event.WITHDRAW), accept_id=letter.accept_id, now=now)
        tx.delete_letter_items(org=letter.receiver_org, letter_id=letter.id, now=now)


def standalone(element: etree._Element) -> etree._Element:
    """A document of its own: a signed element taken out of the envelope it came in."""
    return deepcopy(element)
