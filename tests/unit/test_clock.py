"""Time as users see it (Buddhist Era, Bangkok) and as the wire carries it."""
import datetime as dt

from gateway.core import time as clock
from gateway.adapters.clock import new_process_id
from gateway.testing.clock import FakeClock

UTC = dt.timezone.utc


def test_buddhist_era_dates():
    assert clock.thai_date("2026-11-26") == "26 พ.ย. 2569"
    assert clock.thai_date(dt.date(2027, 1, 1)) == "1 ม.ค. 2570"
    # 20:00 UTC on 31 Dec is already 1 Jan in Bangkok
    assert clock.thai_date(dt.datetime(2026, 12, 31, 20, 0, tzinfo=UTC)) == "1 ม.ค. 2570"
    assert clock.thai_datetime(dt.datetime(2026, 11, 26, 2, 30, tzinfo=UTC)) == "26 พ.ย. 2569 09:30 น."


def test_wire_time_is_bangkok_with_offset():
    assert clock.wire_time(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)) == "2026-11-26T09:00:00+07:00"


def test_fake_clock_moves_only_when_told():
    c = FakeClock()
    start = c.now()
    assert c.now() == start
    assert c.advance(dt.timedelta(days=5)) - start == dt.timedelta(days=5)


def test_process_ids_are_unique():
    assert len({new_process_id() for _ in range(1000)}) == 1000
