"""Registers, statistics and the retention purge on one node (moe-r15): MemoryStore, FakeClock, no HTTP.

Regional Office 15 sends, Chiang Mai receives; both are hosted on moe-r15. The
clock starts today (the suite's PKI is valid from yesterday), so every date
here is reached by moving it to a known Bangkok day of a coming year, and the
expected Buddhist-Era text is written from that day.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from operations_support import R15, letter_row, notify, org, submit

from gateway.core.errors import LocalError
from gateway.core.letters.letter import make_notifier
from gateway.core.state import Event, LetterState
from gateway.core.time import BANGKOK
from gateway.operations import registers, retention
from gateway.operations.registers import Kind
from gateway.testing.network import CHIANGMAI, REGION15

DATE = "2026-11-26"          # the letters' CorrespondenceDate: ลงวันที่ 26 พ.ย. 2569
SUBJECT = "ขอเชิญประชุมคณะกรรมการศึกษาธิการจังหวัด"
REGION15_TH = "สำนักงานศึกษาธิการภาค 15"
CHIANGMAI_TH = "สำนักงานศึกษาธิการจังหวัดเชียงใหม่"


@pytest.fixture
def r15(make_node):
    return make_node(R15)


def move_to(clock, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Move the clock forward to the next such Bangkok moment; returns it (Bangkok time)."""
    now = clock.now().astimezone(BANGKOK)
    target = now.replace(month=month, day=day, hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target = target.replace(year=target.year + 1)
    clock.advance(target - now)
    return target


def accept(node, letter_id: str, accept_id: str):
    return notify(node, CHIANGMAI, make_notifier(Event.ACCEPT, letter_id=letter_id, correspondence_date=DATE,
                                                 subject="ลงทะเบียนรับแล้ว", accept_id=accept_id),
                  "AcceptLetterNotifier")


def reject(node, letter_id: str):
    return notify(node, CHIANGMAI, make_notifier(Event.REJECT, letter_id=letter_id, correspondence_date=DATE,
                                                 subject="ส่งผิดหน่วยงาน"), "RejectLetterNotifier")


def book(node, clock, kind: Kind, org_id: str, period) -> registers.Register:
    return registers.register(node.store, node.config.directory, kind, org_id=org_id, period=period,
                              now=clock.now())


def pull_and_delete(node, org_id: str) -> None:
    """The organisation's e-Saraban takes every item of its queue."""
    caller = org(node, org_id)
    while (item := node.agency.pull(caller)) is not None:
        node.agency.delete(caller, item.process_id)


# ------------------------------------------------------------------ periods
def test_fiscal_year_2570_is_1_october_2026_to_30_september_2027():
    fy = registers.fiscal_year(2570)
    assert (fy.start, fy.end) == (dt.datetime(2026, 10, 1, tzinfo=BANGKOK), dt.datetime(2027, 10, 1, tzinfo=BANGKOK))
    assert fy.label == "ปีงบประมาณ พ.ศ. 2570"
    assert [m.label for m in fy.months()][:4] == ["ต.ค. 2569", "พ.ย. 2569", "ธ.ค. 2569", "ม.ค. 2570"]
    assert fy.months()[-1].label == "ก.ย. 2570" and len(fy.months()) == 12
    year = registers.calendar_year(2569)
    assert (year.start, year.end) == (dt.datetime(2026, 1, 1, tzinfo=BANGKOK), dt.datetime(2027, 1, 1, tzinfo=BANGKOK))
    assert registers.fiscal_year_of(dt.datetime(2026, 9, 30, 16, 59, tzinfo=dt.timezone.utc)) == 2569
    assert registers.fiscal_year_of(dt.datetime(2026, 9, 30, 17, 0, tzinfo=dt.timezone.utc)) == 2570, \
        "midnight in Bangkok, 17:00 UTC, starts the fiscal year"


def test_a_christian_era_year_is_refused_with_the_buddhist_era_one():
    with pytest.raises(LocalError, match=r"2026 is a Christian-era year.*2026 \+ 543 = 2569"):
        registers.calendar_year(2026)
    with pytest.raises(LocalError, match="not a Buddhist-Era year"):
        registers.fiscal_year(25700)


# ---------------------------------------------------------------- registers
def test_letters_across_the_fiscal_year_boundary_land_in_their_own_fiscal_year(r15, clock):
    last_day = move_to(clock, 9, 30, 23, 58)
    fy = registers.fiscal_year_of(last_day)
    before = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/901", subject="หนังสือวันสิ้นปีงบประมาณ")
    clock.advance(dt.timedelta(minutes=4))                   # 00:02 on 1 October, Bangkok time
    after = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/902", subject="หนังสือวันต้นปีงบประมาณ")

    def sent_in(period):
        return [e.process_id for e in book(r15, clock, Kind.SEND, REGION15, period).entries]

    def received_in(period):
        return [e.process_id for e in book(r15, clock, Kind.RECEIVE, CHIANGMAI, period).entries]

    old, new = registers.fiscal_year(fy), registers.fiscal_year(fy + 1)
    assert sent_in(old) == [before.process_id] and sent_in(new) == [after.process_id]
    assert received_in(old) == [before.process_id] and received_in(new) == [after.process_id]
    assert sent_in(registers.calendar_year(last_day.year + 543)) == [before.process_id, after.process_id]

    # Registered on 1 October, the first letter enters the receive register of the new fiscal year.
    accept(r15, "ศธ 0215/901", "3001")
    assert received_in(old) == [] and received_in(new) == [before.process_id, after.process_id]
    (first, _) = book(r15, clock, Kind.RECEIVE, CHIANGMAI, new).rows()
    assert first[:3] == (f"30 ก.ย. {last_day.year + 543}", f"1 ต.ค. {last_day.year + 543}", "3001"), \
        "arrived on the last day, registered on the first day of the new year"
    assert sent_in(old) == [before.process_id], "the send register keeps the day it was sent"


def test_the_receive_register_has_the_regulation_columns_and_the_accept_id_as_receive_number(r15, clock):
    day = move_to(clock, 11, 26, 10)
    sent = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/101", subject=SUBJECT, date=DATE)
    pull_and_delete(r15, CHIANGMAI)
    clock.advance(dt.timedelta(days=1))
    accept(r15, "ศธ 0215/101", "รับ 2569/77")
    reg = book(r15, clock, Kind.RECEIVE, CHIANGMAI, registers.calendar_year(day.year + 543))

    assert reg.columns == ("วันที่รับ", "วันที่ลงทะเบียน", "เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง",
                           "การปฏิบัติ", "หมายเหตุ")
    assert reg.title == f"ทะเบียนหนังสือรับ {CHIANGMAI_TH} ปี พ.ศ. {day.year + 543}"
    (row,) = reg.rows()
    be = day.year + 543
    assert row[:9] == (f"26 พ.ย. {be}", f"27 พ.ย. {be}", "รับ 2569/77", "ศธ 0215/101", "26 พ.ย. 2569",
                       REGION15_TH, CHIANGMAI_TH, SUBJECT, "ลงทะเบียนรับแล้ว")
    assert row[9] == f"ด่วน; ProcessID {sent.process_id}", "speed class 002 (ด่วน) and the ProcessID to trace it"


def test_the_send_register_numbers_letters_from_their_number_and_follows_the_receiver(r15, clock):
    day = move_to(clock, 3, 2, 14)
    circular = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/ว 77", subject=SUBJECT, speed="004",
                      secret="002")
    refused = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/205", subject="ขอข้อมูลสถานศึกษา", speed="001")
    waiting = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/206", subject="ขอความอนุเคราะห์", speed="001")
    accept(r15, "ศธ 0215/ว 77", "1234")
    reject(r15, "ศธ 0215/205")
    reg = book(r15, clock, Kind.SEND, REGION15, registers.calendar_year(day.year + 543))

    assert reg.columns == ("วันที่ส่ง", "เลขทะเบียนส่ง", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ",
                           "หมายเหตุ")
    assert [e.process_id for e in reg.entries] == [circular.process_id, refused.process_id, waiting.process_id]
    first, second, third = reg.rows()
    be = day.year + 543
    assert first[:4] == (f"2 มี.ค. {be}", "ว 77", "ศธ 0215/ว 77", "26 พ.ย. 2569")
    assert first[7] == f"ผู้รับลงทะเบียนรับแล้ว เลขทะเบียนรับ 1234 เมื่อ 2 มี.ค. {be}"
    assert first[8] == f"ด่วนที่สุด; ลับ; ProcessID {circular.process_id}"
    assert (second[1], second[7]) == ("205", "ผู้รับปฏิเสธการรับ")
    assert (third[1], third[7], third[8]) == ("206", "ส่งถึงหน่วยงานผู้รับแล้ว", f"ProcessID {waiting.process_id}")

    received = book(r15, clock, Kind.RECEIVE, CHIANGMAI, registers.calendar_year(be))
    by_id = {e.process_id: e for e in received.entries}
    assert (by_id[refused.process_id].number, by_id[refused.process_id].action) == ("", "ปฏิเสธการรับ")
    assert by_id[waiting.process_id].action == "รอระบบสารบรรณดึงหนังสือ"
    assert by_id[waiting.process_id].cells(Kind.RECEIVE)[1:3] == ("", ""), "not registered: no date, no number"


