"""Legacy envelopes in, answers out (DESIGN section 3)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.core.xml import envelope, safe as xmlsafe
from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError

VB = (b'<?xml version="1.0" encoding="UTF-8" standalone="no"?><SOAP-ENV:Envelope '
      b'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header><wsa:MessageID '
      b'xmlns:wsa="http://w3.org/2005/08/addressing"></wsa:MessageID> <wsa:to xmlns:wsa="http://w3.org/2005/08/'
      b'addressing">http://ecms.example/ecms-ws01/service2</wsa:to></SOAP-ENV:Header><SOAP-ENV:Body>'
      b"<CorrespondenceLetterInboundRequest /></SOAP-ENV:Body></SOAP-ENV:Envelope>")
CSHARP = ('<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header>'
          '<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">ทดสอบ</wsa:MessageID>'
          '<wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">http://other/ecms-ws01/service2</wsa:To>'
          '</SOAP-ENV:Header><SOAP-ENV:Body ID="Body"><GetOrganizationList /></SOAP-ENV:Body>'
          "</SOAP-ENV:Envelope>").encode()
SOAP12 = (b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><TimeCheckRequest/>'
          b"</env:Body></env:Envelope>")


def parse(data: bytes) -> envelope.AgencyRequest:
    return envelope.parse_request(xmlsafe.parse(data))


def test_vbnet_family_misspelled_addressing_and_lower_case_to():
    req = parse(VB)
    assert (req.operation, req.soap_version, req.message_id, req.to) == (
        "CorrespondenceLetterInbound", "1.1", "", "http://ecms.example/ecms-ws01/service2")


def test_csharp_family_free_text_message_id_and_body_id():
    req = parse(CSHARP)
    assert (req.operation, req.message_id) == ("GetOrganizationList", "ทดสอบ")


def test_soap12():
    assert parse(SOAP12).soap_version == "1.2"


def test_duplicate_addressing_header_is_refused():
    doubled = CSHARP.replace(b"</SOAP-ENV:Header>", b'<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/'
                                                    b'addressing">2</wsa:MessageID></SOAP-ENV:Header>')
    with pytest.raises(RemoteError) as info:
        parse(doubled)
    assert info.value.code is ErrorCode.NOT_SOAP


def test_header_after_body_is_refused():
    moved = (b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
             b"<GetSpeedCodes/></SOAP-ENV:Body><SOAP-ENV:Header/></SOAP-ENV:Envelope>")
    with pytest.raises(RemoteError) as info:
        parse(moved)
    assert info.value.code is ErrorCode.NOT_SOAP


def test_answer_is_unqualified_and_unprefixed():
    out = envelope.wrap("1.1", b"<CorrespondenceLetterDeleteResponse><ProcessID>1</ProcessID>"
                               b"<ProcessTime>t</ProcessTime></CorrespondenceLetterDeleteResponse>")
    root = etree.fromstring(out)
    resp = root.find(f"{{{ns.SOAP11_ENV}}}Body")[0]
    assert resp.tag == "CorrespondenceLetterDeleteResponse" and resp.prefix is None
    assert root.prefix == "SOAP-ENV"
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_fault_carries_error_detail_in_order():
    err = RemoteError(ErrorCode.LETTER_NOT_FOUND, "ศธ 0210/1 & co")
    root = etree.fromstring(envelope.fault("1.1", [err]))
    detail = root.find(".//ErrorDetail")
    assert [c.tag for c in detail] == ["ErrorCode", "ErrorDescription"]
    assert detail[0].text == "3001" and "ศธ 0210/1 & co" in detail[1].text
    assert root.find(".//faultcode").text == "SOAP-ENV:Client"
    assert envelope.fault_http_status("1.1", [err]) == 200
    assert envelope.fault_http_status("1.2", [err]) == 400
    assert envelope.fault_http_status("1.2", [RemoteError(ErrorCode.INTERNAL)]) == 500


def test_qualify_and_unqualify_leave_the_letter_alone():
    el = etree.fromstring(f'<Req><Notifier/><rsm:GovernmentDocument xmlns:rsm="{ns.RSM}"/></Req>'.encode())
    envelope.qualify(el, "urn:x")
    assert el.tag == "{urn:x}Req" and el[1].tag == ns.rsm("GovernmentDocument")
    envelope.unqualify(el, "urn:x")
    assert etree.tostring(el) == f'<Req><Notifier/><rsm:GovernmentDocument xmlns:rsm="{ns.RSM}"/></Req>'.encode()


# ------------------------------------------------------------------ the stubs contract (qualified wrappers)

def _soap11(body: str) -> bytes:
    return (f'<s:Envelope xmlns:s="{ns.SOAP11_ENV}"><s:Body>{body}</s:Body></s:Envelope>').encode()


def legacy_shape(data: bytes) -> envelope.AgencyRequest:
    req = parse(data)
    if req.qualified:
        envelope.to_legacy(req.body)
    return req


def test_qualified_request_is_read_into_the_legacy_shape_and_remembered():
    req = legacy_shape(_soap11(f'<a:CorrespondenceLetterInboundSpecialRequest xmlns:a="{ns.AGENCY}"><a:GovernmentDocument>'
                        "<a:LetterID>ศธ 0210/1</a:LetterID><a:CorrespondenceDate>2026-11-26</a:CorrespondenceDate>"
                        "<a:SenderDepartment><a:Code>1</a:Code></a:SenderDepartment><a:AcceptDepartment><a:Code>2"
                        "</a:Code></a:AcceptDepartment></a:GovernmentDocument>"
                        "</a:CorrespondenceLetterInboundSpecialRequest>"))
    assert req.qualified is True and req.operation == "CorrespondenceLetterInboundSpecial"
    assert [el.tag for el in req.body.iter()] == [
        "CorrespondenceLetterInboundSpecialRequest", "GovernmentDocument", "LetterID", "CorrespondenceDate",
        "SenderDepartment", "Code", "AcceptDepartment", "Code"]
    assert parse(_soap11("<GetSpeedCodes/>")).qualified is False


def test_qualified_request_keeps_the_letter_in_its_namespaces():
    req = legacy_shape(_soap11(f'<CorrespondenceLetterOutboundRequest xmlns="{ns.AGENCY}"><rsm:GovernmentDocument '
                        f'xmlns:rsm="{ns.RSM}" xmlns:ram="{ns.RAM}"><ram:CorrespondenceLetter><ram:ID>1</ram:ID>'
                        "</ram:CorrespondenceLetter></rsm:GovernmentDocument></CorrespondenceLetterOutboundRequest>"))
    assert req.body.tag == "CorrespondenceLetterOutboundRequest"
    assert [el.tag for el in req.body[0].iter()] == [ns.rsm("GovernmentDocument"), ns.ram("CorrespondenceLetter"),
                                                    ns.ram("ID")]


def test_a_request_mixing_the_two_styles_is_refused():
    assert parse(_soap11(f'<a:CorrespondenceLetterDeleteRequest xmlns:a="{ns.AGENCY}"><ProcessID>1</ProcessID>'
                         "</a:CorrespondenceLetterDeleteRequest>")).qualified   # known before it is refused
    with pytest.raises(RemoteError) as info:
        legacy_shape(_soap11(f'<a:CorrespondenceLetterDeleteRequest xmlns:a="{ns.AGENCY}"><ProcessID>1</ProcessID>'
                      "</a:CorrespondenceLetterDeleteRequest>"))
    assert info.value.code is ErrorCode.SCHEMA_INVALID and "'ProcessID'" in info.value.detail
    assert ns.AGENCY in info.value.detail


@pytest.mark.parametrize("body, shown", [
    ('<x:GetSpeedCodes xmlns:x="urn:elsewhere"/>', "urn:elsewhere"),
    (f'<a:NoSuchOperation xmlns:a="{ns.AGENCY}"/>', "NoSuchOperation"),
])
def test_other_namespaces_and_unknown_qualified_operations_are_unknown_operations(body, shown):
    with pytest.raises(RemoteError) as info:
        parse(_soap11(body))
    assert info.value.code is ErrorCode.UNKNOWN_OPERATION and shown in info.value.detail


def test_qualified_fault_is_the_wsdl_typed_error_detail():
    err = RemoteError(ErrorCode.UNKNOWN_RECEIVER, "9999999999")
    for version in ("1.1", "1.2"):
        root = etree.fromstring(envelope.fault(version, [err], qualified=True))
        detail = root.find(f".//{{{ns.AGENCY}}}ErrorDetail")
        assert [c.tag for c in detail] == [f"{{{ns.AGENCY}}}ErrorCode", f"{{{ns.AGENCY}}}ErrorDescription"]
        assert detail[0].text == "2001"
        assert root.find(".//ErrorDetail") is None   # legacy readers' shape is not mixed in
    legacy = etree.fromstring(envelope.fault("1.1", [err]))
    assert legacy.find(".//ErrorDetail/ErrorCode").text == "2001"


def test_soap12_reason_carries_the_specifics_in_thai_and_english():
    root = etree.fromstring(envelope.fault("1.2", [RemoteError(ErrorCode.UNKNOWN_RECEIVER, "9999999999")]))
    texts = {t.get("{http://www.w3.org/XML/1998/namespace}lang"): t.text
             for t in root.iter(f"{{{ns.SOAP12_ENV}}}Text")}
    assert texts["th"] == f"{ErrorCode.UNKNOWN_RECEIVER.thai}: 9999999999"
    assert texts["en"] == f"{ErrorCode.UNKNOWN_RECEIVER.english}: 9999999999"


def test_stored_items_in_either_style():
    notifier = "<ReceiveLetterNotifier><LetterID>ศธ 1</LetterID></ReceiveLetterNotifier>".encode()
    letter = f'<rsm:GovernmentDocument xmlns:rsm="{ns.RSM}"><x/></rsm:GovernmentDocument>'.encode()
    assert envelope.item_in_style(notifier, qualified=False) is notifier
    assert envelope.item_in_style(letter, qualified=True) is letter    # the letter's bytes, never re-serialised
    qualified = etree.fromstring(envelope.item_in_style(notifier, qualified=True))
    assert [el.tag for el in qualified.iter()] == [f"{{{ns.AGENCY}}}ReceiveLetterNotifier", f"{{{ns.AGENCY}}}LetterID"]
    assert qualified[0].text == "ศธ 1"
