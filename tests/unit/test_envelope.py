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
