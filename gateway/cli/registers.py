"""Clerks' and operators' commands on the node's own database: registers, statistics, the retention purge.

``gateway register receive|send`` writes the receive or send register of a
hosted organisation (CSV with a BOM, or XLSX), ``gateway stats`` prints its
monthly statistics with the postage saved, and ``gateway purge`` removes
finished letters older than the retention period (docs/registers.md).
Years are Buddhist Era, as clerks say them.
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

from gateway.adapters.clock import SystemClock
from gateway.cli.env import _epilog, load_config
from gateway.config import Config
from gateway.core.errors import LocalError
from gateway.core.time import thai_date

FORMATS = ("csv", "xlsx")
KIBIBYTE = 1024


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``register``, ``stats`` and ``purge`` to the ``gateway`` command line."""
    def node_command(parent, name: str, help_text: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, epilog=_epilog(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", help="configuration file (TOML); default: built-in demo node, data in ./var")
        return p

    def period_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--org", required=True, metavar="ORGANIZATION_ID", help="a hosted organisation")
        years = p.add_mutually_exclusive_group(required=True)
        years.add_argument("--year", type=int, metavar="พ.ศ.", help="calendar year, Buddhist Era (e.g. 2569)")
        years.add_argument("--fiscal-year", type=int, metavar="พ.ศ.",
                           help="fiscal year, Buddhist Era: 2570 = 1 Oct 2026 - 30 Sep 2027")

    reg = sub.add_parser("register", help="the receive or send register of an organisation (CSV or XLSX)")
    kinds = reg.add_subparsers(dest="register_kind", required=True)
    for kind, text in (("receive", "ทะเบียนหนังสือรับ: the letters an organisation received"),
                       ("send", "ทะเบียนหนังสือส่ง: the letters an organisation sent")):
        p = node_command(kinds, kind, text)
        period_arguments(p)
        p.add_argument("--format", choices=FORMATS, default="csv", help="csv (UTF-8 with BOM, opens in Excel) "
                                                                        "or xlsx (default csv)")
        p.add_argument("--out", help="file to write ('-': standard output; default: a name made of the "
                                     "register, organisation and year, in the current folder)")
        p.set_defaults(func=cmd_register)

    stats = node_command(sub, "stats", "monthly statistics of an organisation, with the postage saved")
    period_arguments(stats)
    stats.set_defaults(func=cmd_stats)

    purge = node_command(sub, "purge", "remove finished letters with no activity for N years (never one in flight)")
    purge.add_argument("--older-than-years", type=int, metavar="N",
                       help="keep this many years (default [retention] keep_years, 10)")
    purge.add_argument("--dry-run", action="store_true", help="count what would be removed; change nothing")
    purge.set_defaults(func=cmd_purge)


def _period(args: argparse.Namespace):
    from gateway.operations import registers

    try:
        return registers.fiscal_year(args.fiscal_year) if args.fiscal_year is not None \
            else registers.calendar_year(args.year)
    except LocalError as exc:
        raise SystemExit(f"gateway: {exc}") from None


def _store(cfg: Config):
    """The node's own database, which must exist and be migrated (a read never makes an empty one)."""
    from gateway.runtime import wiring

    url = cfg.database_url
    if url.startswith("sqlite:") and url != "sqlite::memory:" and not Path(url[len("sqlite:"):]).exists():
        raise SystemExit(f"gateway: no database at {url[len('sqlite:'):]} (give the node's --config, "
                         "or run this where `gateway serve` keeps its var/ folder)")
    store = wiring.open_store(url)
    if store.schema_version() == 0:
        store.close()
        raise SystemExit(f"gateway: the database {url} has no schema yet (run `gateway migrate`)")
    return store


def _open(cfg: Config):
    from gateway.runtime import directory_sync

    directory = directory_sync.with_snapshot(cfg, SystemClock()).directory
    return _store(cfg), directory


def _hosted(cfg: Config, org_id: str) -> None:
    if not cfg.directory.is_hosted(org_id):
        hosted = ", ".join(o.id for o in cfg.directory.hosted())
        raise SystemExit(f"gateway: organisation {org_id} is not hosted on this node (hosted here: {hosted})")


def default_name(kind: str, org_id: str, args: argparse.Namespace, fmt: str) -> str:
    """register-receive-2000350000-fy2570.xlsx, register-send-2000100000-2569.csv"""
    year = f"fy{args.fiscal_year}" if args.fiscal_year is not None else str(args.year)
    return f"register-{kind}-{org_id}-{year}.{fmt}"


def cmd_register(args: argparse.Namespace) -> int:
    from gateway.operations import registers

    cfg = load_config(args)
    _hosted(cfg, args.org)
    period = _period(args)
    store, directory = _open(cfg)
    try:
        reg = registers.register(store, directory, registers.Kind(args.register_kind), org_id=args.org,
                                 period=period, now=SystemClock().now())
    finally:
        store.close()
    data = registers.to_xlsx(reg) if args.format == "xlsx" else registers.to_csv(reg)
    if args.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.out or default_name(args.register_kind, args.org, args, args.format))
    out.write_bytes(data)
    print(f"{reg.title}: {len(reg.entries)} รายการ (entries) -> {out}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from gateway.operations import registers

    cfg = load_config(args)
    _hosted(cfg, args.org)
    period = _period(args)
    store, directory = _open(cfg)
    try:
        stats = registers.statistics(store, directory, org_id=args.org, period=period,
                                     postage_baht_per_letter=cfg.postage_baht_per_letter)
    finally:
        store.close()
    print(format_statistics(stats))
    return 0


HEADER = ("เดือน", "ส่ง", "ส่งถึง", "รับ", "ลงรับ", "ปฏิเสธ", "แจ้งผิด", "KiB ส่ง", "KiB รับ", "ประหยัด (บาท)")
WIDTHS = (11, 8, 8, 8, 8, 8, 8, 12, 12, 16)


def _width(text: str) -> int:
    """Terminal cells: Thai vowel and tone marks above or below a consonant take none."""
    return sum(0 if unicodedata.category(ch) in ("Mn", "Me") else 1 for ch in text)


def _line(cells) -> str:
    first, *rest = cells
    return first + " " * (WIDTHS[0] - _width(first)) + "".join(
        " " * (w - _width(cell)) + cell for cell, w in zip(rest, WIDTHS[1:]))


def format_statistics(stats) -> str:
    """The monthly table as people read it: Thai months, Buddhist Era, baht with two decimals."""
    def cells(c):
        return (c.label, f"{c.sent:,}", f"{c.sent_delivered:,}", f"{c.received:,}", f"{c.registered:,}",
                f"{c.rejected:,}", f"{c.invalid:,}", f"{c.sent_bytes / KIBIBYTE:,.1f}",
                f"{c.received_bytes / KIBIBYTE:,.1f}", f"{c.postage_saved:,.2f}")

    lines = [f"สถิติหนังสือ {stats.org_name} ({stats.org_id}) {stats.period.label}",
             _line(HEADER), *(_line(cells(m)) for m in stats.months),
             _line(("รวม", *cells(stats.total)[1:])),
             "",
             f"ส่ง = letters sent; ส่งถึง = of them delivered; รับ = received; ลงรับ = registered (accepted); "
             f"ปฏิเสธ = rejected; แจ้งผิด = reported invalid.",
             f"ค่าไปรษณีย์ที่ประหยัดได้ (postage saved) = ส่งถึง × {stats.postage_baht_per_letter:,.2f} บาทต่อฉบับ "
             f"([registers] postage_baht_per_letter)."]
    return "\n".join(lines)


def cmd_purge(args: argparse.Namespace) -> int:
    from gateway.operations import retention

    cfg = load_config(args)
    years = args.older_than_years if args.older_than_years is not None else cfg.retention_keep_years
    now = SystemClock().now()
    try:
        cut = retention.cutoff(now, years)
    except LocalError as exc:
        raise SystemExit(f"gateway: {exc}") from None
    if years < retention.KEEP_YEARS:
        print(f"คำเตือน (warning): ระเบียบงานสารบรรณ ข้อ 57 ให้เก็บหนังสือไว้ไม่น้อยกว่า {retention.KEEP_YEARS} ปี; "
              f"this purge keeps {years}.", file=sys.stderr)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{'ตรวจนับ (dry run)' if args.dry_run else 'ลบ'}: หนังสือที่จบแล้วและไม่มีความเคลื่อนไหวตั้งแต่ก่อน "
          f"{thai_date(cut)} ({years} ปี) — finished letters with no activity before {cut.date().isoformat()}")

    def show(letters, transit) -> None:
        for row in letters:
            print(f"  {verb} {row.process_id}  {row.state.value:9}  ที่ {row.letter_no}  ลงวันที่ "
                  f"{row.corr_date}  {row.sender_org} -> {row.receiver_org}")
        for item in transit:
            print(f"  {verb} forwarded {item.kind} of {item.letter_process_id} to {item.next_node} ({item.state})")

    store = _store(cfg)
    try:
        report = retention.purge(store, now=now, keep_years=years, dry_run=args.dry_run,
                                 on_batch=None if args.dry_run else show)
    finally:
        store.close()
    rows = report.rows
    print(f"{verb}: {report.letters} letters ({rows['letter_blobs']} letter bodies, {rows['notices']} notices, "
          f"{rows['queue']} queue items, {rows['outbox']} outbox items) and {report.transit} outbox items of "
          f"letters only forwarded here; {report.held} held (for the evidence log)")
    return 0
