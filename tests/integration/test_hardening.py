"""Hardening of the agency port: each class an outside attack run got through, now a documented client fault.

Every case asserts the fault code, that it is a SOAP client fault, that nothing
was stored, and that the node still accepts a genuine letter afterwards
(``refused`` and ``still_serves`` from the attack corpus). The classes follow
the hardening issue: decoy content in unsigned places, per-request parser cost,
internal errors anyone could trigger, non-UTF-8 bodies, what receivers are shown
about the signer, field bounds, and letter-number identity.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.adapters.http.wsgi import read_body
from gateway.core import ns
from gateway.core.errors import RemoteError
from gateway.testing.attacks import counts, org_signer, outbound, refused, signature_of, signed, still_serves
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, unique_letter_id
from gateway.testing.wire import PULL, call, letter, notifier_request, send_request, soap


@pytest.fixture(scope="module")
def central(data_dir):
    return org_signer(data_dir, CENTRAL)


def key_info(document: etree._Element) -> etree._Element:
    return signature_of(document).find(ns.ds("KeyInfo"))


# ------------------------------------------------------- 1. decoy letters

DECOY = ('<ram:CorrespondenceLetter xmlns:ram="urn:attacker:not-ram"><ram:ID>ศธ 9999/1</ram:ID>'
         '<ram:Subject>โปรดโอนเงินงบประมาณด่วนที่สุด</ram:Subject><ram:SenderParty><ram:DepartmentOrganization>'
         '<ram:ID>2000999999</ram:ID></ram:DepartmentOrganization></ram:SenderParty></ram:CorrespondenceLetter>')


def test_a_decoy_letter_in_the_unsigned_key_info_is_refused(node, central):
    """A genuine signature over a letter written with the prefix r:, and a second ram:CorrespondenceLetter
    (another namespace under the conventional prefix) hidden in KeyInfo, where clients reading
    GetElementsByTagName("ram:Subject") would find it. 4003."""
    doc = signed(central, prefix_ram="r", letter_id=unique_letter_id())
    key_info(doc).append(etree.fromstring(DECOY))
    reply = refused(node, outbound(doc), "4003")
    assert "is bound to urn:attacker:not-ram" in reply.error_text
    still_serves(node, central)


def test_content_in_the_ram_namespace_inside_key_info_is_refused(node, central):
    """The same decoy in the genuine ram namespace: KeyInfo holds key material only."""
    doc = signed(central, letter_id=unique_letter_id())
    decoy = etree.fromstring(letter(subject="โปรดโอนเงินงบประมาณด่วนที่สุด", sender=KHONKAEN).encode())[0]
    decoy.set("ID", "Decoy")  # schema-valid, so it reaches the signature layer
    key_info(doc).append(decoy)
    reply = refused(node, outbound(doc), "4003")
    assert "CorrespondenceLetter" in reply.error_text
    still_serves(node, central)


def test_a_decoy_beside_the_signature_is_refused(node, central):
    """A direct child of ds:Signature other than SignedInfo, SignatureValue, KeyInfo: the XSD already refuses
    it (1006); the signature layer would too."""
    doc = signed(central, letter_id=unique_letter_id())
    signature_of(doc).append(etree.fromstring(DECOY))
    refused(node, outbound(doc), "1006")
    still_serves(node, central)


def test_a_conventional_prefix_bound_to_another_namespace_is_refused(node, central):
    """ram: may only mean the ram namespace anywhere in a signed letter."""
    doc = signed(central, letter_id=unique_letter_id())
    x509_data = key_info(doc).find(ns.ds("X509Data"))
    x509_data.append(etree.fromstring('<ram:X509SubjectName xmlns:ram="urn:attacker">CN=x</ram:X509SubjectName>'))
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


def test_a_signed_letter_served_to_the_receiver_has_only_signed_ram_content(node, central):
    """The positive side: what the receiver pulls holds ram: elements only inside the signed letter and the
    GovernmentSignature whose SignerParty was checked against the signer."""
    doc = signed(central, letter_id=unique_letter_id())
    call(node, CENTRAL, outbound(doc)).ok()
    pulled = call(node, CHIANGMAI, PULL).ok().element.find(ns.rsm("GovernmentDocument"))
    letter_el = pulled.find(ns.ram("CorrespondenceLetter"))
    party = pulled.find(f"{ns.ram('GovernmentSignature')}/{ns.ram('SignerParty')}")
    outside = [el for el in pulled.iter() if isinstance(el.tag, str) and el.prefix == "ram"
               and letter_el not in el.iterancestors() and el is not letter_el
               and party not in el.iterancestors() and el is not party]
    assert {etree.QName(el).localname for el in outside} <= {"GovernmentSignature", "TypeCode"}


# ---------------------------------------------- 2. one request stalls the node

def test_a_flood_of_namespace_declarations_is_refused_quickly(node, central):
    """100,000 declarations on the Envelope of a TimeCheckRequest (2.5 MB) took 19-60 s of XSD validation
    while every other request waited. Refused before parsing, 1007. The bound on time is a guard against
    the quadratic path coming back, not a benchmark."""
    decls = " ".join(f'xmlns:n{i}="urn:x:{i}"' for i in range(100_000))
    body = soap("<TimeCheckRequest/>").replace(b"<SOAP-ENV:Envelope ", f"<SOAP-ENV:Envelope {decls} ".encode(), 1)
    started = time.perf_counter()
    refused(node, body, "1007")
    assert time.perf_counter() - started < 10
    still_serves(node, central)


# --------------------------------------------------- 3. internal errors

def test_an_empty_signature_value_is_a_client_fault(node, central):
    doc = signed(central, letter_id=unique_letter_id())
    signature_of(doc).find(ns.ds("SignatureValue")).text = ""
    refused(node, outbound(doc), "4002")
    still_serves(node, central)


def _certificate_with_an_unreadable_subject() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QQQQQQQQ"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, CENTRAL)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(b"QQQQQQQQ") == 2  # subject and issuer
    return der.replace(b"QQQQQQQQ", b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")  # no longer UTF-8


def test_a_key_info_certificate_whose_subject_cannot_be_read_is_a_client_fault(node, central):
    doc = signed(central, letter_id=unique_letter_id())
    certificate = key_info(doc).find(f"{ns.ds('X509Data')}/{ns.ds('X509Certificate')}")
    certificate.text = base64.b64encode(_certificate_with_an_unreadable_subject()).decode()
    reply = refused(node, outbound(doc), "4002")
    assert "cannot be read" in reply.error_text
    still_serves(node, central)


class _Stalled(io.RawIOBase):
    """A client that sent part of its body and then nothing: the socket read times out."""

    def read(self, size=-1):
        raise TimeoutError("timed out")


def test_a_body_shorter_than_its_content_length_is_a_client_fault(node, central):
    body = send_request(letter_id=unique_letter_id())
    before = counts(node)
    reply = call(node, CENTRAL, body[: len(body) // 2], CONTENT_LENGTH=str(len(body)))
    assert reply.error_code == "1008" and "before its Content-Length" in reply.error_text
    with pytest.raises(RemoteError) as stalled:
        read_body({"wsgi.input": _Stalled(), "CONTENT_LENGTH": "1000"}, 10_000)
    assert stalled.value.code.code == "1008" and "TimeoutError" in stalled.value.detail
    assert counts(node) == before
    still_serves(node, central)


# --------------------------------------------------------- 5. UTF-8 only

@pytest.mark.parametrize("encoding", ["UTF-7", "TIS-620", "ISO-8859-11"])
def test_bodies_that_are_not_utf8_are_refused(node, central, encoding):
    body = send_request(letter_id=unique_letter_id())
    body = body.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode(), 1) if b'encoding="UTF-8"' in body \
        else f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + body
    refused(node, body, "1008")
    still_serves(node, central)


def test_a_content_type_naming_another_charset_is_refused(node, central):
    refused(node, send_request(letter_id=unique_letter_id()), "1008", CONTENT_TYPE="text/xml; charset=tis-620")
    call(node, CENTRAL, soap("<TimeCheckRequest/>"), content_type="text/xml; encoding='utf-8'").ok()
    still_serves(node, central)


# ------------------------------------- 6. what receivers are shown about the signer

def test_an_x509_subject_name_naming_another_organisation_is_refused(node, central):
    doc = signed(central, letter_id=unique_letter_id())
    subject = key_info(doc).find(f"{ns.ds('X509Data')}/{ns.ds('X509SubjectName')}")
    subject.text = subject.text.replace(CENTRAL, CHIANGMAI)
    refused(node, outbound(doc), "4004")
    still_serves(node, central)


def test_an_unsigned_letter_cannot_name_another_organisation_as_its_signer(node, central):
    gov = ("<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ram:SignerParty><ram:GivenName>สมหญิง"
           "</ram:GivenName><ram:FamilyName>รักดี</ram:FamilyName><ram:Title>ผู้อำนวยการ</ram:Title>"
           f"<ram:MinistryCode>20</ram:MinistryCode><ram:DepartmentCode>{CHIANGMAI}</ram:DepartmentCode>"
           "</ram:SignerParty></ram:GovernmentSignature>")
    reply = refused(node, send_request(letter_id=unique_letter_id(), signature=gov), "2006")
    assert CHIANGMAI in reply.error_text
    still_serves(node, central)


@pytest.mark.parametrize("element", [
    '<ds:RetrievalMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" URI="http://127.0.0.1:9/key"/>',
    '<ds:KeyName xmlns:ds="http://www.w3.org/2000/09/xmldsig#">สำนักงานศึกษาธิการจังหวัดเชียงใหม่</ds:KeyName>',
])
def test_key_info_that_points_elsewhere_is_refused(node, central, element):
    doc = signed(central, letter_id=unique_letter_id())
    key_info(doc).append(etree.fromstring(element))
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


def test_an_x509_url_is_refused(node, central):
    doc = signed(central, letter_id=unique_letter_id())
    key_info(doc).find(ns.ds("X509Data")).append(
        etree.fromstring(f'<ds:X509URL xmlns:ds="{ns.DS}">http://127.0.0.1:9/cert.pem</ds:X509URL>'))
    refused(node, outbound(doc), "1006")  # not an XML-DSig element at all: the schema refuses it first
    still_serves(node, central)


# ------------------------------------------------------------ 8. field bounds

def _sent_letter(node) -> str:
    letter_id = unique_letter_id()
    call(node, CENTRAL, send_request(letter_id=letter_id)).ok()
    return letter_id


@pytest.mark.parametrize("accept_id,why", [("1" * 200_000, "at most 64"), ("12\u202e34", "U+202E"),
                                           ("12\u200b34", "U+200B"), ("12\x9b34", "U+009B")])
def test_accept_ids_are_bounded(node, central, accept_id, why):
    letter_id = _sent_letter(node)
    before = counts(node)
    reply = refused(node, notifier_request("AcceptLetterNotifier", letter_id, accept_id=accept_id), "2007",
                    org=CHIANGMAI, before=before)
    assert why in reply.error_text
    still_serves(node, central)


@pytest.mark.parametrize("date,why", [("0001-01-01", "before 1900"), ("2300-01-01", "after 2199"),
                                      ("2569-11-26", "Buddhist-Era")])
def test_letter_dates_must_be_plausible(node, central, date, why):
    reply = refused(node, send_request(letter_id=unique_letter_id(), date=date), "2007")
    assert why in reply.error_text
    still_serves(node, central)


@pytest.mark.parametrize("field,value", [("subject", "ก" * 1001), ("subject", "ขอเชิญ\u202eประชุม"),
                                         ("letter_id", "ศธ " + "๑" * 100), ("description", "x" * 4001)])
def test_letter_text_fields_are_bounded(node, central, field, value):
    refused(node, send_request(**{"letter_id": unique_letter_id(), field: value}), "2007")
    still_serves(node, central)


# ------------------------------------------------------- 9. letter numbers

@pytest.mark.parametrize("variant", ["ศธ ๐๒๑๐/{n}", "ศธ 0210/\u200b{n}", "ศธ  0210/{n}", "ศธ 0210\u2060/{n}"])
def test_the_same_letter_number_written_differently_is_one_identity(node, central, variant):
    n = unique_letter_id().rsplit("/", 1)[1]
    ascii_number = f"ศธ 0210/{n}"
    thai_n = n.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")) if "๐" in variant else n
    sent = call(node, CENTRAL, send_request(letter_id=ascii_number, subject="ขอเชิญประชุม")).ok()
    before = counts(node)
    refused(node, send_request(letter_id=variant.format(n=thai_n), subject="ขอเชิญประชุม"), "2005", before=before)
    # The number stays as written, and a notifier naming it another way finds the letter.
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert pulled.element.find(f".//{ns.ram('ID')}").text == ascii_number
    receive = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", variant.format(n=thai_n))).ok()
    assert receive.process_id and receive.process_id != sent.process_id
    still_serves(node, central)


def test_a_delete_with_an_overlong_process_id_is_refused_without_echoing_it(node, central):
    from gateway.testing.wire import delete_request
    reply = refused(node, delete_request("9" * 200_000), "2007", org=CHIANGMAI)
    assert len(reply.body) < 5_000, "the fault does not echo 200,000 characters back"
    still_serves(node, central)


def test_references_and_signer_names_are_bounded(node, central):
    reference = ("<ram:ReferenceCorrespondence><ram:ID>ศธ 0210/1</ram:ID><ram:CorrespondenceDate>0001-01-01"
                 "</ram:CorrespondenceDate><ram:Subject>อ้างถึง</ram:Subject></ram:ReferenceCorrespondence>")
    body = send_request(letter_id=unique_letter_id()).replace(
        "<ram:Attachment>".encode(), reference.encode() + "<ram:Attachment>".encode(), 1)
    reply = refused(node, body, "2007")
    assert "ReferenceCorrespondence" in reply.error_text
    gov = ("<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ram:SignerParty><ram:GivenName>"
           + "ก" * 300 + "</ram:GivenName><ram:FamilyName>รักดี</ram:FamilyName><ram:Title>ผู้อำนวยการ</ram:Title>"
           f"<ram:MinistryCode>20</ram:MinistryCode><ram:DepartmentCode>{CENTRAL}</ram:DepartmentCode>"
           "</ram:SignerParty></ram:GovernmentSignature>")
    refused(node, send_request(letter_id=unique_letter_id(), signature=gov), "2007")
    still_serves(node, central)
