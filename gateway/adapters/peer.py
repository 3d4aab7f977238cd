"""The zeep adapter to other nodes: push one NodeMessage, get its receipt.

The client is built once from the committed wsdl/ecms-node.wsdl (never fetched
from a peer). Errors are translated once, here, into :class:`DeliveryError`
saying whether trying again can help (DESIGN section 4): network errors,
timeouts, HTTP 5xx and server faults are retried; a definite refusal (a client
fault: bad signature, unknown receiver, schema) is not.
"""
from __future__ import annotations

import datetime as dt
from copy import deepcopy

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from gateway import telemetry
from gateway.core.xml import contract
from gateway.core.errors import DeliveryError, RemoteError
from gateway.core.xml import safe
from gateway.core.xml.safe import Limits

BINDING = "{urn:th:gov:egif:ecms:node:wsdl}ECMSNodeSoap11Binding"


ANSWER_LIMITS = Limits()   # a receipt is small; a directory snapshot stays far below the body limit


def _check_answer(address: str, response: requests.Response) -> None:
    """Every XML byte a peer answers goes through the one hardened parser before zeep reads it.

    zeep's own parser would accept (and, with other settings, act on) a
    DOCTYPE; an answer the hardened parser refuses is not a receipt, and the
    item is pushed again later. Non-XML error pages (a proxy's HTML 502) are
    left to zeep, which reports their HTTP status.
    """
    if response.status_code != 200 and "xml" not in response.headers.get("Content-Type", "").lower():
        return
    try:
        safe.parse(response.content, ANSWER_LIMITS)
    except RemoteError as exc:
        raise DeliveryError(f"unsafe answer from {address}: {exc.code.code} {exc.detail}", retryable=True,
                            code=exc.code.code) from exc


class PinnedTransport(Transport):
    """zeep's transport, with our TLS settings on every request.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment
    override a session's ``verify``; peers must be verified against our trust
    anchors only (DESIGN section 6), so ``verify`` and ``cert`` are passed
    explicitly, which the environment cannot override.
    """

    def post(self, address, message, headers):
        correlation = telemetry.correlation_id()  # the item's, set by the delivery loop: the next node logs it too
        if correlation:
            headers = {**headers, telemetry.CORRELATION_HEADER: correlation}
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout,
                                     verify=self.session.verify, cert=self.session.cert)
        _check_answer(address, response)
        return response

    def _load_remote_data(self, url):  # never used (the WSDL is local); pinned all the same
        response = self.session.get(url, timeout=self.load_timeout, verify=self.session.verify,
                                    cert=self.session.cert)
        response.raise_for_status()
        return response.content


class PeerClient:
    """Pushes node messages to peers over HTTP(S), verifying their TLS against our trust anchors."""

    def __init__(self, *, timeout: dt.timedelta, verify: bool | str = True,
                 client_cert: tuple[str, str] | None = None) -> None:
        session = requests.Session()
        session.verify = verify
        if client_cert:
            session.cert = client_cert
        seconds = timeout.total_seconds()
        self._transport = PinnedTransport(session=session, timeout=seconds, operation_timeout=seconds)
        settings = zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=True)
        self._client = zeep.Client(str(contract.wsdl_path(contract.NODE_WSDL)), transport=self._transport,
                                   settings=settings)
        self._services: dict[str, object] = {}

    def _service(self, url: str):
        service = self._services.get(url)
        if service is None:
            service = self._services[url] = self._client.create_service(BINDING, url)
        return service

    def deliver(self, url: str, message: etree._Element) -> etree._Element:
        """Push one signed NodeMessage; the NodeReceipt element (unverified) or DeliveryError."""
        try:
            receipt = self._service(url).Deliver(_value_1=message)
        except zeep.exceptions.Fault as fault:
            code, text = _error_detail(fault)
            # 5xxx: the peer could not store it now; anything else is a definite refusal.
            raise DeliveryError(f"{code} {text or fault.message}".strip(), retryable=code.startswith("5") or not code,
                                    code=code) from fault
        except zeep.exceptions.TransportError as exc:
            # 200 here means zeep could not read the answer: the peer is broken now, try again later.
            retry = exc.status_code >= 500 or exc.status_code in (200, 408, 429)
            raise DeliveryError(f"HTTP {exc.status_code} from {url}", retryable=retry) from exc
        except requests.exceptions.SSLError as exc:  # a subclass of ConnectionError: first
            raise DeliveryError(f"TLS with {url} failed: {exc}", retryable=True) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryError(f"cannot reach {url}: {type(exc).__name__}", retryable=True) from exc
        except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            raise DeliveryError(f"unreadable answer from {url}: {exc}", retryable=True) from exc
        if not isinstance(receipt, etree._Element):
            raise DeliveryError(f"no NodeReceipt in the answer of {url}", retryable=True)
        return deepcopy(receipt)


    def directory_snapshot(self, url: str) -> bytes:
        """The DirectorySnapshot document of an authority node (unverified bytes)."""
        try:
            snapshot = self._service(url).DirectorySnapshot()
        except zeep.exceptions.Fault as fault:
            code, text = _error_detail(fault)
            raise DeliveryError(f"{code} {text or fault.message}".strip(), retryable=False, code=code) from fault
        except (zeep.exceptions.Error, requests.RequestException) as exc:
            raise DeliveryError(f"cannot fetch the snapshot from {url}: {exc}", retryable=True) from exc
        if not isinstance(snapshot, etree._Element):
            raise DeliveryError(f"no DirectorySnapshot in the answer of {url}", retryable=True)
        return etree.tostring(snapshot, encoding="utf-8")


def _error_detail(fault: zeep.exceptions.Fault) -> tuple[str, str]:
    detail = fault.detail
    if not isinstance(detail, etree._Element):  # None, or the bytes of a non-SOAP answer
        return "", ""
    found = detail.find(".//ErrorDetail")
    if found is None:
        return "", ""
    return (found.findtext("ErrorCode") or "").strip(), (found.findtext("ErrorDescription") or "").strip()
