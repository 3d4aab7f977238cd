"""The web console at /console (docs/console.md): server-rendered HTML, no JavaScript needed.

One WSGI application mounted by ``NodeApp`` under /console. Pages are Jinja2
templates (``templates/``, autoescaped); what they show comes from
``operations/console.py`` and ``operations/accounts.py``.

Security: a session is a random token in an HttpOnly, SameSite=Strict cookie
(Secure behind TLS) whose hash is looked up in the store; every POST carries
the session's CSRF token (the login form a double-submit cookie's), and a POST
whose Origin names another host is refused. Pages are sent with a strict
Content-Security-Policy, no framing and no caching. Failed logins are limited
per user name and per address. Auditors read; only operators act.
"""
from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http import cookies
from pathlib import Path
from typing import Callable, Iterable

import jinja2

from gateway.adapters.http import console_text
from gateway.adapters.http.wsgi import caller_of, read_body
from gateway.core.errors import LocalError, RemoteError
from gateway.core.network.directory import Directory
from gateway.core.records import SessionRow
from gateway.core.state import process_status
from gateway.core.time import BANGKOK, BUDDHIST_ERA_OFFSET, thai_date, thai_datetime
from gateway.core.trust import passwords
from gateway.operations import accounts, console, proof, registers
from gateway.ports import Clock
from gateway.store import Store
from gateway.telemetry import CertificateExpiry

log = logging.getLogger("gateway.console")

PREFIX = "/console"
SESSION_COOKIE = "gateway_console"
LOGIN_CSRF_COOKIE = "gateway_console_login"
LANG_COOKIE = "console_lang"
FORM_LIMIT = 16 * 1024                         # a console form is a few fields
FAILED_LOGINS, FAILED_WINDOW_S = 5, 15 * 60    # per user name and per address
TEMPLATES = Path(__file__).resolve().parent / "templates"
_HEADERS = [("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"), ("Cache-Control", "no-store")]
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STATUS = {200: "OK", 303: "See Other", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests"}


@dataclass
class Page:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list = field(default_factory=list)


@dataclass
class Request:
    environ: dict
    method: str
    path: str              # below /console, starting with "/"
    query: dict
    cookies: dict
    lang: str
    remote: str
    secure: bool
    form: dict = field(default_factory=dict)
    session: SessionRow | None = None


class Refused(Exception):
    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


class _Throttle:
    """Failed logins per key in a sliding window (per process; a cluster multiplies the allowance)."""

    MAX_KEYS = 10_000

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.failures: dict[str, deque] = defaultdict(deque)

    def blocked(self, now: float, *keys: str) -> bool:
        for key in keys:
            seen = self.failures.get(key)
            if not seen:
                continue
            while seen and now - seen[0] > self.window_s:
                seen.popleft()
            if len(seen) >= self.limit:
                return True
        return False

    def failed(self, now: float, *keys: str) -> None:
        if len(self.failures) > self.MAX_KEYS:   # many names tried: forget the stale ones, bounding memory
            for key in [k for k, seen in self.failures.items() if not seen or now - seen[-1] > self.window_s]:
                del self.failures[key]
        for key in keys:
            self.failures[key].append(now)

    def cleared(self, *keys: str) -> None:
        for key in keys:
            self.failures.pop(key, None)


def be_datetime(value: dt.datetime | None, lang: str = "th") -> str:
    """A time people read: Bangkok time, Buddhist-Era year, in Thai or English month names."""
    if value is None:
        return "-"
    if lang != "en":
        return thai_datetime(value)
    local = value.astimezone(BANGKOK)
    return f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year + BUDDHIST_ERA_OFFSET} BE {local:%H:%M}"


def be_date(value: str | dt.date, lang: str = "th") -> str:
    """A letter's date (CorrespondenceDate, ISO on the wire) in the Buddhist Era; as given if it is not a date."""
    try:
        day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if lang != "en":
        return thai_date(day)
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year + BUDDHIST_ERA_OFFSET} BE"


