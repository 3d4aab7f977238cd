"""The reference peer (``gateway reference-peer``): a scripted node vendors test their own node against.

It is a real node (``runtime.wiring``, served by ``runtime.serve``, with its delivery worker), with
a development PKI of its own in ``data_dir/pki``, hosting seven test organisations under the
invented ministry code 99. Each organisation has one behaviour: the node port misbehaves for
messages addressed to it, or a scripted e-Saraban pulls its queue through the agency interface
(loopback) every ``poll_seconds`` and answers with notifiers, which the worker pushes back to
the vendor's node. Send letters from your node to these organisations and check what your node
shows (``OutboundStatusRequest``, your logs and metrics):

| OrganizationID | ชื่อหน่วยงาน | behaviour | your node should show |
|---|---|---|---|
| 9900000000 | หน่วยงานทดสอบรับหนังสือโดยไม่ตอบกลับ | stores and answers nothing; pull its queue yourself (the kit's peer plan uses it) | DELIVERED |
| 9900000001 | หน่วยงานทดสอบลงทะเบียนรับหนังสือ | the e-Saraban sends ReceiveLetterNotifier, then AcceptLetterNotifier with a Thai receive number; a dispute (InvalidAcceptIDNotifier) is answered with a new number | ACCEPTED |
| 9900000002 | หน่วยงานทดสอบปฏิเสธหนังสือ | the e-Saraban sends RejectLetterNotifier | REJECTED |
| 9900000003 | หน่วยงานทดสอบแจ้งหนังสือส่งผิดหน่วยงาน | the e-Saraban sends InvalidLetterNotifier | INVALID |
| 9900000004 | หน่วยงานทดสอบตอบรับล่าช้า | the node port stores a message's first attempt, then holds its receipt for ``slow_seconds`` (default 20 s); repeats are answered at once; then accepts as 9900000001 | ACCEPTED, the letter once (a push that timed out is retried and answered with the original receipt) |
| 9900000005 | หน่วยงานทดสอบระบบขัดข้องชั่วคราว | the node port answers HTTP 503 with Retry-After for ``down_seconds`` (default 60 s) from a message's first attempt, storing nothing; later attempts of the same MessageId are accepted as 9900000001 | PENDING, then ACCEPTED after retries |
| 9900000006 | หน่วยงานทดสอบคำตอบสูญหาย | the node port stores each message's first attempt but loses the answer (HTTP 502); the retry is a duplicate, answered with the original receipt; then accepts as 9900000001 | ACCEPTED, the letter once |

A vendor's node is listed in ``vendors`` (:class:`Vendor`): its node ID, node-port URL, node
certificate, the CA that issued it, and its organisations (with their certificates when it signs
letters with organisation keys). :meth:`ReferencePeer.banner` prints what to add to the vendor's
configuration in return. The agency interface is open to loopback only.
"""
from __future__ import annotations

import collections
import datetime as dt
import io
import ipaddress
import itertools
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from gateway.config import AGENCY_PATH, LOOPBACK_NETWORKS, NODE_PATH, Config
from gateway.conformance.agent import THAI_DIGITS, Agent, Reply
from gateway.core import ns
from gateway.core.network.directory import Directory, Organization, PeerNode
from gateway.core.time import BANGKOK, BUDDHIST_ERA_OFFSET
from gateway.ports import Clock
from gateway.runtime import files, wiring
from gateway.runtime.serve import make_server

log = logging.getLogger("gateway.reference_peer")

NODE_ID = "reference-peer"
SLOW_SECONDS = 20.0
DOWN_SECONDS = 60.0
POLL_SECONDS = 0.5
REMEMBERED = 10_000            # MessageIds kept for the down and lost-answer behaviours
PULLS_PER_ROUND = 20


@dataclass(frozen=True)
class Behaviour:
    org: str
    th_name: str
    en_name: str
    kind: str                  # passive, accept, reject, invalid, slow, down, lost
    text: str                  # {slow} and {down} are filled in


