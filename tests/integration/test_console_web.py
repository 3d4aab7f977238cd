"""The web console over WSGI and real HTTP (docs/console.md): sessions, CSRF, roles, pages and actions.

The browser tests (tests/acceptance/test_console_browser.py) drive Chromium
through the whole flow; these check each promise on its own, on every store.
"""
from __future__ import annotations

import datetime as dt
import http.cookies
import io
import re
import urllib.parse

import pytest
import requests

from gateway.core.state import OutboxState
from gateway.operations import accounts
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.wire import call, send_request

PASSWORD = "รหัสผ่านที่ยาวพอแล้ว-2569"
MEETING = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"
EXAM = "รายงานผลการสอบ O-NET ปีการศึกษา ๒๕๖๘ (100%_ครบ)"


class Browser:
    """A cookie-keeping client of the node's WSGI app (no HTTP): enough of a browser for the console."""

    def __init__(self, node, remote: str = "127.0.0.1") -> None:
        self.node, self.remote = node, remote
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, **headers: str):
        path, _, query = path.partition("?")
        body = urllib.parse.urlencode(form or {}).encode()
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": self.remote,
                   "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8080",
                   "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
        got = {}

        def start_response(line, header_list):
            got["status"], got["headers"] = int(line.split()[0]), header_list

        data = b"".join(self.node.wsgi(environ, start_response))
        for name, value in got["headers"]:
            if name == "Set-Cookie":
                jar = http.cookies.SimpleCookie(value)
                for key, morsel in jar.items():
                    if morsel["max-age"] == "0":
                        self.cookies.pop(key, None)
                    else:
                        self.cookies[key] = morsel.value
        return Page(got["status"], dict(got["headers"]), [v for k, v in got["headers"] if k == "Set-Cookie"],
                    data.decode("utf-8", "replace"))

    def get(self, path: str, **headers: str):
        return self.request("GET", path, **headers)

    def post(self, path: str, form: dict, **headers: str):
        return self.request("POST", path, form, **headers)

    def login(self, username: str, password: str = PASSWORD):
        page = self.get("/console/login")
        return self.post("/console/login", {"username": username, "password": password, "csrf": page.csrf})


class Page:
    def __init__(self, status: int, headers: dict, set_cookies: list[str], text: str) -> None:
        self.status, self.headers, self.set_cookies, self.text = status, headers, set_cookies, text

    @property
    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert found, self.text[:500]
        return found.group(1)


@pytest.fixture
def console(node, clock):
    """A node with an operator and an auditor, and a browser logged in as neither yet."""
    now = clock.now()
    accounts.add_account(node.store, username="alice", display_name="สมหญิง ใจดี", password=PASSWORD,
                         role=accounts.Role.OPERATOR, now=now)
    accounts.add_account(node.store, username="bob", display_name="สมชาย รักงาน", password=PASSWORD,
                         role=accounts.Role.AUDITOR, now=now)
    return Browser(node)


def send(node, subject: str, letter_id: str | None = None) -> str:
    reply = call(node, CENTRAL, send_request(letter_id=letter_id or unique_letter_id(), subject=subject,
                                             receiver=CHIANGMAI)).ok()
    return reply.root.findtext(".//{*}ProcessID")


def failed_item(node, clock, process_id: str = "P-console-1") -> int:
    """An outbox item to a peer that gave up (a letter this node forwards), as the worker leaves one."""
    now = clock.now()
    with node.store.transaction() as tx:
        tx.insert_outbox(message_id=f"M-{process_id}", kind="letter", process_id=process_id,
                         letter_process_id=process_id, sender_org=CENTRAL, receiver_org="2000999999",
                         next_node="region-9", path="[]", payload=b"<m/>", now=now, deadline=now)
        item = tx.outbox_of_letter(process_id)[0]
        assert tx.outbox_failed(item.id, error="connection refused", now=now)
    return item.id


# ---------------------------------------------------------------- sessions

