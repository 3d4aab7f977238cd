"""The HTTP face of a node: routing, the inbound pipeline, the contract files.

Inbound pipeline for the agency interface (STYLE 8), all before Spyne:
size limit while reading -> hardened parse -> envelope shape and legacy
normalisation -> tenant -> XSD -> Spyne dispatch -> store -> answer.

Routes
  POST /ecms-ws01/service2                  the node's default organisation
  POST /ecms-ws01/service2/<OrganizationID>  one hosted organisation
  GET  /ecms-ws01/service2[/<id>]?wsdl       the WSDL, with that endpoint's address
  GET  /ecms-ws01/xsd/<file>.xsd             the schemas the WSDL includes
  GET  /healthz                              200 when the store answers
"""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from gateway.core.xml import contract, envelope, safe as xmlsafe
from gateway.core.letters import letter
from gateway.core import ns
from gateway.core.trust import pki
from gateway.operations.agency import Agency
from gateway.core.xml.contract import AGENCY_PATH, NODE_PATH
from gateway.core.network.directory import Directory
from gateway.core.errors import ErrorCode, LocalError, RemoteError, StoreError, fault_for
from gateway.telemetry import Metrics
from gateway.operations.relay import Relay, standalone
from gateway.adapters.soap.service import AgencySpyne, Call, NodeCall, NodeSpyne
from gateway.core.trust.keyring import AgencyAuth, Caller

log = logging.getLogger("gateway.http")

_ENDPOINT = re.compile(r"^" + re.escape(AGENCY_PATH) + r"(?:/([0-9]{10}))?/?$")
NODE_BODY_FACTOR = 2  # a node message carries a letter base64-encoded once more (4/3), plus the envelope
_XSD = re.compile(r"^" + re.escape(contract.SERVED_XSD_PATH) + r"([A-Za-z0-9_.-]+\.xsd)$")
_SOAP_TYPES = ("text/xml", "application/soap+xml", "application/xml")
READ_CHUNK = 256 * 1024

StartResponse = Callable[..., object]


@dataclass(frozen=True, kw_only=True)
class Answer:
    status: int
    body: bytes
    content_type: str


