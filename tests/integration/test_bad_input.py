"""Every bad input gets an ErrorDetail with its documented code and stores nothing (issue 2, item 8)."""
from __future__ import annotations

import dataclasses
import re

import pytest
from gateway.testing.wire import PULL, call, letter, notifier_request, send_request, soap

from gateway.testing.fixtures import CENTRAL, CHIANGMAI
from gateway.runtime import wiring as app
from gateway.core import ns
from gateway.core.xml import safe as xmlsafe


def counts(node):
    with node.store.transaction() as tx:
        return tx.table_counts()


EMPTY = {"letters": 0, "letter_blobs": 0, "notices": 0, "queue": 0, "outbox": 0, "received": 0}


def refused(node, body: bytes, code: str, org: str = CENTRAL, content_type: str = "text/xml") -> str:
    reply = call(node, org, body, content_type=content_type)
    assert reply.status == 200, "SOAP 1.1 faults answer 200 so deployed clients read them"
    assert reply.error_code == code, f"expected {code}, got {reply.error_code}: {reply.error_text}"
    assert reply.root.find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault") is not None
    assert counts(node) == EMPTY
    return reply.error_text


def test_unescaped_ampersand_from_string_concatenation(node):
    text = refused(node, send_request(subject="ประชุม & สัมมนา", raw_subject=True), "1001")
    assert "&amp;" in text  # the description tells the client how to fix it


def test_truncated_xml(node):
    refused(node, send_request()[:-40], "1001")


def test_internal_entity_declaration(node):
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + soap("<GetSpeedCodes/>").split(b"?>", 1)[1]
    refused(node, body, "1002")


def test_external_entity(node):
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
            b"<CorrespondenceLetterDeleteRequest><ProcessID>&e;</ProcessID></CorrespondenceLetterDeleteRequest>"
            b"</SOAP-ENV:Body></SOAP-ENV:Envelope>")
    refused(node, body, "1002")


def test_billion_laughs(node):
    lol = "".join(f'<!ENTITY l{i} "&l{i-1};&l{i-1};&l{i-1};&l{i-1};">' for i in range(1, 10))
    body = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">{lol}]><x>&l9;</x>'.encode()
    refused(node, body, "1002")


def test_processing_instruction(node):
    refused(node, soap('<?evil data?><GetSpeedCodes/>'), "1002")


def test_schema_invalid_letter(node):
    # SpeedCode before SecretCode: the element order of DESIGN section 3 is part of the contract.
    body = send_request().replace(b"<ram:SecretCode>001</ram:SecretCode><ram:SpeedCode>002</ram:SpeedCode>",
                                  b"<ram:SpeedCode>002</ram:SpeedCode><ram:SecretCode>001</ram:SecretCode>")
    text = refused(node, body, "1006")
    assert "ram:SpeedCode" in text


def test_schema_invalid_date_pattern(node):
    refused(node, send_request(date="26/11/2569"), "1006")


def test_unknown_receiver(node):
    text = refused(node, send_request(receiver="2099999999"), "2001")
    assert "2099999999" in text


@pytest.mark.parametrize("kw,code", [
    ({"secret": "009"}, "2002"),
    ({"speed": "005"}, "2002"),
    ({"main_mime": "exe"}, "2002"),
])
def test_unknown_code_values(node, kw, code):
    refused(node, send_request(**kw), code)


def test_unknown_attachment_mime(node):
    att = '<ram:AttachmentBinaryObject mimeCode="application/x-msdownload">TVqQAAMAAAAEAAAA</ram:AttachmentBinaryObject>'
    refused(node, send_request(attachments=att), "2002")


def test_top_secret_refused_by_default(node):
    text = refused(node, send_request(secret="004"), "2003")
    assert "ลับที่สุด" in text


def test_top_secret_accepted_when_configured(store, clock, cfg):
    node = app.build(dataclasses.replace(cfg, allow_top_secret=True), store=store, clock=clock, migrate=False)
    sent = call(node, CENTRAL, send_request(secret="004")).ok()
    with node.store.transaction() as tx:
        stored = tx.letter_by_process_id(sent.process_id)
    assert stored is not None and stored.secret_code == "004"
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert pulled.process_id == sent.process_id
    assert pulled.element.find(f".//{ns.ram('SecretCode')}").text == "004"


def test_missing_main_letter(node):
    without = re.sub(r"<ram:MainLetterBinaryObject .*?</ram:MainLetterBinaryObject>", "", letter())
    body = soap(f"<CorrespondenceLetterOutboundRequest>{without}</CorrespondenceLetterOutboundRequest>")
    assert b"MainLetterBinaryObject" not in body
    refused(node, body, "2004")


def test_empty_main_letter(node):
    refused(node, send_request(main=""), "2004")


def test_body_over_the_limit(store, clock, cfg):
    small = dataclasses.replace(cfg, limits=xmlsafe.Limits(max_bytes=4096))
    node = app.build(small, store=store, clock=clock, migrate=False)
    refused(node, send_request(main="QUJD" * 2000), "1003")


def test_body_just_under_the_limit_is_fine(store, clock, cfg):
    body = send_request()
    node = app.build(dataclasses.replace(cfg, limits=xmlsafe.Limits(max_bytes=len(body))), store=store,
                     clock=clock, migrate=False)
    call(node, CENTRAL, body).ok()


def test_unknown_operation(node):
    refused(node, soap("<CorrespondenceLetterTeleportRequest/>"), "1005")


def test_qualified_operation_element(node):
    refused(node, soap('<x:GetSpeedCodes xmlns:x="urn:something"/>'), "1005")


@pytest.mark.parametrize("body", [
    b"<notsoap/>",
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"/>',
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body/></SOAP-ENV:Envelope>',
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><GetSpeedCodes/>'
    b"</SOAP-ENV:Body><SOAP-ENV:Body><GetSecretCodes/></SOAP-ENV:Body></SOAP-ENV:Envelope>",
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><GetSpeedCodes/>'
    b"<GetSecretCodes/></SOAP-ENV:Body></SOAP-ENV:Envelope>",
], ids=["not-an-envelope", "no-body", "empty-body", "two-bodies", "two-operations"])
def test_not_a_soap_request(node, body):
    refused(node, body, "1004")


def test_wrong_content_type(node):
    refused(node, soap("<GetSpeedCodes/>"), "1008", content_type="application/json")


def test_empty_request_body(node):
    refused(node, b"", "1008")


def test_deep_nesting(node):
    refused(node, soap("<a>" * 200 + "</a>" * 200), "1007")


def test_buddhist_era_year(node):
    text = refused(node, send_request(date="2569-11-26"), "2007")
    assert "Buddhist" in text


def test_impossible_date(node):
    refused(node, send_request(date="2026-02-30"), "2007")


def test_empty_letter_number(node):
    refused(node, send_request(letter_id=""), "2007")


def test_empty_subject(node):
    refused(node, send_request(subject=""), "2007")


def test_letter_from_another_organisation(node):
    text = refused(node, send_request(sender=CHIANGMAI), "2006")
    assert CHIANGMAI in text


def test_notifier_with_a_bad_date(node):
    refused(node, notifier_request("ReceiveLetterNotifier", "ศธ 1/1", date="2026-13-01"), "2007", org=CHIANGMAI)


def test_accept_without_accept_id(node):
    refused(node, notifier_request("AcceptLetterNotifier", "ศธ 1/1", accept_id=""), "2007", org=CHIANGMAI)


def test_node_keeps_serving_after_bad_input(node):
    refused(node, b"<<<", "1001")
    call(node, CHIANGMAI, PULL).ok()
