"""Registers, statistics and the purge from the command line, against a real node's database after real traffic.

A `gateway serve` process (the demo node, SQLite in ./var) takes letters from
`gateway send`; Chiang Mai pulls them, registers one and rejects the other.
Then `gateway register`, `gateway stats` and `gateway purge` read the same
database while the node runs, as a clerk or an operator would.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from gateway.testing.fixtures import PDF
from gateway.testing.live import free_port
from procs import wait_until_healthy

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]
BANGKOK = dt.timezone(dt.timedelta(hours=7))
CENTRAL, CHIANGMAI = "2000100000", "2000350000"
INVITATION = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"
QUOTED = 'ขอข้อมูลนักเรียน, "ด่วน" ภายในวันที่ ๓๐'
RECEIVE_HEADER = ["วันที่รับ", "วันที่ลงทะเบียน", "เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง",
                  "การปฏิบัติ", "หมายเหตุ"]
SEND_HEADER = ["วันที่ส่ง", "เลขทะเบียนส่ง", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ"]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """A node that carried two letters from the central office to Chiang Mai: one registered, one rejected.

    One node for the module: the commands only read its database, and the purge finds nothing to remove.
    """
    tmp_path = tmp_path_factory.mktemp("registers")
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*GATEWAY, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, proc)
    (tmp_path / "letter.pdf").write_bytes(PDF)

    def client(*args: str) -> str:
        return gateway(tmp_path, *args, "--url", base)

    for letter_id, subject in (("ศธ 0210/1234", INVITATION), ("ศธ 0210/1235", QUOTED)):
        client("send", "--as", CENTRAL, "--to", CHIANGMAI, "--subject", subject, "--file", "letter.pdf",
               "--letter-id", letter_id, "--date", "2026-11-26")
    client("pull", "--as", CHIANGMAI, "--out", "inbox")
    client("pull", "--as", CHIANGMAI, "--out", "inbox")
    client("ack", "accept", "--as", CHIANGMAI, "--letter-id", "ศธ 0210/1234", "--date", "2026-11-26",
           "--accept-id", "1234")
    client("ack", "reject", "--as", CHIANGMAI, "--letter-id", "ศธ 0210/1235", "--date", "2026-11-26")
    yield tmp_path
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out


def gateway(cwd: Path, *args: str, ok: bool = True) -> str:
    done = subprocess.run([*GATEWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout
    assert done.returncode != 0, done.stdout
    return done.stderr


def this_year() -> tuple[int, int, str]:
    """(calendar year, fiscal year) in the Buddhist Era, and today as the registers write it."""
    today = dt.datetime.now(BANGKOK)
    months = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
    return (today.year + 543, today.year + 543 + (today.month >= 10),
            f"{today.day} {months[today.month - 1]} {today.year + 543}")


def test_the_receive_register_as_csv_opens_with_a_bom_and_the_thai_header(traffic):
    year, _, today = this_year()
    printed = gateway(traffic, "register", "receive", "--org", CHIANGMAI, "--year", str(year), "--out", "receive.csv")
    assert f"ทะเบียนหนังสือรับ สำนักงานศึกษาธิการจังหวัดเชียงใหม่ ปี พ.ศ. {year}: 2 รายการ" in printed
    data = (traffic / "receive.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert header == RECEIVE_HEADER
    # In the order they entered the register: the rejected letter on arrival, the other when registered.
    rejected, registered = rows
    assert registered[:9] == [today, today, "1234", "ศธ 0210/1234", "26 พ.ย. 2569", "สำนักงานปลัดกระทรวงศึกษาธิการ",
                              "สำนักงานศึกษาธิการจังหวัดเชียงใหม่", INVITATION, "ลงทะเบียนรับแล้ว"]
    assert registered[9].startswith("ProcessID ")
    assert (rejected[1], rejected[2], rejected[3], rejected[7], rejected[8]) == (
        "", "", "ศธ 0210/1235", QUOTED, "ปฏิเสธการรับ"), "the comma and quotes of the subject survive"

    stdout = subprocess.run([*GATEWAY, "register", "receive", "--org", CHIANGMAI, "--year", str(year), "--out", "-"],
                            cwd=traffic, capture_output=True, timeout=120).stdout
    assert stdout == data, "--out - writes the same bytes to standard output"


def test_the_send_register_as_xlsx_has_the_rows(traffic):
    _, fiscal, today = this_year()
    gateway(traffic, "register", "send", "--org", CENTRAL, "--fiscal-year", str(fiscal), "--format", "xlsx")
    path = traffic / f"register-send-{CENTRAL}-fy{fiscal}.xlsx"
    sheet = load_workbook(path).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert sheet.title == "ทะเบียนหนังสือส่ง" and rows[0] == SEND_HEADER and len(rows) == 3
    assert rows[1][:4] == [today, "1234", "ศธ 0210/1234", "26 พ.ย. 2569"]
    assert rows[1][7] == f"ผู้รับลงทะเบียนรับแล้ว เลขทะเบียนรับ 1234 เมื่อ {today}"
    assert (rows[2][1], rows[2][6], rows[2][7]) == ("1235", QUOTED, "ผู้รับปฏิเสธการรับ")


def test_statistics_count_the_traffic_and_the_postage_saved(traffic):
    year, _, _ = this_year()
    month = dt.datetime.now(BANGKOK).month
    months = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
    central = gateway(traffic, "stats", "--org", CENTRAL, "--year", str(year)).splitlines()
    line = next(ln for ln in central if ln.startswith(f"{months[month - 1]} {year}"))
    assert line.split()[2:6] == ["2", "2", "0", "0"], line     # sent, delivered, received, registered
    assert line.split()[-1] == "64.00", "two letters delivered at the default 32 baht"
    total = next(ln for ln in central if ln.startswith("รวม"))
    assert total.split()[1:3] == ["2", "2"] and total.split()[-1] == "64.00"

    chiangmai = gateway(traffic, "stats", "--org", CHIANGMAI, "--year", str(year)).splitlines()
    line = next(ln for ln in chiangmai if ln.startswith(f"{months[month - 1]} {year}"))
    assert line.split()[2:8] == ["0", "0", "2", "1", "1", "0"], line   # ... received 2, registered 1, rejected 1

    error = gateway(traffic, "stats", "--org", CENTRAL, "--year", str(year - 543), ok=False)
    assert f"give the Buddhist Era (พ.ศ.), {year - 543} + 543 = {year}" in error
    error = gateway(traffic, "register", "send", "--org", "2099999999", "--year", str(year), ok=False)
    assert "2099999999 is not hosted on this node" in error


def test_purge_keeps_recent_letters_and_refuses_less_than_a_year(traffic):
    year, _, _ = this_year()
    dry = gateway(traffic, "purge", "--dry-run")
    assert "would remove: 0 letters" in dry and "10 ปี" in dry
    assert "removed: 0 letters" in gateway(traffic, "purge", "--older-than-years", "1")
    gateway(traffic, "register", "receive", "--org", CHIANGMAI, "--year", str(year), "--out", "after.csv")
    assert len((traffic / "after.csv").read_text(encoding="utf-8-sig").splitlines()) == 3, "both letters are kept"
    assert "at least 1 year" in gateway(traffic, "purge", "--older-than-years", "0", ok=False)
