"""Time and identifiers, injected: the core never reads the clock itself (STYLE 1).

Users see Buddhist-Era dates (พ.ศ. = ค.ศ. + 543) in Bangkok time; the wire
carries Gregorian ISO 8601 with the +07:00 offset.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Callable, Protocol

BANGKOK = dt.timezone(dt.timedelta(hours=7), "ICT")   # Thailand has no daylight saving time
BUDDHIST_ERA_OFFSET = 543

THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
                    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now += delta
            return self._now


def new_process_id() -> str:
    """A ProcessID: globally unique, so it can name the same item on every node."""
    return str(uuid.uuid4())


IdFactory = Callable[[], str]


def wire_time(value: dt.datetime) -> str:
    """ProcessTime, AcceptDate, ECMSTime: ISO 8601 in Bangkok time with its offset."""
    return value.astimezone(BANGKOK).isoformat(timespec="seconds")


def thai_date(value: dt.datetime | dt.date | str) -> str:
    """A date as Thai users read it: 26 พ.ย. 2569 (Buddhist Era)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.astimezone(BANGKOK).date()
    return f"{value.day} {THAI_MONTHS_ABBR[value.month - 1]} {value.year + BUDDHIST_ERA_OFFSET}"


def thai_datetime(value: dt.datetime) -> str:
    """26 พ.ย. 2569 09:00 น. (Bangkok time)."""
    local = value.astimezone(BANGKOK)
    return f"{thai_date(local)} {local:%H:%M} น."
