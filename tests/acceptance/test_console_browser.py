"""The web console (issue 13) in a real browser, against two nodes running as processes.

Node A (``moe-hub``) hosts the central office 2000100000, node B (``moe-r15``) hosts Chiang Mai
2000350000; each is `gateway serve` with SQLite in its own folder, sharing the test network's
PKI (gateway/testing/network.py). Node A gives up on a peer after 3 s, so a letter sent while B
is down is FAILED within seconds. Letters travel through the e-Saraban client commands
(`gateway send`, `pull`, `ack`); the console's operator (alice) and auditor (bob) are made with
`gateway console add-user`. Headless Chromium (tests/acceptance/browser.py) logs in, searches a
Thai subject by the middle of a word run, follows a letter's timeline, retries a FAILED delivery
once B is back, and exports a register. Every page is found by the ids of "the HTML contract"
of the console; a screenshot of each step lands in test-artifacts/console/.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from browser import Browser, chrome, has_thai, until  # noqa: F401  (chrome: the browser fixture)
from lxml import html
from procs import Proc, migrate

from gateway.testing.fixtures import PDF
from gateway.testing.live import free_port
from gateway.testing.network import CENTRAL, CHIANGMAI, make_pki, toml_for

pytestmark = pytest.mark.acceptance
ARTIFACTS_NAME = "console"
GATEWAY = [sys.executable, "-m", "gateway"]
BANGKOK = dt.timezone(dt.timedelta(hours=7))
A, B = "moe-hub", "moe-r15"
A_DELIVERY = ("[delivery]\nretry_window_seconds = 3\nretry_first_seconds = 0.2\nretry_max_seconds = 1\n"
              "timeout_seconds = 2\nworker_poll_seconds = 0.5\n")
B_DELIVERY = ("[delivery]\nretry_first_seconds = 0.2\nretry_max_seconds = 2\ntimeout_seconds = 5\n"
              "worker_poll_seconds = 0.5\n")
LETTER_DATE = "2026-11-26"   # one date for the letters and their notifiers, whatever the hour of the run
INVITATION = ("ศธ 0210/7001", "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙")
ONET = ("ศธ 0210/7002", "รายงานผลการสอบ O-NET ปีการศึกษา ๒๕๖๘")
OUTAGE = ("ศธ 0210/7003", "แจ้งกำหนดการตรวจราชการ รอบที่ ๒ ปีงบประมาณ ๒๕๗๐")
ALICE = ("alice", "รหัสผ่าน-สมหญิง-2569")     # Thai in the password: stdin, the form and the check keep UTF-8
BOB = ("bob", "bob-ผู้ตรวจสอบ-2569")
BOM = b"\xef\xbb\xbf"
# a Gregorian date as a person would read it: 2026-11-26 or 26 พ.ย. 2026 (ProcessIDs are 8-4-4-4-12 hex)
GREGORIAN = re.compile(r"(?<![\w-])(19|20)\d\d-\d\d-\d\d(?![\w-])|\d{1,2} [\u0e00-\u0e7f.]+ 20\d\d(?!\d)")


class Nodes:
    """The two nodes' configurations and processes, and the `gateway` commands run against them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = make_pki(root / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        # the directory of the test network names the agency's node too; it is never started here
        self.ports = {node: free_port() for node in (A, B, "ocsc")}
        self.configs = {A: self._configure(A, A_DELIVERY), B: self._configure(B, B_DELIVERY)}
        self.procs: dict[str, Proc] = {}
        (root / "letter.pdf").write_bytes(PDF)

    def _configure(self, node: str, delivery: str) -> Path:
        folder = self.root / node
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "gateway.toml"
        path.write_text(toml_for(node, self.pki, self.ports, folder, extra=delivery), encoding="utf-8")
        migrate(path)
        return path

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def console(self) -> str:
        return f"{self.url(A)}/console"

    def serve(self, node: str) -> Proc:
        if node in self.procs:
            self.procs[node].stop()
        proc = Proc(node, ["serve"], self.configs[node], self.configs[node].parent,
                    health_url=f"{self.url(node)}/healthz")
        self.procs[node] = proc.start()
        return proc

    def stop(self, node: str | None = None) -> None:
        for name, proc in self.procs.items():
            if node in (None, name):
                proc.stop()

    def gw(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*GATEWAY, *args], cwd=self.root, input=stdin, capture_output=True, text=True,
                              timeout=120)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"gateway {' '.join(args)} exited {done.returncode}:\n{output}"
        return output

    def add_user(self, username: str, password: str, role: str, name: str) -> str:
        return self.gw("console", "add-user", username, "--role", role, "--name", name, "--password-stdin",
                       "--config", str(self.configs[A]), stdin=password + "\n")

    def send(self, letter_no: str, subject: str) -> str:
        """A letter from the central office (at A) to Chiang Mai (at B); its ProcessID."""
        out = self.gw("send", "--url", self.url(A), "--as", CENTRAL, "--to", CHIANGMAI, "--subject", subject,
                      "--file", "letter.pdf", "--letter-id", letter_no, "--date", LETTER_DATE)
        return out.split("ProcessID ")[1].split()[0]

    def pull_at_chiangmai(self) -> str:
        """The next item of Chiang Mai's queue at B (deleted from it); '' when the queue is empty."""
        out = self.gw("pull", "--url", self.url(B), "--as", CHIANGMAI, "--out", "inbox")
        return "" if "queue is empty" in out else out

    def ack(self, kind: str, letter_no: str, *extra: str) -> str:
        return self.gw("ack", kind, "--url", self.url(B), "--as", CHIANGMAI, "--letter-id", letter_no,
                       "--date", LETTER_DATE, *extra)

    def status(self, process_id: str) -> str:
        """The letter's ProcessStatus as the central office's e-Saraban sees it (OutboundStatus at A)."""
        out = self.gw("status", "--url", self.url(A), "--as", CENTRAL)
        return next((line.split()[1] for line in out.splitlines() if line.startswith(process_id)), "")

    def send_register_csv(self, year: int) -> bytes:
        done = subprocess.run([*GATEWAY, "register", "send", "--org", CENTRAL, "--year", str(year), "--format",
                               "csv", "--out", "-", "--config", str(self.configs[A])],
                              cwd=self.root, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    net = Nodes(tmp_path_factory.mktemp("console-browser"))
    try:
        net.serve(A)
        net.serve(B)
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def accounts(nodes):
    nodes.add_user(*ALICE, "operator", "สมหญิง ใจดี")
    nodes.add_user(*BOB, "auditor", "สมชาย ตรวจสอบ")
    listed = nodes.gw("console", "users", "--config", str(nodes.configs[A]))
    assert "alice" in listed and "bob" in listed, listed
    return {"alice": ALICE, "bob": BOB}


@pytest.fixture(scope="module")
def traffic(nodes):
    """Two letters delivered to Chiang Mai; the invitation is received and registered there as 1234, and
    both notifiers are back at A (ACCEPTED in the central office's OutboundStatus)."""
    sent = {"invitation": nodes.send(*INVITATION), "onet": nodes.send(*ONET)}
    pulled = [until(nodes.pull_at_chiangmai, 30, "a letter at Chiang Mai") for _ in sent]
    for process_id in sent.values():
        assert sum(f"ProcessID {process_id}" in out for out in pulled) == 1, pulled
    nodes.ack("receive", INVITATION[0])
    nodes.ack("accept", INVITATION[0], "--accept-id", "1234")
    until(lambda: nodes.status(sent["invitation"]) == "ACCEPTED", 30, "the accept notifier back at A")
    # pulled at Chiang Mai and no notifier yet: B reports the pull back to A (a signed DeliveryStatus)
    until(lambda: nodes.status(sent["onet"]) == "PULLED", 30, "the pull reported back to A")
    return sent


# ---------------------------------------------------------------------------------------- helpers

def login(b: Browser, base: str, username: str, password: str) -> None:
    """A fresh session of ``username`` (the cookies of any earlier one are dropped first)."""
    b.get(f"{base}/login")
    b.driver.delete_all_cookies()
    b.get(f"{base}/login")
    b.fill("input#username", username)
    b.fill("input#password", password)
    b.click_and_load("button#login-submit")
    assert username in b.wait("#whoami").text, b.text()


def login_status(base: str, username: str, password: str) -> int:
    """The HTTP status of a login through the form, as a plain HTTP client posts it."""
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    token = html.fromstring(page.text).xpath("//form[@id='login']//input[@name='csrf']/@value")
    assert token, f"no csrf input in form#login:\n{page.text[:2000]}"
    return session.post(f"{base}/login", data={"username": username, "password": password, "csrf": token[0]},
                        allow_redirects=False, timeout=10).status_code


def events(b: Browser) -> list[tuple[str, str]]:
    """The timeline of the letter on the page: (data-kind, text) of each event."""
    return [(li.get_attribute("data-kind"), li.text) for li in b.css("ol#timeline li.event")]


def kinds(b: Browser) -> list[str]:
    return [kind for kind, _ in events(b)]


def english(text: str) -> bool:
    return bool(re.search("[A-Za-z]", text)) and not has_thai(text)


def buddhist_era_only(b: Browser) -> None:
    """People read Buddhist-Era dates on every page (d ม.ค. 2569, 2/12/2569), never Gregorian ones."""
    found = [m.group(0) for m in GREGORIAN.finditer(b.text())]
    assert not found, f"Gregorian dates on {b.driver.current_url}: {found}"


def be_today() -> str:
    today = dt.datetime.now(BANGKOK).date()
    return f"{today.day}/{today.month}/{today.year + 543}"


# ------------------------------------------------------------------------------------------ tests

def test_login_refuses_a_wrong_password_and_speaks_thai_then_english(chrome, nodes, accounts):
    b, base = chrome, nodes.console()
    answer = requests.get(f"{base}/letters", allow_redirects=False, timeout=10)
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])
    assert "/console/login?next=" in answer.headers["Location"], answer.headers

    b.get(f"{base}/letters")
    b.wait("form#login")
    assert urlparse(b.driver.current_url).path == "/console/login" and "next=" in b.driver.current_url
    assert has_thai(b.one("button#login-submit").text), "the login page is in Thai by default"
    assert b.css("a#lang-th") and b.css("a#lang-en")
    b.shot("login-page-thai")

    b.fill("input#username", ALICE[0])
    b.fill("input#password", "not-" + ALICE[1])
    b.click_and_load("button#login-submit")
    assert has_thai(b.wait("#error").text), b.text()
    assert not b.css("#whoami")
    b.shot("login-wrong-password")
    assert login_status(base, ALICE[0], "not-" + ALICE[1]) == 401
    assert login_status(base, "nobody", ALICE[1]) == 401

    b.fill("input#username", ALICE[0])
    b.fill("input#password", ALICE[1])
    b.click_and_load("button#login-submit")
    assert "alice" in b.wait("#whoami").text
    assert urlparse(b.driver.current_url).path == "/console/letters", "back to the page asked for first"
    assert has_thai(b.text("a#nav-letters")) and has_thai(b.text("a#nav-dashboard"))
    b.shot("logged-in-thai")

    b.get(f"{base}/?lang=en")
    b.wait("#whoami")
    assert english(b.text("a#nav-dashboard")) and english(b.text("a#nav-deliveries")), b.text("nav")
    assert (b.driver.get_cookie("console_lang") or {}).get("value") == "en"
    b.get(f"{base}/deliveries")
    assert english(b.text("a#nav-letters")), "English is remembered from page to page"
    b.shot("deliveries-english")
    b.click_and_load("a#lang-th")
    assert has_thai(b.text("a#nav-letters")), "and Thai comes back with a#lang-th"
    b.shot("deliveries-thai-again")


