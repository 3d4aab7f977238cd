"""Helpers for the signature and XML attack corpus (tests/integration/test_attacks.py).

Everything here builds or re-signs XML by hand so an attack can be made exactly
as an attacker would make it: a letter signed with an organisation's real key,
then moved, doubled, re-referenced or re-signed with another algorithm. The
node under test is never asked to help (no gateway code signs an attack except
:func:`gateway.core.trust.signing.sign_letter` for the genuine first signature).
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree
from gateway.testing.fixtures import CENTRAL, unique_letter_id
from gateway.testing.wire import Reply, call, letter, soap

from gateway.core import ns
from gateway.core.trust import pki, signing

DS_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
DS_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

LETTER = ns.ram("CorrespondenceLetter")
GOV_SIG = ns.ram("GovernmentSignature")
SIGNATURE = ns.ds("Signature")

_DIGESTS = {DS_SHA1: hashlib.sha1, DS_SHA256: hashlib.sha256}


# ------------------------------------------------------------------ keys

def org_signer(data_dir: Path, org_id: str) -> signing.Signer:
    """The organisation's genuine signing key and certificate from the session's development PKI."""
    folder = Path(data_dir) / "pki" / "orgs"
    return signing.Signer(org_id=org_id, key=pki.load_private_key((folder / f"{org_id}.key").read_bytes()),
                          certificate=pki.load_certificate((folder / f"{org_id}.pem").read_bytes()))


def org_certificate(data_dir: Path, org_id: str) -> x509.Certificate:
    return pki.load_certificate((Path(data_dir) / "pki" / "orgs" / f"{org_id}.pem").read_bytes())


def foreign_ca_signer(org_id: str, now: dt.datetime) -> signing.Signer:
    """A certificate naming ``org_id``, issued by a second CA the node does not trust."""
    rogue_ca = pki.create_ca("rogue development CA", algorithm="ecdsa", now=now)
    issued = pki.issue_organization(rogue_ca, org_id, "หน่วยงานปลอม", algorithm="ecdsa", now=now)
    return signing.Signer(org_id=org_id, key=issued.key, certificate=issued.certificate)


def self_signed_signer(org_id: str, now: dt.datetime) -> signing.Signer:
    """A self-signed leaf certificate whose subject claims ``org_id`` exactly as the real one does."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "สำนักงานปลัดกระทรวงศึกษาธิการ"),
                      x509.NameAttribute(NameOID.COMMON_NAME, org_id),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, org_id)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return signing.Signer(org_id=org_id, key=key, certificate=cert)


# --------------------------------------------------------------- letters

def signed(signer: signing.Signer, **letter_kw) -> etree._Element:
    """A letter (wire.letter with ``letter_kw``) signed by ``signer`` exactly as a client would sign it."""
    return signing.sign_letter(etree.fromstring(letter(**letter_kw).encode("utf-8")), signer)


def text(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


def outbound(document: str | etree._Element, *, header: str = "", body_extra: str = "",
             body_attrs: str = "") -> bytes:
    """CorrespondenceLetterOutboundRequest around ``document``; optional SOAP Header content / Body siblings."""
    doc = document if isinstance(document, str) else text(document)
    body = soap("<CorrespondenceLetterOutboundRequest>" + doc + "</CorrespondenceLetterOutboundRequest>"
                + body_extra)
    if header:
        body = body.replace(b"</SOAP-ENV:Header>", header.encode("utf-8") + b"</SOAP-ENV:Header>", 1)
    if body_attrs:
        body = body.replace(b"<SOAP-ENV:Body>", b"<SOAP-ENV:Body " + body_attrs.encode("utf-8") + b">", 1)
    return body


def forge(original: etree._Element, *, subject: str = "โปรดโอนเงินงบประมาณด่วนที่สุด",
          letter_id_attr: str = "Letter") -> etree._Element:
    """A forged copy of a signed letter's ram:CorrespondenceLetter: other subject, other PDF."""
    src = original if original.tag == LETTER else original.find(LETTER)
    fake = copy.deepcopy(src)
    fake.set("ID", letter_id_attr)
    fake.find(ns.ram("Subject")).text = subject
    fake.find(ns.ram("MainLetterBinaryObject")).text = base64.b64encode(b"%PDF-1.4\n% forged\n%%EOF\n").decode()
    return fake


def signature_of(document: etree._Element) -> etree._Element:
    return document.find(f"{GOV_SIG}/{SIGNATURE}")


# ------------------------------------------------------ hand re-signing

def c14n(el: etree._Element, *, exclusive: bool = True, comments: bool = False) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=exclusive, with_comments=comments)


