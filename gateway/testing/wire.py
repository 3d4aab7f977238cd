"""Test helpers: build legacy requests, call a node in-process, read answers like clients do."""
from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from gateway.testing.fixtures import PDF_B64
from gateway.core import ns

SOAP11_OPEN = ('<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
               'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header>'
               '<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">mid://20261126.090000000@noname'
               '</wsa:MessageID><wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing"></wsa:To>'
               '</SOAP-ENV:Header><SOAP-ENV:Body>')
SOAP11_CLOSE = "</SOAP-ENV:Body></SOAP-ENV:Envelope>"


def soap(body: str) -> bytes:
    return (SOAP11_OPEN + body + SOAP11_CLOSE).encode("utf-8")


def letter(*, letter_id: str = "ศธ 0210/1234", date: str = "2026-11-26", subject: str = "ขอเชิญประชุมผู้บริหาร",
           sender: str = "2000100000", receiver: str = "2000350000", secret: str = "001", speed: str = "002",
           main: str | None = None, main_mime: str = "pdf", attachments: str = "", send_date: str = "2026-11-26T09:00:00",
           description: str = "", prefix_ram: str = "ram", prefix_rsm: str = "rsm", signature: str = "",
           raw_subject: bool = False) -> str:
    """A GovernmentDocument as clients build it; values escaped unless ``raw_subject``."""
    r, m = prefix_ram, prefix_rsm
    main_b64 = PDF_B64 if main is None else main
    subj = subject if raw_subject else escape(subject)

    def party(tag: str, org: str) -> str:
        return (f"<{r}:{tag}><{r}:GivenName>สมชาย</{r}:GivenName><{r}:FamilyName>ใจดี</{r}:FamilyName>"
                f"<{r}:JobTitle>ผู้อำนวยการ</{r}:JobTitle><{r}:MinistryOrganization><{r}:ID>{org[:2]}</{r}:ID>"
                f"</{r}:MinistryOrganization><{r}:DepartmentOrganization><{r}:ID>{org}</{r}:ID>"
                f"</{r}:DepartmentOrganization></{r}:{tag}>")

    return (f'<{m}:GovernmentDocument xmlns:{r}="{ns.RAM}" xmlns:{m}="{ns.RSM}">'
            f'<{r}:CorrespondenceLetter ID="Letter"><{r}:ID>{escape(letter_id)}</{r}:ID>'
            f"<{r}:CorrespondenceDate>{date}</{r}:CorrespondenceDate><{r}:Subject>{subj}</{r}:Subject>"
            f"<{r}:SecretCode>{secret}</{r}:SecretCode><{r}:SpeedCode>{speed}</{r}:SpeedCode>"
            + party("SenderParty", sender) + party("ReceiverParty", receiver)
            + f"<{r}:Attachment>-</{r}:Attachment><{r}:SendDate>{send_date}</{r}:SendDate>"
            f"<{r}:Description>{escape(description)}</{r}:Description>"
            f'<{r}:MainLetterBinaryObject mimeCode="{main_mime}">{main_b64}</{r}:MainLetterBinaryObject>'
            f"{attachments}</{r}:CorrespondenceLetter>{signature}</{m}:GovernmentDocument>")


def send_request(**kw) -> bytes:
    return soap(f"<CorrespondenceLetterOutboundRequest>{letter(**kw)}</CorrespondenceLetterOutboundRequest>")


def notifier_request(element: str, letter_id: str, date: str = "2026-11-26", subject: str = "รับหนังสือแล้ว",
                     accept_id: str | None = None) -> bytes:
    accept = f"<AcceptID>{escape(accept_id)}</AcceptID>" if accept_id is not None else ""
    return soap(f"<CorrespondenceLetterOutboundRequest><{element}><LetterID>{escape(letter_id)}</LetterID>{accept}"
                f"<CorrespondenceDate>{date}</CorrespondenceDate><Subject>{escape(subject)}</Subject>"
                f"</{element}></CorrespondenceLetterOutboundRequest>")


PULL = soap("<CorrespondenceLetterInboundRequest />")


def delete_request(process_id: str) -> bytes:
    return soap(f"<CorrespondenceLetterDeleteRequest><ProcessID>{process_id}</ProcessID>"
                "</CorrespondenceLetterDeleteRequest>")


def reference(tag: str, letter_id: str, date: str, sender: str, receiver: str) -> str:
    return (f"<{tag}><LetterID>{escape(letter_id)}</LetterID><CorrespondenceDate>{date}</CorrespondenceDate>"
            f"<SenderDepartment><Code>{sender}</Code></SenderDepartment>"
            f"<AcceptDepartment><Code>{receiver}</Code></AcceptDepartment></{tag}>")


@dataclass
class Reply:
    status: int
    body: bytes
    root: etree._Element

    @property
    def element(self) -> etree._Element:
        """The first Body child."""
        body = self.root.find(f"{{{ns.SOAP11_ENV}}}Body")
        if body is None:
            body = self.root.find(f"{{{ns.SOAP12_ENV}}}Body")
        return body[0]

    @property
    def error_code(self) -> str | None:
        detail = self.root.find(".//ErrorDetail")
        return None if detail is None else detail.findtext("ErrorCode")

    @property
    def error_text(self) -> str:
        detail = self.root.find(".//ErrorDetail")
        return "" if detail is None else detail.findtext("ErrorDescription")

    @property
    def process_id(self) -> str:
        return self.element.findtext("ProcessID")

    def ok(self) -> "Reply":
        assert self.error_code is None, f"{self.error_code}: {self.error_text}"
        return self


def call(node, org: str | None, body: bytes, content_type: str = "text/xml", method: str = "POST",
         **extra_environ) -> Reply:
    """POST ``body`` to the node's WSGI app as organisation ``org`` (None = bare endpoint), from loopback."""
    path = "/ecms-ws01/service2" + (f"/{org}" if org else "")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http", **extra_environ}
    status = {}

    def start_response(line, headers):
        status["code"] = int(line.split()[0])

    data = b"".join(node.wsgi(environ, start_response))
    return Reply(status=status["code"], body=data, root=etree.fromstring(data, etree.XMLParser(huge_tree=True)))
