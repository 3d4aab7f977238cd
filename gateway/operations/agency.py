"""The agency operations: each one store transaction around the core's decisions.

The application layer between the Spyne adapter and the Store port. What
reaches it has been through the agency pipeline (``pipeline/agency.py``):
parsed by the hardened parser, schema-valid and, for a letter, signed and
verified. It never parses bytes and never names a concrete store.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable, TypeVar

from lxml import etree

from gateway.core.errors import ErrorCode, LocalError, RemoteError
from gateway.core.letters import decide, parts
from gateway.core.letters.decide import Submit
from gateway.core.letters.fields import MAX_PROCESS_ID, check_text
from gateway.core.letters.letter import NOTIFIER_ELEMENTS, Letter, LetterIdentity, Notifier, notifier_element
from gateway.core.network.directory import Directory, Organization
from gateway.core import evidence as chain
from gateway.core.network.status import Status
from gateway.core.records import LetterRow, SignedBy
from gateway.core.trust import sealing
from gateway.core.state import (ACTOR, Actor, Delivery, Event, ItemKind, LetterState, ProcessStatus, QueueKind,
                                next_state, process_status)
from gateway.core.time import wire_time
from gateway.operations import evidence
from gateway.operations.enclosures import blob_texts
from gateway.operations.relay import Relay
from gateway.pipeline.agency import PreparedLetter
from gateway.ports import Clock, IdFactory
from gateway.store import Store, Tx, run

log = logging.getLogger(__name__)

T = TypeVar("T")
CONFLICT_RETRIES = 5


@dataclass(frozen=True, kw_only=True)
class Item:
    """A queue item as answered to a client: its ProcessID, time and serialised element."""

    process_id: str
    process_time: str
    element: bytes
    # The blobs ``element`` names by placeholder (a large letter: core/letters/parts.py); the answer splices
    # exactly these in, as it is written (adapters/http/large.py).
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OutboundStatus:
    process_id: str
    letter_id: str
    status: ProcessStatus
    correspondence_date: str
    receiver: str
    accept_id: str
    status_time: str


@dataclass(frozen=True, kw_only=True)
class Policy:
    allow_top_secret: bool
    visibility_timeout: dt.timedelta
    outbound_status_window: dt.timedelta
    outbound_status_max: int


class Agency:
    """What an e-Saraban can ask of its node, for the organisations hosted here."""

    def __init__(self, *, store: Store, directory: Directory, clock: Clock, new_id: IdFactory, policy: Policy,
                 relay: Relay) -> None:
        self.store = store
        self.relay = relay
        self.directory = directory
        self.clock = clock
        self.new_id = new_id
        self.policy = policy

    # ----------------------------------------------------------------- helpers
    def _run(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in a transaction, again if it lost a race (nothing of a lost try is kept)."""
        return run(self.store, work, attempts=CONFLICT_RETRIES)

    def store_letter(self, caller: Organization, prepared: PreparedLetter) -> Item:
        """Store a prepared letter and queue it (here) or put it in the outbox (elsewhere), or answer a retry."""
        letter, verified, signed_by = prepared.letter, prepared.verified, prepared.signed_by
        if letter.sender.department_id != caller.id:
            raise LocalError("a letter prepared for another organisation")

        def work(tx: Tx) -> Item:
            existing = tx.find_live_letter(letter.identity)
            if decide.decide_submit(letter, existing) is Submit.DUPLICATE:
                assert existing is not None
                return Item(process_id=existing.process_id, process_time=wire_time(existing.created_at),
                            element=tx.letter_document(existing.id))
            if signed_by is SignedBy.CLIENT:
                same = tx.letters_by_signature(sender_org=caller.id, signature_digest=verified.signature_digest)
                retry = decide.live_retry(letter, same)
                if retry is not None:  # the same signed letter, committed by a concurrent request meanwhile
                    return Item(process_id=retry.process_id, process_time=wire_time(retry.created_at),
                                element=tx.letter_document(retry.id))
                decide.check_replay(same)
            item, letter_id = self._store_letter(tx, letter, prepared.raw, prepared.stored, prepared.parts)
            # Only a client's own signature guards against replays: the node signs anew each time.
            tx.record_verification(letter_id, verified, signed_by=signed_by,
                                   signature_digest=verified.signature_digest if signed_by is SignedBy.CLIENT else "")
            now = self.clock.now()
            evidence.record(tx, process_id=item.process_id, event=evidence.Event.RECEIVED, now=now,
                            digest=chain.sha256(prepared.raw), org=caller.id)
            evidence.letter_stored(tx, letter_id, prepared.stored, now=now)
            return item

        return self._run(work)

    def _store_letter(self, tx: Tx, letter: Letter, raw: bytes, stored: bytes,
                      large: tuple = ()) -> tuple[Item, int]:
        now = self.clock.now()
        process_id = self.new_id()
        for part in large:   # the enclosures first: the letter row that names them commits with them
            tx.put_blob(part.sink, now)
        place = decide.place(letter.receiver.department_id, self.directory)
        letter_id = tx.insert_letter(
            process_id=process_id, sender_org=letter.sender.department_id,
            receiver_org=letter.receiver.department_id, letter_no=letter.letter_id,
            corr_date=letter.correspondence_date, subject=letter.subject, secret_code=letter.secret_code,
            speed_code=letter.speed_code, digest=letter.digest, signed=letter.signed,
            state=LetterState.SENT,
            delivery=Delivery.DELIVERED if isinstance(place, decide.Queue) else Delivery.PENDING,
            raw=raw, document=stored, now=now)
        for seq, part in enumerate(large):
            tx.link_part(letter_id, seq, part.digest)
        if isinstance(place, decide.Queue):
            tx.enqueue(org=place.org, process_id=process_id, item_kind=QueueKind.LETTER.value,
                       letter_id=letter_id, notice_id=None, now=now)
        else:
            payload = self.relay.letter_payload(receiver_org=place.org, secret_code=letter.secret_code, stored=stored,
                                                texts=blob_texts(tx, [p.digest for p in large]))
            self.relay.enqueue(tx, place, kind=ItemKind.LETTER, process_id=process_id, letter_process_id=process_id,
                               sender_org=letter.sender.department_id, payload=payload,
                               path=(self.relay.here(now),), now=now)
        return Item(process_id=process_id, process_time=wire_time(now), element=stored), letter_id

    # ----------------------------------------------------- 3.2.2 - 3.2.6 notify
    def notify(self, caller: Organization, notifier: Notifier, raw: bytes) -> Item:
        actor = ACTOR[notifier.event]

        def work(tx: Tx) -> Item:
            if actor is Actor.RECEIVER:
                candidates = tx.letters_to_receiver(receiver_org=caller.id, letter_no=notifier.letter_id,
                                                    corr_date=notifier.correspondence_date)
            else:
                candidates = tx.letters_from_sender(sender_org=caller.id, letter_no=notifier.letter_id,
                                                    corr_date=notifier.correspondence_date)
            notified = [c.id for c in candidates
                        if tx.find_notice(letter_id=c.id, kind=notifier.event, accept_id=notifier.accept_id)]
            letter = decide.pick_letter(candidates, notifier, notified)
            existing = tx.find_notice(letter_id=letter.id, kind=notifier.event, accept_id=notifier.accept_id)
            if existing is not None:  # the client retried: same answer, nothing new
                return Item(process_id=existing.process_id, process_time=wire_time(existing.created_at),
                            element=existing.payload)
            new_state = next_state(letter.state, notifier.event)
            now = self.clock.now()
            tx.set_letter_state(letter_id=letter.id, expected=letter.state, new=new_state,
                                accept_id=decide.accept_id_after(notifier.event, letter, notifier), now=now)
            to_org = letter.sender_org if actor is Actor.RECEIVER else letter.receiver_org
            place = decide.place(to_org, self.directory)
            subject = notifier.subject or letter.subject
            if isinstance(place, decide.Outbox) and self.relay.seals(letter.secret_code):
                subject = sealing.SEALED_SUBJECT   # a secret letter's subject never crosses the network in clear
            payload = notifier_element(
                event=notifier.event, letter_id=letter.letter_no, correspondence_date=letter.corr_date,
                subject=subject, accept_id=notifier.accept_id,
                accept_date=wire_time(now), accept_department=letter.receiver_org)
            process_id = self.new_id()
            notice_id = tx.insert_notice(process_id=process_id, letter_id=letter.id, kind=notifier.event,
                                         accept_id=notifier.accept_id, from_org=caller.id, to_org=to_org,
                                         payload=payload, raw=raw, now=now)
            evidence.notice_stored(tx, notice_id, letter_process_id=letter.process_id, state=new_state.value, now=now)
            if isinstance(place, decide.Queue):
                tx.enqueue(org=to_org, process_id=process_id, item_kind=QueueKind.NOTICE.value, letter_id=letter.id,
                           notice_id=notice_id, now=now)
            else:
                self.relay.enqueue(tx, place, kind=ItemKind.NOTIFIER, process_id=process_id,
                                   letter_process_id=letter.process_id, sender_org=caller.id, payload=payload,
                                   path=(self.relay.here(now),), now=now)
            return Item(process_id=process_id, process_time=wire_time(now), element=payload)

        return self._run(work)

    # ------------------------------------------------------ 3.2.7 - 3.2.12 pull
    def pull(self, caller: Organization) -> Item | None:
        def work(tx: Tx) -> Item | None:
            now = self.clock.now()
            row = tx.claim_next(org=caller.id, now=now, until=now + self.policy.visibility_timeout)
            if row is None:
                return None
            return self._item(tx, row.item_kind, row.letter_id, row.notice_id, row.process_id, row.created_at, now)

        return self._run(work)

    def _item(self, tx: Tx, kind: str, letter_id: int, notice_id: int | None, process_id: str,
              created: dt.datetime, now: dt.datetime) -> Item:
        if kind == QueueKind.LETTER:
            letter = tx.get_letter(letter_id)
            if letter.pulled_at is None:   # the first pull: its origin, if elsewhere, is told (PULLED)
                self.relay.report(tx, letter_process_id=letter.process_id, sender_org=letter.sender_org,
                                  receiver_org=letter.receiver_org, outcome=Status.PULLED, detail="", now=now)
                evidence.record(tx, process_id=letter.process_id, event=evidence.Event.PULLED, now=now,
                                org=letter.receiver_org)
            tx.set_letter_pulled(letter_id, now)
            element = tx.letter_document(letter_id)
            held = tuple(digest for _, digest, _ in tx.letter_parts(letter_id))
            if sealing.should_seal(letter.secret_code):    # stored sealed: opened for its own e-Saraban only
                element = self.relay.open_letter(letter.receiver_org, element)
        else:
            assert notice_id is not None
            element = tx.get_notice(notice_id).payload
            held = ()
        return Item(process_id=process_id, process_time=wire_time(created), element=element, parts=held)

    # ------------------------------------------------------------- special
    def special(self, caller: Organization, item: str, reference: LetterIdentity) -> Item:
        """Fetch one named letter (``item`` = GovernmentDocument) or notifier again; the queue is untouched."""
        decide.check_special(reference, item, caller.id)

        def work(tx: Tx) -> Item:
            letter = tx.find_live_letter(reference) or tx.find_withdrawn_letter(reference)
            if letter is None:
                raise RemoteError(ErrorCode.LETTER_NOT_FOUND,
                                  f"{reference.letter_id} of {reference.correspondence_date} "
                                  f"from {reference.sender} to {reference.receiver}")
            now = self.clock.now()
            if item == "GovernmentDocument":
                return self._item(tx, QueueKind.LETTER, letter.id, None, letter.process_id, letter.created_at, now)
            notice = tx.latest_notice(letter_id=letter.id, kind=NOTIFIER_ELEMENTS[item])
            if notice is None:
                raise RemoteError(ErrorCode.ITEM_NOT_FOUND,
                                  f"no {item} for {reference.letter_id} of {reference.correspondence_date}")
            return Item(process_id=notice.process_id, process_time=wire_time(notice.created_at),
                        element=notice.payload)

        return self._run(work)

    # ------------------------------------------------------------- 3.2.14
    def delete(self, caller: Organization, process_id: str) -> str:
        """Remove a pulled item from the caller's queue. Deleting twice answers the same."""
        process_id = check_text(process_id, "CorrespondenceLetterDeleteRequest/ProcessID", MAX_PROCESS_ID,
                                identifier=True)

        def work(tx: Tx) -> str:
            row = tx.queue_item(org=caller.id, process_id=process_id)
            if row is None:
                raise RemoteError(ErrorCode.ITEM_NOT_FOUND, process_id or "(empty ProcessID)")
            now = self.clock.now()
            if row.deleted_at is None:
                tx.delete_queue_item(org=caller.id, process_id=process_id, now=now)
                letter = tx.get_letter(row.letter_id)
                evidence.record(tx, process_id=letter.process_id, event=evidence.Event.DELETED, now=now,
                                item=process_id, org=caller.id)
                return wire_time(now)
            return wire_time(row.deleted_at)

        return self._run(work)

    # ------------------------------------------------------------- 3.2.13
    def withdraw(self, caller: Organization, reference: LetterIdentity) -> tuple[str, str]:
        decide.check_withdrawal(reference, caller.id)

        def work(tx: Tx) -> tuple[str, str]:
            letter = tx.find_live_letter(reference)
            if letter is None:
                withdrawn = tx.find_withdrawn_letter(reference)
                if withdrawn is not None:  # withdrawn already: a retry
                    return reference.letter_id, wire_time(withdrawn.updated_at)
                raise RemoteError(ErrorCode.LETTER_NOT_FOUND,
                                  f"{reference.letter_id} of {reference.correspondence_date} to {reference.receiver}")
            new_state = next_state(letter.state, Event.WITHDRAW)
            now = self.clock.now()
            tx.set_letter_state(letter_id=letter.id, expected=letter.state, new=new_state,
                                accept_id=letter.accept_id, now=now)
            evidence.record(tx, process_id=letter.process_id, event=evidence.Event.WITHDRAWN, now=now,
                            org=caller.id, state=new_state.value)
            place = decide.place(letter.receiver_org, self.directory)
            if isinstance(place, decide.Queue):
                # The receiver must not pull a withdrawn letter it has not taken yet.
                tx.delete_letter_items(org=letter.receiver_org, letter_id=letter.id, now=now)
            else:
                self.relay.enqueue(tx, place, kind=ItemKind.WITHDRAWAL, process_id=self.new_id(),
                                   letter_process_id=letter.process_id, sender_org=caller.id,
                                   payload=withdrawal_payload(reference), path=(self.relay.here(now),), now=now)
            return reference.letter_id, wire_time(now)

        return self._run(work)

    # -------------------------------------------------------------- 3.3.6
    def outbound_status(self, caller: Organization) -> list[OutboundStatus]:
        def work(tx: Tx) -> list[LetterRow]:
            since = self.clock.now() - self.policy.outbound_status_window
            return tx.outbound_status(sender_org=caller.id, since=since, limit=self.policy.outbound_status_max)

        return [OutboundStatus(
            process_id=row.process_id, letter_id=row.letter_no,
            status=process_status(row.state, row.delivery, row.pulled_at is not None),
            correspondence_date=row.corr_date, receiver=row.receiver_org, accept_id=row.accept_id,
            status_time=wire_time(row.updated_at if row.pulled_at is None else max(row.updated_at, row.pulled_at)),
        ) for row in self._run(work)]


def withdrawal_payload(reference: LetterIdentity) -> bytes:
    """A withdrawal as it travels to the receiver's node: the request's reference, for the record."""
    root = etree.Element("CorrespondenceDeleteGovernmentDocumentRequest")
    etree.SubElement(root, "LetterID").text = reference.letter_id
    etree.SubElement(root, "CorrespondenceDate").text = reference.correspondence_date
    etree.SubElement(etree.SubElement(root, "SenderDepartment"), "Code").text = reference.sender
    etree.SubElement(etree.SubElement(root, "AcceptDepartment"), "Code").text = reference.receiver
    return etree.tostring(root, encoding="utf-8")