class ConsoleApp:
    """The console's routes; each handler returns a Page."""

    def __init__(self, *, store: Store, directory: Directory, clock: Clock,
                 certificates: Callable[[], list[CertificateExpiry]], retry_window: dt.timedelta,
                 unregistered_days: int = console.UNREGISTERED_WORKING_DAYS, tls_proxy: bool = False,
                 relay=None, keyring=None, node_id: str = "") -> None:
        self.relay = relay   # an abandoned forwarded letter is reported FAILED to its origin
        self.keyring, self.node_id = keyring, node_id   # a letter's proof bundle is exported with these
        self.store, self.directory, self.clock = store, directory, clock
        self.certificates, self.retry_window = certificates, retry_window
        self.unregistered_days, self.tls_proxy = unregistered_days, tls_proxy
        self.throttle = _Throttle(FAILED_LOGINS, FAILED_WINDOW_S)
        self.stylesheet = (TEMPLATES / "console.css").read_bytes()   # read once, not per request
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["datetime"] = lambda seconds: dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        self.routes: list[tuple[str, str, Callable[[Request, list[str]], Page], bool]] = [
            # method, path (with {} for one part), handler, operator only
            ("GET", "/login", self.login_page, False), ("POST", "/login", self.login, False),
            ("POST", "/logout", self.logout, False), ("GET", "/", self.dashboard, False),
            ("GET", "/letters", self.letters, False), ("GET", "/letters/{}", self.timeline, False),
            ("GET", "/letters/{}/proof", self.proof, False),
            ("GET", "/deliveries", self.deliveries, False),
            ("POST", "/deliveries/{}/retry", self.retry, True), ("POST", "/deliveries/{}/abandon", self.abandon, True),
            ("GET", "/directory", self.directory_page, False), ("GET", "/registers", self.registers_page, False),
            ("GET", "/registers/export", self.export, False), ("GET", "/audit", self.audit, False),
            ("GET", "/static/console.css", self.css, False)]

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        try:
            page = self.handle(environ)
        except Exception:  # noqa: BLE001 - a page, never a crash
            log.exception("console page failed")
            page = Page(500, b"internal error\n", "text/plain; charset=utf-8")
        headers = [("Content-Type", page.content_type), ("Content-Length", str(len(page.body))), *_HEADERS,
                   *page.headers]
        start_response(f"{page.status} {_STATUS.get(page.status, 'Error')}", headers)
        return [page.body]

    def handle(self, environ: dict) -> Page:
        request = self._request(environ)
        if request.path == "/static/console.css":
            return self.css(request, [])
        for method, pattern, handler, operator_only in self.routes:
            parts = _match(pattern, request.path)
            if parts is None:
                continue
            if request.method not in (method, "HEAD" if method == "GET" else method):
                continue
            try:
                return self._dispatch(request, handler, parts, pattern, operator_only)
            except Refused as refused:
                return self.render(request, "error.html", status=refused.status, message=self.t(request, refused.key))
            except RemoteError as exc:   # a body over the limit, a client that stopped sending
                return self.render(request, "error.html", status=413 if exc.code.code == "1003" else 400,
                                   message=exc.detail)
        if any(_match(pattern, request.path) is not None for _, pattern, _, _ in self.routes):
            return Page(405, b"method not allowed\n", "text/plain; charset=utf-8")
        return self.render(request, "error.html", status=404, message=self.t(request, "not_found"))

    def _dispatch(self, request: Request, handler, parts: list[str], pattern: str, operator_only: bool) -> Page:
        if request.method == "POST":
            request.form = _form(environ=request.environ)
            self._check_origin(request)
        request.session = accounts.session(self.store, request.cookies.get(SESSION_COOKIE, ""),
                                           now=self.clock.now())
        if pattern == "/login":
            return handler(request, parts)
        if request.session is None:
            if request.method == "POST":
                raise Refused(403, "csrf")
            target = PREFIX + request.path + ("?" + request.environ.get("QUERY_STRING") if request.query else "")
            return _redirect(f"{PREFIX}/login?next={urllib.parse.quote(target, safe='')}")
        if request.method == "POST" and not passwords.same(request.form.get("csrf", ""), request.session.csrf_token):
            raise Refused(403, "csrf")
        if operator_only and request.session.role != accounts.Role.OPERATOR:
            raise Refused(403, "forbidden")
        return handler(request, parts)

    def _request(self, environ: dict) -> Request:
        jar = cookies.SimpleCookie()
        try:
            jar.load(environ.get("HTTP_COOKIE", ""))
        except cookies.CookieError:
            pass
        query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=20).items()}
        chosen = query.get("lang") or (jar[LANG_COOKIE].value if LANG_COOKIE in jar else "")
        caller = caller_of({k: v for k, v in environ.items() if k != "HTTP_AUTHORIZATION"}, tls_proxy=self.tls_proxy)
        path = environ.get("PATH_INFO", "")[len(PREFIX):] or "/"
        return Request(environ=environ, method=environ.get("REQUEST_METHOD", "GET"), path=path, query=query,
                       cookies={k: m.value for k, m in jar.items()},
                       lang=chosen if chosen in console_text.LANGUAGES else "th", remote=caller.remote_addr,
                       secure=caller.tls)

    def _check_origin(self, request: Request) -> None:
        origin = request.environ.get("HTTP_ORIGIN", "")
        if origin and origin != "null":
            host = request.environ.get("HTTP_HOST", "")
            if urllib.parse.urlsplit(origin).netloc != host:
                raise Refused(403, "csrf")

    # ------------------------------------------------------------- rendering
    def t(self, request: Request, key: str, **values) -> str:
        return console_text.text(key, request.lang, **values)

    def render(self, request: Request, template: str, *, status: int = 200, headers: list | None = None,
               **context) -> Page:
        extra = list(headers or [])
        if "lang" in request.query and request.query["lang"] in console_text.LANGUAGES:
            extra.append(("Set-Cookie", self._cookie(request, LANG_COOKIE, request.lang, max_age=365 * 86400,
                                                     http_only=False)))
        flash = request.query.get("flash", "")
        html = self.env.get_template(template).render(
            t=lambda key, **v: self.t(request, key, **v), lang=request.lang, session=request.session,
            when=lambda value: be_datetime(value, request.lang), day=lambda value: be_date(value, request.lang),
            prefix=PREFIX, flash=flash[:200],
            here=PREFIX + request.path, org_name=self._org_name, **context)
        return Page(status, html.encode("utf-8"), headers=extra)

    def _org_name(self, org_id: str) -> str:
        org = self.directory.get(org_id)
        return f"{org.th_name} ({org_id})" if org else org_id

    def _cookie(self, request: Request, name: str, value: str, *, max_age: int, http_only: bool = True) -> str:
        parts = [f"{name}={value}", f"Path={PREFIX}", f"Max-Age={max_age}", "SameSite=Strict"]
        if http_only:
            parts.append("HttpOnly")
        if request.secure:
            parts.append("Secure")
        return "; ".join(parts)

    # ------------------------------------------------------------------ pages
    def css(self, request: Request, parts: list[str]) -> Page:
        return Page(200, self.stylesheet, "text/css; charset=utf-8",
                    [("Cache-Control", "max-age=3600")])

    def login_page(self, request: Request, parts: list[str], *, status: int = 200, error: str = "") -> Page:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or passwords.new_token()
        return self.render(request, "login.html", status=status, error=error, csrf=token,
                           next=_safe_next(request.query.get("next") or request.form.get("next", "")),
                           headers=[("Set-Cookie", self._cookie(request, LOGIN_CSRF_COOKIE, token, max_age=3600))])

    def login(self, request: Request, parts: list[str]) -> Page:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not passwords.same(request.form.get("csrf", ""), expected):
            raise Refused(403, "csrf")
        username = request.form.get("username", "").strip().lower()
        keys = (f"user:{username}", f"addr:{request.remote}")
        if self.throttle.blocked(self.clock.now().timestamp(), *keys):
            return self.login_page(request, parts, status=429, error=self.t(request, "login_throttled"))
        done = accounts.log_in(self.store, username=username, password=request.form.get("password", ""),
                               now=self.clock.now(), remote=request.remote)
        if done is None:
            self.throttle.failed(self.clock.now().timestamp(), *keys)
            return self.login_page(request, parts, status=401, error=self.t(request, "login_failed"))
        self.throttle.cleared(keys[0])
        max_age = int(accounts.SESSION_LIFETIME.total_seconds())
        return _redirect(_safe_next(request.form.get("next", "")) or PREFIX + "/",
                         [("Set-Cookie", self._cookie(request, SESSION_COOKIE, done.token, max_age=max_age)),
                          ("Set-Cookie", self._cookie(request, LOGIN_CSRF_COOKIE, "", max_age=0))])

    def logout(self, request: Request, parts: list[str]) -> Page:
        accounts.log_out(self.store, request.cookies.get(SESSION_COOKIE, ""), who=request.session.username,
                         now=self.clock.now(), remote=request.remote)
        return _redirect(PREFIX + "/login", [("Set-Cookie", self._cookie(request, SESSION_COOKIE, "", max_age=0))])

    def dashboard(self, request: Request, parts: list[str]) -> Page:
        board = console.dashboard(self.store, self.directory, certificates=self.certificates(), now=self.clock.now(),
                                  unregistered_days=self.unregistered_days)
        return self.render(request, "dashboard.html", board=board, chart=_chart(board.latency))

    def letters(self, request: Request, parts: list[str]) -> Page:
        query = console.Search(q=request.query.get("q", ""), letter_no=request.query.get("letter_no", ""),
                               org=request.query.get("org", ""), date_from=request.query.get("from", ""),
                               date_to=request.query.get("to", ""))
        found, error, status = None, "", 200
        if not query.empty:
            try:
                found = console.search(self.store, query)
            except console.ConsoleError as exc:
                error, status = (exc.en if request.lang == "en" else exc.th), 400
        return self.render(request, "letters.html", status=status, query=query, found=found, error=error,
                           orgs=self.directory.all(), status_of=_status_of)

    def timeline(self, request: Request, parts: list[str]) -> Page:
        found = console.timeline(self.store, parts[0][:64])
        if found is None:
            return self.render(request, "error.html", status=404, message=self.t(request, "not_found"))
        return self.render(request, "timeline.html", tl=found)

    def proof(self, request: Request, parts: list[str]) -> Page:
        """The letter's proof bundle (docs/proof.md), as the file `gateway proof export` writes."""
        process_id = parts[0][:64]
        try:
            data = proof.export(self.store, self.keyring, node_id=self.node_id, process_id=process_id,
                                now=self.clock.now())
        except RemoteError:
            return self.render(request, "error.html", status=404, message=self.t(request, "not_found"))
        accounts.audited(self.store, who=request.session.username, action=accounts.Action.EXPORT, target=process_id,
                         detail="proof bundle", remote=request.remote, now=self.clock.now())
        return Page(200, data, "application/vnd.etsi.asic-e+zip",
                    [("Content-Disposition", f'attachment; filename="proof-{process_id}.asice"')])

    def deliveries(self, request: Request, parts: list[str]) -> Page:
        return self.render(request, "deliveries.html", lists=console.deliveries(self.store),
                           operator=request.session.role == accounts.Role.OPERATOR)

    def retry(self, request: Request, parts: list[str]) -> Page:
        return self._act(request, parts, lambda item_id: console.retry(
            self.store, item_id, window=self.retry_window, now=self.clock.now(), who=request.session.username,
            remote=request.remote), "retried")

    def abandon(self, request: Request, parts: list[str]) -> Page:
        return self._act(request, parts, lambda item_id: console.abandon(
            self.store, item_id, now=self.clock.now(), who=request.session.username, remote=request.remote,
            relay=self.relay), "abandoned")

    def _act(self, request: Request, parts: list[str], action, done_key: str) -> Page:
        if not parts[0].isdigit() or len(parts[0]) > 18:
            raise Refused(404, "not_found")
        try:
            action(int(parts[0]))
            flash = self.t(request, done_key, id=parts[0])
        except console.ConsoleError as exc:
            flash = exc.en if request.lang == "en" else exc.th
        return _redirect(f"{PREFIX}/deliveries?flash={urllib.parse.quote(flash)}")

    def directory_page(self, request: Request, parts: list[str]) -> Page:
        now, certs = self.clock.now(), self.certificates()
        orgs = [(org, console.certificate_status(certs, "organization", org.id, now=now) if org.hosted else None)
                for org in self.directory.all()]
        nodes = [(node, _node_certificate(certs, node.id, now))
                 for node in sorted(self.directory.nodes.values(), key=lambda n: n.id)]
        return self.render(request, "directory.html", orgs=orgs, nodes=nodes)

    def registers_page(self, request: Request, parts: list[str]) -> Page:
        year = self.clock.now().astimezone(BANGKOK).year + BUDDHIST_ERA_OFFSET
        return self.render(request, "registers.html", hosted=self.directory.hosted(), year=year, error="")

    def export(self, request: Request, parts: list[str]) -> Page:
        q = request.query
        org, kind_name, period_name, fmt = q.get("org", ""), q.get("kind", ""), q.get("period", "calendar"), \
            q.get("format", "csv")
        try:
            kind = registers.Kind(kind_name)
            year = int(q.get("year", ""))
            period = registers.fiscal_year(year) if period_name == "fiscal" else registers.calendar_year(year)
            if fmt not in ("csv", "xlsx") or not self.directory.is_hosted(org):
                raise ValueError(f"organisation {org!r} or format {fmt!r}")
            reg = registers.register(self.store, self.directory, kind, org_id=org, period=period, now=self.clock.now())
        except (ValueError, LocalError) as exc:
            year_be = self.clock.now().astimezone(BANGKOK).year + BUDDHIST_ERA_OFFSET
            return self.render(request, "registers.html", status=400, hosted=self.directory.hosted(), year=year_be,
                               error=str(exc))
        data = registers.to_xlsx(reg) if fmt == "xlsx" else registers.to_csv(reg)
        name = f"register-{kind.value}-{org}-{'fy' if period_name == 'fiscal' else ''}{year}.{fmt}"
        accounts.audited(self.store, who=request.session.username, action=accounts.Action.EXPORT, target=org,
                         detail=name, remote=request.remote, now=self.clock.now())
        content_type = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                        else "text/csv; charset=utf-8")
        return Page(200, data, content_type, [("Content-Disposition", f'attachment; filename="{name}"')])

    def audit(self, request: Request, parts: list[str]) -> Page:
        before = request.query.get("before", "")
        rows = accounts.audit_log(self.store, limit=console.LIST_LIMIT,
                                  before_id=int(before) if before.isdigit() and len(before) < 18 else None)
        return self.render(request, "audit.html", rows=rows)


