"""The e-Saraban the kit plays: hand-built requests as deployed clients send them, answers read as they read them.

Requests are written byte for byte (legacy unqualified wrappers, or the stubs contract's qualified
ones; SOAP 1.1 or 1.2; with or without WS-Addressing), sent with :func:`gateway.adapters.esaraban.post`,
and recorded for the reports. Answers are parsed with the hardened parser and read by element name.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from gateway.adapters.esaraban import DEFAULT_TIMEOUT_S, Exchange, new_session, post
from gateway.core import ns
from gateway.core.xml import safe as xmlsafe
from gateway.ports import Clock

SOAP_ENV = {"1.1": ns.SOAP11_ENV, "1.2": ns.SOAP12_ENV}
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


@dataclass(kw_only=True)
class Reply:
    """One answer: the exchange, the parsed envelope and what deployed clients read of it."""

    exchange: Exchange
    root: etree._Element | None = None
    parse_error: str = ""
    qualified: bool = False

    @property
    def status(self) -> int:
        return self.exchange.status

    def _q(self, local: str) -> str:
        return f"{{{ns.AGENCY}}}{local}" if self.qualified else local

    @property
    def body(self) -> etree._Element | None:
        if self.root is None:
            return None
        for uri in SOAP_ENV.values():
            found = self.root.find(f"{{{uri}}}Body")
            if found is not None:
                return found
        return None

    @property
    def element(self) -> etree._Element | None:
        """The first child of Body (the response element or the Fault)."""
        body = self.body
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        return children[0] if children else None

    @property
    def fault_code(self) -> str | None:
        """The ErrorCode of the ErrorDetail, found anywhere in the answer as deployed clients look for it."""
        if self.root is None:
            return None
        detail = self.root.find(f".//{self._q('ErrorDetail')}")
        return None if detail is None else (detail.findtext(self._q("ErrorCode")) or "").strip()

    @property
    def fault_text(self) -> str:
        if self.root is None:
            return ""
        detail = self.root.find(f".//{self._q('ErrorDetail')}")
        return "" if detail is None else detail.findtext(self._q("ErrorDescription")) or ""

    def text(self, path: str) -> str | None:
        """The text at ``path`` (legacy names, e.g. ``ReceiveLetterNotifier/LetterID``) under the response element."""
        element = self.element
        if element is None:
            return None
        if self.qualified:
            path = "/".join(self._q(p) if ":" not in p and "{" not in p else p for p in path.split("/"))
        found = element.find(path)
        return None if found is None else (found.text or "")

    @property
    def process_id(self) -> str:
        return (self.text("ProcessID") or "").strip()

    @property
    def item(self) -> etree._Element | None:
        """The letter or notifier an inbound or outbound answer carries."""
        element = self.element
        if element is None:
            return None
        skip = {self._q("ProcessID"), self._q("processID"), self._q("ProcessTime")}
        return next((c for c in element if isinstance(c.tag, str) and c.tag not in skip), None)

    def describe(self) -> str:
        """For a failure message: HTTP status, and the fault or the first bytes of the answer."""
        if self.exchange.status == 0:
            return f"no answer ({self.exchange.error})"
        if self.fault_code:
            return f"HTTP {self.status}, fault {self.fault_code}: {self.fault_text[:200]}"
        return f"HTTP {self.status}: {self.exchange.response_body[:200]!r}"


@dataclass(kw_only=True)
class Agent:
    """One organisation's e-Saraban, talking to its endpoint."""

    endpoint: str
    org: str
    clock: Clock
    recorder: object = None            # set per case by the runner, via the context
    timeout: float = DEFAULT_TIMEOUT_S
    verify: bool | str = True
    auth: tuple[str, str] | None = None
    session: object = None             # a requests.Session that keeps connections (made by the adapter)

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = new_session()

    def envelope(self, body: str, *, version: str = "1.1", addressing: str = "correct",
                 body_id: bool = False) -> bytes:
        """An envelope as deployed clients write it: SOAP-ENV (1.1) or env (1.2), an optional WS-Addressing header."""
        prefix = "SOAP-ENV" if version == "1.1" else "env"
        if addressing == "misspelled":   # the VB.NET family: wrong namespace, wsa:to in lower case
            wsa = "http://w3.org/2005/08/addressing"
            head = (f'<{prefix}:Header><wsa:MessageID xmlns:wsa="{wsa}"></wsa:MessageID>'
                    f'<wsa:to xmlns:wsa="{wsa}">{escape(self.endpoint)}</wsa:to></{prefix}:Header>')
        elif addressing == "correct":
            head = (f'<{prefix}:Header><wsa:MessageID xmlns:wsa="{ns.WSA}">uuid:{uuid.uuid4()}</wsa:MessageID>'
                    f'<wsa:To xmlns:wsa="{ns.WSA}">{escape(self.endpoint)}</wsa:To></{prefix}:Header>')
        else:
            head = ""
        body_attr = ' ID="Body"' if body_id else ""
        return (f'<?xml version="1.0" encoding="UTF-8"?><{prefix}:Envelope xmlns:{prefix}="{SOAP_ENV[version]}">'
                f"{head}<{prefix}:Body{body_attr}>{body}</{prefix}:Body></{prefix}:Envelope>").encode("utf-8")

    def call(self, body: str, *, version: str = "1.1", qualified: bool = False, addressing: str = "correct",
             body_id: bool = False, content_type: str | None = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        """Send one operation element (``body``, legacy names) and read the answer."""
        if qualified:
            body = qualify(body)
        payload = raw if raw is not None else self.envelope(body, version=version, addressing=addressing,
                                                            body_id=body_id)
        sent_headers = {"Content-Type": content_type or CONTENT_TYPE[version], **(headers or {})}
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode("utf-8")).decode("ascii")
            sent_headers["Authorization"] = f"Basic {token}"
        exchange = post(self.endpoint, payload, sent_headers, timeout=self.timeout, session=self.session,
                        verify=self.verify, clock=self.clock)
        if self.recorder is not None:
            self.recorder.add(exchange)
        reply = Reply(exchange=exchange, qualified=qualified)
        if exchange.status:
            try:
                reply.root = xmlsafe.parse(exchange.response_body)
            except Exception as exc:  # noqa: BLE001 - an unreadable answer is a finding, not a crash
                reply.parse_error = f"{type(exc).__name__}: {exc}"
        return reply

    # ------------------------------------------------------------ the operations
    def send(self, letter: str, **kw) -> Reply:
        return self.call(f"<CorrespondenceLetterOutboundRequest>{letter}</CorrespondenceLetterOutboundRequest>", **kw)

    def notify(self, element: str, letter_id: str, date: str, subject: str = "", accept_id: str | None = None,
               **kw) -> Reply:
        accept = f"<AcceptID>{escape(accept_id)}</AcceptID>" if accept_id is not None else ""
        return self.call(f"<CorrespondenceLetterOutboundRequest><{element}><LetterID>{escape(letter_id)}</LetterID>"
                         f"{accept}<CorrespondenceDate>{date}</CorrespondenceDate><Subject>{escape(subject)}"
                         f"</Subject></{element}></CorrespondenceLetterOutboundRequest>", **kw)

    def pull(self, **kw) -> Reply:
        return self.call("<CorrespondenceLetterInboundRequest/>", **kw)

    def delete(self, process_id: str, **kw) -> Reply:
        return self.call(f"<CorrespondenceLetterDeleteRequest><ProcessID>{escape(process_id)}</ProcessID>"
                         "</CorrespondenceLetterDeleteRequest>", **kw)

    def special(self, item: str, letter_id: str, date: str, sender: str, receiver: str, **kw) -> Reply:
        return self.call(f"<CorrespondenceLetterInboundSpecialRequest>{reference(item, letter_id, date, sender, receiver)}"
                         "</CorrespondenceLetterInboundSpecialRequest>", **kw)

    def withdraw(self, letter_id: str, date: str, sender: str, receiver: str, **kw) -> Reply:
        return self.call(reference("CorrespondenceDeleteGovernmentDocumentRequest", letter_id, date, sender,
                                   receiver), **kw)

    def simple(self, element: str, **kw) -> Reply:
        return self.call(f"<{element}/>", **kw)


