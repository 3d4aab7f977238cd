"""The registers (ทะเบียนหนังสือรับ, ทะเบียนหนังสือส่ง) and monthly statistics of a hosted organisation.

Theory of operation
-------------------
The correspondence regulation (ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ พ.ศ. 2526 and its
amendments) names the columns. The receive register, ข้อ 38: the date of
registration (38.1, the page's header in the paper book), เลขทะเบียนรับ (38.2),
ที่ (38.3), ลงวันที่ (38.4), จาก (38.5), ถึง (38.6), เรื่อง (38.7), การปฏิบัติ (38.8) and
หมายเหตุ (38.9). The send register, ข้อ 48, has the same columns with
เลขทะเบียนส่ง (48.2). A file has no pages, so each row carries its dates.

What the node knows fills them: the receive number is the AcceptID of the
receiver's AcceptLetterNotifier, the send number is the part of the letter
number after its last "/" (48.3: the owner's code, "/", the send number),
names come from the directory, and การปฏิบัติ says where the letter stands
(the ProcessStatus, in Thai). A letter enters the receive register when it
was registered (its latest AcceptLetterNotifier) or, while it is not, when it
arrived; it enters the send register when it was sent. Dates are Buddhist
Era, Bangkok time; a period is a calendar year or a fiscal year
(ปีงบประมาณ: 1 October to 30 September, named by the year it ends in).

Each function is one read-only store transaction; the CSV and XLSX writers
turn a :class:`Register` into bytes and never read the store.
"""
from __future__ import annotations

import csv
import datetime as dt
import enum
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from gateway.core.errors import LocalError
from gateway.core.letters.codelists import SECRET_CODES, SPEED_CODES
from gateway.core.network.directory import Directory
from gateway.core.records import LetterRow
from gateway.core.state import Event, ProcessStatus, process_status
from gateway.core.time import BANGKOK, BUDDHIST_ERA_OFFSET, THAI_MONTHS_ABBR, thai_date, thai_datetime
from gateway.store import Store

FIRST_YEAR_BE, LAST_YEAR_BE = 2500, 2700      # 1957 - 2157: anything else is a typo or a Christian-era year
FISCAL_YEAR_START_MONTH = 10                  # ปีงบประมาณ: 1 October to 30 September
ORDINARY = "001"                              # speed and secret code of an ordinary letter
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")   # what a spreadsheet would read as a formula


class Kind(enum.Enum):
    RECEIVE = "receive"
    SEND = "send"

    @property
    def title(self) -> str:
        return "ทะเบียนหนังสือรับ" if self is Kind.RECEIVE else "ทะเบียนหนังสือส่ง"


RECEIVE_COLUMNS = ("วันที่รับ", "วันที่ลงทะเบียน", "เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง",
                   "การปฏิบัติ", "หมายเหตุ")
