"""Decisions of the agency interface, without I/O.

Each function takes what the store found and what the client asked, and
returns what to do (or raises the RemoteError the client gets). The
``agency`` module runs them inside a store transaction.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.network.directory import Directory
from gateway.core.letters.fields import MAX_CODE, MAX_LETTER_ID, check_text, letter_key
from gateway.core.letters.letter import Letter, LetterIdentity, Notifier, check_date
from gateway.core.state import ACTOR, Actor, Event, LetterState, allowed
from gateway.core.records import LetterRow


@dataclass(frozen=True, kw_only=True)
class Queue:
    """The item goes into the queue of ``org``, hosted on this node."""

    org: str


@dataclass(frozen=True, kw_only=True)
class Outbox:
    """The item goes into the outbox, to be pushed to ``next_node`` on the way to ``org``."""

    org: str
    next_node: str


def place(receiver: str, directory: Directory) -> Queue | Outbox:
    """Where an item for ``receiver`` goes: the one "queue here or outbox there" decision.

    Letters are routed by the receiver's OrganizationID (never by wsa:To, which
    clients fill inconsistently); UNKNOWN_RECEIVER when the directory does not
    know it or no neighbour node leads to it.
    """
    org = directory.require_receiver(receiver)
    if org.hosted:
        return Queue(org=org.id)
    hop = directory.next_hop(org.id)
    if hop is None:
        raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, f"{org.id} is not hosted here and no node route leads to it")
    return Outbox(org=org.id, next_node=hop.id)


class Submit(enum.Enum):
    NEW = "new"               # store it and queue it for the receiver
    DUPLICATE = "duplicate"   # a retry: answer with the first ProcessID


def decide_submit(letter: Letter, existing: LetterRow | None) -> Submit:
    """Same identity, same content: the client retried. Same identity, other content: refused.

    A client that timed out and sends again must not create a second letter,
    and a different letter reusing a live number and date would make every
    later notifier ambiguous; the sender withdraws the first one (3.2.13)
    after a reject or invalid notifier, then sends again.
    """
    if existing is None:
        return Submit.NEW
    if existing.digest == letter.digest:
        return Submit.DUPLICATE
    raise RemoteError(ErrorCode.DUPLICATE_CONFLICT,
                      f"{letter.letter_id} of {letter.correspondence_date} is ProcessID {existing.process_id} "
                      f"({existing.state.value})")


def live_retry(letter: Letter, same_signature: Sequence[LetterRow]) -> LetterRow | None:
    """A live letter of this identity carrying this very signature: the request is a retry."""
    for row in same_signature:
        if row.state is not LetterState.WITHDRAWN and (letter_key(row.letter_no), row.corr_date, row.receiver_org) == (
                letter_key(letter.letter_id), letter.correspondence_date, letter.receiver.department_id):
            return row
    return None


def check_replay(same_signature: Sequence[LetterRow]) -> None:
    """A client-signed letter whose signature was already used for a letter now withdrawn is a replay.

    (A retry of a live letter never gets here: the identity check answers it
    with the first ProcessID.) To send a withdrawn letter again, the client
    signs it again.
    """
    if same_signature:
        first = same_signature[0]
        raise RemoteError(ErrorCode.REPLAY, f"this signature was used for ProcessID {first.process_id} "
                                            f"({first.state.value}); sign the letter again to resend it")


def check_sender(letter: Letter, caller_id: str) -> None:
    """A letter is sent by the organisation whose endpoint received it."""
    if letter.sender.department_id != caller_id:
        raise RemoteError(ErrorCode.SENDER_MISMATCH,
                          f"the letter's sender {letter.sender.department_id} is not {caller_id}")


def pick_letter(candidates: Sequence[LetterRow], notifier: Notifier,
                notified: Sequence[int] = ()) -> LetterRow:
    """The one letter a notifier refers to.

    Notifiers name a letter by LetterID and CorrespondenceDate only; the
    notifying organisation is the other half of the identity. A circular
    letter sent to many receivers shares its number and date, so the sender's
    InvalidAcceptIDNotifier also uses the AcceptID it disputes. If several
    letters still match, prefer one the notifier already applies to (a
    retry, ``notified`` holds their ids) or one whose state allows it; if
    that is still not one letter, the client must be told.
    """
    if notifier.event is Event.DISPUTE:
        candidates = [c for c in candidates if c.accept_id == notifier.accept_id]
    if not candidates:
        side = "received" if ACTOR[notifier.event] is Actor.RECEIVER else "sent"
        raise RemoteError(ErrorCode.LETTER_NOT_FOUND,
                          f"no letter {notifier.letter_id} of {notifier.correspondence_date} {side} by this organisation"
                          + (f" with AcceptID {notifier.accept_id}" if notifier.event is Event.DISPUTE else ""))
    if len(candidates) == 1:
        return candidates[0]
    retried = [c for c in candidates if c.id in notified]
    if len(retried) == 1:
        return retried[0]
    possible = [c for c in candidates if allowed(c.state, notifier.event)]
    if len(possible) == 1:
        return possible[0]
    raise RemoteError(ErrorCode.AMBIGUOUS_LETTER,
                      f"{len(candidates)} letters {notifier.letter_id} of {notifier.correspondence_date}: "
                      + ", ".join(f"{c.process_id} from {c.sender_org} to {c.receiver_org}" for c in candidates))


def accept_id_after(event: Event, letter: LetterRow, notifier: Notifier) -> str:
    """The receive number a letter carries after a notifier: only Accept sets it."""
    return notifier.accept_id if event is Event.ACCEPT else letter.accept_id


def make_reference(name: str, *, letter_id: str, correspondence_date: str, sender: str,
                   receiver: str) -> LetterIdentity:
    """A :class:`LetterIdentity` from the fields of element ``name``, or INVALID_FIELD."""
    letter_id = check_text(letter_id, f"{name}/LetterID", MAX_LETTER_ID)
    if not letter_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{name}/LetterID is empty")
    return LetterIdentity(
        letter_id=letter_id,
        correspondence_date=check_date((correspondence_date or "").strip(), f"{name}/CorrespondenceDate"),
        sender=check_text(sender, f"{name}/SenderDepartment/Code", MAX_CODE, identifier=True),
        receiver=check_text(receiver, f"{name}/AcceptDepartment/Code", MAX_CODE, identifier=True))


def check_withdrawal(reference: LetterIdentity, caller_id: str) -> None:
    if reference.sender != caller_id:
        raise RemoteError(ErrorCode.SENDER_MISMATCH,
                          f"SenderDepartment/Code {reference.sender or '(empty)'} is not {caller_id}: "
                          "only the sender may withdraw a letter")


def special_side(item: str) -> Actor:
    """Who may fetch an item again: the side it was queued for."""
    if item == "GovernmentDocument" or item == "InvalidAcceptIDNotifier":
        return Actor.RECEIVER
    return Actor.SENDER


def check_special(reference: LetterIdentity, item: str, caller_id: str) -> None:
    side = special_side(item)
    own = reference.receiver if side is Actor.RECEIVER else reference.sender
    if own != caller_id:
        field = "AcceptDepartment/Code" if side is Actor.RECEIVER else "SenderDepartment/Code"
        raise RemoteError(ErrorCode.SENDER_MISMATCH,
                          f"{item} is fetched by the organisation in {field} ({own or 'empty'}), not {caller_id}")