def test_search_finds_the_middle_of_a_thai_word_run_and_the_timeline_has_the_accept(
        chrome, nodes, accounts, traffic):
    b, base = chrome, nodes.console()
    login(b, base, *ALICE)
    b.click_and_load("a#nav-letters")
    b.fill("input#q", "ผู้บริหาร")       # inside "ขอเชิญประชุมผู้บริหารสถานศึกษา": Thai writes no spaces
    b.click_and_load("button#search-submit")
    rows = b.css("table#results tr.letter")
    assert [r.get_attribute("data-process-id") for r in rows] == [traffic["invitation"]], b.text()
    row = rows[0]
    assert b.one("td.subject", row).text == INVITATION[1]
    assert b.one("td.letter-no", row).text == INVITATION[0]
    assert re.search(r"25\d\d", b.one("td.date", row).text), "dates in the Buddhist Era"
    b.shot("search-middle-of-a-word")
    buddhist_era_only(b)

    b.fill("input#q", "O-NET")
    b.fill("input#from", be_today())
    b.fill("input#to", be_today())       # inclusive: today's letters
    b.click_and_load("button#search-submit")
    assert [r.get_attribute("data-process-id") for r in b.css("table#results tr.letter")] == [traffic["onet"]]
    b.fill("input#q", "ประชุมคณะรัฐมนตรี")
    b.click_and_load("button#search-submit")
    assert b.css("#no-results") and not b.css("table#results tr.letter")
    b.fill("input#q", "")
    b.fill("input#from", "31/2/2569")
    b.click_and_load("button#search-submit")
    assert b.css("#error"), "a date that does not exist is refused"
    b.shot("search-bad-date")

    b.fill("input#q", "ผู้บริหาร")
    b.fill("input#from", "")
    b.fill("input#to", "")
    b.click_and_load("button#search-submit")
    b.click_and_load("a.timeline", b.one("table#results tr.letter"))
    timeline = f"{base}/letters/{traffic['invitation']}"
    assert b.driver.current_url.split("?")[0] == timeline
    assert b.one("#letter-subject").text == INVITATION[1]
    assert b.one("#letter-status").text
    b.reload_until(timeline, lambda: "notice-accept" in kinds(b), 15, "the accept notifier on the timeline")
    seen = kinds(b)
    assert "stored" in seen and ("verified" in seen or "signed" in seen) and "delivered" in seen, seen
    assert "notice-receive" in seen, seen
    assert any(kind == "notice-accept" and "1234" in text for kind, text in events(b)), events(b)
    b.shot("timeline-accepted")
    buddhist_era_only(b)
    assert b.session().get(f"{base}/letters/{uuid.uuid4()}", timeout=10).status_code == 404


