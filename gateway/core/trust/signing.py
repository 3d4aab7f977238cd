"""XML-DSig on letters: sign on behalf of a hosted organisation, verify under a frozen policy.

Theory of operation
-------------------
A letter's signature lives at ``rsm:GovernmentDocument/ram:GovernmentSignature/
ds:Signature`` and covers ``ram:CorrespondenceLetter`` through one Reference,
``URI="#Letter"`` (DESIGN section 3). Verification refuses any other shape
before it computes a digest: one CorrespondenceLetter, one Signature, in that
place, one Reference to it, only the transforms we know, no comments inside the
signed letter, algorithms from the :class:`VerifyPolicy`. Trust is pinned: the
caller passes the certificates that may sign for the claimed sender (its
directory certificate, its node's), and the signature must verify with one of
them. signxml's default trust (a public CA bundle) is never consulted. The
letter facts the node acts on are then read from what was signed.

Legacy signatures from deployed clients (rsa-sha1, SHA-1 digests, inclusive
c14n with comments, a bare ``RSAKeyValue``) are accepted only when the policy's
legacy switch is on, and then the key must be the directory's.

Pure: keys, certificates and ``now`` come in as arguments.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Callable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLSigner, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from gateway.core import ns
from gateway.core.trust import pki
from gateway.core.errors import ErrorCode, GatewayError, LocalError, RemoteError
from gateway.core.xml import safe

LETTER_REF = "#Letter"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"

MODERN_SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})
MODERN_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
MODERN_C14N = frozenset({EXC_C14N, C14N, C14N11})
LEGACY_SIGNATURE_METHODS = frozenset({SignatureMethod.RSA_SHA1})
LEGACY_DIGESTS = frozenset({DigestAlgorithm.SHA1})
LEGACY_C14N = frozenset({C14N_COMMENTS, EXC_C14N_COMMENTS})

_GOV_SIG = ns.ram("GovernmentSignature")
_LETTER = ns.ram("CorrespondenceLetter")
_SIGNATURE = ns.ds("Signature")


@dataclass(frozen=True, kw_only=True)
class VerifyPolicy:
    """What a node accepts as a letter signature. Frozen; built once from the configuration."""

    signature_methods: frozenset = MODERN_SIGNATURE_METHODS
    digest_methods: frozenset = MODERN_DIGESTS
    c14n_methods: frozenset[str] = MODERN_C14N
    allow_key_value: bool = False      # a bare RSAKeyValue instead of the certificate (legacy)

    @classmethod
    def modern(cls) -> "VerifyPolicy":
        return cls()

    @classmethod
    def with_legacy(cls) -> "VerifyPolicy":
        """The named legacy switch: SHA-1, c14n with comments and RSAKeyValue as deployed clients sign."""
        return cls(signature_methods=MODERN_SIGNATURE_METHODS | LEGACY_SIGNATURE_METHODS,
                   digest_methods=MODERN_DIGESTS | LEGACY_DIGESTS, c14n_methods=MODERN_C14N | LEGACY_C14N,
                   allow_key_value=True)

    @property
    def name(self) -> str:
        return "legacy" if self.allow_key_value else "modern"


@dataclass(frozen=True, kw_only=True)
class Signer:
    """A hosted organisation's (or its node's) signing key, loaded once per process."""

    org_id: str
    key: pki.PrivateKey
    certificate: x509.Certificate
    given_name: str = ""
    family_name: str = ""
    title: str = ""

    @property
    def method(self) -> SignatureMethod:
        return SignatureMethod.ECDSA_SHA256 if isinstance(self.key, ec.EllipticCurvePrivateKey) \
            else SignatureMethod.RSA_SHA256


@dataclass(frozen=True, kw_only=True)
class Verified:
    """What verification established; stored with the letter and shown to operators."""

    signer: str                   # the certificate's subject, RFC 4514
    signer_org: str               # the OrganizationID its subject names ('' for a node certificate)
    certificate_sha256: str
    signature_method: str
    digest_method: str
    c14n_method: str
    policy: str
    signature_digest: str         # SHA-256 of SignatureValue: the same signature seen twice is a replay
    verified_at: dt.datetime
    key_value_only: bool = False
    signed_letter: etree._Element | None = field(default=None, compare=False, repr=False)


def subject_name(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text, with serialNumber spelled out (cryptography writes 2.5.4.5)."""
    return cert.subject.rfc4514_string({NameOID.SERIAL_NUMBER: "serialNumber"})


