"""The letter lifecycle table (DESIGN section 5, STYLE 2)."""
from __future__ import annotations

import itertools

import pytest

from gateway.core.errors import RemoteError
from gateway.core.state import (ACTOR, TRANSITIONS, Actor, Delivery, Event, LetterState, ProcessStatus, next_state,
                           process_status)

S, E = LetterState, Event

REGULATION_PATHS = [
    # the receiver acknowledges, then registers the letter
    [E.RECEIVE, E.ACCEPT],
    # some clients register without the automatic receive notifier
    [E.ACCEPT],
    # refused, withdrawn by the sender
    [E.RECEIVE, E.REJECT, E.WITHDRAW],
    [E.INVALID, E.WITHDRAW],
    # the sender disputes the receive number; the receiver corrects it
    [E.RECEIVE, E.ACCEPT, E.DISPUTE, E.ACCEPT],
]


@pytest.mark.parametrize("path", REGULATION_PATHS, ids=lambda p: "-".join(e.value for e in p))
def test_paths_the_regulation_and_clients_produce(path):
    state = S.SENT
    for event in path:
        state = next_state(state, event)
    assert state in (S.ACCEPTED, S.WITHDRAWN)


@pytest.mark.parametrize("state,event", [(s, e) for s, e in itertools.product(S, E) if (s, e) not in TRANSITIONS])
def test_everything_else_is_refused(state, event):
    with pytest.raises(RemoteError) as info:
        next_state(state, event)
    assert info.value.code.code == "3002"
    assert state.value in info.value.detail


def test_withdrawn_is_final():
    assert not any(s is S.WITHDRAWN for s, _ in TRANSITIONS)


def test_each_event_is_sent_by_one_side():
    assert set(ACTOR) == set(E)
    assert ACTOR[E.DISPUTE] is Actor.SENDER and ACTOR[E.WITHDRAW] is Actor.SENDER
    assert all(ACTOR[e] is Actor.RECEIVER for e in (E.RECEIVE, E.ACCEPT, E.REJECT, E.INVALID))


@pytest.mark.parametrize("state,delivery,pulled,expected", [
    (S.SENT, Delivery.PENDING, False, ProcessStatus.PENDING),
    (S.SENT, Delivery.DELIVERED, False, ProcessStatus.DELIVERED),
    (S.SENT, Delivery.DELIVERED, True, ProcessStatus.PULLED),
    (S.SENT, Delivery.FAILED, False, ProcessStatus.FAILED),
    (S.RECEIVED, Delivery.DELIVERED, True, ProcessStatus.RECEIVED),
    (S.DISPUTED, Delivery.DELIVERED, True, ProcessStatus.ACCEPT_ID_DISPUTED),
    (S.WITHDRAWN, Delivery.DELIVERED, True, ProcessStatus.WITHDRAWN),
])
def test_process_status(state, delivery, pulled, expected):
    assert process_status(state, delivery, pulled) is expected


# ------------------------------------------------------------- outbox and queue tables

import re  # noqa: E402

from gateway.core.state import (OUTBOX_TRANSITIONS, QUEUE_TRANSITIONS, OutboxEvent, OutboxState,  # noqa: E402
                                QueueEvent, QueueState, outbox_expected, queue_state)
from gateway.store import load_queries  # noqa: E402

# Each outbox move's compare-and-set query (store/sql/*/queries.sql) and its event in the table.
OUTBOX_QUERIES = {"outbox_delivered": OutboxEvent.RECEIPT, "outbox_retry": OutboxEvent.RETRY,
                  "outbox_failed": OutboxEvent.FAIL, "outbox_retry_now": OutboxEvent.RETRY_NOW,
                  "outbox_abandon": OutboxEvent.ABANDON}


def _expected_states(sql: str) -> set[str]:
    where = sql.split("WHERE", 1)[1]
    found = re.search(r"state\s+IN\s*\(([^)]*)\)", where) or re.search(r"state\s*=\s*('[a-z]+')", where)
    return {s.strip().strip("'") for s in found.group(1).split(",")}


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize("name,event", sorted(OUTBOX_QUERIES.items()))
def test_outbox_sql_expects_exactly_the_states_of_the_table(dialect, name, event):
    assert _expected_states(load_queries(dialect)[name]) == {s.value for s in outbox_expected(event)}


def _new_states(sql: str, expected: set[str]) -> set[str]:
    """The state an UPDATE sets (``SET ... state = 'x'``), or the expected ones when it leaves state alone."""
    assignments = sql.split("SET", 1)[1].split("WHERE", 1)[0]
    found = re.search(r"(?<![\w.])state\s*=\s*'([a-z]+)'", assignments)
    return {found.group(1)} if found else expected


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize("name,event", sorted(OUTBOX_QUERIES.items()))
def test_outbox_sql_moves_to_the_state_of_the_table(dialect, name, event):
    sql = load_queries(dialect)[name]
    targets = {new.value for (_, e), new in OUTBOX_TRANSITIONS.items() if e is event}
    assert _new_states(sql, _expected_states(sql)) == targets


def test_every_outbox_event_has_its_query():
    assert set(OUTBOX_QUERIES.values()) == set(OutboxEvent)


def test_an_operator_may_retry_or_abandon_a_pending_or_failed_item_never_a_delivered_one():
    for event in (OutboxEvent.RETRY_NOW, OutboxEvent.ABANDON):
        assert outbox_expected(event) == {OutboxState.PENDING, OutboxState.FAILED}
    assert OUTBOX_TRANSITIONS[(OutboxState.FAILED, OutboxEvent.RETRY_NOW)] is OutboxState.PENDING
    assert OUTBOX_TRANSITIONS[(OutboxState.PENDING, OutboxEvent.ABANDON)] is OutboxState.FAILED


def test_a_late_receipt_for_a_failed_item_is_recorded_and_nothing_leaves_delivered():
    assert OUTBOX_TRANSITIONS[(OutboxState.FAILED, OutboxEvent.RECEIPT)] is OutboxState.DELIVERED
    assert not [key for key in OUTBOX_TRANSITIONS if key[0] is OutboxState.DELIVERED]


def test_queue_items_are_served_again_after_the_visibility_timeout_and_deleted_is_final():
    assert QUEUE_TRANSITIONS[(QueueState.PULLED, QueueEvent.TIMEOUT)] is QueueState.WAITING
    assert not [key for key in QUEUE_TRANSITIONS if key[0] is QueueState.DELETED]
    assert queue_state(deleted=False, pulled=True, visible=False) is QueueState.PULLED
    assert queue_state(deleted=False, pulled=True, visible=True) is QueueState.WAITING
    assert queue_state(deleted=True, pulled=True, visible=True) is QueueState.DELETED
