"""Property-based fuzzing of the web console (hypothesis): no request, logged in or not, gets a 500.

Paths, query strings, form bodies, cookies and headers are drawn from the
console's own routes and parameters mutated with Thai text, markup, bad dates,
huge numbers, percent-encoding and bytes that are not UTF-8. The property: the
answer is one of the documented statuses (docs/console.md), every HTML page is
UTF-8, nothing a client sent comes back unescaped, and an auditor's or a
forged POST changes nothing in the store.
"""
from __future__ import annotations

import io
import os
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gateway import config
from gateway.operations import accounts
from gateway.runtime import wiring
from gateway.store.memory import MemoryStore
from gateway.testing.clock import FakeClock

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])
PASSWORD = "รหัสผ่านสำหรับทดสอบ-fuzz"
DOCUMENTED = {200, 303, 400, 401, 403, 404, 405, 413, 429}
MARKER = "<script>x</script>"

PATHS = ["/console/", "/console/login", "/console/logout", "/console/letters", "/console/letters/{}",
         "/console/deliveries", "/console/deliveries/{}/retry", "/console/deliveries/{}/abandon",
         "/console/directory", "/console/registers", "/console/registers/export", "/console/audit",
         "/console/static/console.css", "/console/{}", "/console/letters/{}/{}"]
KEYS = ["q", "letter_no", "org", "from", "to", "lang", "next", "flash", "kind", "year", "period", "format",
        "before", "csrf", "username", "password"]
WORDS = st.one_of(
    st.sampled_from(["", "ผู้บริหาร", "ศธ 0210/1234", "2000100000", "2/12/2569", "31/2/2569", "99/99/9999", "en",
                     "th", "fiscal", "calendar", "send", "receive", "csv", "xlsx", "2569", "2026", "-1",
                     "9" * 40, "%", "_", "\\", "'", '"', MARKER, "../../etc/passwd", "//evil.example/",
                     "/console/letters", "\u202e", "\x00", "ก" * 300]),
    st.text(max_size=40))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-fuzz")
    node = wiring.build(config.Config(data_dir=folder), store=MemoryStore(), clock=FakeClock())
    for name, role in (("alice", accounts.Role.OPERATOR), ("bob", accounts.Role.AUDITOR)):
        accounts.add_account(node.store, username=name, display_name=name, password=PASSWORD, role=role,
                             now=FakeClock().now())
    return node


def _call(node, method: str, path: str, query: str, body: bytes, cookie: str, origin: str):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8080",
               "HTTP_COOKIE": cookie}
    if origin:
        environ["HTTP_ORIGIN"] = origin
    got = {}

    def start_response(line, headers):
        got["status"], got["headers"] = int(line.split()[0]), dict(headers)

    data = b"".join(node.wsgi(environ, start_response))
    return got["status"], got["headers"], data


def _session(node, username: str) -> tuple[str, str]:
    """A logged-in cookie and its CSRF token."""
    login = accounts.log_in(node.store, username=username, password=PASSWORD, now=FakeClock().now(),
                            remote="127.0.0.1")
    return f"gateway_console={login.token}", login.session.csrf_token


@st.composite
def requests_(draw):
    path = draw(st.sampled_from(PATHS))
    while "{}" in path:
        path = path.replace("{}", urllib.parse.quote(draw(WORDS), safe="") or "x", 1)
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), WORDS), max_size=6))
    query = urllib.parse.urlencode(pairs)
    if draw(st.booleans()):
        query += "&" + draw(st.sampled_from(["%ZZ", "a=%E0%B8", "=", "&&&", "q=" + "x" * 3000]))
    body = urllib.parse.urlencode(draw(st.lists(st.tuples(st.sampled_from(KEYS), WORDS), max_size=6))).encode()
    if draw(st.booleans()):
        body += draw(st.sampled_from([b"&%ff%fe=1", b"\xff\xfe", b"&csrf=", b"a" * 20000]))
    return (draw(st.sampled_from(["GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE"])), path, query, body,
            draw(st.sampled_from(["none", "alice", "bob", "junk"])), draw(st.sampled_from(["", "http://127.0.0.1:8080",
                                                                                           "https://evil.example"])),
            draw(st.booleans()))


@FUZZ
@given(request=requests_())
def test_no_console_request_gets_an_internal_error(app, request):
    method, path, query, body, who, origin, with_token = request
    cookie, token = "", ""
    if who in ("alice", "bob"):
        cookie, token = _session(app, who)
    elif who == "junk":
        cookie = "gateway_console=" + "A" * 60 + "; console_lang=xx; =; bad cookie"
    if with_token and token and method == "POST":
        body += f"&csrf={token}".encode()
    with app.store.transaction() as tx:
        before = (tx.outbox_counts(), len(tx.audit_log(limit=10_000)))
    status, headers, data = _call(app, method, path, query, body, cookie, origin)
    assert status in DOCUMENTED, (status, method, path, query, data[:300])
    if headers.get("Content-Type", "").startswith("text/html"):
        text = data.decode("utf-8")                     # always UTF-8
        assert MARKER not in text, "sent markup came back unescaped"
    if method == "POST" and status in (403, 405) or who in ("none", "junk", "bob") and "retry" in path:
        with app.store.transaction() as tx:
            counts = tx.outbox_counts()
        assert counts == before[0], "a refused POST changed the outbox"
    assert re.match(r"^[\x20-\x7e]*$", headers.get("Location", "")), "a Location header carries raw bytes"
