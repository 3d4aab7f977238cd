"""A generated client: zeep, built only from the WSDL a live node serves, calls every operation.

zeep reads ``live.endpoint(org) + '?wsdl'`` (the stubs contract: wrappers qualified in
ns.AGENCY) or ``'?wsdl=legacy'`` (the legacy contract: unqualified wrappers, as deployed
clients send them) and the XSDs it includes over HTTP, writes its requests from the schema
(document/literal, no SOAPAction, no WS-Addressing header) and parses every answer against the
same schema: each test runs on both contracts. Each test acts as one or more organisations by
binding the WSDL's SOAP 1.1 (or 1.2) binding to that organisation's endpoint. Runs on SQLite
and PostgreSQL (the ``live`` fixture). ``test_whole_flow_of_the_interop_clients`` runs the flow
every other generated client runs (tests/interop/README.md).
"""
from __future__ import annotations

import base64
import importlib.metadata
import sys
from pathlib import Path

import pytest
import zeep
import zeep.exceptions
from cryptography import x509
from lxml import etree
from zeep.plugins import HistoryPlugin

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, PDF, unique_letter_id
from gateway.core.letters import codelists
from gateway.core import ns
from gateway.adapters.esaraban import Attachment, OutgoingLetter, letter_xml
from gateway.core.time import wire_time
from gateway.testing.clock import FakeClock
from gateway.core.network.directory import DEMO_ORGANIZATIONS
from gateway.core.xml.envelope import OPERATIONS
from interop_flow import check_flow, run_flow

WSDL_NS = "urn:th:gov:egif:ecms:agency:wsdl"
SOAP11_BINDING = f"{{{WSDL_NS}}}ECMSAgencySoap11Binding"
SOAP12_BINDING = f"{{{WSDL_NS}}}ECMSAgencySoap12Binding"
DATE = "2026-11-26"
SUBJECT = "ขอเชิญประชุมคณะกรรมการขับเคลื่อนการศึกษา ครั้งที่ ๒/๒๕๖๙"
ACCEPT_ID = "รับ ๑๒๓๔/๒๕๖๙"


class Zeep:
    """One zeep client of a served WSDL, and its services bound to organisations' endpoints."""

    def __init__(self, live, contract: str = "stubs") -> None:
        self.live = live
        self.legacy = contract == "legacy"
        self.wrapper_ns = None if self.legacy else ns.AGENCY
        self.history = HistoryPlugin(maxlen=20)
        query = "?wsdl=legacy" if self.legacy else "?wsdl"
        self.client = zeep.Client(live.endpoint(CENTRAL) + query, plugins=[self.history],
                                  transport=zeep.Transport(timeout=30, operation_timeout=30))

    def wrapper(self, local: str) -> str:
        """A wrapper element's name as this contract spells it (Clark notation)."""
        return f"{{{self.wrapper_ns}}}{local}" if self.wrapper_ns else local

    def check_alias(self, answer) -> None:
        """The legacy contract's answers carry processID beside ProcessID; the stubs contract's do not."""
        if self.legacy:
            assert answer.processID == answer.ProcessID
        else:
            assert "processID" not in answer

    def letter_attribute_id(self, letter) -> str:
        """The letter's ID attribute: named in the legacy contract, an anyAttribute in the stubs one."""
        return letter.attr__ID if self.legacy else letter._attr_1["ID"]

    def act_as(self, org: str, binding: str = SOAP11_BINDING):
        return self.client.create_service(binding, self.live.endpoint(org))

    def letter(self, *, letter_id: str, sender: str, receiver: str, subject: str = SUBJECT,
               main: bytes = PDF, mime: str = "pdf", description: str = ""):
        """A rsm:GovernmentDocument built with the WSDL's own types."""
        document = self.client.get_element(f"{{{ns.RSM}}}GovernmentDocument")
        party_type = self.client.get_type(f"{{{ns.RAM}}}PartyType")

        def party(org: str, given: str, family: str, title: str):
            return party_type(GivenName=given, FamilyName=family, JobTitle=title,
                              MinistryOrganization={"ID": org[:2]}, DepartmentOrganization={"ID": org})

        # The stubs contract leaves the letter's ID attribute open: the node names the letter itself.
        named = {"attr__ID": "Letter"} if self.legacy else {}
        return document(CorrespondenceLetter={
            **named,
            "ID": letter_id,
            "CorrespondenceDate": DATE,
            "Subject": subject,
            "SecretCode": "001",
            "SpeedCode": "003",
            "SenderParty": party(sender, "สมชาย", "ใจดี", "ผู้อำนวยการสำนักอำนวยการ"),
            "ReceiverParty": party(receiver, "สมหญิง", "รักเรียน", "ศึกษาธิการจังหวัด"),
            "ReferenceCorrespondence": [{"ID": "ศธ 0210/ว ๙๙", "CorrespondenceDate": "2026-10-01",
                                         "Subject": "การประชุมครั้งที่ ๑/๒๕๖๙"}],
            "Attachment": "ระเบียบวาระการประชุม ๑ ชุด",
            "SendDate": f"{DATE}T09:30:00",
            "Description": description,
            "MainLetterBinaryObject": {"_value_1": main, "mimeCode": mime},
            "AttachmentBinaryObject": [{"_value_1": "วาระการประชุม".encode(), "mimeCode": "txt"}],
        })

    def last_exchange(self) -> tuple[etree._Element, etree._Element]:
        return self.history.last_sent["envelope"], self.history.last_received["envelope"]


