"""The console's pure rules: password policy, Buddhist-Era dates typed by people, working days, the latency chart."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.adapters.http.console import _safe_next, be_date
from gateway.core.time import BANGKOK
from gateway.core.trust import passwords
from gateway.operations import console


def test_passwords_hash_and_verify_and_refuse_what_is_not_a_password():
    stored = passwords.hash_password("รหัสผ่านภาษาไทยยาวพอ")
    assert stored.startswith("scrypt$") and "รหัส" not in stored
    assert passwords.verify_password("รหัสผ่านภาษาไทยยาวพอ", stored)
    assert not passwords.verify_password("รหัสผ่านภาษาไทยยาวพอ!", stored)
    assert not passwords.verify_password("anything", "not-a-hash")
    assert not passwords.verify_password("x" * 2000, stored)
    with pytest.raises(passwords.PasswordError, match="10"):
        passwords.hash_password("short")
    with pytest.raises(passwords.PasswordError):
        passwords.check_username("Alice Smith")
    assert passwords.check_username("somying.j") == "somying.j"
    assert passwords.token_hash("a") != passwords.token_hash("b") and len(passwords.new_token()) >= 40


@pytest.mark.parametrize("typed, day", [("2/12/2569", dt.date(2026, 12, 2)), (" 29/2/2567 ", dt.date(2024, 2, 29)),
                                        ("01/10/2570", dt.date(2027, 10, 1)),
                                        ("๒/๑๒/๒๕๖๙", dt.date(2026, 12, 2))])   # Thai digits, as clerks may type
def test_buddhist_era_dates_people_type(typed, day):
    assert console.parse_be_date(typed) == day


@pytest.mark.parametrize("typed", ["2026-12-02", "2/12/2026", "31/2/2569", "29/2/2569", "", "2/12/69"])
def test_dates_that_are_refused_with_a_thai_message(typed):
    with pytest.raises(console.ConsoleError) as refused:
        console.parse_be_date(typed)
    assert "พ.ศ." in refused.value.th and "Buddhist-Era" in refused.value.en


def test_working_days_skip_the_weekend():
    monday_morning = dt.datetime(2026, 11, 30, 9, 0, tzinfo=BANGKOK)
    assert console.working_days_before(monday_morning, 1) == dt.datetime(2026, 11, 27, tzinfo=BANGKOK)  # Friday
    assert console.working_days_before(monday_morning, 3) == dt.datetime(2026, 11, 25, tzinfo=BANGKOK)
    thursday = dt.datetime(2026, 12, 3, 23, 30, tzinfo=BANGKOK)
    assert console.working_days_before(thursday, 2) == dt.datetime(2026, 12, 1, tzinfo=BANGKOK)


def test_latency_buckets_cover_24_bangkok_hours():
    now = dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.timezone.utc)       # 13:30 in Bangkok
    samples = [(now - dt.timedelta(minutes=10), 0.5), (now - dt.timedelta(minutes=20), 1.5),
               (now - dt.timedelta(hours=5), 3.0), (now - dt.timedelta(hours=30), 99.0)]   # the last one is too old
    buckets = console.latency_buckets(samples, now=now)
    assert len(buckets) == 24 and buckets[-1].start.hour == 13 and buckets[-1].start.tzinfo == BANGKOK
    assert (buckets[-1].count, buckets[-1].median_s, buckets[-1].max_s) == (2, 1.0, 1.5)
    assert buckets[-6].count == 1 and sum(b.count for b in buckets) == 3


def test_redirects_after_login_stay_in_the_console():
    assert _safe_next("/console/letters?q=x") == "/console/letters?q=x"
    for target in ("https://evil.example/", "//evil.example/console/", "/consolex", "/console/\\evil", ""):
        assert _safe_next(target) == ""


def test_letter_dates_shown_in_the_buddhist_era():
    assert be_date("2026-11-26") == "26 พ.ย. 2569"
    assert be_date("2026-11-26", "en") == "26 Nov 2569 BE"
    assert be_date("not a date") == "not a date"
