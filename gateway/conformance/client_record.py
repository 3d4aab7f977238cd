"""The recorder of the client plan: a WSGI middleware that keeps every request an e-Saraban sends, and its answer.

:class:`Recording` sits in front of a reference node's agency interface. Each POST is read,
handed on unchanged, and kept in a :class:`RequestLog` as a :class:`Recorded` (time, endpoint
organisation, headers, body, answer), with what the node reads of it (:class:`Parsed`: SOAP
version, operation, the item's kind and fields). Requests carrying :data:`KIT_HEADER` are the
kit's own and are kept apart. :func:`wait_for_requests` blocks until the log shows what a step
expects.
"""
from __future__ import annotations

import io
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping, Sequence

from lxml import etree

from gateway.adapters.clock import SystemClock
from gateway.adapters.esaraban import Exchange
from gateway.config import AGENCY_PATH
from gateway.conformance.agent import Reply
from gateway.core import ns
from gateway.core.errors import GatewayError, RemoteError
from gateway.core.time import BANGKOK, wire_time
from gateway.core.xml import envelope, safe as xmlsafe
from gateway.ports import Clock

KIT_HEADER = "X-Conformance-Kit"          # on the kit's own requests; never sent by a vendor's product
SEND, PULL, DELETE = "CorrespondenceLetterOutbound", "CorrespondenceLetterInbound", "CorrespondenceLetterDelete"
_ENDPOINT = re.compile(r"^" + re.escape(AGENCY_PATH) + r"(?:/([0-9]{10}))?/?$")
_READ_CHUNK = 64 * 1024
NOTIFIERS = ("ReceiveLetterNotifier", "AcceptLetterNotifier", "RejectLetterNotifier", "InvalidLetterNotifier",
             "InvalidAcceptIDNotifier")


# ------------------------------------------------------------------ what was recorded

@dataclass(frozen=True, kw_only=True)
class Parsed:
    """What the node reads of a request: the envelope, the operation and the fields the C-cases look at."""

    soap_version: str = ""
    operation: str = ""          # the WSDL operation (CorrespondenceLetterOutbound, ...)
    kind: str = ""               # GovernmentDocument or the notifier for an outbound or special request
    qualified: bool = False
    fields: Mapping[str, str] = field(default_factory=dict)   # LetterID, CorrespondenceDate, AcceptID, ...
    error_code: str = ""         # when the envelope cannot be read
    error: str = ""


def parse_request(body: bytes) -> Parsed:
    try:
        request = envelope.parse_request(xmlsafe.parse(body))
        if request.qualified:
            envelope.to_legacy(request.body)
    except RemoteError as exc:
        return Parsed(error_code=exc.code.code, error=str(exc))
    op = request.body
    item = next((c for c in op if isinstance(c.tag, str)), None)
    kind = etree.QName(item).localname if item is not None and request.operation in (SEND, PULL + "Special") else ""
    found: dict[str, str] = {}
    if kind == "GovernmentDocument":
        body_el = item.find(ns.ram("CorrespondenceLetter"))
        for name, path in (("LetterID", "ID"), ("CorrespondenceDate", "CorrespondenceDate"), ("Subject", "Subject"),
                           ("Sender", "SenderParty/ram:DepartmentOrganization/ram:ID"),
                           ("Receiver", "ReceiverParty/ram:DepartmentOrganization/ram:ID")):
            found[name] = (body_el.findtext(f"ram:{path}", namespaces={"ram": ns.RAM}) or "").strip() \
                if body_el is not None else ""
    elif item is not None and kind:
        found = {c.tag: (c.text or "").strip() for c in item if isinstance(c.tag, str) and not c.tag.startswith("{")}
    if request.operation == DELETE:
        found["ProcessID"] = (op.findtext("ProcessID") or "").strip()
    return Parsed(soap_version=request.soap_version, operation=request.operation, kind=kind,
                  qualified=request.qualified, fields=found)


@dataclass(kw_only=True)
class Recorded:
    """One request that reached the agency interface, and the node's answer."""

    seq: int                     # order of arrival
    time: datetime               # arrival, from the node's clock (Asia/Bangkok)
    url: str
    path: str
    org: str                     # the organisation of the endpoint it was sent to
    remote: str
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    seconds: float
    by_kit: bool = False

    @cached_property
    def parsed(self) -> Parsed:
        return parse_request(self.body)

    @property
    def fields(self) -> Mapping[str, str]:
        return self.parsed.fields

    def exchange(self) -> Exchange:
        return Exchange(method="POST", url=self.url, request_headers=self.headers, request_body=self.body,
                        status=self.status, response_headers=self.response_headers,
                        response_body=self.response_body, seconds=self.seconds)

    @cached_property
    def reply(self) -> Reply:
        reply = Reply(exchange=self.exchange(), qualified=self.parsed.qualified)
        try:
            reply.root = xmlsafe.parse(self.response_body)
        except GatewayError as exc:
            reply.parse_error = str(exc)
        return reply

    @property
    def accepted(self) -> bool:
        """Answered 200 without a fault."""
        return self.status == 200 and self.reply.root is not None and not self.reply.fault_code

    def describe(self) -> str:
        what = self.parsed.kind or self.parsed.operation or f"unreadable ({self.parsed.error_code})"
        return f"request #{self.seq} {what} at {wire_time(self.time)} to {self.path}"