BEHAVIOURS = (
    Behaviour("9900000000", "หน่วยงานทดสอบรับหนังสือโดยไม่ตอบกลับ", "Test organisation: stores only", "passive",
              "stores and answers nothing; pull its queue yourself (the kit's peer plan uses it)"),
    Behaviour("9900000001", "หน่วยงานทดสอบลงทะเบียนรับหนังสือ", "Test organisation: accepts", "accept",
              "its e-Saraban sends ReceiveLetterNotifier, then AcceptLetterNotifier with a receive number"),
    Behaviour("9900000002", "หน่วยงานทดสอบปฏิเสธหนังสือ", "Test organisation: rejects", "reject",
              "its e-Saraban sends RejectLetterNotifier"),
    Behaviour("9900000003", "หน่วยงานทดสอบแจ้งหนังสือส่งผิดหน่วยงาน", "Test organisation: wrong addressee", "invalid",
              "its e-Saraban sends InvalidLetterNotifier"),
    Behaviour("9900000004", "หน่วยงานทดสอบตอบรับล่าช้า", "Test organisation: slow node", "slow",
              "the node port holds a message's first receipt {slow:g} s, then accepts as 9900000001"),
    Behaviour("9900000005", "หน่วยงานทดสอบระบบขัดข้องชั่วคราว", "Test organisation: down for a while", "down",
              "HTTP 503 for {down:g} s from a message's first attempt, then accepts as 9900000001"),
    Behaviour("9900000006", "หน่วยงานทดสอบคำตอบสูญหาย", "Test organisation: answer lost", "lost",
              "the first attempt is stored but its answer lost (HTTP 502); the retry gets the original receipt"),
)
PASSIVE = BEHAVIOURS[0].org
ACCEPTING = ("accept", "slow", "down", "lost")


def describe(*, slow_seconds: float = SLOW_SECONDS, down_seconds: float = DOWN_SECONDS) -> str:
    """The organisations and their behaviours, one line each (the CLI's start-up banner)."""
    lines = ["OrganizationID  behaviour", "--------------  ---------"]
    for b in BEHAVIOURS:
        lines.append(f"{b.org}      {b.th_name}: {b.text.format(slow=slow_seconds, down=down_seconds)}")
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class Vendor:
    """A node under test: the reference peer accepts its messages and pushes notifiers back to it."""

    node_id: str
    url: str                                   # its node port, .../ecms-ws01/node
    certificate: Path | str                    # its node certificate (PEM), pinned
    organizations: Mapping[str, Path | str] = field(default_factory=dict)   # OrganizationID -> certificate or ""
    ca: Path | str | None = None               # the CA that issued its certificates (a trust anchor here)


# ------------------------------------------------------------------ the node port's behaviours

def _field(body: bytes, name: bytes) -> str:
    found = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?" + name + rb">\s*([^<\s]{1,128})\s*<", body)
    return found.group(1).decode("utf-8", "replace") if found else ""