def test_a_register_is_only_for_an_organisation_hosted_here(r15, clock):
    with pytest.raises(LocalError, match="2000100000 is not hosted on this node"):
        book(r15, clock, Kind.RECEIVE, "2000100000", registers.calendar_year(2569))


# ------------------------------------------------------------------ exports
def test_csv_has_a_bom_the_thai_header_and_text_that_is_never_a_formula(r15, clock):
    day = move_to(clock, 6, 15, 9)
    submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/301", subject="=HYPERLINK(\"http://x\",\"ด่วน\")")
    submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/302", subject=SUBJECT)
    reg = book(r15, clock, Kind.RECEIVE, CHIANGMAI, registers.calendar_year(day.year + 543))

    data = registers.to_csv(reg)
    assert data.startswith(b"\xef\xbb\xbf"), "the UTF-8 byte-order mark that makes Excel read Thai"
    assert data[3:].split(b"\r\n", 1)[0].decode() == ",".join(registers.RECEIVE_COLUMNS)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(registers.RECEIVE_COLUMNS) and len(rows) == 3
    assert rows[1][7] == "'=HYPERLINK(\"http://x\",\"ด่วน\")", "a leading = is quoted away (CSV injection)"
    assert rows[2][7] == SUBJECT and rows[2][5] == REGION15_TH

    sheet = load_workbook(io.BytesIO(registers.to_xlsx(reg))).active
    assert sheet.title == "ทะเบียนหนังสือรับ"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == list(registers.RECEIVE_COLUMNS)
    assert values[1][7] == "=HYPERLINK(\"http://x\",\"ด่วน\")" and sheet.cell(2, 8).data_type == "s", \
        "in XLSX every cell is a string: the subject stays text"
    assert [v[3] for v in values[1:]] == ["ศธ 0215/301", "ศธ 0215/302"]
    assert sheet.freeze_panes == "A2"


