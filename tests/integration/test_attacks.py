"""The signature and XML attack corpus (issue 3; DESIGN section 6), on SQLite and PostgreSQL.

Every attack starts from a letter CLIENT-SIGNED with the sender's real key
(CENTRAL 2000100000 to CHIANGMAI 2000350000, gateway.core.trust.signing.sign_letter with
data_dir/pki/orgs/2000100000.key), tampers with it as the attack requires and
sends it through the agency interface. Each test asserts:

* the documented error code (README "Error codes", gateway/errors.py);
* a SOAP client fault;
* nothing stored (table_counts as before the attack);
* the node still serves: a following valid client-signed letter is accepted.

Which layer answers is part of the contract, in pipeline order (DESIGN section 5):
size (1003) -> hardened parse (1001/1002/1007) -> envelope shape and duplicate
IDs (1004) -> XSD (1006) -> signature policy/shape (4003) -> signature value and
digest (4002) -> pinned trust (4004) -> replay (4005). Where an attack is stopped by
an earlier layer (the envelope's duplicate-ID check, the XSD), the test also
hands the tampered rsm:GovernmentDocument straight to gateway.core.trust.signing.verify_letter
to show the signature layer refuses it on its own (defence in depth).

Corpus (documented code, test; each test's docstring describes its attack):

      1004  test_xsw1_forged_letter_before_the_signed_original
      1004  test_xsw2_original_moved_into_a_wrapper_element
      1004  test_xsw3_original_wrapped_inside_the_forged_letter
      1004  test_xsw4_original_moved_under_government_signature
      1004  test_xsw5_original_moved_under_ds_object
      1004  test_xsw6_original_moved_into_the_soap_header
      1004  test_xsw7_original_moved_into_the_body_beside_the_operation
      4003  test_xsw8_forged_letter_with_another_id_original_in_ds_object
  (+) 4003  test_xsw_forged_letter_with_another_id_original_in_the_header
      1004  test_signed_letter_duplicated
      1004  test_duplicate_id_on_the_soap_body
      1004  test_duplicate_id_on_ds_keyinfo
      1006  test_two_signatures
      4003  test_reference_to_another_element
      1006  test_partly_signed_letter
  (+) 4003  test_reference_to_the_whole_document
  (+) 4003  test_xpath_transform
      4004  test_certificate_not_chained_to_the_trust_anchor
      4004  test_self_signed_certificate
      4004  test_signer_is_not_the_sender
  (+) 4002  test_sender_certificate_with_another_key
  (+) 4003  test_second_certificate_in_keyinfo
      4003  test_rsa_sha1_signature_method_without_legacy
      4003  test_sha1_digest_without_legacy
      4003  test_hmac_signature_method
  (+) 4003  test_c14n_with_comments_without_legacy
      4003  test_comment_injected_into_signed_text
      1002  test_xxe_external_entity
  (+) 1002  test_xxe_external_entity_utf16
      1002  test_xxe_parameter_entity
  (+) 1002  test_xxe_parameter_entity_utf16
  (+) 1002  test_xxe_parameter_entity_local_file_behind_a_long_prolog
  (+) 1002  test_xxe_parameter_entity_dev_zero
      1002  test_external_dtd
  (+) 1002  test_external_dtd_local_file_utf16
      1002  test_xinclude
      1002  test_billion_laughs
  (+) 1002  test_billion_laughs_utf16
      1007  test_deep_nesting
  (+) 1007  test_very_deep_nesting
      1007  test_huge_text_node
      1003  test_oversized_body
  (+) 1003  test_oversized_body_without_content_length
      4005  test_replay_after_reject_and_withdrawal
      ok    test_same_signed_letter_sent_concurrently
      ok    test_cross_tenant_pull
      3003  test_cross_tenant_delete
      2006  test_cross_tenant_withdraw
      3001  test_cross_tenant_notifier
  (+) 2006  test_cross_tenant_special_fetch
      4001  test_credentials_node_without_credentials
      4001  test_credentials_node_other_organisations_credentials
      ok    test_client_signed_letter_is_accepted_and_pulled_intact

(+) marks attacks added beyond the issue's list; "ok" marks tests whose attack is answered normally
(an empty queue, one letter for two concurrent sends) and the positive control.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import http.server
import threading

import pytest
from gateway.testing.attacks import (counts, refused, still_serves, DS_SHA1, GOV_SIG, HMAC_SHA256, LETTER, RSA_SHA1, SIGNATURE, c14n, foreign_ca_signer,
                          forge, org_certificate, org_signer, outbound, resign, self_signed_signer, set_digest,
                          signature_of, signed, text)
from lxml import etree
from gateway.testing.wire import PULL, Reply, call, delete_request, notifier_request, reference, soap

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, unique_letter_id
from gateway.runtime import wiring as app
from gateway.core import ns
from gateway.core.trust import signing
from gateway.core.xml import safe as xmlsafe
from gateway.core.network.directory import Directory
from gateway.core.errors import RemoteError
from gateway.core.trust.tenants import hash_password

DATE = "2026-11-26"
ATTACKER_NS = "urn:attacker"


# ----------------------------------------------------------------- helpers

def verifier_refuses(document: etree._Element, code: str, cert, now) -> RemoteError:
    """The signature layer alone refuses ``document`` (a copy) with ``code``."""
    with pytest.raises(RemoteError) as caught:
        signing.verify_letter(copy.deepcopy(document), trusted=[cert], policy=signing.VerifyPolicy.modern(),
                              now=now)
    assert caught.value.code.code == code, f"verifier: expected {code}, got {caught.value!r}"
    return caught.value


def ds_object(*children: etree._Element) -> etree._Element:
    obj = etree.Element(ns.ds("Object"), nsmap={"ds": ns.DS})
    for child in children:
        obj.append(child)
    return obj


@pytest.fixture(scope="module")
def central(data_dir):
    return org_signer(data_dir, CENTRAL)


@pytest.fixture(scope="module")
def chiangmai_signer(data_dir):
    return org_signer(data_dir, CHIANGMAI)


@pytest.fixture(scope="module")
def central_cert(data_dir):
    return org_certificate(data_dir, CENTRAL)


# ---------------------------------------------------------- positive control

def test_client_signed_letter_is_accepted_and_pulled_intact(node, central, central_cert, clock):
    """A correctly client-signed letter is accepted, and the receiver pulls the very bytes that were signed."""
    doc = signed(central, letter_id=unique_letter_id())
    sent_bytes = text(doc).encode("utf-8")
    sent = call(node, CENTRAL, outbound(doc)).ok()
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert pulled.process_id == sent.process_id
    assert sent_bytes in pulled.body, "the signed letter travels byte for byte"
    got = pulled.element.find(ns.rsm("GovernmentDocument"))
    assert c14n(signature_of(got)) == c14n(signature_of(doc))
    verified = signing.verify_letter(got, trusted=[central_cert], policy=signing.VerifyPolicy.modern(),
                                     now=clock.now())
    assert verified.signer_org == CENTRAL


# ----------------------------------------------- XML signature wrapping (XSW)

def test_xsw1_forged_letter_before_the_signed_original(node, central, central_cert, clock):
    """XSW1: a forged ram:CorrespondenceLetter ID="Letter" is put first, where readers look; the signed
    original follows as a second sibling, so a verifier resolving #Letter by search may check the original
    while the business logic reads the forgery. Two ID="Letter": refused by the envelope (1004); the
    verifier alone refuses two letters (4003)."""
    doc = signed(central)
    doc.insert(0, forge(doc))
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw2_original_moved_into_a_wrapper_element(node, central, central_cert, clock):
    """XSW2: the signed original is moved into a foreign wrapper element (an "extensions" slot) after
    ram:GovernmentSignature and a forged letter takes its place. Duplicate ID="Letter": 1004; verifier 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc))
    wrapper = etree.SubElement(doc, f"{{{ATTACKER_NS}}}Extensions", nsmap={"x": ATTACKER_NS})
    wrapper.append(original)
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw3_original_wrapped_inside_the_forged_letter(node, central, central_cert, clock):
    """XSW3: the forged letter in the expected place wraps the signed original as its last child, so a
    search for ID="Letter" finds the original nested inside the forgery. 1004; verifier 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    fake = forge(doc)
    doc.replace(original, fake)
    fake.append(original)
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw4_original_moved_under_government_signature(node, central, central_cert, clock):
    """XSW4: the signed original is moved under ram:GovernmentSignature (next to ds:Signature, like a
    detached signature over a sibling) and a forged letter takes its place. 1004; verifier 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc))
    gov = doc.find(GOV_SIG)
    gov.insert(gov.index(gov.find(SIGNATURE)), original)
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw5_original_moved_under_ds_object(node, central, central_cert, clock):
    """XSW5: the signed original is moved into ds:Signature/ds:Object (which the XML-DSig schema lets hold
    anything) and a forged letter with ID="Letter" takes its place. 1004; verifier 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc))
    signature_of(doc).append(ds_object(original))
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw6_original_moved_into_the_soap_header(node, central, central_cert, clock):
    """XSW6: the signed original is moved into the SOAP Header (where a WS-Security aware verifier might
    resolve #Letter across the whole envelope) and a forged letter ID="Letter" is in the Body. The envelope's
    duplicate-ID check covers the Header: 1004. The letter alone no longer matches its digest: verifier 4002."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc))
    refused(node, outbound(doc, header=text(original)), "1004")
    verifier_refuses(doc, "4002", central_cert, clock.now())
    still_serves(node, central)


def test_xsw7_original_moved_into_the_body_beside_the_operation(node, central, central_cert, clock):
    """XSW7: the signed original is put into SOAP-ENV:Body as a sibling after the operation element (Spyne
    and some verifiers read Body children loosely); the operation carries a forged letter ID="Letter".
    One operation per Body and no duplicate IDs: 1004. Verifier on the forged letter: 4002."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc))
    refused(node, outbound(doc, body_extra=text(original)), "1004")
    verifier_refuses(doc, "4002", central_cert, clock.now())
    still_serves(node, central)


def test_xsw8_forged_letter_with_another_id_original_in_ds_object(node, central, central_cert, clock):
    """XSW8: the forged letter in the expected place carries ID="Forged" while the Reference still says
    URI="#Letter", which now resolves only to the signed original hidden in ds:Signature/ds:Object. There is
    no duplicate ID and the XSD accepts it (ds:Object is lax, the letter is a global element), so this one
    reaches the signature layer: exact shape (one letter, ID="Letter", no ds:Object) refuses it, 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc, letter_id_attr="Forged"))
    signature_of(doc).append(ds_object(original))
    refused(node, outbound(doc), "4003")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xsw_forged_letter_with_another_id_original_in_the_header(node, central, central_cert, clock):
    """XSW variant: the only ID="Letter" in the envelope is the signed original in the SOAP Header; the
    Body's letter is forged with ID="Forged". No duplicate ID, schema-valid Body: the signature layer must
    refuse the letter whose ID is not "Letter" (4003)."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.replace(original, forge(doc, letter_id_attr="Forged"))
    refused(node, outbound(doc, header=text(original)), "4003")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_signed_letter_duplicated(node, central, central_cert, clock):
    """The signed letter doubled verbatim: two identical ram:CorrespondenceLetter ID="Letter" (a reader and
    a verifier may each take a different one once either is edited). 1004; verifier 4003."""
    doc = signed(central)
    original = doc.find(LETTER)
    doc.insert(1, copy.deepcopy(original))
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


# -------------------------------------------------- IDs and references

def test_duplicate_id_on_the_soap_body(node, central):
    """Two elements with ID="Letter": the genuine letter and the SOAP Body (clients put ID="Body" there, so
    an ID on Body is "normal"); a resolver searching the envelope finds the Body first. 1004."""
    refused(node, outbound(signed(central), body_attrs='ID="Letter"'), "1004")
    still_serves(node, central)


def test_duplicate_id_on_ds_keyinfo(node, central, central_cert, clock):
    """Two elements named "Letter": the letter (ID) and ds:KeyInfo (Id, a legal XML-DSig attribute), so a
    resolver matching any Id/ID attribute is ambiguous. 1004; verifier 4003."""
    doc = signed(central)
    signature_of(doc).find(ns.ds("KeyInfo")).set("Id", "Letter")
    refused(node, outbound(doc), "1004")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_two_signatures(node, central, chiangmai_signer, central_cert, clock):
    """Two ds:Signature in ram:GovernmentSignature: CENTRAL's genuine one and a second one by CHIANGMAI over
    the same letter, so a verifier may check one while the signer shown comes from the other. The XSD allows
    one ds:Signature: 1006; verifier 4003."""
    doc = signed(central)
    other = signed(chiangmai_signer)
    signature_of(doc).addnext(copy.deepcopy(signature_of(other)))
    assert len(doc.findall(f"{GOV_SIG}/{SIGNATURE}")) == 2
    refused(node, outbound(doc), "1006")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_reference_to_another_element(node, central, central_cert, clock):
    """A valid signature whose Reference points to another element: an innocent
    <ram:Subject ID="Subject"> kept in ds:Object, signed with URI="#Subject", while the letter itself is
    forged and covered by nothing. Schema-valid (ds:Object is lax), no duplicate ID: the signature layer
    must insist on exactly one Reference, URI="#Letter" (4003)."""
    doc = signed(central)
    sig = signature_of(doc)
    decoy = etree.Element(ns.ram("Subject"), ID="Subject", nsmap={"ram": ns.RAM})
    decoy.text = "ขอเชิญประชุมผู้บริหาร"
    sig.append(ds_object(decoy))
    set_digest(sig, decoy, uri="#Subject")
    resign(sig, central.key)
    doc.replace(doc.find(LETTER), forge(doc))
    refused(node, outbound(doc), "4003")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_partly_signed_letter(node, central, central_cert, clock):
    """A partly signed letter: the Reference covers only ram:MainLetterBinaryObject (ID="Main"), so
    subject, parties and codes can be changed freely under a valid signature. The XSD has no ID on binary
    objects: 1006; verifier (Reference must be #Letter) 4003."""
    doc = signed(central)
    sig = signature_of(doc)
    main = doc.find(f"{LETTER}/{ns.ram('MainLetterBinaryObject')}")
    main.set("ID", "Main")
    set_digest(sig, main, uri="#Main")
    resign(sig, central.key)
    doc.find(f"{LETTER}/{ns.ram('Subject')}").text = "โปรดโอนเงินงบประมาณด่วนที่สุด"
    refused(node, outbound(doc), "1006")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_reference_to_the_whole_document(node, central, central_cert, clock):
    """A valid signature with Reference URI="" (the whole rsm:GovernmentDocument, enveloped): it covers the
    letter too, but it is not the shape clients read (one family reads Reference/@URI = "#Letter") nor the
    one we verify. Exactly one Reference, URI="#Letter": 4003."""
    doc = signed(central)
    sig = signature_of(doc)
    set_digest(sig, doc, uri="")
    resign(sig, central.key)
    refused(node, outbound(doc), "4003")
    verifier_refuses(doc, "4003", central_cert, clock.now())
    still_serves(node, central)


def test_xpath_transform(node, central):
    """An XPath transform that filters ram:Subject out of what is digested, so the subject can be changed
    under a valid signature. Only the enveloped and c14n transforms, without parameters: 4003."""
    doc = signed(central)
    sig = signature_of(doc)
    transforms = sig.find(f"{ns.ds('SignedInfo')}/{ns.ds('Reference')}/{ns.ds('Transforms')}")
    xpath = etree.SubElement(transforms, ns.ds("Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(xpath, ns.ds("XPath"), nsmap={"ram": ns.RAM}).text = "not(ancestor-or-self::ram:Subject)"
    resign(sig, central.key)
    doc.find(f"{LETTER}/{ns.ram('Subject')}").text = "โปรดโอนเงินงบประมาณด่วนที่สุด"
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


# -------------------------------------------------------------- certificates

def test_certificate_not_chained_to_the_trust_anchor(node, central, clock):
    """A second CA issues a certificate naming 2000100000 and the letter is signed with it: the signature is
    mathematically valid, but trust is pinned to the directory's certificate under the configured CA. 4004."""
    rogue = foreign_ca_signer(CENTRAL, clock.now())
    doc = signed(rogue)
    # Control: the signature itself is fine; only trust is missing.
    signing.verify_letter(copy.deepcopy(doc), trusted=[rogue.certificate], policy=signing.VerifyPolicy.modern(),
                          now=clock.now())
    refused(node, outbound(doc), "4004")
    still_serves(node, central)


def test_self_signed_certificate(node, central, clock):
    """A self-signed certificate whose subject copies CENTRAL's (CN and serialNumber 2000100000) in
    KeyInfo. 4004."""
    fake = self_signed_signer(CENTRAL, clock.now())
    doc = signed(fake)
    signing.verify_letter(copy.deepcopy(doc), trusted=[fake.certificate], policy=signing.VerifyPolicy.modern(),
                          now=clock.now())
    refused(node, outbound(doc), "4004")
    still_serves(node, central)


def test_signer_is_not_the_sender(node, central, chiangmai_signer, clock):
    """CHIANGMAI (a real, trusted organisation) signs a letter that claims sender 2000100000 and sends it on
    CENTRAL's endpoint: the signer must be the sender (or its node). 4004."""
    doc = signed(chiangmai_signer, sender=CENTRAL, receiver=CHIANGMAI)
    signing.verify_letter(copy.deepcopy(doc), trusted=[chiangmai_signer.certificate],
                          policy=signing.VerifyPolicy.modern(), now=clock.now())
    refused(node, outbound(doc), "4004")
    still_serves(node, central)


def test_sender_certificate_with_another_key(node, central, chiangmai_signer):
    """CENTRAL's genuine certificate in KeyInfo, but SignedInfo signed with CHIANGMAI's key: the certificate
    matches the directory, the signature value does not. 4002."""
    doc = signed(central)
    resign(signature_of(doc), chiangmai_signer.key)
    refused(node, outbound(doc), "4002")
    still_serves(node, central)


def test_second_certificate_in_keyinfo(node, central, clock):
    """KeyInfo carries the genuine certificate and, after it, a rogue CA's certificate for the same
    organisation (a verifier taking the last, or any, certificate may trust the wrong one). One certificate
    in KeyInfo: 4003."""
    from cryptography.hazmat.primitives.serialization import Encoding
    doc = signed(central)
    x509_data = signature_of(doc).find(f"{ns.ds('KeyInfo')}/{ns.ds('X509Data')}")
    rogue = foreign_ca_signer(CENTRAL, clock.now())
    etree.SubElement(x509_data, ns.ds("X509Certificate")).text = base64.b64encode(
        rogue.certificate.public_bytes(Encoding.DER)).decode()
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


# ---------------------------------------------------------------- algorithms

def test_rsa_sha1_signature_method_without_legacy(node, central):
    """SignatureMethod rsa-sha1 (as legacy clients sign) on a node without the legacy switch: refused by the
    policy before any cryptography. 4003."""
    doc = signed(central)
    signature_of(doc).find(f"{ns.ds('SignedInfo')}/{ns.ds('SignatureMethod')}").set("Algorithm", RSA_SHA1)
    reply = refused(node, outbound(doc), "4003")
    assert "rsa-sha1" in reply.error_text
    still_serves(node, central)


def test_sha1_digest_without_legacy(node, central, central_cert, clock):
    """A SHA-1 DigestMethod with a correct digest and a valid ECDSA-SHA256 signature over that SignedInfo:
    only the policy stands in the way (the legacy policy accepts the very same bytes). 4003."""
    doc = signed(central)
    sig = signature_of(doc)
    set_digest(sig, doc.find(LETTER), algorithm=DS_SHA1)
    resign(sig, central.key)
    signing.verify_letter(copy.deepcopy(doc), trusted=[central_cert], policy=signing.VerifyPolicy.with_legacy(),
                          now=clock.now())
    reply = refused(node, outbound(doc), "4003")
    assert "sha1" in reply.error_text
    still_serves(node, central)


def test_hmac_signature_method(node, central, central_cert):
    """SignatureMethod hmac-sha256 keyed with the sender's public certificate (the classic key-confusion
    attack: anybody can compute it). HMAC is never a letter signature. 4003."""
    from cryptography.hazmat.primitives.serialization import Encoding
    doc = signed(central)
    resign(signature_of(doc), None, method=HMAC_SHA256, hmac_key=central_cert.public_bytes(Encoding.DER))
    reply = refused(node, outbound(doc), "4003")
    assert "hmac" in reply.error_text
    still_serves(node, central)


def test_c14n_with_comments_without_legacy(node, central):
    """CanonicalizationMethod exclusive c14n WithComments, correctly re-signed, on a node without the legacy
    switch. 4003."""
    doc = signed(central)
    sig = signature_of(doc)
    sig.find(f"{ns.ds('SignedInfo')}/{ns.ds('CanonicalizationMethod')}").set(
        "Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments")
    resign(sig, central.key)
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


def test_comment_injected_into_signed_text(node, central, central_cert, clock):
    """<ram:Subject>ขอเชิญ<!---->ประชุม</ram:Subject>, signed with exclusive c14n (comments dropped) so the
    digest matches "ขอเชิญประชุม", while a reader taking the element's first text node sees "ขอเชิญ".
    Comments inside a signed letter are refused: 4003."""
    doc = signed(central, subject="ขอเชิญ<!---->ประชุม", raw_subject=True)
    subject = doc.find(f"{LETTER}/{ns.ram('Subject')}")
    assert subject.text == "ขอเชิญ" and len(subject) == 1  # the comment splits the text
    # Control: without the comment the same signature verifies, so the digest really matches.
    clean = copy.deepcopy(doc)
    clean_subject = clean.find(f"{LETTER}/{ns.ram('Subject')}")
    clean_subject.text = "ขอเชิญประชุม"
    clean_subject.remove(clean_subject[0])
    signing.verify_letter(clean, trusted=[central_cert], policy=signing.VerifyPolicy.modern(), now=clock.now())
    refused(node, outbound(doc), "4003")
    still_serves(node, central)


# ------------------------------------------------------------ parser attacks

class Canary:
    """A loopback HTTP server that counts every request: proof the parser fetched nothing."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                body = b'<!ENTITY % leak "gotcha">'
                self.send_response(200)
                self.send_header("Content-Type", "application/xml-dtd")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.stop()


def with_doctype(body: bytes, doctype: str, description: str = "", *, prolog_padding: int = 0) -> bytes:
    """Insert ``doctype`` after the XML declaration (after ``prolog_padding`` spaces) and, optionally, an
    entity reference into ram:Description."""
    head, sep, rest = body.partition(b"?>")
    assert sep and rest.startswith(b"<SOAP-ENV:Envelope")
    out = head + sep + b" " * prolog_padding + doctype.encode("utf-8") + rest
    if description:
        assert b"<ram:Description/>" in out
        out = out.replace(b"<ram:Description/>", f"<ram:Description>{description}</ram:Description>".encode(), 1)
    return out


def utf16(body: bytes) -> bytes:
    """The same request in UTF-16 (with BOM), as a Windows client may send it."""
    return body.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode("utf-16")


PROLOG_PADDING = 5000   # more than the 4 KiB a byte scan of the prolog looks at


def call_with_deadline(node, org: str, body: bytes, seconds: float) -> Reply | None:
    """call() in a daemon thread, so an attack that hangs the parser fails the test instead of the run.

    The answer, or None when none came within ``seconds``. A thread, not a forked child: forking the
    multi-threaded test process (store pools, live servers) can deadlock the child.
    """
    answers: list[Reply] = []
    worker = threading.Thread(target=lambda: answers.append(call(node, org, body)), daemon=True)
    worker.start()
    worker.join(seconds)
    return answers[0] if answers else None


def test_xxe_external_entity(node, central):
    """An external general entity (file:///etc/passwd) declared in a DOCTYPE and used in ram:Description of a
    signed letter. No DTD at all: 1002, and the file never appears in an answer."""
    body = with_doctype(outbound(signed(central)),
                        '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;")
    reply = refused(node, body, "1002")
    assert b"root:" not in reply.body
    still_serves(node, central)


# UTF-16 and UTF-32 bodies are refused before any parsing (1008, "the body must be UTF-8"):
# such a body would hide its prolog from the DOCTYPE scan. Deployed clients all send UTF-8.
def test_xxe_external_entity_utf16(node, central):
    """The external-entity request encoded in UTF-16, so a byte scan of the prolog for "<!DOCTYPE" finds
    nothing; a UTF-16 body is refused before parsing: 1008."""
    body = with_doctype(outbound(signed(central)),
                        '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;")
    reply = refused(node, utf16(body), "1008")
    assert b"root:" not in reply.body
    still_serves(node, central)


def test_xxe_parameter_entity(node, central, canary):
    """An external parameter entity (%p; from a loopback URL) in the internal subset: the parser must neither
    fetch it nor expand it. 1002 and the canary server saw no request."""
    body = with_doctype(outbound(signed(central)),
                        f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY % p SYSTEM "{canary.url}/evil.dtd"> %p;]>')
    refused(node, body, "1002")
    assert canary.hits == []
    still_serves(node, central)


def test_xxe_parameter_entity_utf16(node, central, canary):
    """The network parameter entity in a UTF-16 request (past the prolog byte scan): nothing may be fetched
    and the answer is the encoding refusal, 1008, before libxml2 sees the DTD."""
    body = with_doctype(outbound(signed(central)),
                        f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY % p SYSTEM "{canary.url}/evil.dtd"> %p;]>')
    try:
        refused(node, utf16(body), "1008")
    finally:
        assert canary.hits == [], "the parser fetched a network entity"
    still_serves(node, central)


def test_xxe_parameter_entity_local_file_behind_a_long_prolog(node, central, tmp_path):
    """An external parameter entity naming a local file, placed after 5000 spaces of prolog so a scan of the
    first 4 KiB misses the DOCTYPE. The parser must not open files: the answer is 1002 whether the file
    exists or not (a different answer is a file-existence oracle on the server)."""
    present = tmp_path / "present.dtd"
    present.write_text("this is not a DTD\n")
    for target in (present.as_uri(), (tmp_path / "missing.dtd").as_uri()):
        body = with_doctype(outbound(signed(central)),
                            f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY % p SYSTEM "{target}"> %p;]>',
                            prolog_padding=PROLOG_PADDING)
        refused(node, body, "1002")
    still_serves(node, central)


def test_xxe_parameter_entity_dev_zero(node, central):
    """A parameter entity naming file:///dev/zero behind a long prolog (UTF-8; UTF-16 works the same): if the
    parser opens it, it reads zeros forever and pins a worker thread at full CPU (eight such requests stop
    an eight-thread node). It must be refused promptly: 1002 within 10 seconds."""
    body = with_doctype(outbound(signed(central)),
                        '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]>',
                        prolog_padding=PROLOG_PADDING)
    reply = call_with_deadline(node, CENTRAL, body, 10)
    assert reply is not None, "no answer after 10 s: the parser is reading /dev/zero"
    assert reply.error_code == "1002", f"expected 1002, got {reply.error_code}: {reply.error_text}"
    assert all(v == 0 for v in counts(node).values())
    still_serves(node, central)


def test_external_dtd(node, central, canary):
    """An external DTD subset (DOCTYPE ... SYSTEM "http://...") that could define entities and defaults.
    1002, and nothing was fetched."""
    body = with_doctype(outbound(signed(central)), f'<!DOCTYPE SOAP-ENV:Envelope SYSTEM "{canary.url}/ecms.dtd">')
    refused(node, body, "1002")
    assert canary.hits == []
    still_serves(node, central)


def test_external_dtd_local_file_utf16(node, central, tmp_path):
    """An external DTD subset naming a local file, in a UTF-16 request: not loaded, 1008 whether the file
    exists or not."""
    present = tmp_path / "present.dtd"
    present.write_text("this is not a DTD\n")
    for target in (present.as_uri(), (tmp_path / "missing.dtd").as_uri()):
        body = with_doctype(outbound(signed(central)), f'<!DOCTYPE SOAP-ENV:Envelope SYSTEM "{target}">')
        refused(node, utf16(body), "1008")
    still_serves(node, central)


def test_xinclude(node, central):
    """An xi:include of file:///etc/passwd (parse="text") inside ram:Description of a signed letter. 1002."""
    body = outbound(signed(central))
    body = body.replace(b"<ram:Description/>", b'<ram:Description><xi:include xmlns:xi="http://www.w3.org/2001/'
                        b'XInclude" href="file:///etc/passwd" parse="text"/></ram:Description>', 1)
    reply = refused(node, body, "1002")
    assert b"root:" not in reply.body
    still_serves(node, central)


def test_billion_laughs(node, central):
    """Entity expansion: ten levels of ten-fold entities (10^10 "lol") used in ram:Description. 1002."""
    lol = "".join(f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(1, 11))
    body = with_doctype(outbound(signed(central)),
                        f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY l0 "lol">{lol}]>', "&l10;")
    refused(node, body, "1002")
    still_serves(node, central)


def test_billion_laughs_utf16(node, central):
    """The billion laughs in a UTF-16 request: refused as not UTF-8 (1008), never expanded."""
    lol = "".join(f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(1, 11))
    body = with_doctype(outbound(signed(central)),
                        f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY l0 "lol">{lol}]>', "&l10;")
    refused(node, utf16(body), "1008")
    still_serves(node, central)


def nested_in_ds_object(body: bytes, depth: int) -> bytes:
    nest = f'<x:a xmlns:x="{ATTACKER_NS}">' + "<x:a>" * (depth - 1) + "</x:a>" * depth
    return body.replace(b"</ds:Signature>", b"<ds:Object>" + nest.encode() + b"</ds:Object></ds:Signature>", 1)


def test_deep_nesting(node, central):
    """A thousand nested elements inside ds:Signature/ds:Object of a signed letter (where the XML-DSig
    schema allows any content). Refused by the depth limit before any other work: 1007."""
    refused(node, nested_in_ds_object(outbound(signed(central)), 1000), "1007")
    still_serves(node, central)


def test_very_deep_nesting(node, central):
    """Ten thousand nested elements: past libxml2's own depth cap too. Still the documented nesting
    refusal, 1007 (not 1001 "not well-formed XML": the document is well-formed, only too deep)."""
    refused(node, nested_in_ds_object(outbound(signed(central)), 10_000), "1007")
    still_serves(node, central)


def test_huge_text_node(node, central):
    """A validly signed letter whose ram:Description is one text node longer than the ordinary-text limit
    (binary objects are the only long texts allowed). 1007."""
    doc = signed(central, description="ก" * (xmlsafe.MAX_TEXT_CHARS + 1))
    refused(node, outbound(doc), "1007")
    still_serves(node, central)


def small_node(store, clock, cfg, max_bytes: int):
    return app.build(dataclasses.replace(cfg, limits=xmlsafe.Limits(max_bytes=max_bytes)), store=store,
                     clock=clock, migrate=False)


def test_oversized_body(store, clock, cfg, central):
    """A signed letter larger than the node's limits.max_bytes: refused from Content-Length, before it is
    read or parsed. 1003."""
    node = small_node(store, clock, cfg, 2048)
    body = outbound(signed(central))
    assert len(body) > 2048
    refused(node, body, "1003")
    call(node, CHIANGMAI, PULL).ok()  # still serves (a request under the limit)


def test_oversized_body_without_content_length(store, clock, cfg, central):
    """The same oversized letter sent without Content-Length (chunked): the streaming read stops at the
    limit. 1003."""
    node = small_node(store, clock, cfg, 2048)
    refused(node, outbound(signed(central)), "1003", CONTENT_LENGTH="")
    call(node, CHIANGMAI, PULL).ok()


# -------------------------------------------------------------------- replay

def withdraw_request(letter_id: str, sender: str = CENTRAL, receiver: str = CHIANGMAI) -> bytes:
    return soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", letter_id, DATE, sender, receiver))


def test_replay_after_reject_and_withdrawal(node, central):
    """A client-signed letter is sent, rejected by CHIANGMAI, withdrawn by CENTRAL; then the same signed
    bytes are sent again (an eavesdropper or a confused client replaying it). The signature was already
    used: 4005. Re-signed, the same letter may be sent again."""
    lid = unique_letter_id()
    body = outbound(signed(central, letter_id=lid))
    first = call(node, CENTRAL, body).ok().process_id
    call(node, CHIANGMAI, notifier_request("RejectLetterNotifier", lid, subject="ส่งผิดหน่วยงาน")).ok()
    call(node, CENTRAL, withdraw_request(lid)).ok()
    before = counts(node)
    reply = refused(node, body, "4005", before=before)
    assert first in reply.error_text
    again = call(node, CENTRAL, outbound(signed(central, letter_id=lid))).ok().process_id
    assert again != first


def test_same_signed_letter_sent_concurrently(node, central):
    """The same signed letter posted twice at the same moment from two threads (a client retrying on a
    timeout while the first request is still running): exactly one letter is stored and both answers carry
    its ProcessID. Repeated over a few rounds to give the race a chance."""
    rounds = 4
    for n in range(rounds):
        body = outbound(signed(central, letter_id=unique_letter_id()))
        barrier = threading.Barrier(2)
        replies: list[Reply | BaseException | None] = [None, None]

        def send(i: int) -> None:
            try:
                barrier.wait(timeout=10)
                replies[i] = call(node, CENTRAL, body)
            except BaseException as exc:  # noqa: BLE001 - reported below
                replies[i] = exc

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert all(isinstance(r, Reply) for r in replies), replies
        a, b = (r.ok() for r in replies)
        assert a.process_id == b.process_id
        assert counts(node)["letters"] == n + 1 and counts(node)["queue"] == n + 1


# -------------------------------------------------------------- cross-tenant

@pytest.fixture
def delivered(node, central):
    """CENTRAL's client-signed letter in CHIANGMAI's queue: (letter number, ProcessID, counts after)."""
    lid = unique_letter_id()
    pid = call(node, CENTRAL, outbound(signed(central, letter_id=lid))).ok().process_id
    return lid, pid, counts(node)


def chiangmai_still_has_it(node, pid: str) -> None:
    got = call(node, CHIANGMAI, PULL).ok()
    assert got.process_id == pid
    assert got.element.find(ns.rsm("GovernmentDocument")) is not None


def test_cross_tenant_pull(node, central, delivered):
    """KHONKAEN pulls its own queue right after CHIANGMAI received a letter: it gets an empty answer, never
    CHIANGMAI's item, and CHIANGMAI's item stays unpulled."""
    lid, pid, before = delivered
    reply = call(node, KHONKAEN, PULL).ok()
    assert reply.element.tag == "CorrespondenceLetterInboundResponse" and len(reply.element) == 0
    assert pid.encode() not in reply.body and lid.encode() not in reply.body
    assert counts(node) == before
    chiangmai_still_has_it(node, pid)
    still_serves(node, central)


def test_cross_tenant_delete(node, central, delivered):
    """KHONKAEN deletes CHIANGMAI's queue item by its ProcessID (learned somehow): 3003, as if it did not
    exist, and CHIANGMAI still gets it."""
    lid, pid, before = delivered
    refused(node, delete_request(pid), "3003", org=KHONKAEN, before=before)
    chiangmai_still_has_it(node, pid)
    still_serves(node, central)


def test_cross_tenant_withdraw(node, central, delivered):
    """KHONKAEN withdraws CENTRAL's letter to CHIANGMAI (naming CENTRAL as SenderDepartment): only the
    sender may withdraw, 2006."""
    lid, pid, before = delivered
    refused(node, withdraw_request(lid), "2006", org=KHONKAEN, before=before)
    chiangmai_still_has_it(node, pid)
    still_serves(node, central)


def test_cross_tenant_notifier(node, central, delivered):
    """KHONKAEN sends a RejectLetterNotifier about CENTRAL's letter to CHIANGMAI: it is not KHONKAEN's
    letter, so for KHONKAEN no such letter exists. 3001, and the letter's state is unchanged."""
    lid, pid, before = delivered
    refused(node, notifier_request("RejectLetterNotifier", lid), "3001", org=KHONKAEN, before=before)
    chiangmai_still_has_it(node, pid)
    # Still not rejected: the sender cannot withdraw it (3002: only rejected/invalid letters are withdrawn).
    assert call(node, CENTRAL, withdraw_request(lid)).error_code == "3002"
    still_serves(node, central)


def test_cross_tenant_special_fetch(node, central, delivered):
    """KHONKAEN asks for CHIANGMAI's letter by its full identity (CorrespondenceLetterInboundSpecialRequest):
    only the receiver may fetch it again. 2006."""
    lid, pid, before = delivered
    body = soap("<CorrespondenceLetterInboundSpecialRequest>"
                + reference("GovernmentDocument", lid, DATE, CENTRAL, CHIANGMAI)
                + "</CorrespondenceLetterInboundSpecialRequest>")
    reply = refused(node, body, "2006", org=KHONKAEN, before=before)
    assert b"MainLetterBinaryObject" not in reply.body
    chiangmai_still_has_it(node, pid)


# ------------------------------------------------ credentials (multi-tenant)

@functools.lru_cache(maxsize=None)
def password_hash(org_id: str) -> str:
    return hash_password(f"รหัส-{org_id}")


def basic(org_id: str, password_of: str | None = None) -> dict[str, str]:
    """HTTPS environ with HTTP Basic credentials: user ``org_id``, the password of ``password_of``."""
    token = base64.b64encode(f"{org_id}:รหัส-{password_of or org_id}".encode("utf-8")).decode()
    return {"wsgi.url_scheme": "https", "HTTP_AUTHORIZATION": f"Basic {token}"}


def credentials_node(store, clock, cfg):
    """The demo node with agency_auth = "credentials" and a password per hosted organisation."""
    orgs = [dataclasses.replace(o, password_hash=password_hash(o.id)) if o.hosted else o
            for o in cfg.directory.organizations.values()]
    directory = Directory.build(orgs, default_id=cfg.directory.default_id)
    return app.build(dataclasses.replace(cfg, agency_auth="credentials", tls_proxy=True, directory=directory), store=store,
                     clock=clock, migrate=False)


def test_credentials_node_without_credentials(store, clock, cfg, central):
    """On a node that needs per-organisation credentials, a signed letter posted over HTTPS without any
    credentials (and one with Basic credentials over plain HTTP) is refused: 4001, nothing stored."""
    node = credentials_node(store, clock, cfg)
    body = outbound(signed(central))
    refused(node, body, "4001", **{"wsgi.url_scheme": "https"})
    plain = dict(basic(CENTRAL), **{"wsgi.url_scheme": "http"})
    refused(node, body, "4001", **plain)
    call(node, CENTRAL, body, **basic(CENTRAL)).ok()  # still serves, with the right credentials


def test_credentials_node_other_organisations_credentials(store, clock, cfg, central):
    """CENTRAL's valid credentials used on CHIANGMAI's endpoint (to pull the letter CENTRAL just sent, or
    with CHIANGMAI's user name and CENTRAL's password): 4001, and CHIANGMAI's item stays untouched."""
    node = credentials_node(store, clock, cfg)
    pid = call(node, CENTRAL, outbound(signed(central)), **basic(CENTRAL)).ok().process_id
    before = counts(node)
    refused(node, PULL, "4001", org=CHIANGMAI, before=before, **basic(CENTRAL))
    refused(node, delete_request(pid), "4001", org=CHIANGMAI, before=before, **basic(CENTRAL))
    refused(node, PULL, "4001", org=CHIANGMAI, before=before, **basic(CHIANGMAI, password_of=CENTRAL))
    got = call(node, CHIANGMAI, PULL, **basic(CHIANGMAI)).ok()
    assert got.process_id == pid
