"""The HTTP face of a node: routing, the inbound pipeline, the contract files.

One pass down the layers per request: tenant and size limit here, then the
port's pipeline (``pipeline/agency.py`` or ``pipeline/node.py``: hardened
parse, envelope, XSD, signatures), then Spyne dispatch (``adapters/soap``),
then the operation (one store transaction), then the answer
(``pipeline/answer.py``).

Routes
  POST /ecms-ws01/service2                  the node's default organisation
  POST /ecms-ws01/service2/<OrganizationID>  one hosted organisation
  GET  /ecms-ws01/service2[/<id>]?wsdl       the WSDL, with that endpoint's address
  GET  /ecms-ws01/xsd/<file>.xsd             the schemas the WSDL includes
  GET  /healthz                              200 while the process serves
  GET  /readyz                               200 when ready for work (database, workers, directory), else 503
  GET  /metrics                              Prometheus text (security.metrics_networks only)
  GET|POST /console/...                      the web console for operators (adapters/http/console.py)

Every answer carries X-Correlation-ID: the client's own, if it sent a valid one,
else the ProcessID the request names or creates, else a fresh id; every log
line of the request carries it too (docs/observability.md).
"""
from __future__ import annotations

import base64
import ipaddress
import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from lxml import etree

from gateway import telemetry
from gateway.adapters.http import bodies
from gateway.adapters.http.bodies import read_body  # noqa: F401 - re-exported (the console, tests)
from gateway.adapters.soap.agency import AgencySpyne, Call
from gateway.adapters.soap.node import NodeCall, NodeSpyne
from gateway.config import LOOPBACK_NETWORKS
from gateway.core.errors import ErrorCode, RemoteError, StoreError, fault_for
from gateway.core.network.directory import Directory
from gateway.core.state import OutboxState
from gateway.core.trust import pki
from gateway.core.trust.tenants import AgencyAuth, Caller
from gateway.core.xml import contract, envelope
from gateway.core.xml.contract import AGENCY_PATH, NODE_PATH
from gateway.core.xml.safe import UTF8_NAMES
from gateway.operations import queries
from gateway.store import blobs
from gateway.operations.agency import Agency
from gateway.operations.relay import Relay
from gateway.pipeline import agency as agency_pipeline, answer, node as node_pipeline
from gateway.pipeline.answer import Answer, Port
from gateway.ports import Clock
from gateway.telemetry import Metrics

log = logging.getLogger("gateway.http")

_ENDPOINT = re.compile(r"^" + re.escape(AGENCY_PATH) + r"(?:/([0-9]{10}))?/?$")
_XSD = re.compile(r"^" + re.escape(contract.SERVED_XSD_PATH) + r"([A-Za-z0-9_.-]+\.xsd)$")
_SOAP_TYPES = ("text/xml", "application/soap+xml", "application/xml")
READ_CHUNK = 256 * 1024

StartResponse = Callable[..., object]
STORE_PROBE_TIMEOUT_S = 2.0   # /metrics does not wait longer for the store's gauges
_GIVEN_CORRELATION = "gateway.correlation_id"   # the environ key of a valid incoming X-Correlation-ID


# ?wsdl: the stubs contract generators use; ?wsdl=legacy: the unqualified one deployed clients send.
_AGENCY_WSDL = {"wsdl": contract.AGENCY_WSDL, "wsdl=": contract.AGENCY_WSDL, "wsdl=legacy": contract.LEGACY_WSDL}


@dataclass(kw_only=True)
class _Progress:
    """How far a request got: what its fault and log line can say."""

    port: Port
    name: str
    version: str
    operation: str = "?"
    qualified: bool = False   # the request's style, once known: faults are written in it
    process_id: str = ""      # the item the request names or creates, once known
    org: str = ""             # the organisation it is for (node port: the message's receiver)
    given_correlation: str = ""  # the client's X-Correlation-ID, if valid