# --------------------------------------------------------------- statistics
def test_monthly_statistics_count_letters_notifiers_bytes_and_the_postage_saved(r15, clock):
    first_month = move_to(clock, 1, 20, 10)
    a = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/401", subject=SUBJECT)
    b = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/402", subject=SUBJECT)
    accept(r15, "ศธ 0215/401", "11")
    clock.advance(dt.timedelta(days=20))                                   # 9 February
    reject(r15, "ศธ 0215/402")
    c = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/403", subject=SUBJECT)
    notify(r15, CHIANGMAI, make_notifier(Event.INVALID, letter_id="ศธ 0215/403", correspondence_date=DATE,
                                         subject="ผิดผู้รับ"), "InvalidLetterNotifier")
    be = first_month.year + 543

    stats = registers.statistics(r15.store, r15.config.directory, org_id=REGION15,
                                 period=registers.calendar_year(be), postage_baht_per_letter=32.5)
    ids = {p.process_id: letter_row(r15, p.process_id).id for p in (a, b, c)}
    with r15.store.transaction() as tx:
        size = {pid: len(tx.letter_document(lid)) for pid, lid in ids.items()}
    jan, feb = stats.months[0], stats.months[1]
    assert (jan.label, jan.sent, jan.sent_delivered, jan.received) == (f"ม.ค. {be}", 2, 2, 0)
    assert jan.sent_bytes == size[a.process_id] + size[b.process_id] and jan.postage_saved == Decimal("65.0")
    assert (feb.sent, feb.sent_bytes, feb.postage_saved) == (1, size[c.process_id], Decimal("32.5"))
    assert stats.total.sent == 3 and stats.total.postage_saved == Decimal("97.5")
    assert all(m.sent == 0 for m in stats.months[2:]) and len(stats.months) == 12

    receiver = registers.statistics(r15.store, r15.config.directory, org_id=CHIANGMAI,
                                    period=registers.calendar_year(be), postage_baht_per_letter=32.5)
    jan, feb = receiver.months[0], receiver.months[1]
    assert (jan.received, jan.registered, jan.rejected, jan.invalid, jan.sent) == (2, 1, 0, 0, 0)
    assert (feb.received, feb.registered, feb.rejected, feb.invalid) == (1, 0, 1, 1), \
        "the rejection counts in the month it was made, not the month the letter came"
    assert receiver.total.received_bytes == sum(size.values()) and receiver.total.postage_saved == 0