def test_pages_need_a_session_and_the_login_sets_a_strict_cookie(console):
    page = console.get("/console/letters?q=x")
    assert page.status == 303
    assert page.headers["Location"] == "/console/login?next=" + urllib.parse.quote("/console/letters?q=x", safe="")
    login = console.login("alice")
    assert login.status == 303 and login.headers["Location"] == "/console/"
    cookie = next(c for c in login.set_cookies if c.startswith("gateway_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    home = console.get("/console/")
    assert home.status == 200 and 'id="whoami"' in home.text and "alice" in home.text
    assert "แผงควบคุม" in home.text                      # Thai by default
    assert home.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in home.headers["Content-Security-Policy"]


def test_a_wrong_password_is_refused_and_recorded(console, node):
    page = console.login("alice", "ไม่ใช่รหัสผ่านนี้แน่นอน")
    assert page.status == 401 and 'id="error"' in page.text
    assert "gateway_console" not in console.cookies
    unknown = console.login("nobody", PASSWORD)
    assert unknown.status == 401
    actions = [(a.username, a.action) for a in accounts.audit_log(node.store)]
    assert ("alice", "login-failed") in actions and ("nobody", "login-failed") in actions


def test_failed_logins_are_throttled(console):
    for _ in range(5):
        assert console.login("alice", "wrong-password-again").status == 401
    assert console.login("alice").status == 429      # even the right password, for a while


def test_a_login_without_its_form_token_is_refused(console):
    console.get("/console/login")
    page = console.post("/console/login", {"username": "alice", "password": PASSWORD, "csrf": "forged"})
    assert page.status == 403
    assert "gateway_console" not in console.cookies


def test_logout_ends_the_session(console):
    console.login("alice")
    token = console.cookies["gateway_console"]
    home = console.get("/console/")
    assert console.post("/console/logout", {"csrf": home.csrf}).status == 303
    console.cookies["gateway_console"] = token        # a copied cookie is dead too
    assert console.get("/console/").status == 303


def test_next_never_leaves_the_console(console):
    page = console.get("/console/login?next=https://evil.example/")
    login = console.post("/console/login", {"username": "alice", "password": PASSWORD, "csrf": page.csrf,
                                            "next": "https://evil.example/"})
    assert login.headers["Location"] == "/console/"


def test_a_disabled_account_loses_its_session(console, node, clock):
    console.login("alice")
    accounts.set_disabled(node.store, username="alice", disabled=True, now=clock.now())
    assert console.get("/console/").status == 303
    assert console.login("alice").status == 401


def test_english_is_one_click_away_and_remembered(console):
    console.login("alice")
    page = console.get("/console/?lang=en")
    assert "Dashboard" in page.text and console.cookies["console_lang"] == "en"
    assert "Dashboard" in console.get("/console/").text


# ---------------------------------------------------------------- pages

def test_dashboard_counts_the_queue_and_failures(console, node, clock):
    send(node, MEETING)
    failed_item(node, clock)
    console.login("bob")
    page = console.get("/console/")
    row = re.search(r'<tr data-org="%s">.*?<td class="count">(\d+)</td>' % CHIANGMAI, page.text, re.S)
    assert row and row.group(1) == "1"
    assert re.search(r'id="failed-count"[^>]*>1<', page.text)
    assert 'id="latency-chart"' in page.text


def test_search_finds_a_thai_substring_and_shows_buddhist_era_dates(console, node, clock):
    meeting, exam = send(node, MEETING), send(node, EXAM)
    console.login("bob")
    page = console.get("/console/letters?" + urllib.parse.urlencode({"q": "ผู้บริหาร"}))
    assert page.status == 200
    assert re.findall(r'data-process-id="([^"]+)"', page.text) == [meeting]
    year_be = clock.now().year + 543
    assert re.search(r'<td class="date">[^<]*%d' % year_be, page.text)
    literal = console.get("/console/letters?" + urllib.parse.urlencode({"q": "%_"}))   # wildcards are text
    assert re.findall(r'data-process-id="([^"]+)"', literal.text) == [exam]
    none = console.get("/console/letters?" + urllib.parse.urlencode({"q": "ไม่มีเรื่องนี้"}))
    assert 'id="no-results"' in none.text


def test_search_by_date_range_and_a_bad_date(console, node, clock):
    letter = send(node, MEETING)
    console.login("bob")
    today = clock.now().astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    be = f"{today.day}/{today.month}/{today.year + 543}"
    tomorrow = today + dt.timedelta(days=1)
    hit = console.get("/console/letters?" + urllib.parse.urlencode({"from": be, "to": be}))
    assert re.findall(r'data-process-id="([^"]+)"', hit.text) == [letter]
    miss = console.get("/console/letters?" + urllib.parse.urlencode(
        {"from": f"{tomorrow.day}/{tomorrow.month}/{tomorrow.year + 543}"}))
    assert 'id="no-results"' in miss.text
    bad = console.get("/console/letters?from=2026-12-01")
    assert bad.status == 400 and 'id="error"' in bad.text


def test_timeline_lists_what_happened(console, node):
    letter = send(node, MEETING)
    console.login("bob")
    page = console.get(f"/console/letters/{letter}")
    kinds = re.findall(r'<li class="event" data-kind="([^"]+)"', page.text)
    assert kinds[0] == "stored" and "queued" in kinds
    assert MEETING in page.text
    assert re.findall(r'<tr class="entry" data-event="([^"]+)"', page.text) == ["received", "stored"]
    assert console.get("/console/letters/no-such-letter").status == 404
    bundle = console.get(f"/console/letters/{letter}/proof")
    assert bundle.status == 200 and bundle.headers["Content-Type"] == "application/vnd.etsi.asic-e+zip"
    assert bundle.headers["Content-Disposition"] == f'attachment; filename="proof-{letter}.asice"'
    assert accounts.audit_log(node.store)[0].detail == "proof bundle"
    assert console.get("/console/letters/no-such-letter/proof").status == 404


def test_an_operator_retries_a_failed_delivery_and_it_is_recorded(console, node, clock):
    item = failed_item(node, clock)
    console.login("alice")
    page = console.get("/console/deliveries")
    assert f'data-id="{item}"' in page.text and 'class="retry"' in page.text
    done = console.post(f"/console/deliveries/{item}/retry", {"csrf": page.csrf})
    assert done.status == 303 and "flash=" in done.headers["Location"]
    with node.store.transaction() as tx:
        row = tx.outbox_item(item)
    assert row.state is OutboxState.PENDING and row.deadline_at > clock.now()
    audit = accounts.audit_log(node.store)[0]
    assert (audit.username, audit.action, audit.target) == ("alice", "retry", "P-console-1")
    timeline = console.get("/console/letters/P-console-1")
    assert timeline.status == 404   # an item this node only forwards has no letter row here: no timeline
    log_page = console.get("/console/audit")
    first = re.search(r'<tr class="audit"[^>]*>.*?<td class="who">([^<]*)</td><td class="action">([^<]*)</td>',
                      log_page.text, re.S)
    assert first and first.groups() == ("alice", "retry")


def test_an_operator_abandons_and_the_item_leaves_the_list(console, node, clock):
    item = failed_item(node, clock)
    console.login("alice")
    page = console.get("/console/deliveries")
    console.post(f"/console/deliveries/{item}/abandon", {"csrf": page.csrf})
    again = console.get("/console/deliveries")
    assert f'data-id="{item}"' not in again.text and 'id="no-failed"' in again.text
    with node.store.transaction() as tx:
        assert tx.outbox_item(item).abandoned_by == "alice"


def test_an_auditor_sees_no_forms_and_may_not_post(console, node, clock):
    item = failed_item(node, clock)
    console.login("bob")
    page = console.get("/console/deliveries")
    assert f'data-id="{item}"' in page.text and 'class="retry"' not in page.text
    refused = console.post(f"/console/deliveries/{item}/retry", {"csrf": page.csrf})
    assert refused.status == 403
    with node.store.transaction() as tx:
        assert tx.outbox_item(item).state is OutboxState.FAILED


def test_posts_need_the_session_token_and_our_origin(console, node, clock):
    item = failed_item(node, clock)
    console.login("alice")
    page = console.get("/console/deliveries")
    assert console.post(f"/console/deliveries/{item}/retry", {"csrf": "forged"}).status == 403
    assert console.post(f"/console/deliveries/{item}/retry", {"csrf": page.csrf},
                        origin="https://evil.example").status == 403
    with node.store.transaction() as tx:
        assert tx.outbox_item(item).state is OutboxState.FAILED


def test_directory_shows_certificate_status(console):
    console.login("bob")
    page = console.get("/console/directory")
    assert f'<tr data-org="{CHIANGMAI}">' in page.text
    assert re.search(r'<td class="cert-status">\s*ใช้ได้', page.text)


def test_register_export_is_the_cli_register(console, node, clock):
    send(node, MEETING, letter_id="ศธ 0210/4321")
    console.login("bob")
    year = clock.now().astimezone(dt.timezone(dt.timedelta(hours=7))).year + 543
    page = console.get(f"/console/registers/export?org={CENTRAL}&kind=send&year={year}&period=calendar&format=csv")
    assert page.status == 200
    assert page.headers["Content-Disposition"] == f'attachment; filename="register-send-{CENTRAL}-{year}.csv"'
    assert page.text.startswith("\ufeff") and "ศธ 0210/4321" in page.text and MEETING in page.text
    bad = console.get(f"/console/registers/export?org={CENTRAL}&kind=send&year=2026&format=csv")
    assert bad.status == 400 and 'id="error"' in bad.text
    assert accounts.audit_log(node.store)[0].action == "export"


def test_console_over_real_http(live, store, clock):
    """Through cheroot: cookies, redirects and the form round trip as a browser does them."""
    accounts.add_account(store, username="alice", display_name="สมหญิง", password=PASSWORD,
                         role=accounts.Role.OPERATOR, now=clock.now())
    session = requests.Session()
    page = session.get(f"{live.base}/console/", timeout=10)
    assert page.url.startswith(f"{live.base}/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    home = session.post(f"{live.base}/console/login", data={"username": "alice", "password": PASSWORD,
                                                            "csrf": csrf}, timeout=10)
    assert home.status_code == 200 and home.url == f"{live.base}/console/" and "สมหญิง" in home.text
    assert session.get(f"{live.base}/console/static/console.css", timeout=10).headers["Content-Type"].startswith(
        "text/css")