def _refuse(code: ErrorCode, detail: str) -> RemoteError:
    return RemoteError(code, detail)


# --------------------------------------------------------------------- signing

class _XMLSigner(XMLSigner):
    """signxml's signer re-reading documents with our parser (huge text nodes: large enclosures)."""
    parser = property(lambda self: safe.signature_parser())


def sign_letter(document: etree._Element, signer: Signer, *,
                signer_class: Callable[..., XMLSigner] = _XMLSigner) -> etree._Element:
    """Return a copy of an unsigned ``rsm:GovernmentDocument`` with its GovernmentSignature.

    Enveloped signature over ``#Letter``, exclusive c14n, RSA- or ECDSA-SHA256,
    the certificate in X509Data (with X509SubjectName, which one client family
    reads). The SignerParty names the person of the letter's SenderParty, or
    is kept as the client sent it in a GovernmentSignature without ds:Signature.
    ``signer_class``: a subclass of :class:`_XMLSigner` (core/trust/spliced.py).
    """

    doc = deepcopy(document)
    letter = doc.find(_LETTER)
    if letter is None:
        raise RemoteError(ErrorCode.SCHEMA_INVALID, "rsm:GovernmentDocument has no ram:CorrespondenceLetter")
    # The signature references #Letter, so the letter is named that (an unsigned letter's ID is
    # referred to by nothing else; a fuzzer found ID="Metter" reaching the signer).
    letter.set("ID", "Letter")
    kept = doc.find(_GOV_SIG)
    for old in doc.findall(_GOV_SIG):
        doc.remove(old)
    gov = etree.SubElement(doc, _GOV_SIG)
    etree.SubElement(gov, ns.ram("TypeCode")).text = "DSIG"
    client_party = kept.find(ns.ram("SignerParty")) if kept is not None else None
    if client_party is not None:
        # The client named the person who signed (one family sends TypeCode and
        # SignerParty only): keep that, add the signature.
        gov.append(deepcopy(client_party))
    else:
        sender = doc.find(f"{_LETTER}/{ns.ram('SenderParty')}")

        def sender_text(local: str) -> str:
            return (sender.findtext(ns.ram(local)) or "").strip() if sender is not None else ""

        party = etree.SubElement(gov, ns.ram("SignerParty"))
        etree.SubElement(party, ns.ram("GivenName")).text = sender_text("GivenName") or signer.given_name
        etree.SubElement(party, ns.ram("FamilyName")).text = sender_text("FamilyName") or signer.family_name
        etree.SubElement(party, ns.ram("Title")).text = sender_text("JobTitle") or signer.title
        etree.SubElement(party, ns.ram("MinistryCode")).text = signer.org_id[:2]
        etree.SubElement(party, ns.ram("DepartmentCode")).text = signer.org_id
    etree.SubElement(gov, _SIGNATURE, Id="placeholder", nsmap={"ds": ns.DS})
    xml_signer = signer_class(method=SignatureConstructionMethod.enveloped, signature_algorithm=signer.method,
                              digest_algorithm=DigestAlgorithm.SHA256,
                              c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    try:
        signed = xml_signer.sign(doc, key=signer.key, cert=[signer.certificate], reference_uri=LETTER_REF,
                                 id_attribute="ID")
    except GatewayError:
        raise  # from a subclass's hooks (the blob store serving a large letter's text): not a key problem
    except Exception as exc:  # signxml raises plain exceptions for key/cert mismatches: our config
        raise LocalError(f"cannot sign for {signer.org_id}: {exc}") from exc
    x509_data = signed.find(f"{_GOV_SIG}/{_SIGNATURE}/{ns.ds('KeyInfo')}/{ns.ds('X509Data')}")
    subject = etree.Element(ns.ds("X509SubjectName"))
    subject.text = subject_name(signer.certificate)
    x509_data.insert(0, subject)  # KeyInfo is not signed; the schema puts the name before the certificate
    return signed


# ---------------------------------------------------------------- verification

def signature_element(document: etree._Element) -> etree._Element | None:
    """The one ds:Signature of a letter, or None when unsigned; refuses extra or misplaced ones."""
    signatures = list(document.iter(_SIGNATURE))
    if not signatures:
        return None
    if len(signatures) > 1:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, f"{len(signatures)} ds:Signature elements; a letter carries one")
    sig = signatures[0]
    parent = sig.getparent()
    if parent is None or parent.tag != _GOV_SIG or parent.getparent() is not document:
        raise _refuse(ErrorCode.SIGNATURE_POLICY,
                      "ds:Signature must be in rsm:GovernmentDocument/ram:GovernmentSignature")
    return sig