@pytest.fixture(params=["stubs", "legacy"])
def z(live, request) -> Zeep:
    return Zeep(live, request.param)


def notifier(letter_id: str, subject: str = "", accept_id: str | None = None) -> dict:
    fields = {"LetterID": letter_id, "CorrespondenceDate": DATE, "Subject": subject}
    if accept_id is not None:
        fields = {"LetterID": letter_id, "AcceptID": accept_id, "CorrespondenceDate": DATE, "Subject": subject}
    return fields


def reference(letter_id: str, sender: str, receiver: str) -> dict:
    return {"LetterID": letter_id, "CorrespondenceDate": DATE,
            "SenderDepartment": {"Code": sender}, "AcceptDepartment": {"Code": receiver}}


def item_name(answer) -> str | None:
    """Which queue item (letter or notifier element) an inbound/outbound answer carries."""
    names = ["GovernmentDocument", "ReceiveLetterNotifier", "AcceptLetterNotifier", "RejectLetterNotifier",
             "InvalidLetterNotifier", "InvalidAcceptIDNotifier"]
    present = [n for n in names if answer[n] is not None]
    assert len(present) <= 1, present
    return present[0] if present else None


def first(choices: list, name: str):
    """The first value named ``name`` in a repeated xs:choice (zeep gives each as a dict)."""
    return next(c[name] for c in choices if c.get(name) is not None)


def status_by_process_id(service) -> dict[str, object]:
    return {o.ProcessID: o for o in service.OutboundStatus()}


def assert_empty(answer) -> None:
    assert answer.ProcessID is None and answer.ProcessTime is None and item_name(answer) is None


def error_codes(z: Zeep, fault: zeep.exceptions.Fault) -> list[str]:
    """The ErrorDetail codes of a fault, each parsed with the WSDL's ErrorDetail element."""
    assert fault.detail is not None, "the fault has no detail"
    error_detail = z.client.get_element(z.wrapper("ErrorDetail"))
    parsed = [error_detail.parse(el, z.client.wsdl.types) for el in fault.detail if el.tag == z.wrapper("ErrorDetail")]
    assert parsed, etree.tostring(fault.detail, encoding="unicode")
    assert all(p.ErrorDescription for p in parsed)
    return [p.ErrorCode for p in parsed]


# ------------------------------------------------------------------ the contract as zeep sees it