def test_a_failed_delivery_is_retried_by_the_operator_and_not_by_the_auditor(chrome, nodes, accounts, traffic):
    b, base = chrome, nodes.console()
    deliveries = f"{base}/deliveries"
    nodes.stop(B)
    process_id = nodes.send(*OUTAGE)
    row = f"table#failed tr.outbox[data-process-id='{process_id}']"

    login(b, base, *BOB)
    found = b.reload_until(deliveries, lambda: b.css(row), 30, "the letter in table#failed")
    outbox_id = found[0].get_attribute("data-id")
    assert b.one("td.state", found[0]).text and b.one("td.error", found[0]).text
    assert not b.css("form.retry, form.abandon, button.retry-submit, button.abandon-submit"), \
        "an auditor sees the failures but no forms"
    b.shot("deliveries-failed-as-auditor")
    buddhist_era_only(b)
    token = b.one("form#logout input[name=csrf]").get_attribute("value")
    refused = b.session().post(f"{deliveries}/{outbox_id}/retry", data={"csrf": token}, allow_redirects=False,
                               timeout=10)
    assert refused.status_code == 403, "an auditor's POST is refused even with the session's token"
    b.get(f"{base}/letters/{process_id}")
    assert "failed" in kinds(b), events(b)
    b.shot("timeline-failed")

    login(b, base, *ALICE)
    forged = b.session().post(f"{deliveries}/{outbox_id}/retry", data={"csrf": "forged"}, allow_redirects=False,
                              timeout=10)
    assert forged.status_code == 403, "a POST without the session's token is refused"
    nodes.serve(B)
    b.get(deliveries)
    item = b.one(row)
    assert item.get_attribute("data-id") == outbox_id and b.css("form.retry", item) and b.css("form.abandon", item)
    b.shot("deliveries-failed-as-operator")
    b.click_and_load("button.retry-submit", item)
    assert b.wait("#flash").text
    b.shot("retry-flash")

    b.reload_until(f"{base}/letters/{process_id}", lambda: "delivered" in kinds(b), 30,
                   "the delivered event after the retry")
    assert "operator-retry" in kinds(b) and "alice" in b.text("li.event[data-kind=operator-retry]"), events(b)
    b.shot("timeline-delivered-after-retry")
    assert until(lambda: nodes.status(process_id) == "DELIVERED", 10, "DELIVERED in the OutboundStatus")
    b.get(deliveries)
    assert not b.css(row) and b.css("#no-failed"), b.text()
    b.shot("deliveries-none-failed")

    b.click_and_load("a#nav-dashboard")
    assert b.text("#failed-count") == "0" and b.text("#in-flight") == "0"
    bars = [int(bar.get_attribute("data-count")) for bar in b.css("svg#latency-chart rect.bar")]
    assert len(bars) == 24 and sum(bars) >= 3, bars   # the two letters, their notifiers and the retried one
    b.shot("dashboard-after-retry")

    b.click_and_load("a#nav-audit")
    audit = [(b.one("td.action", tr).text.strip(), b.one("td.who", tr).text, b.one("td.target", tr).text)
             for tr in b.css("table#audit tr.audit")]
    assert any(action == "retry" and "alice" in who for action, who, _ in audit), audit
    assert not any(action == "retry" and "bob" in who for action, who, _ in audit), "the refused POST did nothing"
    b.shot("audit-retry")