def check_signed_info(sig: etree._Element, *, reference_uri: str, policy: VerifyPolicy) -> None:
    """The one shape check of every signature we verify, letters and node documents alike.

    Before any digest is computed: a SignedInfo; canonicalization, signature
    and digest algorithms from the policy; exactly one Reference, to
    ``reference_uri``; only the enveloped transform and the policy's
    canonicalizations, without parameters (no XPath, no XSLT); no ds:Object.
    """
    signed_info = sig.find(ns.ds("SignedInfo"))
    if signed_info is None:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "ds:Signature has no ds:SignedInfo")
    c14n = signed_info.find(ns.ds("CanonicalizationMethod"))
    method = signed_info.find(ns.ds("SignatureMethod"))
    if c14n is None or c14n.get("Algorithm") not in policy.c14n_methods:
        raise _refuse(ErrorCode.SIGNATURE_POLICY,
                      f"canonicalization {None if c14n is None else c14n.get('Algorithm')} is not allowed")
    allowed_methods = {m.value for m in policy.signature_methods}
    if method is None or method.get("Algorithm") not in allowed_methods:
        raise _refuse(ErrorCode.SIGNATURE_POLICY,
                      f"signature method {None if method is None else method.get('Algorithm')} is not allowed")
    references = signed_info.findall(ns.ds("Reference"))
    if len(references) != 1 or references[0].get("URI") != reference_uri:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, f'exactly one ds:Reference, URI="{reference_uri}"')
    reference = references[0]
    for transform in reference.iterfind(f"{ns.ds('Transforms')}/{ns.ds('Transform')}"):
        algorithm = transform.get("Algorithm")
        if algorithm != ENVELOPED and algorithm not in policy.c14n_methods:
            raise _refuse(ErrorCode.SIGNATURE_POLICY, f"transform {algorithm} is not allowed")
        if len(transform):
            raise _refuse(ErrorCode.SIGNATURE_POLICY, "transforms with parameters (XPath, XSLT) are not allowed")
    digest = reference.find(ns.ds("DigestMethod"))
    if digest is None or digest.get("Algorithm") not in {d.value for d in policy.digest_methods}:
        raise _refuse(ErrorCode.SIGNATURE_POLICY,
                      f"digest {None if digest is None else digest.get('Algorithm')} is not allowed")
    if sig.find(ns.ds("Object")) is not None:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "ds:Object is not allowed in a signature we verify")
    value = "".join((sig.findtext(ns.ds("SignatureValue")) or "").split())
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if not raw:
        raise _refuse(ErrorCode.SIGNATURE_INVALID, "ds:SignatureValue is empty or not base64")
    _check_key_info(sig)