def test_served_wsdl_gives_zeep_every_operation_on_both_bindings(z):
    wanted = set(OPERATIONS.values())
    for binding in (SOAP11_BINDING, SOAP12_BINDING):
        assert set(z.client.wsdl.bindings[binding].all()) == wanted
    # The wrappers are unqualified (legacy) or in ns.AGENCY (stubs); the letter is rsm:-qualified.
    wrapper = z.client.get_element(z.wrapper("CorrespondenceLetterOutboundRequest"))
    assert etree.QName(wrapper.qname).namespace == z.wrapper_ns
    assert etree.QName(z.client.get_element(f"{{{ns.RSM}}}GovernmentDocument").qname).namespace == ns.RSM


@pytest.mark.parametrize("port", ["ECMSAgencySoap11", "ECMSAgencySoap12"])
def test_served_wsdl_port_address_is_the_endpoint_it_was_fetched_from(z, live, port):
    service = z.client.wsdl.services["ECMSAgencyService"]
    assert service.ports[port].binding_options["address"] == live.endpoint(CENTRAL)


# ------------------------------------------------------------------ a letter's whole life

def test_send_pull_delete_notifiers_special_and_status(z, clock):
    central, chiangmai = z.act_as(CENTRAL), z.act_as(CHIANGMAI)
    letter_id = unique_letter_id("ศธ 0210/ว")

    # 3.2.1 send: the answer carries ProcessID, its lower-case alias and the stored letter.
    sent = central.CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=letter_id, sender=CENTRAL, receiver=CHIANGMAI))
    assert sent.ProcessID
    z.check_alias(sent)
    assert sent.ProcessTime == wire_time(clock.now())
    assert item_name(sent) == "GovernmentDocument"
    assert sent.GovernmentDocument.CorrespondenceLetter.Subject == SUBJECT
    request, _ = z.last_exchange()
    assert request.find(f".//{{{ns.RAM}}}Subject").text == SUBJECT
    assert status_by_process_id(central)[sent.ProcessID].ProcessStatus == "DELIVERED"

    # A retry of the same letter (as after a timeout) is the same letter, not a second one.
    again = central.CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=letter_id, sender=CENTRAL, receiver=CHIANGMAI))
    assert again.ProcessID == sent.ProcessID

    # 3.2.7 pull as the receiver: the letter as sent, Thai text and binaries intact.
    pulled = chiangmai.CorrespondenceLetterInbound()
    assert pulled.ProcessID == sent.ProcessID
    z.check_alias(pulled)
    assert item_name(pulled) == "GovernmentDocument"
    letter = pulled.GovernmentDocument.CorrespondenceLetter
    assert (letter.ID, letter.CorrespondenceDate, letter.Subject) == (letter_id, DATE, SUBJECT)
    assert z.letter_attribute_id(letter) == "Letter"
    assert (letter.SecretCode, letter.SpeedCode) == ("001", "003")
    assert letter.SenderParty.DepartmentOrganization.ID == CENTRAL
    assert letter.ReceiverParty.DepartmentOrganization.ID == CHIANGMAI
    assert letter.SenderParty.JobTitle == "ผู้อำนวยการสำนักอำนวยการ"
    assert letter.ReferenceCorrespondence[0].Subject == "การประชุมครั้งที่ ๑/๒๕๖๙"
    assert letter.Attachment == "ระเบียบวาระการประชุม ๑ ชุด"
    assert (letter.MainLetterBinaryObject._value_1, letter.MainLetterBinaryObject.mimeCode) == (PDF, "pdf")
    assert [a._value_1.decode() for a in letter.AttachmentBinaryObject] == ["วาระการประชุม"]
    _, answer = z.last_exchange()
    assert answer.find(f".//{{{ns.RAM}}}CorrespondenceLetter").prefix == "ram"
    assert status_by_process_id(central)[sent.ProcessID].ProcessStatus == "PULLED"
    # The node signed the letter for its sender; zeep reads the signature with the WSDL's types.
    signature = pulled.GovernmentDocument.GovernmentSignature
    assert signature.TypeCode == "DSIG"
    assert signature.SignerParty.DepartmentCode == CENTRAL
    assert [r.URI for r in signature.Signature.SignedInfo.Reference] == ["#Letter"]
    x509_data = first(signature.Signature.KeyInfo._value_1, "X509Data")._value_1
    certificate = x509.load_der_x509_certificate(first(x509_data, "X509Certificate"))
    assert CENTRAL in certificate.subject.rfc4514_string()
    assert CENTRAL in first(x509_data, "X509SubjectName")

    # 3.2.14 delete; deleting again answers the same; the queue is then empty.
    deleted = chiangmai.CorrespondenceLetterDelete(ProcessID=pulled.ProcessID)
    assert deleted.ProcessID == pulled.ProcessID and deleted.ProcessTime
    assert chiangmai.CorrespondenceLetterDelete(ProcessID=pulled.ProcessID).ProcessTime == deleted.ProcessTime
    assert_empty(chiangmai.CorrespondenceLetterInbound())

    # 3.2.2 receive and 3.2.3 accept, sent by the receiver.
    received = chiangmai.CorrespondenceLetterOutbound(ReceiveLetterNotifier=notifier(letter_id, SUBJECT))
    assert item_name(received) == "ReceiveLetterNotifier"
    assert received.ReceiveLetterNotifier.Subject == SUBJECT
    assert received.ReceiveLetterNotifier.AcceptDepartment.Code == CHIANGMAI
    assert received.ReceiveLetterNotifier.AcceptDate == wire_time(clock.now())
    assert status_by_process_id(central)[sent.ProcessID].ProcessStatus == "RECEIVED"

    accepted = chiangmai.CorrespondenceLetterOutbound(AcceptLetterNotifier=notifier(letter_id, "", ACCEPT_ID))
    assert accepted.AcceptLetterNotifier.AcceptID == ACCEPT_ID
    assert accepted.AcceptLetterNotifier.Subject == SUBJECT  # an empty Subject is filled from the letter
    status = status_by_process_id(central)[sent.ProcessID]
    assert (status.ProcessStatus, status.AcceptID, status.LetterID) == ("ACCEPTED", ACCEPT_ID, letter_id)
    assert status.AcceptDepartment.Code == CHIANGMAI and status.CorrespondenceDate == DATE

    # The sender pulls both notifiers, in order, and deletes them.
    for expected, answer in (("ReceiveLetterNotifier", received), ("AcceptLetterNotifier", accepted)):
        item = central.CorrespondenceLetterInbound()
        assert item_name(item) == expected and item.ProcessID == answer.ProcessID
        assert item[expected].LetterID == letter_id
        central.CorrespondenceLetterDelete(ProcessID=item.ProcessID)
    assert_empty(central.CorrespondenceLetterInbound())

    # 3.2.6 the sender disputes the receive number; the receiver gets the dispute.
    disputed = central.CorrespondenceLetterOutbound(
        InvalidAcceptIDNotifier=notifier(letter_id, "เลขทะเบียนรับไม่ถูกต้อง", ACCEPT_ID))
    assert item_name(disputed) == "InvalidAcceptIDNotifier"
    assert disputed.InvalidAcceptIDNotifier.AcceptID == ACCEPT_ID
    assert status_by_process_id(central)[sent.ProcessID].ProcessStatus == "ACCEPT_ID_DISPUTED"
    item = chiangmai.CorrespondenceLetterInbound()
    assert item_name(item) == "InvalidAcceptIDNotifier" and item.ProcessID == disputed.ProcessID
    assert item.InvalidAcceptIDNotifier.Subject == "เลขทะเบียนรับไม่ถูกต้อง"
    chiangmai.CorrespondenceLetterDelete(ProcessID=item.ProcessID)

    # Special re-request: the receiver fetches the deleted letter again, the sender the accept.
    again = chiangmai.CorrespondenceLetterInboundSpecial(
        GovernmentDocument=reference(letter_id, CENTRAL, CHIANGMAI))
    assert again.ProcessID == sent.ProcessID
    assert again.GovernmentDocument.CorrespondenceLetter.Subject == SUBJECT
    assert again.GovernmentDocument.CorrespondenceLetter.MainLetterBinaryObject._value_1 == PDF
    accept_again = central.CorrespondenceLetterInboundSpecial(
        AcceptLetterNotifier=reference(letter_id, CENTRAL, CHIANGMAI))
    assert accept_again.ProcessID == accepted.ProcessID
    assert accept_again.AcceptLetterNotifier.AcceptID == ACCEPT_ID
    dispute_again = chiangmai.CorrespondenceLetterInboundSpecial(
        InvalidAcceptIDNotifier=reference(letter_id, CENTRAL, CHIANGMAI))
    assert dispute_again.ProcessID == disputed.ProcessID
    # ... and the queues are untouched by it.
    assert_empty(chiangmai.CorrespondenceLetterInbound())
    assert_empty(central.CorrespondenceLetterInbound())