class NodeApp:
    """The WSGI application of one node: routes, and one pass down the layers per request."""

    def __init__(self, *, agency: Agency, relay: Relay, directory: Directory, auth: AgencyAuth,
                 agency_ctx: agency_pipeline.AgencyContext, node_ctx: node_pipeline.NodeContext,
                 agency_url: Callable[[str | None], str], node_url: str, readiness: Callable[[], object],
                 metrics: Metrics, directory_snapshot: Callable[[], bytes] | None = None,
                 metrics_networks: tuple = LOOPBACK_NETWORKS, tls_proxy: bool = False,
                 static_gauges: Callable[[], list] = list, console: Callable | None = None,
                 new_sink: Callable | None = None) -> None:
        self.agency = agency
        self.relay = relay
        self.directory = directory
        self.auth = auth
        self.agency_ctx = agency_ctx
        self.node_ctx = node_ctx
        self.agency_url = agency_url
        self.node_url = node_url
        self.readiness = readiness    # () -> runtime.readiness.Report (ready, not_ready, as_json)
        self.metrics = metrics
        self.static_gauges = static_gauges  # what the configuration says: certificate expiry, build info
        self._store_gauges = telemetry.Probe(lambda: queries.gauges(self.agency.store), STORE_PROBE_TIMEOUT_S)
        self.metrics_networks = tuple(ipaddress.ip_network(n) for n in metrics_networks)
        self.tls_proxy = tls_proxy
        self.new_sink = new_sink      # a spool file of the blob store, for a large body (adapters/http/bodies.py)
        self.console = console        # the web console's WSGI app, mounted at /console (adapters/http/console.py)
        # Every series exists from start-up, at zero, so a dashboard or alert sees it before the first event.
        codes = [code.code for code in ErrorCode]
        metrics.declare(Port.AGENCY.value, envelope.OPERATIONS.values(), codes)
        metrics.declare(Port.NODE.value, envelope.NODE_OPERATIONS.values(), codes)
        self.directory_snapshot = directory_snapshot
        self.spyne = AgencySpyne()
        self.node_spyne = NodeSpyne()
        # Compile the schemas at start-up, not on the first request.
        contract.agency_schema()
        contract.node_schema()

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        given = telemetry.valid_correlation_id(environ.get("HTTP_X_CORRELATION_ID"))
        environ[_GIVEN_CORRELATION] = given
        with telemetry.log_context(correlation_id=given or telemetry.new_correlation_id(), node=self.node_ctx.node_id):
            path = environ.get("PATH_INFO", "")
            if self.console is not None and (path == "/console" or path.startswith("/console/")):
                if path == "/console":
                    start_response("303 See Other", [("Location", "/console/"), ("Content-Length", "0")])
                    return [b""]
                return self.console(environ, start_response)
            answer = self.route(environ)
            correlation = telemetry.correlation_id()
        status = f"{answer.status} {_REASONS.get(answer.status, 'OK')}"
        if answer.parts:   # a large letter: its enclosures spliced in as it is written, with no length known
            start_response(status, [("Content-Type", answer.content_type), (telemetry.CORRELATION_HEADER, correlation)])
            return bodies.answer_chunks(answer.body, answer.parts, lambda digest: blobs.read_blob(self.agency.store,
                                                                                                digest))
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body))),
                   (telemetry.CORRELATION_HEADER, correlation)]
        start_response(status, headers)
        return [answer.body]

    def route(self, environ: dict) -> Answer:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        endpoint = _ENDPOINT.match(path)
        if endpoint:
            org_id = endpoint.group(1)
            if method == "POST":
                return self.soap(environ, org_id or self.directory.default_id)
            wsdl = _AGENCY_WSDL.get(query.lower().split("&")[0])
            if method in ("GET", "HEAD") and wsdl:
                if org_id and not self.directory.is_hosted(org_id):
                    return answer.text(404, f"no organisation {org_id} on this node\n")
                return Answer(status=200, content_type="text/xml; charset=utf-8",
                              body=contract.served_wsdl(wsdl, self.agency_url(org_id)))
            return answer.text(405, "POST a SOAP request, or GET ?wsdl (?wsdl=legacy: the unqualified contract)\n")
        if path.rstrip("/") == NODE_PATH:
            if method == "POST":
                return self.node(environ)
            if method in ("GET", "HEAD") and query.lower().split("&")[0] in ("wsdl", "wsdl="):
                return Answer(status=200, content_type="text/xml; charset=utf-8",
                              body=contract.served_wsdl(contract.NODE_WSDL, self.node_url))
            return answer.text(405, "POST a node message, or GET ?wsdl\n")
        xsd = _XSD.match(path)
        if xsd and method in ("GET", "HEAD"):
            try:
                return Answer(status=200, content_type="text/xml; charset=utf-8", body=contract.xsd_text(xsd.group(1)))
            except KeyError:
                return answer.text(404, "no such schema\n")
        if path == "/healthz":
            return answer.text(200, json.dumps({"status": "up"}), "application/json")
        if path == "/readyz":
            report = self.readiness()
            shown = report.as_json()
            if not _in(environ.get("REMOTE_ADDR", ""), self.metrics_networks):
                shown.pop("checks")   # the sentences name files and database errors: for the monitoring network
            return answer.text(200 if report.ready else 503, json.dumps(shown, ensure_ascii=False),
                               "application/json; charset=utf-8")
        if path == "/metrics":
            if not _in(environ.get("REMOTE_ADDR", ""), self.metrics_networks):
                # Queue depth per organisation is not for everyone (security.metrics_networks).
                return answer.text(403, "/metrics is open to security.metrics_networks only\n")
            body, content_type = self.metrics.render([*self._gauges(), *self.static_gauges()],
                                                     accept=environ.get("HTTP_ACCEPT", ""))
            return Answer(status=200, content_type=content_type, body=body)
        if path == "/":
            return answer.text(200, f"e-CMS gateway. Agency interface: {self.agency_url(None)} (WSDL: ?wsdl)\n")
        return answer.text(404, "not found\n")

    # ------------------------------------------------------------------ ports
    def soap(self, environ: dict, org_id: str) -> Answer:
        """The agency port: body -> pipeline (parse, envelope, XSD, sign or verify) -> Spyne -> operation."""
        content_type = environ.get("CONTENT_TYPE", "") or ""
        progress = _Progress(port=Port.AGENCY, name=org_id, given_correlation=environ.get(_GIVEN_CORRELATION, ""),
                             version=envelope.SOAP12 if "soap+xml" in content_type.lower() else envelope.SOAP11)

        def handle() -> Answer:
            caller = self.directory.require_hosted(org_id)
            now = self.agency.clock.now()
            self.auth.authorize(org_id, caller_of(environ, tls_proxy=self.tls_proxy), now)
            _check_content_type(content_type)
            body = bodies.read(environ, self.agency_ctx.limits, clock=self.agency.clock, new_sink=self.new_sink)
            try:
                return self._agency_call(body, caller, progress, now)
            finally:
                body.discard()    # spool files the operation did not store: a refusal leaves nothing behind

        return self._guarded(progress, handle)

    def _agency_call(self, body: bodies.Body, caller, progress: "_Progress", now) -> Answer:
        if body.streamed:     # a large body, read as a stream: the skeleton, its enclosures aside
            request = agency_pipeline.read_parsed(body.root)
            raw, texts = etree.tostring(body.root, encoding="utf-8"), body.texts()
        else:
            request = agency_pipeline.read(body.data, self.agency_ctx.limits)
            raw, texts = body.data, None
        progress.version, progress.operation = request.soap_version, request.operation
        progress.qualified = request.qualified
        progress.process_id = _process_id(request.body)   # a delete names one
        call = agency_pipeline.check(request, raw, caller=caller, ctx=self.agency_ctx, now=now, texts=texts,
                                     large=tuple(body.parts))
        spyne_call = Call(agency=self.agency, caller=caller, raw=raw, prepared=call.prepared,
                          qualified=call.qualified)
        element = self.spyne.call(call.body, spyne_call)
        # a send creates one, a pull serves one: the handler knows it, the answer need not be read again
        progress.process_id = spyne_call.process_id or progress.process_id
        return replace(answer.ok(call.soap_version, element), parts=spyne_call.parts)

    def node(self, environ: dict) -> Answer:
        """The node port: signed node messages in, signed receipts out (DESIGN section 4).

        No credentials here: every message is signed by a node of the directory and
        verified before anything is stored.
        """
        progress = _Progress(port=Port.NODE, name="node", version=envelope.SOAP11,
                             given_correlation=environ.get(_GIVEN_CORRELATION, ""))

        def handle() -> Answer:
            _check_content_type(environ.get("CONTENT_TYPE", "") or "")
            body = read_body(environ, self.node_ctx.limits.max_bytes, clock=self.relay.clock)
            request = node_pipeline.read(body, self.node_ctx.limits)
            progress.operation = request.operation
            checked = node_pipeline.check(request, ctx=self.node_ctx, now=self.relay.clock.now())
            if checked is not None:   # None: a DirectorySnapshot request, which names no item
                progress.process_id, progress.org = checked.message.process_id, checked.message.receiver_org
            element = self.node_spyne.call(request.body, NodeCall(relay=self.relay, checked=checked,
                                                                  directory_snapshot=self.directory_snapshot))
            return answer.ok(envelope.SOAP11, element)

        return self._guarded(progress, handle)

    def _guarded(self, progress: "_Progress", handle: Callable[[], Answer]) -> Answer:
        """The one error path of both ports: every exception becomes a documented fault, logged and counted."""
        started = time.perf_counter()
        trace: BaseException | None = None   # an internal error's traceback goes to the log
        try:
            result = handle()
        except RemoteError as exc:
            error, level, text = exc, logging.INFO, f"refused {exc.code.code} {exc.detail}"
        except StoreError as exc:
            error, level, text = fault_for(exc), logging.ERROR, f"store failure: {exc}"
        except Exception as exc:  # noqa: BLE001 - the client gets a fault, never a crash
            error, level, text, trace = fault_for(Exception()), logging.ERROR, "internal error", exc
        else:
            error, level, text = None, logging.INFO, ""
        seconds = time.perf_counter() - started
        code = error.code.code if error is not None else telemetry.OK
        if progress.process_id and not progress.given_correlation:
            telemetry.bind(correlation_id=progress.process_id)  # the item's ProcessID, the same on every node
        fields = {"port": progress.port.value, "org": progress.org or progress.name, "operation": progress.operation,
                  "code": code, "process_id": progress.process_id, "duration_ms": round(seconds * 1000, 1)}
        if error is None:
            text = f"ok {seconds * 1000:.1f} ms"
        log.log(level, "%s %s %s", progress.name, progress.operation, text, extra=fields, exc_info=trace)
        self.metrics.request(progress.port.value, progress.operation, code, seconds)
        if error is None:
            return result
        return answer.fault(error, version=progress.version, port=progress.port, qualified=progress.qualified)

    def _gauges(self) -> list:
        """What the store knows, read when /metrics is: queue depth per organisation, outbox items per state."""
        try:
            found = self._store_gauges()
        except (StoreError, telemetry.ProbeTimeout):
            found = None
        except Exception:  # noqa: BLE001 - a driver error the store did not translate: the store is down all the same
            log.exception("reading the store's gauges failed")
            found = None
        up = telemetry.gauge("gateway_store_up", "1 when the database answers (within 2 s), 0 when not",
                             value=0 if found is None else 1)
        if found is None:
            return [up]
        depth = {org.id: 0 for org in self.directory.hosted()} | dict(found.queue_items)
        outbox = {state.value: 0 for state in OutboxState} | dict(found.outbox_items)
        return [up,
                telemetry.gauge("gateway_queue_items", "undeleted queue items per hosted organisation",
                                ("organization",), {(org,): n for org, n in depth.items()}),
                telemetry.gauge("gateway_outbox_items", "outbox items per state (pending, delivered, failed)",
                                ("state",), {(state,): n for state, n in outbox.items()})]