# ------------------------------------------------------------------- purge
def table_counts(node) -> dict[str, int]:
    with node.store.transaction() as tx:
        return tx.table_counts()


def test_purge_removes_old_finished_letters_and_keeps_every_letter_in_flight(r15, clock):
    done = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/501", subject=SUBJECT)
    pull_and_delete(r15, CHIANGMAI)
    accept(r15, "ศธ 0215/501", "51")
    pull_and_delete(r15, REGION15)                      # the sender took the accept notifier: all done
    unanswered = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/503", subject=SUBJECT)
    refused = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/504", subject=SUBJECT)
    late = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/506", subject=SUBJECT)
    pull_and_delete(r15, CHIANGMAI)
    reject(r15, "ศธ 0215/504")                          # its notifier waits in the sender's queue
    unpulled = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/502", subject=SUBJECT)
    pending = submit(r15, REGION15, "2000100000", letter_id="ศธ 0215/505", subject=SUBJECT)  # outbox, no worker
    clock.advance(dt.timedelta(days=365 * 10 - 3))
    accept(r15, "ศธ 0215/506", "56")                     # registered nearly ten years later: recent activity
    sender = org(r15, REGION15)
    r15.agency.pull(sender)                             # the reject notifier: pulled, never deleted
    r15.agency.delete(sender, r15.agency.pull(sender).process_id)   # the accept notifier of 506
    clock.advance(dt.timedelta(days=10))
    before = table_counts(r15)

    dry = retention.purge(r15.store, now=clock.now(), keep_years=10, dry_run=True)
    assert (dry.letters, dict(dry.rows)) == (1, {"queue": 2, "notices": 1, "outbox": 0, "letter_blobs": 1,
                                                  "letters": 1})
    assert table_counts(r15) == before, "a dry run counts and changes nothing"

    held = retention.purge(r15.store, now=clock.now(), keep_years=10, hold=HoldLetter(done.process_id))
    assert (held.letters, held.held) == (0, 1) and table_counts(r15) == before

    seen = []
    report = retention.purge(r15.store, now=clock.now(), keep_years=10,
                             on_batch=lambda letters, transit: seen.extend(r.process_id for r in letters))
    assert (report.letters, dict(report.rows), seen) == (1, dict(dry.rows), [done.process_id])
    assert letter_row(r15, done.process_id) is None
    for kept in (unpulled, unanswered, refused, pending, late):
        assert letter_row(r15, kept.process_id) is not None
    assert letter_row(r15, refused.process_id).state is LetterState.REJECTED
    after = table_counts(r15)
    assert {t: before[t] - after[t] for t in before} == {"letters": 1, "letter_blobs": 1, "notices": 1, "queue": 2,
                                                         "outbox": 0, "received": 0}
    assert retention.purge(r15.store, now=clock.now(), keep_years=10).letters == 0, "a second purge finds nothing"