@pytest.mark.parametrize("verdict, status", [
    ("RejectLetterNotifier", "REJECTED"),
    ("InvalidLetterNotifier", "INVALID"),
])
def test_refused_letter_is_withdrawn_and_sent_again(z, verdict, status):
    central, khonkaen = z.act_as(CENTRAL), z.act_as(KHONKAEN)
    letter_id = unique_letter_id("ศธ 0210")
    first = central.CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=letter_id, sender=CENTRAL, receiver=KHONKAEN))
    pulled = khonkaen.CorrespondenceLetterInbound()
    assert pulled.ProcessID == first.ProcessID
    khonkaen.CorrespondenceLetterDelete(ProcessID=pulled.ProcessID)

    # 3.2.4 / 3.2.5 the receiver refuses it.
    refused = khonkaen.CorrespondenceLetterOutbound(**{verdict: notifier(letter_id, "ส่งผิดหน่วยงาน")})
    assert item_name(refused) == verdict and refused[verdict].AcceptDepartment.Code == KHONKAEN
    item = central.CorrespondenceLetterInbound()
    assert item_name(item) == verdict and item.ProcessID == refused.ProcessID
    assert item[verdict].Subject == "ส่งผิดหน่วยงาน"
    central.CorrespondenceLetterDelete(ProcessID=item.ProcessID)
    assert status_by_process_id(central)[first.ProcessID].ProcessStatus == status
    # The sender may fetch the refusal again.
    assert central.CorrespondenceLetterInboundSpecial(
        **{verdict: reference(letter_id, CENTRAL, KHONKAEN)}).ProcessID == refused.ProcessID

    corrected = z.letter(letter_id=letter_id, sender=CENTRAL, receiver=KHONKAEN,
                         subject=SUBJECT + " (แก้ไข)", description="ส่งใหม่หลังถอนหนังสือ")
    # A different letter under the same number is refused until the first is withdrawn.
    with pytest.raises(zeep.exceptions.Fault) as refused_resend:
        central.CorrespondenceLetterOutbound(GovernmentDocument=corrected)
    assert error_codes(z, refused_resend.value) == ["2005"]

    # 3.2.13 withdraw, then resend: a new ProcessID, the corrected letter in the receiver's queue.
    withdrawn = central.CorrespondenceDeleteGovernmentDocument(**reference(letter_id, CENTRAL, KHONKAEN))
    assert withdrawn.LetterID == letter_id and withdrawn.ProcessTime
    assert status_by_process_id(central)[first.ProcessID].ProcessStatus == "WITHDRAWN"
    again = central.CorrespondenceDeleteGovernmentDocument(**reference(letter_id, CENTRAL, KHONKAEN))
    assert again.ProcessTime == withdrawn.ProcessTime  # a retried withdrawal answers the same

    resent = central.CorrespondenceLetterOutbound(GovernmentDocument=corrected)
    assert resent.ProcessID and resent.ProcessID != first.ProcessID
    pulled = khonkaen.CorrespondenceLetterInbound()
    assert pulled.ProcessID == resent.ProcessID
    assert pulled.GovernmentDocument.CorrespondenceLetter.Subject == SUBJECT + " (แก้ไข)"
    assert pulled.GovernmentDocument.CorrespondenceLetter.Description == "ส่งใหม่หลังถอนหนังสือ"
    statuses = status_by_process_id(central)
    assert statuses[first.ProcessID].ProcessStatus == "WITHDRAWN"
    assert statuses[resent.ProcessID].ProcessStatus == "PULLED"


