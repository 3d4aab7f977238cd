"""When to try again: exponential backoff with full jitter inside a retry window (DESIGN section 4).

Pure: the attempt number, ``now`` and a random source come in; a time comes out.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    window: dt.timedelta          # from the item's creation; past it the item is FAILED
    first: dt.timedelta           # the first delay's ceiling
    maximum: dt.timedelta         # the ceiling never grows past this

    def __post_init__(self) -> None:
        if not (dt.timedelta(0) < self.first <= self.maximum):
            raise ValueError("0 < first <= maximum")

    def ceiling(self, attempts: int) -> dt.timedelta:
        """The largest delay after ``attempts`` failed attempts: first * 2**(attempts-1), capped."""
        exponent = max(0, attempts - 1)
        if exponent > 40:  # 2**40 * first is past any sensible maximum; avoid huge numbers
            return self.maximum
        return min(self.maximum, self.first * (2 ** exponent))

    def next_attempt(self, *, attempts: int, now: dt.datetime, deadline: dt.datetime,
                     rng: random.Random) -> dt.datetime | None:
        """When to try again, or None when the window has run out.

        Full jitter (a uniform delay up to the ceiling) spreads the retries of many
        nodes that failed together, so a peer coming back is not hit all at once.
        The last attempt is placed at the deadline rather than skipped.
        """
        if now >= deadline:
            return None
        delay = self.ceiling(attempts) * rng.random()
        return min(now + max(delay, dt.timedelta(milliseconds=100)), deadline)
