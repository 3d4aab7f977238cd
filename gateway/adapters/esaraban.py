"""A small e-Saraban client of the agency interface (used by the CLI and tests).

It writes requests the way deployed clients do (hand-built envelopes, no
SOAPAction, ``text/xml``), with values escaped, and reads answers by element
name like they do.
"""
from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import requests
from lxml import etree

from gateway.core.xml import envelope, safe as xmlsafe
from gateway.core import ns
from gateway.adapters.clock import SystemClock
from gateway.core.errors import GatewayError
from gateway.core.time import BANGKOK
from gateway.ports import Clock

DEFAULT_TIMEOUT_S = 60.0


class ClientError(GatewayError):
    """The node answered with a fault (``code`` is its ErrorCode) or could not be reached."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code} {description}".strip())
        self.code = code
        self.description = description


@dataclass(frozen=True, kw_only=True)
class Attachment:
    mime_code: str
    content: bytes


@dataclass(frozen=True, kw_only=True)
class OutgoingLetter:
    letter_id: str
    correspondence_date: str
    subject: str
    sender: str
    receiver: str
    main_letter: Attachment
    secret_code: str = "001"
    speed_code: str = "001"
    description: str = ""
    attachment_text: str = ""
    sender_name: tuple[str, str, str] = ("", "", "")
    receiver_name: tuple[str, str, str] = ("", "", "")
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    send_date: str = ""


def letter_xml(letter: OutgoingLetter, now: dt.datetime) -> str:
    """The rsm:GovernmentDocument a client sends (element order of DESIGN section 3)."""
    def party(tag: str, names: tuple[str, str, str], org: str) -> str:
        given, family, title = (escape(x) for x in names)
        return (f"<ram:{tag}><ram:GivenName>{given}</ram:GivenName><ram:FamilyName>{family}</ram:FamilyName>"
                f"<ram:JobTitle>{title}</ram:JobTitle><ram:MinistryOrganization><ram:ID>{escape(org[:2])}</ram:ID>"
                f"</ram:MinistryOrganization><ram:DepartmentOrganization><ram:ID>{escape(org)}</ram:ID>"
                f"</ram:DepartmentOrganization></ram:{tag}>")

    def binary(tag: str, item: Attachment) -> str:
        return (f"<ram:{tag} mimeCode={quoteattr(item.mime_code)}>"
                f"{base64.b64encode(item.content).decode('ascii')}</ram:{tag}>")

    send_date = letter.send_date or now.astimezone(BANGKOK).strftime("%Y-%m-%dT%H:%M:%S")
    return "".join([
        f'<rsm:GovernmentDocument xmlns:ram="{ns.RAM}" xmlns:rsm="{ns.RSM}">',
        '<ram:CorrespondenceLetter ID="Letter">',
        f"<ram:ID>{escape(letter.letter_id)}</ram:ID>",
        f"<ram:CorrespondenceDate>{escape(letter.correspondence_date)}</ram:CorrespondenceDate>",
        f"<ram:Subject>{escape(letter.subject)}</ram:Subject>",
        f"<ram:SecretCode>{escape(letter.secret_code)}</ram:SecretCode>",
        f"<ram:SpeedCode>{escape(letter.speed_code)}</ram:SpeedCode>",
        party("SenderParty", letter.sender_name, letter.sender),
        party("ReceiverParty", letter.receiver_name, letter.receiver),
        f"<ram:Attachment>{escape(letter.attachment_text)}</ram:Attachment>",
        f"<ram:SendDate>{escape(send_date)}</ram:SendDate>",
        f"<ram:Description>{escape(letter.description)}</ram:Description>",
        binary("MainLetterBinaryObject", letter.main_letter),
        *(binary("AttachmentBinaryObject", a) for a in letter.attachments),
        "</ram:CorrespondenceLetter></rsm:GovernmentDocument>",
    ])


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An operation's answer: the response element, and its ProcessID if it has one."""

    element: etree._Element

    @property
    def process_id(self) -> str:
        return (self.element.findtext("ProcessID") or "").strip()

    @property
    def process_time(self) -> str:
        return (self.element.findtext("ProcessTime") or "").strip()

    @property
    def item(self) -> etree._Element | None:
        """The queue item (letter or notifier) of an inbound/outbound answer."""
        for child in self.element:
            if isinstance(child.tag, str) and child.tag not in ("ProcessID", "processID", "ProcessTime"):
                return child
        return None