class RequestLog:
    """The recorded requests, in order of arrival; safe across the server's threads."""

    def __init__(self) -> None:
        self._entries: list[Recorded] = []
        self._seq = itertools.count(1)
        self.changed = threading.Condition()

    def next_seq(self) -> int:
        with self.changed:
            return next(self._seq)

    def add(self, entry: Recorded) -> None:
        with self.changed:
            self._entries.append(entry)
            self.changed.notify_all()

    def entries(self, *, kit: bool | None = False) -> list[Recorded]:
        """The vendor's requests (``kit=False``), the kit's own (``True``) or all (``None``), by arrival."""
        with self.changed:
            found = [e for e in self._entries if kit is None or e.by_kit == kit]
        return sorted(found, key=lambda e: e.seq)

    def last_seq(self) -> int:
        with self.changed:
            return max((e.seq for e in self._entries), default=0)


class Recording:
    """WSGI middleware: records every POST to the agency interface with the answer, then passes it on."""

    def __init__(self, app: Callable, log: RequestLog, *, base_url: str, default_org: str, clock: Clock,
                 limit: int) -> None:
        self.app, self.log, self.base_url, self.default_org, self.clock, self.limit = \
            app, log, base_url.rstrip("/"), default_org, clock, limit

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        endpoint = _ENDPOINT.match(path)
        if environ.get("REQUEST_METHOD") != "POST" or not endpoint:
            return self.app(environ, start_response)
        seq, started = self.log.next_seq(), self.clock.now().astimezone(BANGKOK)
        body = self._body(environ)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info=None):
            answer.update(status=int(status.split()[0]), headers=dict(headers))
            return start_response(status, headers, exc_info)

        chunks = self.app(environ, capture)
        try:
            response = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        query = environ.get("QUERY_STRING", "")
        self.log.add(Recorded(
            seq=seq, time=started, url=self.base_url + path + (f"?{query}" if query else ""), path=path,
            org=endpoint.group(1) or self.default_org, remote=environ.get("REMOTE_ADDR", ""), headers=headers,
            body=body, status=answer.get("status", 0), response_headers=answer.get("headers", {}),
            response_body=response, seconds=(self.clock.now() - started).total_seconds(),
            by_kit="HTTP_" + KIT_HEADER.upper().replace("-", "_") in environ))
        return [response]

    def _body(self, environ: dict) -> bytes:
        """The body, never more than the node's limit and one byte (the node refuses it with 1003)."""
        stream, length = environ["wsgi.input"], (environ.get("CONTENT_LENGTH") or "").strip()
        if length.isdigit():
            return stream.read(min(int(length), self.limit + 1))
        chunks, total = [], 0
        while total <= self.limit and (chunk := stream.read(_READ_CHUNK)):
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)


def wait_for_requests(log: RequestLog, predicate: Callable[[list[Recorded]], bool], timeout: float, *,
                      clock: Clock | None = None) -> bool:
    """Block until ``predicate(the vendor's requests)`` holds (True) or ``timeout`` seconds pass (False)."""
    clock = clock or SystemClock()
    deadline = clock.now() + timedelta(seconds=timeout)
    while not predicate(log.entries()):
        left = (deadline - clock.now()).total_seconds()
        if left <= 0:
            return False
        with log.changed:   # woken by the next request; at most half a second, so none is missed for long
            log.changed.wait(min(left, 0.5))
    return True


# ------------------------------------------------------------------ reading the log

def sends(entries: Sequence[Recorded]) -> list[Recorded]:
    """The letters sent (CorrespondenceLetterOutboundRequest/rsm:GovernmentDocument)."""
    return [e for e in entries if e.parsed.operation == SEND and e.parsed.kind == "GovernmentDocument"]


def first_letter(entries: Sequence[Recorded]) -> Recorded | None:
    """The first letter the node accepted (with a ProcessID)."""
    return next((e for e in sends(entries) if e.accepted and e.reply.process_id), None)


def identity(entry: Recorded) -> tuple[str, ...]:
    """A sent letter's identity: (LetterID, CorrespondenceDate, sender, receiver)."""
    return tuple(entry.fields.get(k, "") for k in ("LetterID", "CorrespondenceDate", "Sender", "Receiver"))


def pulled(entries: Sequence[Recorded]) -> list[tuple[Recorded, str, etree._Element]]:
    """(entry, ProcessID, item) of every pull that served an item."""
    return [(e, e.reply.process_id, e.reply.item) for e in entries
            if e.parsed.operation == PULL and e.accepted and e.reply.item is not None]


def pull_of(entries: Sequence[Recorded], letter_id: str, date: str) -> Recorded | None:
    """The first pull that served the letter (letter_id, date)."""
    body = f"{ns.ram('CorrespondenceLetter')}/"
    return next((e for e, _, item in pulled(entries) if item.tag == ns.rsm("GovernmentDocument")
                 and item.findtext(body + ns.ram("ID")) == letter_id
                 and item.findtext(body + ns.ram("CorrespondenceDate")) == date), None)


def notifiers(entries: Sequence[Recorded], kind: str | None = None, letter_id: str | None = None) -> list[Recorded]:
    """The notifiers sent, of ``kind`` and for ``letter_id`` when given."""
    return [e for e in entries if e.parsed.operation == SEND and e.parsed.kind in NOTIFIERS
            and kind in (None, e.parsed.kind) and letter_id in (None, e.fields.get("LetterID"))]


def deletes(entries: Sequence[Recorded]) -> list[Recorded]:
    return [e for e in entries if e.parsed.operation == DELETE]