class HoldLetter:
    """What the evidence log will do: keep the letters it still needs."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id

    def letter(self, tx, letter) -> bool:
        return letter.process_id == self.process_id

    def transit(self, tx, item) -> bool:
        return False


def test_the_retention_period_is_at_least_one_year_and_ends_on_the_same_day():
    now = dt.datetime(2036, 2, 29, 3, 0, tzinfo=dt.timezone.utc)      # 29 Feb 2579, 10:00 in Bangkok
    assert retention.cutoff(now, 10) == dt.datetime(2026, 2, 28, 10, 0, tzinfo=BANGKOK)
    assert retention.cutoff(now, 8) == dt.datetime(2028, 2, 29, 10, 0, tzinfo=BANGKOK)
    with pytest.raises(LocalError, match="at least 1 year"):
        retention.cutoff(now, 0)


def test_the_postage_and_the_retention_period_are_configurable_with_documented_defaults():
    from gateway import config
    from gateway.core.errors import ConfigError

    default = config.Config()
    assert (default.postage_baht_per_letter, default.retention_keep_years) == (32.0, 10)
    cfg = config.from_toml("[registers]\npostage_baht_per_letter = 19\n[retention]\nkeep_years = 12\n")
    assert (cfg.postage_baht_per_letter, cfg.retention_keep_years) == (19.0, 12)
    for text, message in (("[registers]\npostage_baht_per_letter = '32'\n", "must be a number of baht"),
                          ("[registers]\npostage_baht_per_letter = -1\n", "between 0 and 10000"),
                          ("[retention]\nkeep_years = 0\n", "retention.keep_years must be at least 1"),
                          ("[retention]\nkeep = 10\n", "unknown setting retention.keep")):
        with pytest.raises(ConfigError, match=message):
            config.from_toml(text)


def test_a_hub_purges_what_it_only_forwarded_once_finished_and_old(clock):
    from gateway.store.memory import MemoryStore

    store = MemoryStore()
    store.migrate()
    now = clock.now()
    with store.transaction() as tx:
        for n in (1, 2, 3):
            tx.insert_outbox(message_id=f"m{n}", kind="letter", process_id=f"x{n}", letter_process_id=f"via-hub-{n}",
                             sender_org="2000100000", receiver_org=CHIANGMAI, next_node=R15, path="[]",
                             payload=b"<m/>", now=now, deadline=now + dt.timedelta(days=5))
        first, second, third = (tx.outbox_of_letter(f"via-hub-{n}")[0].id for n in (1, 2, 3))
        tx.outbox_delivered(first, receipt=b"<r/>", now=now)
        tx.outbox_failed(second, error="refused by moe-r15", now=now)      # the third is still pending
    later = now + dt.timedelta(days=365 * 11)

    dry = retention.purge(store, now=later, keep_years=10, dry_run=True)
    assert (dry.letters, dry.transit) == (0, 2)
    kept = retention.purge(store, now=later, keep_years=10, hold=HoldItem(first))
    assert (kept.transit, kept.held) == (1, 1)
    listed = []
    done = retention.purge(store, now=later, keep_years=10, on_batch=lambda letters, transit: listed.extend(transit))
    assert done.transit == 1 and [(i.id, i.state, i.next_node) for i in listed] == [(first, "delivered", R15)]
    with store.transaction() as tx:
        assert [o.id for pid in ("via-hub-1", "via-hub-2", "via-hub-3") for o in tx.outbox_of_letter(pid)] == [third]


class HoldItem(HoldLetter):
    def __init__(self, item_id: int) -> None:
        super().__init__("")
        self.item_id = item_id

    def transit(self, tx, item) -> bool:
        return item.id == self.item_id