# What may stand in the unsigned parts of a signature (DESIGN section 6: only what was signed flows
# on). Anything else, a RetrievalMethod or X509URL that a receiver's tools might fetch, a KeyName, a
# decoy element a client could read by name, is refused.
_SIGNATURE_CHILDREN = frozenset({ns.ds("SignedInfo"), ns.ds("SignatureValue"), ns.ds("KeyInfo")})
_KEY_INFO_CHILDREN = frozenset({ns.ds("X509Data"), ns.ds("KeyValue")})
_X509_DATA_CHILDREN = frozenset({ns.ds("X509Certificate"), ns.ds("X509SubjectName"), ns.ds("X509IssuerSerial")})
_ISSUER_SERIAL_CHILDREN = frozenset({ns.ds("X509IssuerName"), ns.ds("X509SerialNumber")})
_KEY_VALUE_CHILDREN = frozenset({ns.ds("RSAKeyValue")})
_RSA_KEY_VALUE_CHILDREN = frozenset({ns.ds("Modulus"), ns.ds("Exponent")})
_ALLOWED_BELOW = {
    ns.ds("KeyInfo"): _KEY_INFO_CHILDREN, ns.ds("X509Data"): _X509_DATA_CHILDREN,
    ns.ds("X509IssuerSerial"): _ISSUER_SERIAL_CHILDREN, ns.ds("KeyValue"): _KEY_VALUE_CHILDREN,
    ns.ds("RSAKeyValue"): _RSA_KEY_VALUE_CHILDREN,
}


def _check_key_info(sig: etree._Element) -> None:
    """The signature's unsigned parts hold only the key material we read, nothing a client could mistake for content."""
    for child in sig:
        if isinstance(child.tag, str) and child.tag not in _SIGNATURE_CHILDREN:
            raise _refuse(ErrorCode.SIGNATURE_POLICY, f"{etree.QName(child).localname} is not allowed in ds:Signature")
    key_info = sig.find(ns.ds("KeyInfo"))
    if key_info is None:
        return
    for element in key_info.iter():
        if not isinstance(element.tag, str):
            raise _refuse(ErrorCode.SIGNATURE_POLICY, "comments and processing instructions are not allowed in KeyInfo")
        allowed = _ALLOWED_BELOW.get(element.tag)
        if allowed is None:
            if len(element):
                raise _refuse(ErrorCode.SIGNATURE_POLICY,
                              f"{etree.QName(element).localname} in KeyInfo must hold text only")
            continue
        for child in element:
            if not isinstance(child.tag, str) or child.tag not in allowed:
                name = etree.QName(child).localname if isinstance(child.tag, str) else "a comment"
                raise _refuse(ErrorCode.SIGNATURE_POLICY,
                              f"{name} is not allowed in {etree.QName(element).localname} (only "
                              + ", ".join(sorted(etree.QName(a).localname for a in allowed)) + ")")


def _check_subject_name(sig: etree._Element, cert: x509.Certificate) -> None:
    """A ds:X509SubjectName, which one client family shows, must name the certificate that signed."""
    for element in sig.iterfind(f"{ns.ds('KeyInfo')}/{ns.ds('X509Data')}/{ns.ds('X509SubjectName')}"):
        text = " ".join((element.text or "").split())
        if text in (subject_name(cert), pki.describe(cert)):
            continue
        try:
            named = x509.Name.from_rfc4514_string(text, {"serialNumber": NameOID.SERIAL_NUMBER})
        except ValueError:
            named = None
        if named != cert.subject:
            raise _refuse(ErrorCode.UNTRUSTED_SIGNER,
                          f"ds:X509SubjectName {text[:200]!r} does not name the signing certificate {pki.describe(cert)}")