class AgencyClient:
    """Talks to one organisation's endpoint of a node."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 session: requests.Session | None = None, verify: bool | str = True,
                 cert: tuple[str, str] | None = None, auth: tuple[str, str] | None = None,
                 clock: Clock | None = None) -> None:
        self.endpoint = endpoint
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.session = session or requests.Session()
        self.verify = verify
        self.cert = cert
        self.auth = auth

    def call(self, body: str | bytes, *, to: str = "") -> Answer:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        message = envelope.request(envelope.SOAP11, payload, message_id=_message_id(self.clock.now()), to=to)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.auth:
            # RFC 7617 with charset UTF-8: Thai passwords are fine (requests would send Latin-1).
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode("utf-8")).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        try:
            response = self.session.post(self.endpoint, data=message, timeout=self.timeout, headers=headers,
                                         verify=self.verify, cert=self.cert)
        except requests.RequestException as exc:
            raise ClientError("", f"cannot reach {self.endpoint}: {exc}") from exc
        if response.status_code != 200 and "xml" not in response.headers.get("Content-Type", ""):
            raise ClientError(str(response.status_code), response.text[:500])
        root = xmlsafe.parse(response.content)
        body_el = _body(root)
        fault = body_el.find(".//ErrorDetail")
        if fault is not None:
            raise ClientError(fault.findtext("ErrorCode") or "", fault.findtext("ErrorDescription") or "")
        return Answer(element=body_el)

    # -------------------------------------------------------- operations
    def send_letter(self, letter: OutgoingLetter) -> Answer:
        return self.call(f"<CorrespondenceLetterOutboundRequest>{letter_xml(letter, self.clock.now())}"
                         "</CorrespondenceLetterOutboundRequest>")

    def notify(self, element: str, *, letter_id: str, correspondence_date: str, subject: str = "",
               accept_id: str | None = None) -> Answer:
        accept = f"<AcceptID>{escape(accept_id)}</AcceptID>" if accept_id is not None else ""
        return self.call(
            f"<CorrespondenceLetterOutboundRequest><{element}><LetterID>{escape(letter_id)}</LetterID>{accept}"
            f"<CorrespondenceDate>{escape(correspondence_date)}</CorrespondenceDate>"
            f"<Subject>{escape(subject)}</Subject></{element}></CorrespondenceLetterOutboundRequest>")

    def pull(self) -> Answer:
        return self.call("<CorrespondenceLetterInboundRequest />")

    def delete(self, process_id: str) -> Answer:
        return self.call(f"<CorrespondenceLetterDeleteRequest><ProcessID>{escape(process_id)}</ProcessID>"
                         "</CorrespondenceLetterDeleteRequest>")

    def withdraw(self, *, letter_id: str, correspondence_date: str, sender: str, receiver: str) -> Answer:
        return self.call(_reference("CorrespondenceDeleteGovernmentDocumentRequest", letter_id,
                                    correspondence_date, sender, receiver))

    def special(self, item: str, *, letter_id: str, correspondence_date: str, sender: str,
                receiver: str) -> Answer:
        return self.call("<CorrespondenceLetterInboundSpecialRequest>"
                         + _reference(item, letter_id, correspondence_date, sender, receiver)
                         + "</CorrespondenceLetterInboundSpecialRequest>")

    def outbound_status(self) -> Answer:
        return self.call("<OutboundStatusRequest />")

    def simple(self, element: str) -> Answer:
        """GetOrganizationList, GetMinistryOrganizationList, GetSecretCodes, ..., TimeCheckRequest."""
        return self.call(f"<{element} />")


def _reference(tag: str, letter_id: str, date: str, sender: str, receiver: str) -> str:
    return (f"<{tag}><LetterID>{escape(letter_id)}</LetterID><CorrespondenceDate>{escape(date)}"
            f"</CorrespondenceDate><SenderDepartment><Code>{escape(sender)}</Code></SenderDepartment>"
            f"<AcceptDepartment><Code>{escape(receiver)}</Code></AcceptDepartment></{tag}>")


def _message_id(now: dt.datetime) -> str:
    now = now.astimezone(BANGKOK)
    return f"mid://{now:%Y%m%d.%H%M%S}{now.microsecond // 1000:03d}@{uuid.uuid4().hex[:8]}"


def _body(root: etree._Element) -> etree._Element:
    for uri in (ns.SOAP11_ENV, ns.SOAP12_ENV):
        body = root.find(f"{{{uri}}}Body")
        if body is not None:
            children = [c for c in body if isinstance(c.tag, str)]
            if children:
                return children[0]
    raise ClientError("", "the answer is not a SOAP envelope with a Body")


def read_file(path: Path) -> Attachment:
    """An attachment from a file, its mimeCode taken from the extension."""
    return Attachment(mime_code=path.suffix.lstrip(".").lower() or "txt", content=path.read_bytes())


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """One HTTP request and its answer, byte for byte (what the conformance reports show)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int                   # 0: no answer (the error says why)
    response_headers: dict[str, str]
    response_body: bytes
    seconds: float
    error: str = ""


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = DEFAULT_TIMEOUT_S,
         session: requests.Session | None = None, verify: bool | str = True, method: str = "POST",
         clock: Clock | None = None) -> Exchange:
    """Send exactly ``body`` with exactly ``headers`` (no SOAPAction unless given) and keep both sides."""
    clock = clock or SystemClock()
    started = clock.now()
    try:
        response = (session or requests).request(method, url, data=body if method == "POST" else None,
                                                 headers=headers, timeout=timeout, verify=verify)
    except requests.RequestException as exc:
        return Exchange(method=method, url=url, request_headers=dict(headers), request_body=body, status=0,
                        response_headers={}, response_body=b"", error=f"{type(exc).__name__}: {exc}",
                        seconds=(clock.now() - started).total_seconds())
    return Exchange(method=method, url=url, request_headers=dict(headers), request_body=body,
                    status=response.status_code, response_headers=dict(response.headers),
                    response_body=response.content, seconds=(clock.now() - started).total_seconds())


def new_session() -> requests.Session:
    """A connection-keeping session for :func:`post` (the conformance kit keeps one per e-Saraban)."""
    return requests.Session()