def caller_of(environ: dict, *, tls_proxy: bool = False) -> Caller:
    """What the transport tells about the client: address, TLS, Basic credentials, client certificate.

    With ``tls_proxy`` (security.tls_proxy), a request the proxy in front marks
    ``X-Forwarded-Proto: https`` counts as TLS; the node is then reachable from
    that proxy alone (docs/operations.md).
    """
    basic = None
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            basic = (user, password)
        except (ValueError, UnicodeDecodeError):
            raise RemoteError(ErrorCode.UNAUTHORIZED, "malformed Basic credentials") from None
    cert = None
    pem = environ.get("SSL_CLIENT_CERT")
    if pem:
        cert = pki.load_certificate(pem.encode() if isinstance(pem, str) else pem)
    tls = environ.get("wsgi.url_scheme") == "https" or (
        tls_proxy and environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https")
    return Caller(remote_addr=environ.get("REMOTE_ADDR", ""), tls=tls,
                  basic=basic, client_certificate=cert)


def _process_id(element: etree._Element | None) -> str:
    """The ProcessID child of a request element (a delete names the item it deletes)."""
    if element is None:
        return ""
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname in ("ProcessID", "processID"):
            return (child.text or "").strip()[:128]
    return ""


def _in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _check_content_type(content_type: str) -> None:
    # Deployed clients send "text/xml" and "text/xml; encoding='utf-8'"; a missing
    # type is tolerated too. Anything else is not a SOAP request.
    main, *params = content_type.split(";")
    main = main.strip().lower()
    if main and main not in _SOAP_TYPES:
        raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Type {main!r}; send text/xml")
    for param in params:
        key, _, value = param.partition("=")
        value = value.strip().strip("'\"").lower()
        if key.strip().lower() in ("charset", "encoding") and value and value not in UTF8_NAMES:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Type declares {value!r}; the body must be UTF-8")


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 503: "Service Unavailable"}