def check_shape(document: etree._Element, policy: VerifyPolicy) -> etree._Element:
    """Refuse every shape but the one we sign, before any digest is computed. Returns the Signature."""
    letters = document.findall(_LETTER)
    if len(letters) != 1 or document.find(f".//{_LETTER}") is not letters[0] or len(document.findall(f".//{_LETTER}")) != 1:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "exactly one ram:CorrespondenceLetter, directly in the document")
    letter = letters[0]
    for element in document.iter():
        # A conventional prefix bound to another namespace would let a decoy answer the qualified
        # names deployed clients read (GetElementsByTagName("ram:Subject")).
        expected = ns.CONVENTIONAL_PREFIXES.get(element.prefix) if isinstance(element.tag, str) else None
        if expected is not None and etree.QName(element).namespace != expected:
            raise _refuse(ErrorCode.SIGNATURE_POLICY,
                          f"the prefix {element.prefix}: is bound to {etree.QName(element).namespace}, not {expected}")
    if letter.get("ID") != "Letter":
        raise _refuse(ErrorCode.SIGNATURE_POLICY, 'ram:CorrespondenceLetter must carry ID="Letter"')
    ids = [el for el in document.iter() if isinstance(el.tag, str) and
           any(el.get(a) == "Letter" for a in ("ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id"))]
    if ids != [letter]:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, 'the ID "Letter" must name the CorrespondenceLetter and nothing else')
    sig = signature_element(document)
    if sig is None:
        raise _refuse(ErrorCode.UNSIGNED, "the letter has no ds:Signature")
    if any(isinstance(node, etree._Comment) for node in letter.iter()):
        # A comment splits a text node: a reader taking .text sees less than was signed.
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "comments inside a signed letter are not accepted")
    check_signed_info(sig, reference_uri=LETTER_REF, policy=policy)
    return sig


def _key_info(sig: etree._Element) -> tuple[list[x509.Certificate], etree._Element | None]:
    certs = []
    for el in sig.iterfind(f"{ns.ds('KeyInfo')}/{ns.ds('X509Data')}/{ns.ds('X509Certificate')}"):
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
        except ValueError as exc:
            raise _refuse(ErrorCode.SIGNATURE_INVALID, f"X509Certificate is not a certificate: {exc}") from exc
        if not pki.readable_subject(cert):
            raise _refuse(ErrorCode.SIGNATURE_INVALID, "the X509Certificate's subject cannot be read as text")
        certs.append(cert)
    key_value = sig.find(f"{ns.ds('KeyInfo')}/{ns.ds('KeyValue')}/{ns.ds('RSAKeyValue')}")
    return certs, key_value


def _int(el: etree._Element | None) -> int:
    return int.from_bytes(base64.b64decode("".join((el.text or "").split())), "big") if el is not None else -1


def _signxml_verify(document: etree._Element, config: SignatureConfiguration, *,
                    verifier_class: Callable[[], XMLVerifier] = XMLVerifier, **kwargs) -> object:
    """signxml's verification, its exceptions translated once (STYLE 4); returns what was signed."""
    try:
        return verifier_class().verify(document, expect_config=config, parser=safe.signature_parser(),
                                       **kwargs).signed_xml
    except GatewayError:
        raise  # from a subclass's hooks (the blob store serving a large letter's text), not the client's
    except (InvalidDigest, InvalidSignature) as exc:
        raise _refuse(ErrorCode.SIGNATURE_INVALID, str(exc) or type(exc).__name__) from exc
    except InvalidCertificate as exc:
        raise _refuse(ErrorCode.UNTRUSTED_SIGNER, str(exc)) from exc
    except InvalidInput as exc:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - signxml and cryptography raise plain exceptions on malformed input
        raise _refuse(ErrorCode.SIGNATURE_INVALID, f"the signature cannot be checked: {type(exc).__name__}") from exc


