"""Fakes of the :class:`gateway.ports.Peer` port (STYLE 6: fakes ship with the ports).

* :class:`FakePeer` answers from a script: a receipt, a :class:`DeliveryError`,
  or a function of the push. Nothing is sent; for tests of the delivery
  worker's decisions.
* :class:`InProcessPeer` hands each push to another node's WSGI application in
  this process, as the zeep adapter (``adapters/peer.py``) would over HTTP: the
  same SOAP 1.1 envelope, the same hardened parse of the answer, the same
  translation of faults and HTTP errors into :class:`DeliveryError`. No socket.

Neither reads the clock or the environment; both record what was pushed in ``sent``.
"""
from __future__ import annotations

import io
from collections import deque
from copy import deepcopy
from typing import Callable, Iterable, Mapping, Union
from urllib.parse import urlsplit

from lxml import etree

from gateway.core import ns
from gateway.core.errors import DeliveryError, RemoteError
from gateway.core.xml import safe

DeliverOutcome = Union[etree._Element, bytes, DeliveryError, Callable[[str, etree._Element], etree._Element]]
SnapshotOutcome = Union[bytes, DeliveryError, Callable[[str], bytes]]
WsgiApp = Callable[[dict, Callable[..., object]], Iterable[bytes]]

_CARRIER = ns.NODE_CARRIER
_SOAP_ACTION = {"Deliver": f'"{ns.NODE}#Deliver"', "DirectorySnapshot": f'"{ns.NODE}#DirectorySnapshot"'}


class FakePeer:
    """A peer that answers from a script, in order; what was pushed is kept in ``sent``.

    Each :meth:`deliver` takes the next outcome of ``outcomes``: an element (or
    its bytes) is returned as the receipt, a :class:`DeliveryError` is raised,
    a callable ``(url, message) -> element`` is called with the push. Likewise
    :meth:`directory_snapshot` takes the next of ``snapshots`` (bytes, an
    error, or ``url -> bytes``). A push with no outcome left raises
    :class:`LookupError`: the test did not expect it.
    """

    def __init__(self, outcomes: Iterable[DeliverOutcome] = (),
                 snapshots: Iterable[SnapshotOutcome] = ()) -> None:
        self.outcomes: deque[DeliverOutcome] = deque(outcomes)
        self.snapshots: deque[SnapshotOutcome] = deque(snapshots)
        self.sent: list[tuple[str, etree._Element]] = []
        self.snapshot_requests: list[str] = []

    def add(self, *outcomes: DeliverOutcome) -> "FakePeer":
        """Script more outcomes for :meth:`deliver`, after those left."""
        self.outcomes.extend(outcomes)
        return self

    def deliver(self, url: str, message: etree._Element) -> etree._Element:
        """Record the push and play the next scripted outcome."""
        self.sent.append((url, message))
        if not self.outcomes:
            raise LookupError(f"FakePeer: push #{len(self.sent)} to {url} has no scripted outcome")
        outcome = self.outcomes.popleft()
        if isinstance(outcome, DeliveryError):
            raise outcome
        if isinstance(outcome, bytes):
            return safe.parse(outcome)
        if isinstance(outcome, etree._Element):
            return deepcopy(outcome)
        return outcome(url, message)

    def directory_snapshot(self, url: str) -> bytes:
        """Record the request and play the next scripted snapshot outcome."""
        self.snapshot_requests.append(url)
        if not self.snapshots:
            raise DeliveryError(f"FakePeer: no directory snapshot scripted for {url}", retryable=True)
        outcome = self.snapshots.popleft()
        if isinstance(outcome, DeliveryError):
            raise outcome
        if isinstance(outcome, bytes):
            return outcome
        return outcome(url)


