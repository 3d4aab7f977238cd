"""Both contracts on one node: legacy (unqualified) and stubs (qualified in ns.AGENCY) requests.

Deployed clients send the legacy shape byte for byte (tests/integration/test_golden_clients.py);
clients generated from ``?wsdl`` send the same wrappers qualified. The node reads both, stores
the same letter, and answers each in the style it was asked in. Through the WSGI application,
on every store.
"""
from __future__ import annotations

import io

import pytest
from lxml import etree

from gateway.core import ns
from gateway.core.xml import contract, envelope
from gateway.testing.fixtures import CENTRAL, CHIANGMAI
from gateway.testing.wire import PULL, Reply, call, delete_request, notifier_request, reference, send_request, soap

LID = "ศธ 0210/ว 77"
A = f"{{{ns.AGENCY}}}"


def qualified(request: bytes) -> bytes:
    """A legacy request with its wrapper elements moved into ns.AGENCY (as generated stubs write it)."""
    root = etree.fromstring(request)
    body = root.find(f"{{{ns.SOAP11_ENV}}}Body")
    envelope.qualify(body[0], ns.AGENCY)
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)


def without_letter_id_attribute(request: bytes) -> bytes:
    return request.replace(b'<ram:CorrespondenceLetter ID="Letter">', b"<ram:CorrespondenceLetter>")


def error(reply: Reply, *, qualified_detail: bool) -> str | None:
    prefix = A if qualified_detail else ""
    return reply.root.findtext(f".//{prefix}ErrorDetail/{prefix}ErrorCode")


def test_a_generated_client_sends_pulls_and_deletes_in_its_own_style(node):
    sent = call(node, CENTRAL, qualified(without_letter_id_attribute(send_request(letter_id=LID))))
    assert error(sent, qualified_detail=True) is None, sent.body.decode()
    answer = sent.element
    assert answer.tag == f"{A}CorrespondenceLetterOutboundResponse"
    assert [child.tag for child in answer] == [f"{A}ProcessID", f"{A}ProcessTime", ns.rsm("GovernmentDocument")]
    process_id = answer.findtext(f"{A}ProcessID")
    # The node named the unsigned letter for its signature, and signed it.
    stored = answer.find(ns.rsm("GovernmentDocument"))
    assert stored.find(ns.ram("CorrespondenceLetter")).get("ID") == "Letter"
    assert stored.find(f".//{ns.ds('Signature')}") is not None

    pulled = call(node, CHIANGMAI, qualified(PULL)).element
    assert pulled.tag == f"{A}CorrespondenceLetterInboundResponse"
    assert pulled.findtext(f"{A}ProcessID") == process_id and pulled.find(f"{A}processID") is None
    # The letter's bytes are the stored bytes in both styles: a legacy re-request answers the same.
    again = call(node, CHIANGMAI, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                       + reference("GovernmentDocument", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                       + "</CorrespondenceLetterInboundSpecialRequest>"))
    assert again.element.findtext("processID") == process_id     # legacy answers keep the alias
    letter_bytes = lambda reply: reply.body[reply.body.index(b"<rsm:GovernmentDocument"):
                                            reply.body.index(b"</rsm:GovernmentDocument>")]
    assert letter_bytes(again) == letter_bytes(call(node, CHIANGMAI, qualified(soap(
        "<CorrespondenceLetterInboundSpecialRequest>"
        + reference("GovernmentDocument", LID, "2026-11-26", CENTRAL, CHIANGMAI)
        + "</CorrespondenceLetterInboundSpecialRequest>"))))

    deleted = call(node, CHIANGMAI, qualified(delete_request(process_id))).element
    assert deleted.tag == f"{A}CorrespondenceLetterDeleteResponse" and deleted.findtext(f"{A}ProcessID") == process_id
    assert len(call(node, CHIANGMAI, qualified(PULL)).element) == 0


def test_notifiers_are_answered_and_pulled_in_the_style_asked(node):
    call(node, CENTRAL, send_request(letter_id=LID)).ok()                     # a deployed client sends
    process_id = call(node, CHIANGMAI, PULL).ok().process_id
    call(node, CHIANGMAI, delete_request(process_id)).ok()
    received = call(node, CHIANGMAI, qualified(notifier_request("ReceiveLetterNotifier", LID))).element
    notifier = received.find(f"{A}ReceiveLetterNotifier")
    assert notifier.findtext(f"{A}AcceptDepartment/{A}Code") == CHIANGMAI
    # The sender pulls it twice: qualified (a generated client), then legacy (a deployed one).
    as_stubs = call(node, CENTRAL, qualified(PULL)).element
    assert as_stubs.find(f"{A}ReceiveLetterNotifier/{A}LetterID").text == LID
    as_legacy = call(node, CENTRAL, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                         + reference("ReceiveLetterNotifier", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                         + "</CorrespondenceLetterInboundSpecialRequest>")).ok().element
    assert as_legacy.find("ReceiveLetterNotifier/LetterID").text == LID
    assert all(not el.tag.startswith("{") for el in as_legacy.iter() if isinstance(el.tag, str))


def test_faults_are_typed_for_the_stubs_contract_and_legacy_for_deployed_clients(node):
    unknown = send_request(letter_id=LID, receiver="9999999999")
    stubs = call(node, CENTRAL, qualified(without_letter_id_attribute(unknown)))
    assert error(stubs, qualified_detail=True) == "2001" and error(stubs, qualified_detail=False) is None
    legacy = call(node, CENTRAL, unknown)
    assert error(legacy, qualified_detail=False) == "2001" and error(legacy, qualified_detail=True) is None
    # Nothing was stored by either.
    assert len(call(node, CHIANGMAI, PULL).ok().element) == 0


def test_a_signed_letter_is_not_renamed(node):
    """Only an unsigned letter gets ID="Letter"; a signed one without it fails the schema, unchanged."""
    signed = without_letter_id_attribute(send_request(
        letter_id=LID, signature=f'<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ds:Signature '
                                 f'xmlns:ds="{ns.DS}"/></ram:GovernmentSignature>'))
    reply = call(node, CENTRAL, qualified(signed))
    assert error(reply, qualified_detail=True) in ("1006", "4003")
    assert len(call(node, CHIANGMAI, PULL).ok().element) == 0


def test_a_request_mixing_styles_is_refused_and_stores_nothing(node):
    mixed = soap(f'<a:CorrespondenceLetterOutboundRequest xmlns:a="{ns.AGENCY}"><ReceiveLetterNotifier>'
                 f"<LetterID>{LID}</LetterID><CorrespondenceDate>2026-11-26</CorrespondenceDate><Subject>ก</Subject>"
                 "</ReceiveLetterNotifier></a:CorrespondenceLetterOutboundRequest>")
    reply = call(node, CHIANGMAI, mixed)
    assert error(reply, qualified_detail=True) == "1006"
    assert "unqualified" in reply.root.findtext(f".//{A}ErrorDescription")


@pytest.mark.parametrize("query, name", [("wsdl", contract.AGENCY_WSDL), ("WSDL", contract.AGENCY_WSDL),
                                         ("wsdl=legacy", contract.LEGACY_WSDL)])
def test_both_wsdls_are_served(node, query, name):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/ecms-ws01/service2/{CENTRAL}", "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(b""), "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}
    seen = {}
    body = b"".join(node.wsgi(environ, lambda line, headers: seen.setdefault("status", line)))
    assert seen["status"].startswith("200")
    assert body == contract.served_wsdl(name, node.wsgi.agency_url(CENTRAL))
