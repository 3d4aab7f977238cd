"""Every lifecycle of the node, each one transition table (STYLE 2): letters, outbox items, queue items.

Theory of operation: letters
----------------------------
A letter is SENT when its sender's node stores it. From then on only
notifiers and the sender's withdrawal move it, and only along the rows of
:data:`TRANSITIONS`. Who may make a move is :data:`ACTOR` of its event: the
receiving organisation sends receive / accept / reject / invalid notifiers
(3.2.2 - 3.2.5); the sending organisation disputes a receive number (3.2.6)
and withdraws a rejected or invalid letter so it can send it again (3.2.13).

The regulation (ระเบียบสำนักนายกฯ ว่าด้วยงานสารบรรณ ฉบับที่ 4 พ.ศ. 2564) asks the
receiver to acknowledge every receipt; clients do so with a Receive notifier
right after storing and an Accept notifier when a clerk registers the letter,
but some skip the Receive notifier, hence SENT -> ACCEPTED.

Who sends each event is :data:`ACTOR`. Anything not in the table raises ILLEGAL_TRANSITION and changes nothing; the
store applies a move as compare-and-set on the expected state.
"""
from __future__ import annotations

import enum
from types import MappingProxyType

from gateway.core.errors import ErrorCode, RemoteError


class LetterState(str, enum.Enum):
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    INVALID = "invalid"
    DISPUTED = "disputed"        # the sender disputed the receive number (AcceptID)
    WITHDRAWN = "withdrawn"


class Event(str, enum.Enum):
    RECEIVE = "receive"              # ReceiveLetterNotifier      3.2.2
    ACCEPT = "accept"                # AcceptLetterNotifier       3.2.3
    REJECT = "reject"                # RejectLetterNotifier       3.2.4
    INVALID = "invalid"              # InvalidLetterNotifier      3.2.5
    DISPUTE = "invalid_accept_id"    # InvalidAcceptIDNotifier    3.2.6
    WITHDRAW = "withdraw"            # CorrespondenceDeleteGovernmentDocumentRequest 3.2.13


class Actor(str, enum.Enum):
    SENDER = "sender"
    RECEIVER = "receiver"


S, E = LetterState, Event

# (state, event) -> new state. Who may cause an event is ACTOR[event], below.
TRANSITIONS = MappingProxyType({
    (S.SENT, E.RECEIVE): S.RECEIVED,
    (S.SENT, E.ACCEPT): S.ACCEPTED,
    (S.RECEIVED, E.ACCEPT): S.ACCEPTED,
    (S.SENT, E.REJECT): S.REJECTED,
    (S.RECEIVED, E.REJECT): S.REJECTED,
    (S.SENT, E.INVALID): S.INVALID,
    (S.RECEIVED, E.INVALID): S.INVALID,
    (S.ACCEPTED, E.DISPUTE): S.DISPUTED,
    (S.DISPUTED, E.ACCEPT): S.ACCEPTED,      # re-accepted with a corrected number
    (S.REJECTED, E.WITHDRAW): S.WITHDRAWN,
    (S.INVALID, E.WITHDRAW): S.WITHDRAWN,
})

# Which side sends each event; used to find the letter a notifier refers to.
ACTOR = MappingProxyType({
    E.RECEIVE: Actor.RECEIVER, E.ACCEPT: Actor.RECEIVER, E.REJECT: Actor.RECEIVER,
    E.INVALID: Actor.RECEIVER, E.DISPUTE: Actor.SENDER, E.WITHDRAW: Actor.SENDER,
})


def next_state(state: LetterState, event: Event) -> LetterState:
    """The state after ``event``, or ILLEGAL_TRANSITION naming both."""
    new = TRANSITIONS.get((state, event))
    if new is None:
        raise RemoteError(ErrorCode.ILLEGAL_TRANSITION,
                          f"a letter that is {state.value} cannot take '{event.value}'")
    return new


def allowed(state: LetterState, event: Event) -> bool:
    return (state, event) in TRANSITIONS


class ProcessStatus(str, enum.Enum):
    """What OutboundStatusRequest reports for a sent letter (documented in the README and XSD)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    PULLED = "PULLED"
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    INVALID = "INVALID"
    ACCEPT_ID_DISPUTED = "ACCEPT_ID_DISPUTED"
    WITHDRAWN = "WITHDRAWN"
    FAILED = "FAILED"


class Delivery(str, enum.Enum):
    """Where the letter is on its way to the receiver's node."""

    PENDING = "pending"        # in our outbox
    DELIVERED = "delivered"    # in the receiver's queue (here, or acknowledged by its node)
    FAILED = "failed"          # the retry window ran out


_STATUS_OF_STATE = MappingProxyType({
    S.RECEIVED: ProcessStatus.RECEIVED,
    S.ACCEPTED: ProcessStatus.ACCEPTED,
    S.REJECTED: ProcessStatus.REJECTED,
    S.INVALID: ProcessStatus.INVALID,
    S.DISPUTED: ProcessStatus.ACCEPT_ID_DISPUTED,
    S.WITHDRAWN: ProcessStatus.WITHDRAWN,
})


