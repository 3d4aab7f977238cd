"""A clock tests move by hand (the fake of :class:`gateway.ports.Clock`)."""
from __future__ import annotations

import datetime as dt
import threading

# Today at 09:00 in Bangkok (02:00 UTC), from the real date once per process: certificates a test
# issues "now" on this clock are valid for real TLS handshakes too, whatever year the suite runs in,
# and a test's dates never cross midnight while it runs (time moves only when the test moves it).
DEFAULT_START = dt.datetime.combine(dt.datetime.now(dt.timezone.utc).date(), dt.time(2, 0), tzinfo=dt.timezone.utc)


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