class InProcessPeer:
    """Other nodes' WSGI applications, called in-process as the zeep adapter would call them over HTTP.

    ``apps`` maps a node URL (``http://host:port/ecms-ws01/node``) to its WSGI
    application, or is a function of the URL answering the application or
    None. A mapping is read at each push, so it may be filled after the nodes
    are built (each node's worker needs its peer before the others exist).
    """

    def __init__(self, apps: Mapping[str, WsgiApp] | Callable[[str], WsgiApp | None]) -> None:
        self.apps = apps
        self.sent: list[tuple[str, etree._Element]] = []

    def _app(self, url: str) -> WsgiApp:
        app = self.apps(url) if callable(self.apps) else self.apps.get(url)
        if app is None:
            raise DeliveryError(f"cannot reach {url}: no such node in this process", retryable=True)
        return app

    def deliver(self, url: str, message: etree._Element) -> etree._Element:
        """Push one signed NodeMessage; the NodeReceipt element (a standalone copy) or DeliveryError."""
        self.sent.append((url, message))
        carrier = self._call(url, "Deliver", message)
        receipt = next((c for c in carrier if isinstance(c.tag, str)), None)
        if receipt is None:
            raise DeliveryError(f"no NodeReceipt in the answer of {url}", retryable=True)
        return deepcopy(receipt)

    def directory_snapshot(self, url: str) -> bytes:
        """The DirectorySnapshot document the node at ``url`` publishes (unverified bytes).

        As in the adapter, a fault here is final whatever its code.
        """
        carrier = self._call(url, "DirectorySnapshot", None, final_faults=True)
        snapshot = next((c for c in carrier if isinstance(c.tag, str)), None)
        if snapshot is None:
            raise DeliveryError(f"no DirectorySnapshot in the answer of {url}", retryable=True)
        return etree.tostring(snapshot, encoding="utf-8")

    # ------------------------------------------------------------ one exchange
    def _call(self, url: str, operation: str, document: etree._Element | None, *,
              final_faults: bool = False) -> etree._Element:
        """POST the operation's envelope to the app at ``url``; its response carrier element."""
        app = self._app(url)
        body = request_envelope(operation, document)
        status, answer = _post(app, url, body, _SOAP_ACTION[operation])
        try:
            root = safe.parse(answer)
        except RemoteError as exc:
            raise _transport_error(url, status, f"unreadable answer: {exc.detail}") from exc
        fault = root.find(f"{{{ns.SOAP11_ENV}}}Body/{{{ns.SOAP11_ENV}}}Fault")
        if fault is not None:
            error = fault_error(fault)
            raise DeliveryError(str(error), retryable=False, code=error.code) if final_faults else error
        if status != 200:
            raise _transport_error(url, status, "")
        carrier = root.find(f"{{{ns.SOAP11_ENV}}}Body/{{{_CARRIER}}}{operation}Response")
        if carrier is None:
            raise DeliveryError(f"no {operation}Response in the answer of {url}", retryable=True)
        return carrier


def request_envelope(operation: str, document: etree._Element | None) -> bytes:
    """The SOAP 1.1 request zeep builds from wsdl/ecms-node.wsdl: ``c:<operation>Request`` around ``document``.

    The caller's element is copied, never moved out of its tree.
    """
    envelope = etree.Element(f"{{{ns.SOAP11_ENV}}}Envelope", nsmap={"soap-env": ns.SOAP11_ENV})
    body = etree.SubElement(envelope, f"{{{ns.SOAP11_ENV}}}Body")
    carrier = etree.SubElement(body, f"{{{_CARRIER}}}{operation}Request", nsmap={"ns0": _CARRIER})
    if document is not None:
        carrier.append(deepcopy(document))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def fault_error(fault: etree._Element) -> DeliveryError:
    """A SOAP 1.1 Fault as the zeep adapter translates it: ErrorCode 5xxx or none retried, any other final."""
    found = fault.find("detail//ErrorDetail")
    code = text = ""
    if found is not None:
        code = (found.findtext("ErrorCode") or "").strip()
        text = (found.findtext("ErrorDescription") or "").strip()
    message = text or (fault.findtext("faultstring") or "")
    return DeliveryError(f"{code} {message}".strip(), retryable=code.startswith("5") or not code, code=code)


def _transport_error(url: str, status: int, detail: str) -> DeliveryError:
    """A non-fault failure: HTTP 5xx, 408 and 429 are retried, other statuses not; an unreadable 200 is.

    The last follows the adapter's stated rule ("unreadable answer": retried);
    the zeep adapter itself currently fails it at once, because zeep reports a
    malformed 200 answer as a TransportError with status 200.
    """
    if status == 200:
        return DeliveryError(f"{detail} from {url}".strip(), retryable=True)
    return DeliveryError(f"HTTP {status} from {url}", retryable=status >= 500 or status in (408, 429))


def _post(app: WsgiApp, url: str, body: bytes, soap_action: str) -> tuple[int, bytes]:
    """Call ``app`` with the environ of an HTTP POST of ``body`` to ``url``, from loopback."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    environ = {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": parts.path or "/", "QUERY_STRING": parts.query,
        "CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": parts.hostname or "localhost", "SERVER_PORT": str(port), "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": parts.netloc, "HTTP_SOAPACTION": soap_action, "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": scheme, "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    started: dict[str, int] = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> Callable[[bytes], None]:
        started["status"] = int(status.split(" ", 1)[0])
        return lambda data: None

    result = app(environ, start_response)
    try:
        answer = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return started["status"], answer