class NodePortScript:
    """WSGI in front of the node: slow, down and lost-answer behaviours by the message's ReceiverOrganization."""

    def __init__(self, app, *, clock: Clock, slow_seconds: float, down_seconds: float, max_bytes: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.app, self.clock, self.sleep = app, clock, sleep
        self.slow_seconds, self.down_seconds, self.max_bytes = slow_seconds, down_seconds, max_bytes
        self.kinds = {b.org: b.kind for b in BEHAVIOURS}
        self.first_seen: collections.OrderedDict = collections.OrderedDict()
        self.answered: collections.OrderedDict = collections.OrderedDict()
        self.delayed: collections.OrderedDict = collections.OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO", "").rstrip("/") != NODE_PATH:
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if not 0 < length <= self.max_bytes:
            return self.app(environ, start_response)   # the node refuses it as it should
        body = _read(environ["wsgi.input"], length)
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        kind = self.kinds.get(_field(body, b"ReceiverOrganization"), "")
        key = (_field(body, b"SenderNode"), _field(body, b"MessageId"))
        if kind == "down":
            now = self.clock.now()
            with self.lock:
                first = self._remember(self.first_seen, key, now)
            left = self.down_seconds - (now - first).total_seconds()
            if left > 0:
                log.info("down: %s refused with 503 for %.0f s more", key[1], left)
                return _text(start_response, "503 Service Unavailable",
                             f"9900000005 is down for {left:.0f} s more; retry the same MessageId later\n",
                             [("Retry-After", str(math.ceil(left)))])
        status, headers, answer = _call(self.app, environ)
        if kind in ("slow", "lost") and status.startswith("200"):
            with self.lock:
                table = self.delayed if kind == "slow" else self.answered
                fresh = key not in table
                self._remember(table, key, None)
            if fresh and kind == "slow":
                log.info("slow: holding the answer to %s for %g s", key[1], self.slow_seconds)
                self.sleep(self.slow_seconds)
            elif fresh:
                log.info("lost: the receipt of %s is not answered; its retry will be a duplicate", key[1])
                return _text(start_response, "502 Bad Gateway", "the answer was lost on the way; send it again\n")
        start_response(status, headers)
        return [answer]

    @staticmethod
    def _remember(table: collections.OrderedDict, key: tuple, value: object) -> object:
        if key not in table:
            table[key] = value
            while len(table) > REMEMBERED:
                table.popitem(last=False)
        return table[key]


def _read(stream, length: int) -> bytes:
    chunks, left = [], length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _call(app, environ: dict) -> tuple[str, list, bytes]:
    seen: dict = {}
    result = app(environ, lambda status, headers, exc_info=None: seen.update(status=status, headers=headers))
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return seen["status"], seen["headers"], body


def _text(start_response, status: str, text: str, extra: Sequence[tuple[str, str]] = ()):
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *extra])
    return [body]


# ------------------------------------------------------------------ the scripted e-Saraban

class Clerk:
    """The answering organisations' e-Saraban: pull, delete, then notify by the organisation's behaviour."""

    def __init__(self, agents: Mapping[str, Agent], clock: Clock) -> None:
        self.agents = dict(agents)
        self.kinds = {b.org: b.kind for b in BEHAVIOURS}
        self.clock = clock
        self.numbers = itertools.count(1)
        self.answered = 0

    def accept_id(self) -> str:
        """A receive number as a clerk writes it: Thai digits, Buddhist-Era year."""
        year = self.clock.now().astimezone(BANGKOK).year + BUDDHIST_ERA_OFFSET
        return f"ทดสอบ {next(self.numbers)}/{year}".translate(THAI_DIGITS)

    def run(self, stop: threading.Event, poll: float) -> None:
        while not stop.wait(poll):
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the script must keep answering; the node logs the details
                log.exception("the scripted e-Saraban failed a round")

    def round(self) -> int:
        """One pass over every answering organisation's queue; the number of items handled."""
        handled = 0
        for org, agent in self.agents.items():
            for _ in range(PULLS_PER_ROUND):
                reply = agent.pull()
                if reply.status != 200 or reply.fault_code or reply.item is None:
                    break
                agent.delete(reply.process_id)
                self.answer(agent, self.kinds[org], reply)
                handled += 1
        return handled

    def answer(self, agent: Agent, kind: str, reply: Reply) -> None:
        item = reply.item
        if item.tag == ns.rsm("GovernmentDocument"):
            body = item.find(ns.ram("CorrespondenceLetter"))
            fields = [(body.findtext(ns.ram(n)) or "").strip() if body is not None else ""
                      for n in ("ID", "CorrespondenceDate", "Subject")]
            if kind == "reject":
                self._notify(agent, "RejectLetterNotifier", *fields)
            elif kind == "invalid":
                self._notify(agent, "InvalidLetterNotifier", *fields)
            elif kind in ACCEPTING:
                self._notify(agent, "ReceiveLetterNotifier", *fields)
                self._notify(agent, "AcceptLetterNotifier", *fields, accept_id=self.accept_id())
        elif kind in ACCEPTING and item.tag == "InvalidAcceptIDNotifier":   # legacy answers: unqualified
            fields = [(item.findtext(n) or "").strip() for n in ("LetterID", "CorrespondenceDate", "Subject")]
            self._notify(agent, "AcceptLetterNotifier", *fields, accept_id=self.accept_id())   # a corrected number

    def _notify(self, agent: Agent, element: str, letter_id: str, date: str, subject: str, **kw) -> None:
        result = agent.notify(element, letter_id, date, subject, **kw)
        if result.status != 200 or result.fault_code:
            log.warning("%s %s for %s: %s", agent.org, element, letter_id, result.describe())
        else:
            self.answered += 1
            log.info("%s answered %s with %s", agent.org, letter_id, element)


