"""Retry timing with an injected clock and random source: the 5-day window in microseconds."""
import datetime as dt
import random

import pytest

from gateway.core.network.retry import RetryPolicy

T0 = dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc)
POLICY = RetryPolicy(window=dt.timedelta(days=5), first=dt.timedelta(seconds=2), maximum=dt.timedelta(minutes=30))


def test_ceiling_doubles_then_stops():
    assert [POLICY.ceiling(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert POLICY.ceiling(30) == dt.timedelta(minutes=30)
    assert POLICY.ceiling(10_000) == dt.timedelta(minutes=30)


def test_full_jitter_stays_under_the_ceiling_and_varies():
    rng = random.Random(7)
    delays = [POLICY.next_attempt(attempts=5, now=T0, deadline=T0 + POLICY.window, rng=rng) - T0
              for _ in range(200)]
    assert all(dt.timedelta(milliseconds=100) <= d <= dt.timedelta(seconds=32) for d in delays)
    assert len(set(delays)) > 150


def test_attempts_continue_for_five_days_then_stop():
    rng = random.Random(1)
    deadline = T0 + POLICY.window
    now, attempts = T0, 0
    while True:
        attempts += 1
        nxt = POLICY.next_attempt(attempts=attempts, now=now, deadline=deadline, rng=rng)
        if nxt is None:
            break
        assert nxt <= deadline
        now = nxt if nxt < deadline else deadline
    assert now == deadline
    # about 5 days / (30 min / 2 on average) attempts, plus the first few quick ones
    assert 200 < attempts < 800


def test_no_attempt_after_the_deadline():
    assert POLICY.next_attempt(attempts=1, now=T0 + dt.timedelta(days=6), deadline=T0 + POLICY.window,
                               rng=random.Random()) is None


def test_bad_policy():
    with pytest.raises(ValueError):
        RetryPolicy(window=dt.timedelta(days=1), first=dt.timedelta(minutes=5), maximum=dt.timedelta(minutes=1))