class NodeApp:
    """The WSGI application of one node."""

    def __init__(self, *, agency: Agency, directory: Directory, limits: xmlsafe.Limits,
                 agency_url: Callable[[str | None], str], health: Callable[[], bool], auth: AgencyAuth,
                 relay: Relay, node_url: str, directory_snapshot: Callable[[], bytes] | None = None) -> None:
        self.agency = agency
        self.auth = auth
        self.relay = relay
        self.node_url = node_url
        self.directory_snapshot = directory_snapshot
        self.node_spyne = NodeSpyne()
        self.metrics = Metrics()
        # Compile the schemas at start-up, not on the first request.
        contract.agency_schema()
        contract.node_schema()
        self.node_limits = dataclasses.replace(limits, max_bytes=limits.max_bytes * NODE_BODY_FACTOR)
        self.directory = directory
        self.limits = limits
        self.agency_url = agency_url
        self.health = health
        self.spyne = AgencySpyne()

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        answer = self.route(environ)
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
        start_response(f"{answer.status} {_REASONS.get(answer.status, 'OK')}", headers)
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
            if method in ("GET", "HEAD") and query.lower().split("&")[0] in ("wsdl", "wsdl="):
                if org_id and not self.directory.is_hosted(org_id):
                    return _text(404, f"no organisation {org_id} on this node\n")
                return Answer(status=200, content_type="text/xml; charset=utf-8",
                              body=contract.served_wsdl(contract.AGENCY_WSDL, self.agency_url(org_id)))
            return _text(405, "POST a SOAP request, or GET ?wsdl\n")
        if path.rstrip("/") == NODE_PATH:
            if method == "POST":
                return self.node(environ)
            if method in ("GET", "HEAD") and query.lower().split("&")[0] in ("wsdl", "wsdl="):
                return Answer(status=200, content_type="text/xml; charset=utf-8",
                              body=contract.served_wsdl(contract.NODE_WSDL, self.node_url))
            return _text(405, "POST a node message, or GET ?wsdl\n")
        xsd = _XSD.match(path)
        if xsd and method in ("GET", "HEAD"):
            try:
                return Answer(status=200, content_type="text/xml; charset=utf-8", body=contract.xsd_text(xsd.group(1)))
            except KeyError:
                return _text(404, "no such schema\n")
        if path == "/healthz":
            ok = self.health()
            return Answer(status=200 if ok else 503, content_type="application/json",
                          body=json.dumps({"store": "ok" if ok else "unavailable"}).encode())
        if path == "/metrics":
            return Answer(status=200, content_type="text/plain; version=0.0.4; charset=utf-8",
                          body=self.metrics.render(self._gauges()).encode())
        if path == "/":
            return _text(200, f"e-CMS gateway. Agency interface: {self.agency_url(None)} (WSDL: ?wsdl)\n")
        return _text(404, "not found\n")

    # ------------------------------------------------------------------ SOAP
    def soap(self, environ: dict, org_id: str) -> Answer:
        started = time.perf_counter()
        content_type = environ.get("CONTENT_TYPE", "") or ""
        version = envelope.SOAP12 if "soap+xml" in content_type.lower() else envelope.SOAP11
        operation = "?"
        try:
            caller = self.directory.require_hosted(org_id)
            self.auth.authorize(org_id, caller_of(environ), self.agency.clock.now())
            _check_content_type(content_type)
            body = read_body(environ, self.limits.max_bytes)
            root = xmlsafe.parse(body, self.limits)
            request = envelope.parse_request(root)
            version, operation = request.soap_version, request.operation
            document = None
            if operation == "CorrespondenceLetterOutbound":
                document = request.body.find(ns.rsm("GovernmentDocument"))
                if document is not None:
                    letter.check_main_letter(document)
            contract.validate(request.body)
            # Signatures are made or verified before Spyne sees the request; only a
            # verified letter reaches its handler.
            prepared = self.agency.prepare_letter(caller, document, body) if document is not None else None
            answer = self.spyne.call(request.body, Call(agency=self.agency, caller=caller, raw=body,
                                                        prepared=prepared))
            log.info("%s %s ok %.1f ms", org_id, operation, (time.perf_counter() - started) * 1000)
            self.metrics.inc("gateway_agency_requests_total", operation=operation, code="ok")
            return Answer(status=200, body=envelope.wrap(version, answer),
                          content_type=envelope.CONTENT_TYPE[version])
        except RemoteError as exc:
            error = exc
            log.info("%s %s refused %s %s", org_id, operation, exc.code.code, exc.detail)
        except StoreError as exc:
            error = fault_for(exc)
            log.error("%s %s store failure: %s", org_id, operation, exc)
        except (LocalError, Exception) as exc:  # noqa: BLE001 - the client gets a fault, never a crash
            error = fault_for(exc)
            log.exception("%s %s internal error", org_id, operation)
        self.metrics.inc("gateway_agency_requests_total", operation=operation, code=error.code.code)
        errors = [error]
        return Answer(status=envelope.fault_http_status(version, errors), body=envelope.fault(version, errors),
                      content_type=envelope.CONTENT_TYPE[version])


    def node(self, environ: dict) -> Answer:
        """The node port: signed node messages in, signed receipts out (DESIGN section 4).

        No credentials here: every message is signed by a node of the directory and
        verified before anything is stored. Client faults answer HTTP 400 (the
        sender must not retry), server faults 500 (it should).
        """
        started = time.perf_counter()
        operation = "?"
        try:
            _check_content_type(environ.get("CONTENT_TYPE", "") or "")
            body = read_body(environ, self.node_limits.max_bytes)
            request = envelope.parse_node_request(xmlsafe.parse(body, self.node_limits))
            operation = request.operation
            checked = None
            if operation == "Deliver":
                # The node message is verified before Spyne sees it; the handler only stores.
                messages = [c for c in request.body if isinstance(c.tag, str)]
                if len(messages) != 1 or messages[0].tag != ns.node("NodeMessage"):
                    raise RemoteError(ErrorCode.SCHEMA_INVALID, "DeliverRequest holds exactly one n:NodeMessage")
                checked = self.relay.check(standalone(messages[0]))
            answer = self.node_spyne.call(request.body, NodeCall(relay=self.relay, checked=checked,
                                                                 directory_snapshot=self.directory_snapshot))
            log.info("node %s ok %.1f ms", operation, (time.perf_counter() - started) * 1000)
            self.metrics.inc("gateway_node_requests_total", operation=operation, code="ok")
            return Answer(status=200, body=envelope.wrap(envelope.SOAP11, answer),
                          content_type=envelope.CONTENT_TYPE[envelope.SOAP11])
        except RemoteError as exc:
            error = exc
            log.info("node %s refused %s %s", operation, exc.code.code, exc.detail)
        except StoreError as exc:
            error = fault_for(exc)
            log.error("node %s store failure: %s", operation, exc)
        except Exception:  # noqa: BLE001 - a fault, never a crash
            error = fault_for(Exception())
            log.exception("node %s internal error", operation)
        self.metrics.inc("gateway_node_requests_total", operation=operation, code=error.code.code)
        return Answer(status=400 if error.code.is_client_fault else 500, body=envelope.fault(envelope.SOAP11, [error]),
                      content_type=envelope.CONTENT_TYPE[envelope.SOAP11])


    def _gauges(self) -> dict:
        """What the store knows: queue depth per organisation, outbox items per state."""
        try:
            with self.agency.store.transaction() as tx:
                depth, outbox = tx.queue_depth(), tx.outbox_counts()
        except StoreError:
            return {("gateway_store_up", ()): 0}
        gauges = {("gateway_store_up", ()): 1}
        gauges.update({("gateway_queue_items", (("organization", org),)): n for org, n in depth.items()})
        gauges.update({("gateway_outbox_items", (("state", state),)): n for state, n in outbox.items()})
        gauges[("gateway_duplicate_messages_total", ())] = self.relay.duplicates
        return gauges


def caller_of(environ: dict) -> Caller:
    """What the transport tells about the client: address, TLS, Basic credentials, client certificate."""
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
    return Caller(remote_addr=environ.get("REMOTE_ADDR", ""), tls=environ.get("wsgi.url_scheme") == "https",
                  basic=basic, client_certificate=cert)


def _check_content_type(content_type: str) -> None:
    # Deployed clients send "text/xml" and "text/xml; encoding='utf-8'"; a missing
    # type is tolerated too. Anything else is not a SOAP request.
    main = content_type.split(";", 1)[0].strip().lower()
    if main and main not in _SOAP_TYPES:
        raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Type {main!r}; send text/xml")


def read_body(environ: dict, limit: int) -> bytes:
    """The request body, refused with TOO_LARGE as soon as it passes ``limit`` bytes."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            size = int(length)
        except ValueError:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Length {length!r}") from None
        if size > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"{size} bytes, limit {limit}")
        chunks, remaining = [], size
        while remaining > 0:
            chunk = stream.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    # No Content-Length (chunked): read until the end, but never past the limit.
    chunks, total = [], 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _text(status: int, text: str) -> Answer:
    return Answer(status=status, body=text.encode("utf-8"), content_type="text/plain; charset=utf-8")


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 503: "Service Unavailable"}