# ------------------------------------------------------------------ the node

class ReferencePeer:
    """The running reference peer: HTTP server, delivery worker and scripted e-Saraban."""

    def __init__(self, node: wiring.Node, app, *, host: str, port: int, poll_seconds: float,
                 slow_seconds: float, down_seconds: float) -> None:
        self.node, self.config = node, node.config
        self.host, self.port, self.poll_seconds = host, port, poll_seconds
        self.slow_seconds, self.down_seconds = slow_seconds, down_seconds
        self.server = make_server(app, host, port, threads=self.config.threads, clock=node.relay.clock)
        local = f"http://{_url_host(_local_host(host))}:{port}"
        self.clerk = Clerk({b.org: Agent(endpoint=f"{local}{AGENCY_PATH}/{b.org}", org=b.org, clock=node.relay.clock,
                                         timeout=30) for b in BEHAVIOURS if b.kind != "passive"}, node.relay.clock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._worker: tuple[list[threading.Thread], threading.Event] | None = None
        self._started = self._stopped = False

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def node_url(self) -> str:
        return self.config.node_url

    @property
    def certificate(self) -> str:
        """The reference peer's node certificate: pin it in your node's [[nodes]] entry."""
        return self.config.node_certificate

    @property
    def ca(self) -> str:
        """The development CA that issued it: add it to your node's trust.anchors."""
        return self.config.trust_anchors[0]

    def endpoint(self, org: str) -> str:
        return self.config.agency_url(org)

    def start(self) -> "ReferencePeer":
        """Serve in background threads (tests; ``serve_forever`` for the command line)."""
        if self._started:
            return self
        self._started = True
        self.server.prepare()
        http = threading.Thread(target=self.server.serve, name="reference-http", daemon=True)
        clerk = threading.Thread(target=self.clerk.run, args=(self._stop, self.poll_seconds), name="reference-clerk",
                                 daemon=True)
        self._threads = [http, clerk]
        http.start()
        self._worker = self.node.start_worker("reference-delivery")
        clerk.start()
        return self

    def serve_forever(self) -> None:
        """Run until :meth:`stop` (from a signal handler or another thread) or Ctrl-C."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                if not self._threads[0].is_alive():
                    raise RuntimeError("the reference peer's HTTP server stopped unexpectedly")
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, delivering and answering (idempotent; from a signal handler or another thread)."""
        self._stop.set()
        if self._stopped or not self._started:
            return
        self._stopped = True
        self.server.stop()
        if self._worker is not None:
            self._worker[1].set()
        for thread in [*self._threads, *(self._worker[0] if self._worker else [])]:
            thread.join(timeout=10)
        self.node.close()

    def banner(self) -> str:
        """What it is, where, and what a vendor's node configuration needs to talk to it."""
        lines = [f"reference peer {self.node_id}: node port {self.node_url}",
                 f"  its node certificate: {self.certificate}", f"  its CA (add to trust.anchors): {self.ca}",
                 describe(slow_seconds=self.slow_seconds, down_seconds=self.down_seconds), "",
                 "In your node's configuration:", "[[nodes]]", f'id = "{self.node_id}"', f'url = "{self.node_url}"',
                 f'certificate = "{self.certificate}"']
        for b in BEHAVIOURS:
            lines += ["[[directory]]", f'id = "{b.org}"', f'th_name = "{b.th_name}"', f'en_name = "{b.en_name}"',
                      f'ecms_url = "{self.endpoint(b.org)}"', f'node = "{self.node_id}"']
        return "\n".join(lines)


def _local_host(host: str) -> str:
    """Where this process reaches its own listener (the scripted e-Saraban comes from loopback)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "localhost": "127.0.0.1", "::": "::1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _networks(host: str) -> tuple[str, ...]:
    """Loopback, and the listening address itself (the scripted e-Saraban connects from it)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return LOOPBACK_NETWORKS
    if address.is_loopback or address.is_unspecified:
        return LOOPBACK_NETWORKS
    return (*LOOPBACK_NETWORKS, str(ipaddress.ip_network(address)))


def build_reference_peer(data_dir: Path, port: int, *, clock: Clock, vendors: Sequence[Vendor] = (),
                         host: str = "127.0.0.1", public_url: str = "", database: str = "", node_id: str = NODE_ID,
                         slow_seconds: float = SLOW_SECONDS, down_seconds: float = DOWN_SECONDS,
                         poll_seconds: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep,
                         **settings) -> ReferencePeer:
    """Wire the reference peer (its PKI made in ``data_dir/pki`` on first use, SQLite in ``data_dir``
    unless ``database``); ``settings`` override other :class:`Config` fields (e.g. ``retry_max``)."""
    url = (public_url or f"http://{_url_host(_local_host(host))}:{port}").rstrip("/")
    hosted = [Organization(id=b.org, th_name=b.th_name, en_name=b.en_name, ecms_url=f"{url}{AGENCY_PATH}/{b.org}",
                           node=node_id, hosted=True) for b in BEHAVIOURS]
    base = Config(node_id=node_id, public_url=url, host=host, port=port, data_dir=Path(data_dir), database=database,
                  directory=Directory.build(hosted, default_id=PASSIVE), open_networks=_networks(host))
    base = files.ensure_development_pki(base, clock)   # before the vendors: it keeps no [[nodes]]
    others, peers, anchors = [], [], list(base.trust_anchors)
    for vendor in vendors:
        peers.append(PeerNode(id=vendor.node_id, url=vendor.url, certificate=str(vendor.certificate)))
        if vendor.ca and str(vendor.ca) not in anchors:
            anchors.append(str(vendor.ca))
        home = vendor.url.removesuffix("/").removesuffix(NODE_PATH)
        for org, certificate in vendor.organizations.items():
            others.append(Organization(id=org, th_name=f"หน่วยงานของเครื่องให้บริการ {vendor.node_id}",
                                       en_name=f"organisation at {vendor.node_id}", node=vendor.node_id,
                                       ecms_url=f"{home}{AGENCY_PATH}/{org}", certificate=str(certificate or "")))
    defaults = dict(retry_first=dt.timedelta(seconds=1), retry_max=dt.timedelta(seconds=60),
                    delivery_timeout=dt.timedelta(seconds=15), worker_poll=dt.timedelta(seconds=1))
    cfg = replace(base, directory=Directory.build([*base.directory.hosted(), *others], default_id=PASSIVE, nodes=peers),
                  trust_anchors=tuple(anchors), **{**defaults, **settings})
    node = wiring.build(cfg, clock=clock)
    # Its banner has vendors trust its node certificate for its organisations (no organisation
    # certificates to copy): so its node key signs for them end to end, notifiers' attestations included.
    node.relay.keyring = replace(node.keyring, signers=MappingProxyType({}))
    app = NodePortScript(node.wsgi, clock=clock, slow_seconds=slow_seconds, down_seconds=down_seconds,
                         max_bytes=node.node_ctx.limits.max_bytes, sleep=sleep)
    return ReferencePeer(node, app, host=host, port=port, poll_seconds=poll_seconds, slow_seconds=slow_seconds,
                         down_seconds=down_seconds)