def test_letter_built_by_hand_as_lxml_is_sent_through_zeep(z, clock):
    """A letter kept as XML (as e-Saraban systems store it) goes through zeep via Element.parse.

    zeep does not take a raw lxml element or an AnyObject for the typed rsm:GovernmentDocument
    inside the xs:choice; parsing the element with the WSDL's own GovernmentDocument type does.
    """
    letter_id = unique_letter_id("ศธ ๐๒๑๐")
    subject = "ขอความอนุเคราะห์ข้อมูล & สถิติ <ปีงบประมาณ ๒๕๖๙>"
    xml = letter_xml(OutgoingLetter(
        letter_id=letter_id, correspondence_date=DATE, subject=subject, sender=CENTRAL, receiver=CHIANGMAI,
        speed_code="004", main_letter=Attachment(mime_code="application/pdf", content=PDF)), clock.now())
    element = etree.fromstring(xml.encode("utf-8"))
    document = z.client.get_element(f"{{{ns.RSM}}}GovernmentDocument").parse(element, z.client.wsdl.types)
    sent = z.act_as(CENTRAL).CorrespondenceLetterOutbound(GovernmentDocument=document)
    pulled = z.act_as(CHIANGMAI).CorrespondenceLetterInbound()
    assert pulled.ProcessID == sent.ProcessID
    letter = pulled.GovernmentDocument.CorrespondenceLetter
    assert (letter.ID, letter.Subject, letter.SpeedCode) == (letter_id, subject, "004")
    assert letter.MainLetterBinaryObject.mimeCode == "application/pdf"
    assert base64.b64encode(letter.MainLetterBinaryObject._value_1) == base64.b64encode(PDF)