def test_the_send_register_exported_through_the_form_is_the_same_csv_as_the_cli(chrome, nodes, accounts, traffic):
    b, base = chrome, nodes.console()
    year = dt.datetime.now(BANGKOK).year + 543
    login(b, base, *ALICE)
    b.click_and_load("a#nav-registers")
    b.choose("select#reg-org", CENTRAL)
    b.choose("select#reg-kind", "send")
    b.fill("input#reg-year", str(year))
    b.choose("select#reg-period", "calendar")
    b.choose("select#reg-format", "csv")
    b.shot("register-form")
    b.click("button#export-submit")
    data = b.download(f"register-send-{CENTRAL}-{year}.csv")
    assert data.startswith(BOM), data[:40]
    assert data == nodes.send_register_csv(year), "the console answers the bytes of `gateway register send`"
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    number, subject = header.index("ที่"), header.index("เรื่อง")
    by_number = {row[number]: row[subject] for row in rows}
    assert by_number[INVITATION[0]] == INVITATION[1] and by_number[ONET[0]] == ONET[1], rows
    b.shot("register-exported")
    b.click_and_load("a#nav-audit")
    assert "export" in [b.one("td.action", tr).text.strip() for tr in b.css("table#audit tr.audit")]


def test_logout_ends_the_session(chrome, nodes, accounts):
    b, base = chrome, nodes.console()
    login(b, base, *ALICE)
    before = b.session()
    b.click_and_load("button#logout-submit")
    b.shot("logged-out")
    b.get(f"{base}/")
    b.wait("form#login")
    assert urlparse(b.driver.current_url).path == "/console/login"
    assert not b.css("#whoami")
    answer = before.get(f"{base}/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303, "the old session cookie is dead on the server too"
    b.shot("login-after-logout")