SEND_COLUMNS = ("วันที่ส่ง", "เลขทะเบียนส่ง", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ")

# การปฏิบัติ: where the letter stands, as each side reads it.
RECEIVE_ACTIONS = {
    ProcessStatus.PENDING: "อยู่ระหว่างนำส่ง",
    ProcessStatus.DELIVERED: "รอระบบสารบรรณดึงหนังสือ",
    ProcessStatus.PULLED: "ระบบสารบรรณดึงหนังสือแล้ว รอแจ้งผล",
    ProcessStatus.RECEIVED: "ได้รับแล้ว รอลงทะเบียนรับ",
    ProcessStatus.ACCEPTED: "ลงทะเบียนรับแล้ว",
    ProcessStatus.REJECTED: "ปฏิเสธการรับ",
    ProcessStatus.INVALID: "แจ้งว่าหนังสือผิด (ผิดฉบับหรือผิดผู้รับ)",
    ProcessStatus.ACCEPT_ID_DISPUTED: "ผู้ส่งโต้แย้งเลขทะเบียนรับ",
    ProcessStatus.WITHDRAWN: "ผู้ส่งถอนหนังสือคืน",
    ProcessStatus.FAILED: "ส่งไม่สำเร็จ",
}
SEND_ACTIONS = {
    ProcessStatus.PENDING: "อยู่ระหว่างนำส่ง",
    ProcessStatus.DELIVERED: "ส่งถึงหน่วยงานผู้รับแล้ว",
    ProcessStatus.PULLED: "ผู้รับดึงหนังสือเข้าระบบสารบรรณแล้ว",
    ProcessStatus.RECEIVED: "ผู้รับได้รับแล้ว",
    ProcessStatus.ACCEPTED: "ผู้รับลงทะเบียนรับแล้ว",
    ProcessStatus.REJECTED: "ผู้รับปฏิเสธการรับ",
    ProcessStatus.INVALID: "ผู้รับแจ้งว่าหนังสือผิด",
    ProcessStatus.ACCEPT_ID_DISPUTED: "โต้แย้งเลขทะเบียนรับของผู้รับ",
    ProcessStatus.WITHDRAWN: "ถอนหนังสือคืนแล้ว",
    ProcessStatus.FAILED: "ส่งไม่สำเร็จ (เกินระยะเวลาส่งซ้ำ)",
}


# ------------------------------------------------------------------ periods
@dataclass(frozen=True, kw_only=True)
class Period:
    """[start, end) in Bangkok time: a calendar year, a fiscal year, or one month of either."""

    label: str
    start: dt.datetime
    end: dt.datetime

    def months(self) -> list["Period"]:
        found, start = [], self.start
        while start < self.end:
            end = _month_after(start)
            found.append(Period(label=f"{THAI_MONTHS_ABBR[start.month - 1]} {start.year + BUDDHIST_ERA_OFFSET}",
                                start=start, end=end))
            start = end
        return found


def _midnight(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=BANGKOK)


def _month_after(start: dt.datetime) -> dt.datetime:
    return _midnight(start.year + start.month // 12, start.month % 12 + 1)


def check_year(year_be: int) -> int:
    """A Buddhist-Era year as clerks say it; a Christian-era year or a typo is refused with the fix."""
    if FIRST_YEAR_BE <= year_be <= LAST_YEAR_BE:
        return year_be
    if FIRST_YEAR_BE - BUDDHIST_ERA_OFFSET <= year_be <= LAST_YEAR_BE - BUDDHIST_ERA_OFFSET:
        raise LocalError(f"{year_be} is a Christian-era year: give the Buddhist Era (พ.ศ.), "
                         f"{year_be} + {BUDDHIST_ERA_OFFSET} = {year_be + BUDDHIST_ERA_OFFSET}")
    raise LocalError(f"{year_be} is not a Buddhist-Era year between {FIRST_YEAR_BE} and {LAST_YEAR_BE}")


def calendar_year(year_be: int) -> Period:
    """พ.ศ. ``year_be``: 1 January to 31 December of ``year_be`` - 543."""
    year = check_year(year_be) - BUDDHIST_ERA_OFFSET
    return Period(label=f"ปี พ.ศ. {year_be}", start=_midnight(year, 1), end=_midnight(year + 1, 1))


def fiscal_year(year_be: int) -> Period:
    """ปีงบประมาณ ``year_be``: 1 October of the year before to 30 September (2570 = 1 Oct 2026 - 30 Sep 2027)."""
    year = check_year(year_be) - BUDDHIST_ERA_OFFSET
    return Period(label=f"ปีงบประมาณ พ.ศ. {year_be}", start=_midnight(year - 1, FISCAL_YEAR_START_MONTH),
                  end=_midnight(year, FISCAL_YEAR_START_MONTH))


def fiscal_year_of(moment: dt.datetime) -> int:
    """The Buddhist-Era fiscal year a moment falls in (Bangkok time)."""
    local = moment.astimezone(BANGKOK)
    return local.year + BUDDHIST_ERA_OFFSET + (1 if local.month >= FISCAL_YEAR_START_MONTH else 0)


# ---------------------------------------------------------------- registers
@dataclass(frozen=True, kw_only=True)
class Entry:
    """One row of a register, as values; :meth:`cells` is the row as people read it."""

    process_id: str
    entered_at: dt.datetime               # when it enters the register (registered, arrived or sent)
    arrived_at: dt.datetime               # stored by this node: arrival (receive) or sending (send)
    registered_at: dt.datetime | None     # the receiver's latest AcceptLetterNotifier
    number: str                           # เลขทะเบียนรับ (the AcceptID) or เลขทะเบียนส่ง
    letter_no: str                        # ที่
    letter_date: str                      # ลงวันที่, ISO (the CorrespondenceDate)
    sender: str                           # จาก: the sender's Thai name
    receiver: str                         # ถึง
    subject: str                          # เรื่อง
    status: ProcessStatus
    action: str                           # การปฏิบัติ
    note: str                             # หมายเหตุ

    def cells(self, kind: Kind) -> tuple[str, ...]:
        common = (self.letter_no, _thai_date(self.letter_date), self.sender, self.receiver, self.subject,
                  self.action, self.note)
        if kind is Kind.RECEIVE:
            registered = thai_date(self.registered_at) if self.registered_at else ""
            return (thai_date(self.arrived_at), registered, self.number, *common)
        return (thai_date(self.arrived_at), self.number, *common)


@dataclass(frozen=True, kw_only=True)
class Register:
    kind: Kind
    org_id: str
    org_name: str
    period: Period
    entries: tuple[Entry, ...]
    made_at: dt.datetime

    @property
    def title(self) -> str:
        return f"{self.kind.title} {self.org_name} {self.period.label}"

    @property
    def columns(self) -> tuple[str, ...]:
        return RECEIVE_COLUMNS if self.kind is Kind.RECEIVE else SEND_COLUMNS

    def rows(self) -> list[tuple[str, ...]]:
        return [entry.cells(self.kind) for entry in self.entries]


def _thai_date(iso: str) -> str:
    try:
        return thai_date(iso)
    except ValueError:   # stored as sent; the node checks only that a date is plausible
        return iso


def _name(directory: Directory, org_id: str) -> str:
    org = directory.get(org_id)
    return org.th_name if org is not None and org.th_name else org_id


def _hosted_name(directory: Directory, org_id: str) -> str:
    org = directory.get(org_id)
    if org is None or not org.hosted:
        hosted = ", ".join(o.id for o in directory.hosted())
        raise LocalError(f"organisation {org_id} is not hosted on this node (hosted here: {hosted})")
    return org.th_name or org_id


def send_number(letter_no: str) -> str:
    """เลขทะเบียนส่ง: the part of ที่ after its last "/" (ข้อ 48.3), e.g. ศธ 0210/1234 -> 1234, ศธ 0210/ว 12 -> ว 12."""
    return letter_no.rsplit("/", 1)[1].strip() if "/" in letter_no else ""


def _note(row: LetterRow) -> str:
    parts = []
    if row.speed_code != ORDINARY:
        parts.append(SPEED_CODES.get(row.speed_code, f"ชั้นความเร็ว {row.speed_code}"))
    if row.secret_code != ORDINARY:
        parts.append(SECRET_CODES.get(row.secret_code, f"ชั้นความลับ {row.secret_code}"))
    parts.append(f"ProcessID {row.process_id}")
    return "; ".join(parts)


def _entry(kind: Kind, directory: Directory, row: LetterRow, accepted_at: dt.datetime | None) -> Entry:
    status = process_status(row.state, row.delivery, row.pulled_at is not None)
    registered_at = accepted_at   # the order of register_received: registered, or else arrived
    if kind is Kind.RECEIVE:
        number, action, entered = row.accept_id, RECEIVE_ACTIONS[status], registered_at or row.created_at
    else:
        number, action, entered = send_number(row.letter_no), SEND_ACTIONS[status], row.created_at
        if row.accept_id and status in (ProcessStatus.ACCEPTED, ProcessStatus.ACCEPT_ID_DISPUTED):
            when = f" เมื่อ {thai_date(accepted_at)}" if accepted_at else ""
            action = f"{action} เลขทะเบียนรับ {row.accept_id}{when}"
    return Entry(process_id=row.process_id, entered_at=entered, arrived_at=row.created_at,
                 registered_at=registered_at, number=number, letter_no=row.letter_no, letter_date=row.corr_date,
                 sender=_name(directory, row.sender_org), receiver=_name(directory, row.receiver_org),
                 subject=row.subject, status=status, action=action, note=_note(row))


def register(store: Store, directory: Directory, kind: Kind, *, org_id: str, period: Period,
             now: dt.datetime) -> Register:
    """The receive or send register of a hosted organisation for ``period``."""
    org_name = _hosted_name(directory, org_id)
    with store.transaction() as tx:
        query = tx.register_received if kind is Kind.RECEIVE else tx.register_sent
        rows = query(org=org_id, since=period.start, until=period.end)
    entries = tuple(_entry(kind, directory, row, accepted_at) for row, accepted_at in rows)
    return Register(kind=kind, org_id=org_id, org_name=org_name, period=period, entries=entries, made_at=now)


# ----------------------------------------------------------------- exports
def _safe(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ would make it a formula (CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def to_csv(reg: Register) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Thai), CRLF lines, the Thai header row first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(reg.columns)
    writer.writerows([_safe(cell) for cell in row] for row in reg.rows())
    return out.getvalue().encode("utf-8-sig")


COLUMN_WIDTHS = {"เรื่อง": 60, "การปฏิบัติ": 36, "หมายเหตุ": 30, "จาก": 36, "ถึง": 36, "ที่": 18}
XLSX_FONT = "TH SarabunPSK"   # the government's standard font (มติคณะรัฐมนตรี 2553); Excel substitutes if absent


def to_xlsx(reg: Register) -> bytes:
    """One worksheet: the Thai header row (frozen, filtered, repeated on every printed page), then the rows.

    Every cell is text, so nothing in a letter is ever read as a formula.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = reg.kind.title
    book.properties.title = reg.title
    book.properties.creator = "gateway"
    book.properties.created = book.properties.modified = reg.made_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    plain, bold = Font(name=XLSX_FONT, size=14), Font(name=XLSX_FONT, size=14, bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, values in enumerate([reg.columns, *reg.rows()], start=1):
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c)
            cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell.data_type = "s"
            cell.font, cell.alignment = (bold if r == 1 else plain), wrap
    for c, name in enumerate(reg.columns, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = COLUMN_WIDTHS.get(name, 16)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(reg.columns))}{len(reg.entries) + 1}"
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.oddHeader.center.text = reg.title.replace("&", "&&")
    sheet.oddFooter.left.text = f"พิมพ์เมื่อ {thai_datetime(reg.made_at)}"
    sheet.oddFooter.right.text = "หน้า &P / &N"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------- statistics
@dataclass(frozen=True, kw_only=True)
class Counts:
    """One month (or the total) of an organisation's letters."""

    label: str
    sent: int = 0
    sent_delivered: int = 0       # of them, delivered: each saved one mailing
    sent_bytes: int = 0
    received: int = 0
    received_bytes: int = 0
    registered: int = 0           # letters it received and registered (AcceptLetterNotifier)
    rejected: int = 0             # ... refused (RejectLetterNotifier)
    invalid: int = 0              # ... reported as wrong (InvalidLetterNotifier)
    postage_saved: Decimal = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class Statistics:
    org_id: str
    org_name: str
    period: Period
    postage_baht_per_letter: Decimal
    months: tuple[Counts, ...]
    total: Counts


def statistics(store: Store, directory: Directory, *, org_id: str, period: Period,
               postage_baht_per_letter: float | Decimal) -> Statistics:
    """Per month of ``period``: letters sent, received, registered, rejected and invalid, their bytes, and the
    postage saved (each letter sent and delivered electronically is one letter not mailed)."""
    org_name = _hosted_name(directory, org_id)
    rate = Decimal(str(postage_baht_per_letter))
    months = []
    with store.transaction() as tx:
        for month in period.months():
            letters = tx.letter_counts(org=org_id, since=month.start, until=month.end)
            notices = tx.notice_counts(org=org_id, since=month.start, until=month.end)
            months.append(Counts(label=month.label, **letters, registered=notices.get(Event.ACCEPT, 0),
                                 rejected=notices.get(Event.REJECT, 0), invalid=notices.get(Event.INVALID, 0),
                                 postage_saved=rate * letters["sent_delivered"]))
    return Statistics(org_id=org_id, org_name=org_name, period=period, postage_baht_per_letter=rate,
                      months=tuple(months), total=_sum(period.label, months))


def _sum(label: str, months: Iterable[Counts]) -> Counts:
    months = list(months)
    fields = ("sent", "sent_delivered", "sent_bytes", "received", "received_bytes", "registered", "rejected",
              "invalid")
    return Counts(label=label, **{f: sum(getattr(m, f) for m in months) for f in fields},
                  postage_saved=sum((m.postage_saved for m in months), Decimal(0)))