# ------------------------------------------------------------------ directory, code lists, clock

def test_directory_code_lists_and_clock(z, live, clock):
    service = z.act_as(KHONKAEN)

    ministries = service.GetMinistryOrganizationList()
    assert {m.MinistryID: m["Th-Name"] for m in ministries} == dict(codelists.MINISTRIES)
    assert {m.MinistryID: m["Th-Name"] for m in ministries}["20"] == "กระทรวงศึกษาธิการ"

    organizations = service.GetOrganizationList()
    by_id = {o.OrganizationID: o for o in organizations}
    assert set(by_id) == {org_id for org_id, _, _ in DEMO_ORGANIZATIONS}
    for org_id, th_name, en_name in DEMO_ORGANIZATIONS:
        assert (by_id[org_id]["Th-Name"], by_id[org_id]["En-Name"]) == (th_name, en_name)
        assert by_id[org_id]["ECMS-URL"] == live.endpoint(org_id)

    assert {c.Value: c.Description for c in service.GetSecretCodes()} == dict(codelists.SECRET_CODES)
    assert {c.Value: c.Description for c in service.GetSpeedCodes()} == dict(codelists.SPEED_CODES)
    assert {c["File-Extension"]: c["Content-type"] for c in service.GetMimeCodes()} == dict(codelists.MIME_CODES)

    assert service.TimeCheck() == wire_time(clock.now()) == wire_time(FakeClock().now())


# ------------------------------------------------------------------ errors

def _unknown_process_id(z):
    z.act_as(CHIANGMAI).CorrespondenceLetterDelete(ProcessID="00000000-0000-0000-0000-000000000000")


def _letter_sent_from_the_wrong_endpoint(z):
    z.act_as(KHONKAEN).CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=unique_letter_id(), sender=CENTRAL, receiver=CHIANGMAI))


def _notifier_for_an_unknown_letter(z):
    z.act_as(CHIANGMAI).CorrespondenceLetterOutbound(
        AcceptLetterNotifier=notifier("ศธ 0210/ไม่มีจริง", SUBJECT, ACCEPT_ID))


def _withdrawal_of_a_letter_nobody_refused(z):
    letter_id = unique_letter_id()
    z.act_as(CENTRAL).CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=letter_id, sender=CENTRAL, receiver=CHIANGMAI))
    z.act_as(CENTRAL).CorrespondenceDeleteGovernmentDocument(**reference(letter_id, CENTRAL, CHIANGMAI))


