"""Dates and times as people and the wire read them (no clock here: ``now`` is handed in).

Users see Buddhist-Era dates (พ.ศ. = ค.ศ. + 543) in Bangkok time; the wire
carries Gregorian ISO 8601 with the +07:00 offset. The clock itself is a port
(:class:`gateway.ports.Clock`): the system clock is in ``adapters/clock.py``,
the fake one tests move by hand in ``testing/clock.py``.
"""
from __future__ import annotations

import datetime as dt

BANGKOK = dt.timezone(dt.timedelta(hours=7), "ICT")   # Thailand has no daylight saving time
BUDDHIST_ERA_OFFSET = 543

THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
                    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")


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