def process_status(state: LetterState, delivery: Delivery, pulled: bool) -> ProcessStatus:
    """The sender-visible status of a letter."""
    if state is not S.SENT:
        return _STATUS_OF_STATE[state]
    if delivery is Delivery.FAILED:
        return ProcessStatus.FAILED
    if delivery is Delivery.PENDING:
        return ProcessStatus.PENDING
    return ProcessStatus.PULLED if pulled else ProcessStatus.DELIVERED


# ------------------------------------------------------------------ outbox items
#
# Theory of operation: outbox items
# ---------------------------------
# An item to push to a neighbour node is PENDING from the transaction that
# stored it. A worker claims it with a lease (PENDING stays PENDING; the lease
# only hides it from other workers) and pushes it outside any transaction:
#
# * a receipt that verifies makes it DELIVERED (the receipt is kept as proof);
# * a retryable failure keeps it PENDING with a later next attempt;
# * a definite refusal, or the end of the retry window, makes it FAILED;
# * a receipt that arrives for a FAILED item (a late answer to an earlier push)
#   is still recorded: FAILED -> DELIVERED, marked late;
# * an operator (the web console) retries an item now: a FAILED item, or a
#   PENDING one no worker holds, becomes PENDING and due at once, with a new
#   deadline; or abandons it: it becomes (or stays) FAILED, marked abandoned, and
#   leaves the console's list of failures. A leased item is refused both.
#
# The store writes each move as compare-and-set on these expected states
# (store/sql/*/queries.sql ``outbox_delivered``, ``outbox_retry``,
# ``outbox_failed``, ``outbox_retry_now``, ``outbox_abandon``);
# tests/unit/test_state.py checks the SQL against this table.


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxEvent(enum.StrEnum):
    RECEIPT = "receipt"      # a verified receipt for this item
    RETRY = "retry"          # a retryable failure within the window
    FAIL = "fail"            # a definite refusal, or the window ran out
    RETRY_NOW = "retry_now"  # an operator asks for another push at once (the console)
    ABANDON = "abandon"      # an operator gives the item up (the console)


O, OE = OutboxState, OutboxEvent

OUTBOX_TRANSITIONS = MappingProxyType({
    (O.PENDING, OE.RECEIPT): O.DELIVERED,
    (O.FAILED, OE.RECEIPT): O.DELIVERED,     # a late receipt is still recorded
    (O.PENDING, OE.RETRY): O.PENDING,
    (O.PENDING, OE.FAIL): O.FAILED,
    (O.FAILED, OE.RETRY_NOW): O.PENDING,
    (O.PENDING, OE.RETRY_NOW): O.PENDING,    # not while a worker holds its lease
    (O.PENDING, OE.ABANDON): O.FAILED,       # not while a worker holds its lease
    (O.FAILED, OE.ABANDON): O.FAILED,        # marked abandoned, once
})


def outbox_expected(event: OutboxEvent) -> frozenset[OutboxState]:
    """The states an outbox item may be in for ``event`` (the compare-and-set's expected set)."""
    return frozenset(state for state, e in OUTBOX_TRANSITIONS if e is event)


class ItemKind(enum.StrEnum):
    """What a node message (and so an outbox item) carries."""

    LETTER = "letter"
    NOTIFIER = "notifier"
    WITHDRAWAL = "withdrawal"
    STATUS = "status"        # a DeliveryStatus back to the letter's origin (core/network/status.py)


class DeliveryOutcome(enum.StrEnum):
    """What one push of an outbox item came to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


# ------------------------------------------------------------------- queue items
#
# Theory of operation: queue items
# --------------------------------
# An item in an organisation's inbox is WAITING until its e-Saraban pulls it.
# A pull makes it PULLED (invisible) for the visibility timeout; the client
# stores it and deletes it (3.2.14). A client that crashed before deleting
# pulls it again once the timeout passed (PULLED -> WAITING, served again with
# the same ProcessID). A withdrawal by the sender deletes a letter nobody
# deleted yet. DELETED is final; deleting twice answers the first deletion.


class QueueKind(enum.StrEnum):
    LETTER = "letter"
    NOTICE = "notice"


class QueueState(enum.StrEnum):
    WAITING = "waiting"
    PULLED = "pulled"
    DELETED = "deleted"


class QueueEvent(enum.StrEnum):
    PULL = "pull"
    TIMEOUT = "timeout"      # the visibility timeout passed without a delete
    DELETE = "delete"        # CorrespondenceLetterDeleteRequest, or the letter was withdrawn


Q, QE = QueueState, QueueEvent

QUEUE_TRANSITIONS = MappingProxyType({
    (Q.WAITING, QE.PULL): Q.PULLED,
    (Q.PULLED, QE.TIMEOUT): Q.WAITING,
    (Q.PULLED, QE.DELETE): Q.DELETED,
    (Q.WAITING, QE.DELETE): Q.DELETED,       # a withdrawn letter, or a client deleting what it knows
})


def queue_state(*, deleted: bool, pulled: bool, visible: bool) -> QueueState:
    """A queue row's state from its columns (deleted_at, pulled_at, visible_at <= now)."""
    if deleted:
        return Q.DELETED
    return Q.PULLED if pulled and not visible else Q.WAITING