def _top_secret_letter(z):
    document = z.letter(letter_id=unique_letter_id(), sender=CENTRAL, receiver=CHIANGMAI)
    document.CorrespondenceLetter.SecretCode = "004"
    z.act_as(CENTRAL).CorrespondenceLetterOutbound(GovernmentDocument=document)


@pytest.mark.parametrize("provoke, code", [
    (_unknown_process_id, "3003"),
    (_letter_sent_from_the_wrong_endpoint, "2006"),
    (_notifier_for_an_unknown_letter, "3001"),
    (_withdrawal_of_a_letter_nobody_refused, "3002"),
    (_top_secret_letter, "2003"),
], ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"))
def test_node_error_reaches_zeep_as_a_fault_with_error_detail(z, provoke, code):
    with pytest.raises(zeep.exceptions.Fault) as caught:
        provoke(z)
    fault = caught.value
    assert fault.code == "SOAP-ENV:Client"
    assert error_codes(z, fault) == [code]
    assert fault.message  # faultstring: the English and Thai description
    _, answer = z.last_exchange()
    found = answer.find(f"{{{ns.SOAP11_ENV}}}Body/{{{ns.SOAP11_ENV}}}Fault/detail/{z.wrapper('ErrorDetail')}/"
                        f"{z.wrapper('ErrorCode')}")
    assert found.text == code


# ------------------------------------------------------------------ SOAP 1.2

def test_soap12_binding_sends_pulls_deletes_and_faults(z, clock):
    central, chiangmai = z.act_as(CENTRAL, SOAP12_BINDING), z.act_as(CHIANGMAI, SOAP12_BINDING)
    letter_id = unique_letter_id("ศธ 0210/ว")
    subject = "แจ้งกำหนดการตรวจราชการ (SOAP 1.2)"

    assert central.TimeCheck() == wire_time(clock.now())
    request, answer = z.last_exchange()
    assert etree.QName(request).namespace == ns.SOAP12_ENV == etree.QName(answer).namespace

    sent = central.CorrespondenceLetterOutbound(
        GovernmentDocument=z.letter(letter_id=letter_id, sender=CENTRAL, receiver=CHIANGMAI, subject=subject))
    pulled = chiangmai.CorrespondenceLetterInbound()
    assert pulled.ProcessID == sent.ProcessID
    assert pulled.GovernmentDocument.CorrespondenceLetter.Subject == subject
    assert chiangmai.CorrespondenceLetterDelete(ProcessID=pulled.ProcessID).ProcessID == pulled.ProcessID
    assert_empty(chiangmai.CorrespondenceLetterInbound())
    received = chiangmai.CorrespondenceLetterOutbound(ReceiveLetterNotifier=notifier(letter_id, subject))
    assert received.ReceiveLetterNotifier.AcceptDepartment.Code == CHIANGMAI
    assert status_by_process_id(central)[sent.ProcessID].ProcessStatus == "RECEIVED"

    with pytest.raises(zeep.exceptions.Fault) as caught:
        chiangmai.CorrespondenceLetterDelete(ProcessID=pulled.ProcessID + "-unknown")
    assert caught.value.code == "env:Sender"
    assert error_codes(z, caught.value) == ["3003"]
    _, answer = z.last_exchange()
    assert etree.QName(answer).namespace == ns.SOAP12_ENV


# ------------------------------------------------------------------ the flow every generated client runs

CLIENT = Path(__file__).resolve().parents[1] / "interop" / "zeep" / "client.py"


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_whole_flow_of_the_interop_clients(live, tmp_path, soap12):
    """tests/interop/zeep/client.py: the program docs/connect.md quotes, run as a vendor would run it."""
    flow, out = run_flow(live, [sys.executable, str(CLIENT)], tmp_path, soap12=soap12)
    check_flow(out, live, flow, stack="zeep", soap12=soap12)
    assert out["stackVersion"] == importlib.metadata.version("zeep")
