"""A clock tests move by hand (the fake of :class:`gateway.ports.Clock`)."""
from __future__ import annotations

import datetime as dt
import threading

DEFAULT_START = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or DEFAULT_START
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now += delta
            return self._now
