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