def verify_letter(document: etree._Element, *, trusted: Sequence[x509.Certificate], policy: VerifyPolicy,
                  now: dt.datetime, verifier_class: Callable[[], XMLVerifier] = XMLVerifier) -> Verified:
    """Verify a letter's signature with a pinned certificate; the facts come from what was signed.

    ``trusted``: the certificates that may sign for the letter's sender (its
    directory certificate and its node's), already checked against the
    configured trust anchors when the directory was loaded. ``verifier_class``:
    a subclass of signxml's XMLVerifier (core/trust/spliced.py).
    """
    sig = check_shape(document, policy)
    if not trusted:
        raise _refuse(ErrorCode.UNTRUSTED_SIGNER, "the directory has no certificate for the sender")
    certs, key_value = _key_info(sig)
    key_value_only = False
    if certs:
        if len(certs) != 1:
            raise _refuse(ErrorCode.SIGNATURE_POLICY, "one certificate in KeyInfo")
        offered = certs[0]
        match = [c for c in trusted if pki.fingerprint(c) == pki.fingerprint(offered)]
        if not match:
            raise _refuse(ErrorCode.UNTRUSTED_SIGNER,
                          f"certificate {pki.describe(offered)} is not the sender's in the directory")
        cert = match[0]
        if key_value is not None:
            raise _refuse(ErrorCode.SIGNATURE_POLICY, "KeyValue beside X509Data is ambiguous")
    elif key_value is not None:
        if not policy.allow_key_value:
            raise _refuse(ErrorCode.SIGNATURE_POLICY, "a bare RSAKeyValue is accepted only with the legacy switch")
        modulus, exponent = _int(key_value.find(ns.ds("Modulus"))), _int(key_value.find(ns.ds("Exponent")))
        match = [c for c in trusted if isinstance(c.public_key(), rsa.RSAPublicKey)
                 and c.public_key().public_numbers().n == modulus and c.public_key().public_numbers().e == exponent]
        if not match:
            raise _refuse(ErrorCode.UNTRUSTED_SIGNER, "the RSAKeyValue is not the sender's key in the directory")
        cert = match[0]
        key_value_only = True
    else:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "KeyInfo must carry the signer's X509Certificate")
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise _refuse(ErrorCode.UNTRUSTED_SIGNER, f"certificate {pki.describe(cert)} is not valid now")
    _check_subject_name(sig, cert)

    config = SignatureConfiguration(
        require_x509=not key_value_only, location=f"./{_GOV_SIG}/", expect_references=1,
        signature_methods=frozenset(policy.signature_methods), digest_algorithms=frozenset(policy.digest_methods),
        ignore_ambiguous_key_info=key_value_only, verification_time=now)
    if key_value_only:
        # signxml then verifies with the KeyValue, which we just matched to the directory's key.
        signed = _signxml_verify(document, config, verifier_class=verifier_class, id_attribute="ID")
    else:
        signed = _signxml_verify(document, config, verifier_class=verifier_class, x509_cert=cert,
                                 id_attribute="ID")
    if not isinstance(signed, etree._Element) or signed.tag != _LETTER:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "the signature does not cover ram:CorrespondenceLetter")
    # Use only what was signed: the letter we read must be the signed one, byte for byte in c14n.
    if etree.tostring(signed, method="c14n", exclusive=True) != \
            etree.tostring(document.find(_LETTER), method="c14n", exclusive=True):
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "the letter differs from what was signed")
    value = "".join((sig.findtext(ns.ds("SignatureValue")) or "").split())
    signed_info = sig.find(ns.ds("SignedInfo"))
    return Verified(
        signer=subject_name(cert), signer_org=pki.organization_of(cert),
        certificate_sha256=pki.fingerprint(cert),
        signature_method=signed_info.find(ns.ds("SignatureMethod")).get("Algorithm"),
        digest_method=signed_info.find(f"{ns.ds('Reference')}/{ns.ds('DigestMethod')}").get("Algorithm"),
        c14n_method=signed_info.find(ns.ds("CanonicalizationMethod")).get("Algorithm"),
        policy=policy.name, signature_digest=hashlib.sha256(value.encode()).hexdigest(), verified_at=now,
        key_value_only=key_value_only, signed_letter=signed,
    )


# Node documents (NodeMessage, NodeReceipt, DirectorySnapshot) are signed as a whole: node_signing.py,
# which builds on this module. Its names are served from here too, looked up when first asked for, so
# either module may be imported first.
_NODE_NAMES = frozenset({"NODE_POLICY", "sign_document", "verify_document"})


def __getattr__(name: str) -> object:
    if name in _NODE_NAMES:
        from gateway.core.trust import node_signing
        return getattr(node_signing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