def _node_certificate(certs: list[CertificateExpiry], node_id: str, now: dt.datetime) -> console.CertStatus:
    """A peer's certificate, or this node's own (listed under kind "node")."""
    peer = console.certificate_status(certs, "peer", node_id, now=now)
    return peer if peer.status != "missing" else console.certificate_status(certs, "node", node_id, now=now)


def _match(pattern: str, path: str) -> list[str] | None:
    """The parts of ``path`` that fill the pattern's ``{}``, or None."""
    want, got = pattern.strip("/").split("/"), path.rstrip("/").strip("/").split("/") if path != "/" else [""]
    if pattern == "/":
        return [] if path in ("/", "") else None
    if len(want) != len(got):
        return None
    parts = []
    for w, g in zip(want, got):
        if w == "{}":
            if not g:
                return None
            parts.append(urllib.parse.unquote(g))
        elif w != g:
            return None
    return parts


def _form(*, environ: dict) -> dict:
    body = read_body(environ, FORM_LIMIT)
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "csrf") from None
    return dict(pairs)


def _redirect(location: str, headers: list | None = None) -> Page:
    return Page(303, b"", "text/plain; charset=utf-8", [("Location", location), *(headers or [])])


def _safe_next(target: str) -> str:
    """Only a path of this console: never an open redirect to another site."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target and "\n" not in target:
        return target
    return ""


def _status_of(letter) -> str:
    return process_status(letter.state, letter.delivery, letter.pulled_at is not None).value


def _chart(buckets: list[console.LatencyBucket]) -> dict:
    """Bar geometry of the latency chart (an inline SVG: no script, no external image)."""
    width, height, pad = 720, 180, 24
    top = max((b.median_s for b in buckets), default=0.0) or 1.0
    step = (width - 2 * pad) / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        h = 0 if not b.count else max(2.0, (height - 2 * pad) * b.median_s / top)
        bars.append({"x": round(pad + i * step + 1, 1), "y": round(height - pad - h, 1), "w": round(step - 2, 1),
                     "h": round(h, 1), "label": f"{b.start:%H}", "count": b.count,
                     "median": round(b.median_s, 2), "max": round(b.max_s, 2)})
    return {"width": width, "height": height, "pad": pad, "bars": bars, "top": round(top, 2),
            "total": sum(b.count for b in buckets)}