def set_digest(sig: etree._Element, target: etree._Element, *, uri: str | None = None,
               algorithm: str | None = None) -> None:
    """Point the one Reference at ``target`` (``uri``) and recompute its digest (exclusive c14n, enveloped)."""
    reference = sig.find(f"{ns.ds('SignedInfo')}/{ns.ds('Reference')}")
    if uri is not None:
        reference.set("URI", uri)
    method = reference.find(ns.ds("DigestMethod"))
    if algorithm is not None:
        method.set("Algorithm", algorithm)
    subject = copy.deepcopy(target)
    for inner in subject.iter(SIGNATURE):  # the enveloped-signature transform
        inner.getparent().remove(inner)
    # The copy is a new root: exclusive c14n only needs the namespaces it uses, as in place.
    data = c14n(subject)
    reference.find(ns.ds("DigestValue")).text = base64.b64encode(
        _DIGESTS[method.get("Algorithm")](data).digest()).decode()


def resign(sig: etree._Element, key, *, method: str | None = None, hmac_key: bytes = b"") -> None:
    """Recompute SignatureValue over the (edited) SignedInfo with ``key`` (or an HMAC with ``hmac_key``)."""
    signed_info = sig.find(ns.ds("SignedInfo"))
    algorithm = signed_info.find(ns.ds("SignatureMethod"))
    if method is not None:
        algorithm.set("Algorithm", method)
    data = c14n(signed_info)
    uri = algorithm.get("Algorithm")
    if uri == HMAC_SHA256:
        value = hmac.new(hmac_key, data, hashlib.sha256).digest()
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(data, PKCS1v15(), hashes.SHA1() if uri == RSA_SHA1 else hashes.SHA256())
    else:
        raise TypeError(f"cannot sign {uri} with {type(key).__name__}")
    sig.find(ns.ds("SignatureValue")).text = base64.b64encode(value).decode()


# ------------------------------------------------------ assertions on a node

def counts(node) -> dict[str, int]:
    with node.store.transaction() as tx:
        return tx.table_counts()


def refused(node, body: bytes, code: str, *, org: str = CENTRAL, before: dict | None = None,
            **environ) -> Reply:
    """The request is refused with ``code`` as a SOAP client fault, and nothing was stored.

    ``before``: the table counts before the attack; None means a fresh node (every table empty).
    """
    reply = call(node, org, body, **environ)
    assert reply.status == 200, "SOAP 1.1 faults answer 200 so deployed clients read them"
    assert reply.error_code == code, f"expected {code}, got {reply.error_code}: {reply.error_text}"
    fault = reply.root.find(f".//{{{ns.SOAP11_ENV}}}Fault")
    assert fault is not None and fault.findtext("faultcode") == "SOAP-ENV:Client", "a client fault"
    after = counts(node)
    expected = {table: 0 for table in after} if before is None else before
    assert after == expected, "nothing of a refused request is stored"
    return reply


def still_serves(node, signer, **environ) -> str:
    """A following valid client-signed letter is accepted and queued; its ProcessID."""
    before = counts(node)
    lid = unique_letter_id()
    reply = call(node, CENTRAL, outbound(signed(signer, letter_id=lid)), **environ).ok()
    after = counts(node)
    assert after["letters"] == before["letters"] + 1 and after["queue"] == before["queue"] + 1
    return reply.process_id