def reference(tag: str, letter_id: str, date: str, sender: str, receiver: str) -> str:
    return (f"<{tag}><LetterID>{escape(letter_id)}</LetterID><CorrespondenceDate>{date}</CorrespondenceDate>"
            f"<SenderDepartment><Code>{sender}</Code></SenderDepartment>"
            f"<AcceptDepartment><Code>{receiver}</Code></AcceptDepartment></{tag}>")


def qualify(body: str) -> str:
    """The same operation element with its wrappers in ns.AGENCY (the stubs contract's style)."""
    element = etree.fromstring(body.encode("utf-8"))
    for el in element.iter():
        if isinstance(el.tag, str) and not el.tag.startswith("{"):
            el.tag = f"{{{ns.AGENCY}}}{el.tag}"
    return etree.tostring(element, encoding="unicode")


def letter(*, letter_id: str, date: str, subject: str, sender: str, receiver: str, main: bytes,
           main_mime: str = "pdf", secret: str = "001", speed: str = "001", description: str = "",
           signature: str = "", letter_attribute: bool = True) -> str:
    """A rsm:GovernmentDocument as deployed clients build it (element order of the standard)."""
    def party(tag: str, org: str, given: str) -> str:
        return (f"<ram:{tag}><ram:GivenName>{given}</ram:GivenName><ram:FamilyName>ทดสอบ</ram:FamilyName>"
                f"<ram:JobTitle>เจ้าหน้าที่สารบรรณ</ram:JobTitle><ram:MinistryOrganization><ram:ID>{org[:2]}</ram:ID>"
                f"</ram:MinistryOrganization><ram:DepartmentOrganization><ram:ID>{escape(org)}</ram:ID>"
                f"</ram:DepartmentOrganization></ram:{tag}>")
    attribute = ' ID="Letter"' if letter_attribute else ""
    return (f'<rsm:GovernmentDocument xmlns:rsm="{ns.RSM}" xmlns:ram="{ns.RAM}">'
            f"<ram:CorrespondenceLetter{attribute}><ram:ID>{escape(letter_id)}</ram:ID>"
            f"<ram:CorrespondenceDate>{date}</ram:CorrespondenceDate><ram:Subject>{escape(subject)}</ram:Subject>"
            f"<ram:SecretCode>{secret}</ram:SecretCode><ram:SpeedCode>{speed}</ram:SpeedCode>"
            + party("SenderParty", sender, "สมชาย") + party("ReceiverParty", receiver, "สมหญิง")
            + f"<ram:Attachment>สิ่งที่ส่งมาด้วย ๑ ชุด</ram:Attachment><ram:SendDate>{date}T09:00:00</ram:SendDate>"
            f"<ram:Description>{escape(description)}</ram:Description>"
            f"<ram:MainLetterBinaryObject mimeCode={quoteattr(main_mime)}>{base64.b64encode(main).decode()}"
            f"</ram:MainLetterBinaryObject></ram:CorrespondenceLetter>{signature}</rsm:GovernmentDocument>")
