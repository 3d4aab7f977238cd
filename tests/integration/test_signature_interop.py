"""Letter signatures against an independent XML-DSig implementation: xmlsec1 (libxmlsec1, OpenSSL).

The gateway signs and verifies with signxml; deployed clients and receiving
nodes use whatever their platform has (.NET SignedXml, Java XMLSignature,
libxmlsec1). These tests put xmlsec1 on the other side of the wire:

1. letters the node signs on a sender's behalf (RSA and ECDSA organisation
   keys) verify in ``xmlsec1 --verify`` against the development CA, and the
   same letter tampered with does not;
2. a letter xmlsec1 signs (enveloped, exclusive c14n, rsa-sha256 or
   ecdsa-sha256, X509Data) verifies in :func:`signing.verify_letter` and goes
   through a node as a client-signed letter with its signature bytes intact;
3. a letter signed the way deployed clients sign (rsa-sha1, SHA-1, inclusive
   c14n with comments, no Transforms, a bare RSAKeyValue: DESIGN section 3)
   is accepted only behind ``legacy_signatures`` (4003 without it), and only
   with the sender's directory key (4004 with another key).

The xmlsec1 signature templates are in tests/fixtures/signatures/ (see its
README). Certificates are checked at the node's fake clock time
(``--verification-gmt-time``): the session's PKI is issued at that time, which
may be later than the machine's clock.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from gateway.testing.wire import PULL, call, letter, soap

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.runtime import wiring as app
from gateway import config
from gateway.core import ns
from gateway.core.trust import pki, signing
from gateway.testing.clock import FakeClock
from gateway.core.network.directory import DEMO_ORGANIZATIONS
from gateway.core.errors import ErrorCode, RemoteError

TEMPLATES = Path(__file__).resolve().parent.parent / "fixtures" / "signatures"
DEBIAN_PACKAGE = "xmlsec1"
# xmlsec1 splits "<namespace>:<name>" at the last colon, so the URN namespace may contain colons.
ID_ATTR = ["--id-attr:ID", f"{ns.RAM}:CorrespondenceLetter"]

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
METHOD_OF = {"rsa": RSA_SHA256, "ecdsa": ECDSA_SHA256}
MODERN_TEMPLATE = {"rsa": "modern-rsa-sha256-x509.xml", "ecdsa": "modern-ecdsa-sha256-x509.xml"}
LEGACY_TEMPLATE = "legacy-rsa-sha1-keyvalue.xml"
SUBJECT = "ขอเชิญประชุมผู้บริหาร"

SIGNATURE_BLOCK = re.compile(rb"<ds:Signature\b.*?</ds:Signature>", re.S)
LETTER_BLOCK = re.compile(rb"<ram:CorrespondenceLetter\b.*?</ram:CorrespondenceLetter>", re.S)
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


# ------------------------------------------------------------------ xmlsec1

def xmlsec1_path() -> str:
    """The xmlsec1 binary; a missing one FAILS the test (these are interop tests, not optional)."""
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.fail(f"xmlsec1 is not installed: install the Debian package {DEBIAN_PACKAGE!r} "
                    f"(apt-get install {DEBIAN_PACKAGE}, OpenSSL backend) to run the signature interop tests",
                    pytrace=False)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    if "openssl" not in version.lower():
        pytest.fail(f"xmlsec1 at {path} is {version.strip()!r}; the interop tests need the OpenSSL backend of the "
                    f"Debian package {DEBIAN_PACKAGE!r}", pytrace=False)
    return path


def xmlsec1(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([xmlsec1_path(), *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=60)


def gmt(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def xmlsec1_verify(document: Path, ca: Path, at: dt.datetime) -> subprocess.CompletedProcess:
    """``xmlsec1 --verify`` with the certificate of X509Data checked against ``ca`` only, at ``at``."""
    return xmlsec1("--verify", "--trusted-pem", ca, "--verification-gmt-time", gmt(at), *ID_ATTR, document)


def xmlsec1_verify_pinned(document: Path, cert: Path) -> subprocess.CompletedProcess:
    """``xmlsec1 --verify`` with the directory certificate's key only: the KeyValue a letter carries is ignored
    (``--enabled-key-data key-name`` lets KeyInfo name a key, never supply one)."""
    return xmlsec1("--verify", "--pubkey-cert-pem", cert, "--enabled-key-data", "key-name", *ID_ATTR, document)


def assert_xmlsec1_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"xmlsec1 refused the signature:\n{result.stderr}"
    assert "OK" in result.stderr.splitlines()
    assert "SignedInfo References (ok/all): 1/1" in result.stderr


def assert_xmlsec1_refused(result: subprocess.CompletedProcess, why: str, verdict: str = "FAIL") -> None:
    """xmlsec1 says FAIL when it computed the signature and it does not match, ERROR when it could not get
    that far (no trusted key)."""
    assert result.returncode != 0, f"xmlsec1 accepted what it must refuse:\n{result.stderr}"
    lines = result.stderr.splitlines()
    assert "OK" not in lines and verdict in lines, result.stderr
    assert why in result.stderr, result.stderr


def xmlsec1_sign(template: Path, out: Path, key: Path, cert: Path | None = None) -> None:
    """``xmlsec1 --sign`` a filled template; the certificate (if any) goes into X509Data, else the key's
    public part into KeyValue/RSAKeyValue."""
    keys = f"{key},{cert}" if cert is not None else str(key)
    result = xmlsec1("--sign", "--privkey-pem", keys, *ID_ATTR, "--output", out, template)
    assert result.returncode == 0, f"xmlsec1 could not sign {template.name}:\n{result.stderr}"


def template_letter(signature_template: str, *, letter_id: str, sender: str = CENTRAL,
                    receiver: str = CHIANGMAI) -> str:
    """A letter whose GovernmentSignature holds one of the fixture's ds:Signature templates."""
    ds_template = (TEMPLATES / signature_template).read_text(encoding="utf-8").strip()
    gov = (f"<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ram:SignerParty>"
           f"<ram:GivenName>สมชาย</ram:GivenName><ram:FamilyName>ใจดี</ram:FamilyName>"
           f"<ram:Title>ผู้อำนวยการ</ram:Title><ram:MinistryCode>{sender[:2]}</ram:MinistryCode>"
           f"<ram:DepartmentCode>{sender}</ram:DepartmentCode></ram:SignerParty>{ds_template}"
           f"</ram:GovernmentSignature>")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + letter(letter_id=letter_id, sender=sender,
                                                               receiver=receiver, subject=SUBJECT, signature=gov)


def sign_with_xmlsec1(tmp_path: Path, signature_template: str, key: Path, cert: Path | None = None) -> Path:
    """A new letter signed by xmlsec1 from ``signature_template``: the signed file, as xmlsec1 wrote it."""
    template = tmp_path / "letter.template.xml"
    template.write_text(template_letter(signature_template, letter_id=unique_letter_id()), encoding="utf-8")
    signed = tmp_path / "letter.signed.xml"
    xmlsec1_sign(template, signed, key, cert)
    return signed


def as_request(signed_file: bytes) -> bytes:
    """The signed document (as xmlsec1 wrote it, minus its XML declaration) inside a send request."""
    document = XML_DECLARATION.sub("", signed_file.decode("utf-8"))
    return soap(f"<CorrespondenceLetterOutboundRequest>{document}</CorrespondenceLetterOutboundRequest>")


# --------------------------------------------------------------------- PKIs

@dataclasses.dataclass(frozen=True)
class Pki:
    folder: Path                 # data_dir/pki

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def cert(self, org: str) -> Path:
        return self.folder / "orgs" / f"{org}.pem"

    def key(self, org: str) -> Path:
        return self.folder / "orgs" / f"{org}.key"

    def certificate(self, org: str) -> x509.Certificate:
        return pki.load_certificate(self.cert(org).read_bytes())


@pytest.fixture(scope="session")
def rsa_data_dir(tmp_path_factory) -> Path:
    """A data folder whose development PKI (CA, node, every demo organisation) is RSA-2048.

    ensure_development_pki finds every file it wants there and reuses them, so
    a Config(data_dir=...) node signs and verifies with these keys.
    """
    folder = tmp_path_factory.mktemp("rsa-node-data")
    files = pki.development_set(node_id="gateway", hosts=[config.DEFAULT_HOST, "localhost"],
                                organizations=[(org, th) for org, th, _ in DEMO_ORGANIZATIONS],
                                algorithm="rsa", now=FakeClock().now())
    for name, data in files.items():
        path = folder / "pki" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def impostor_key(tmp_path_factory) -> Path:
    """An RSA key that is no organisation's: not in any directory."""
    path = tmp_path_factory.mktemp("impostor") / "impostor.key"
    path.write_bytes(pki.pem_private_key(pki.new_key("rsa")))
    return path


@pytest.fixture
def pkis(data_dir, rsa_data_dir) -> dict[str, Pki]:
    """The session's development PKI (ECDSA, as ensure_development_pki makes it) and the RSA one."""
    return {"ecdsa": Pki(data_dir / "pki"), "rsa": Pki(rsa_data_dir / "pki")}


@pytest.fixture
def rsa_cfg(rsa_data_dir) -> config.Config:
    return config.Config(data_dir=rsa_data_dir)


def build_node(cfg: config.Config, store, clock, **changes) -> app.Node:
    return app.build(dataclasses.replace(cfg, **changes), store=store, clock=clock, migrate=False)


@pytest.fixture(params=["rsa", "ecdsa"])
def algorithm(request) -> str:
    return request.param


@pytest.fixture
def algo_node(algorithm, store, clock, cfg, rsa_cfg) -> app.Node:
    """A node whose hosted organisations sign with ``algorithm`` keys."""
    node = build_node(rsa_cfg if algorithm == "rsa" else cfg, store, clock)
    key = node.keyring.signer_for(CENTRAL).key
    assert isinstance(key, rsa.RSAPrivateKey if algorithm == "rsa" else ec.EllipticCurvePrivateKey)
    return node


# ------------------------------------------------------------------ helpers

def assert_nothing_stored(node) -> None:
    with node.store.transaction() as tx:
        counts = tx.table_counts()
    assert counts and not any(counts.values()), f"a refused letter left rows behind: {counts}"


def stored(node, process_id: str):
    with node.store.transaction() as tx:
        return tx.letter_by_process_id(process_id)


GOVERNMENT_DOCUMENT = re.compile(rb"<rsm:GovernmentDocument\b.*?</rsm:GovernmentDocument>", re.S)


def saved_copy(answer: bytes) -> bytes:
    """The pulled GovernmentDocument as a receiver saves it: the served bytes, as their own XML document.

    Cut out byte for byte, not re-serialised: lxml would copy the answer's
    in-scope xmlns:SOAP-ENV onto it, which inclusive c14n (legacy) then signs over.
    """
    (document,) = GOVERNMENT_DOCUMENT.findall(answer)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def send_unsigned_and_pull(node) -> tuple[bytes, bytes]:
    """A letter sent unsigned by CENTRAL, pulled by CHIANGMAI: the whole answer and the letter's saved copy."""
    body = soap(f"<CorrespondenceLetterOutboundRequest>{letter(letter_id=unique_letter_id(), subject=SUBJECT)}"
                "</CorrespondenceLetterOutboundRequest>")
    sent = call(node, CENTRAL, body).ok()
    got = call(node, CHIANGMAI, PULL).ok()
    assert got.process_id == sent.process_id
    return got.body, saved_copy(got.body)


def ds(doc: etree._Element, path: str) -> etree._Element:
    found = doc.find(f"{ns.ram('GovernmentSignature')}/{ns.ds('Signature')}/" +
                     "/".join(ns.ds(p) for p in path.split("/")))
    assert found is not None, f"no ds:{path} in the letter's signature"
    return found


def document_bytes(doc: etree._Element) -> bytes:
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


# ======================================== 1. gateway signs, xmlsec1 verifies

class TestGatewaySignedVerifiesInXmlsec1:
    def test_sign_letter_verifies_in_xmlsec1_against_the_dev_ca(self, algorithm, pkis, tmp_path, clock):
        own, other = pkis[algorithm], pkis["rsa" if algorithm == "ecdsa" else "ecdsa"]
        signer = signing.Signer(org_id=CENTRAL, key=pki.load_private_key(own.key(CENTRAL).read_bytes()),
                                certificate=own.certificate(CENTRAL))
        signed = signing.sign_letter(etree.fromstring(letter(letter_id=unique_letter_id()).encode()), signer)
        assert ds(signed, "SignedInfo/SignatureMethod").get("Algorithm") == METHOD_OF[algorithm]
        path = tmp_path / "signed.xml"
        path.write_bytes(document_bytes(signed))

        assert_xmlsec1_ok(xmlsec1_verify(path, own.ca, clock.now()))
        # The chain really is checked: another CA does not vouch for this certificate.
        assert_xmlsec1_refused(xmlsec1_verify(path, other.ca, clock.now()),
                               "unable to get local issuer certificate", verdict="ERROR")

    def test_letter_signed_by_the_node_verifies_in_xmlsec1(self, algorithm, algo_node, pkis, tmp_path, clock):
        body, copy = send_unsigned_and_pull(algo_node)
        doc = etree.fromstring(copy)
        assert ds(doc, "SignedInfo/SignatureMethod").get("Algorithm") == METHOD_OF[algorithm]
        assert ds(doc, "SignedInfo/CanonicalizationMethod").get("Algorithm") == EXC_C14N
        assert ds(doc, "SignedInfo/Reference").get("URI") == "#Letter"
        cert_b64 = "".join(ds(doc, "KeyInfo/X509Data/X509Certificate").text.split())
        assert cert_b64 == "".join(pkis[algorithm].cert(CENTRAL).read_text().splitlines()[1:-1])

        # As a receiver saves it (its own document) and as it came (inside the SOAP answer).
        # (xmlsec1 1.2.37 logs that it cannot parse the ds:X509SubjectName the gateway adds when the
        # certificate's O is a Thai name over 64 UTF-8 bytes, and goes on with ds:X509Certificate.)
        saved, answer = tmp_path / "pulled-letter.xml", tmp_path / "pull-answer.xml"
        saved.write_bytes(copy)
        answer.write_bytes(body)
        assert_xmlsec1_ok(xmlsec1_verify(saved, pkis[algorithm].ca, clock.now()))
        assert_xmlsec1_ok(xmlsec1_verify(answer, pkis[algorithm].ca, clock.now()))

    @pytest.mark.parametrize("tamper", ["subject", "signature_value"])
    def test_tampered_letter_fails_xmlsec1(self, algorithm, algo_node, pkis, tmp_path, clock, tamper):
        _, copy = send_unsigned_and_pull(algo_node)
        intact = tmp_path / "intact.xml"
        intact.write_bytes(copy)
        doc = etree.fromstring(copy)
        assert_xmlsec1_ok(xmlsec1_verify(intact, pkis[algorithm].ca, clock.now()))

        if tamper == "subject":
            doc.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}").text = "ขอยกเลิกการประชุม"
            why = "data and digest do not match"
        else:
            value = ds(doc, "SignatureValue")
            raw = bytearray(base64.b64decode("".join(value.text.split())))
            raw[len(raw) // 2] ^= 0x01
            value.text = base64.b64encode(bytes(raw)).decode()
            why = "signature verification failed"
        tampered = tmp_path / "tampered.xml"
        tampered.write_bytes(document_bytes(doc))
        assert_xmlsec1_refused(xmlsec1_verify(tampered, pkis[algorithm].ca, clock.now()), why)
        # The gateway agrees.
        with pytest.raises(RemoteError) as refused:
            signing.verify_letter(doc, trusted=[pkis[algorithm].certificate(CENTRAL)],
                                  policy=signing.VerifyPolicy.modern(), now=clock.now())
        assert refused.value.code is ErrorCode.SIGNATURE_INVALID


# ========================================= 2. xmlsec1 signs, gateway verifies

class TestXmlsec1SignedVerifiesInGateway:
    def test_verify_letter_accepts_xmlsec1_signature(self, algorithm, pkis, tmp_path, clock):
        own, other = pkis[algorithm], pkis["rsa" if algorithm == "ecdsa" else "ecdsa"]
        signed = sign_with_xmlsec1(tmp_path, MODERN_TEMPLATE[algorithm], own.key(CENTRAL), own.cert(CENTRAL))
        assert_xmlsec1_ok(xmlsec1_verify(signed, own.ca, clock.now()))   # the fixture is right by xmlsec1's book
        doc = etree.fromstring(signed.read_bytes())
        assert len(doc.findall(f".//{ns.ds('X509Certificate')}")) == 1

        verified = signing.verify_letter(doc, trusted=[own.certificate(CENTRAL)],
                                         policy=signing.VerifyPolicy.modern(), now=clock.now())
        assert verified.signer_org == CENTRAL
        assert verified.certificate_sha256 == pki.fingerprint(own.certificate(CENTRAL))
        assert (verified.signature_method, verified.digest_method, verified.c14n_method) == \
            (METHOD_OF[algorithm], SHA256, EXC_C14N)
        assert verified.policy == "modern" and not verified.key_value_only
        assert verified.signed_letter.findtext(ns.ram("Subject")) == SUBJECT
        # Pinned: a valid signature by a certificate that is not the sender's directory certificate is refused.
        with pytest.raises(RemoteError) as refused:
            signing.verify_letter(doc, trusted=[other.certificate(CENTRAL)],
                                  policy=signing.VerifyPolicy.modern(), now=clock.now())
        assert refused.value.code is ErrorCode.UNTRUSTED_SIGNER

    def test_node_accepts_xmlsec1_signed_letter_and_serves_it_intact(self, algorithm, algo_node, pkis, tmp_path,
                                                                     clock):
        own = pkis[algorithm]
        signed = sign_with_xmlsec1(tmp_path, MODERN_TEMPLATE[algorithm], own.key(CENTRAL),
                                   own.cert(CENTRAL)).read_bytes()
        sent = call(algo_node, CENTRAL, as_request(signed)).ok()

        row = stored(algo_node, sent.process_id)
        assert row.signed and row.signed_by == "client"          # kept as the client signed it, not re-signed
        assert (row.signature_method, row.digest_method, row.c14n_method, row.signature_policy) == \
            (METHOD_OF[algorithm], SHA256, EXC_C14N, "modern")
        assert row.signer_org == CENTRAL and row.certificate_sha256 == pki.fingerprint(own.certificate(CENTRAL))

        got = call(algo_node, CHIANGMAI, PULL).ok()
        assert got.process_id == sent.process_id
        (original,) = SIGNATURE_BLOCK.findall(signed)
        assert SIGNATURE_BLOCK.findall(got.body) == [original], "the signature must be served byte for byte"
        assert LETTER_BLOCK.search(signed)[0] in got.body, "the signed letter must be served byte for byte"
        saved, answer = tmp_path / "pulled-letter.xml", tmp_path / "pull-answer.xml"
        saved.write_bytes(saved_copy(got.body))
        answer.write_bytes(got.body)
        assert_xmlsec1_ok(xmlsec1_verify(saved, own.ca, clock.now()))
        assert_xmlsec1_ok(xmlsec1_verify(answer, own.ca, clock.now()))


# ================================================ 3. legacy client signatures

def legacy_signed_letter(tmp_path: Path, key: Path, directory_cert: x509.Certificate | None = None) -> Path:
    """A letter signed exactly as deployed clients sign (DESIGN section 3), by xmlsec1 with ``key``."""
    signed = sign_with_xmlsec1(tmp_path, LEGACY_TEMPLATE, key)
    doc = etree.fromstring(signed.read_bytes())
    assert ds(doc, "SignedInfo/CanonicalizationMethod").get("Algorithm") == C14N_WITH_COMMENTS
    assert ds(doc, "SignedInfo/SignatureMethod").get("Algorithm") == RSA_SHA1
    assert ds(doc, "SignedInfo/Reference/DigestMethod").get("Algorithm") == SHA1
    assert ds(doc, "SignedInfo/Reference").get("URI") == "#Letter"
    assert doc.find(f".//{ns.ds('Transforms')}") is None
    assert doc.find(f".//{ns.ds('X509Data')}") is None
    modulus = ds(doc, "KeyInfo/KeyValue/RSAKeyValue/Modulus")
    if directory_cert is not None:
        assert int.from_bytes(base64.b64decode("".join(modulus.text.split())), "big") == \
            directory_cert.public_key().public_numbers().n
    return signed


class TestLegacyClientSignature:
    def test_accepted_with_the_legacy_switch(self, pkis, store, clock, rsa_cfg, tmp_path):
        rsa_pki = pkis["rsa"]
        signed = legacy_signed_letter(tmp_path, rsa_pki.key(CENTRAL), rsa_pki.certificate(CENTRAL))
        assert_xmlsec1_ok(xmlsec1_verify_pinned(signed, rsa_pki.cert(CENTRAL)))
        node = build_node(rsa_cfg, store, clock, legacy_signatures=True)
        sent = call(node, CENTRAL, as_request(signed.read_bytes())).ok()

        row = stored(node, sent.process_id)
        assert row.signed_by == "client" and row.signature_policy == "legacy" and row.signer_org == CENTRAL
        assert row.certificate_sha256 == pki.fingerprint(rsa_pki.certificate(CENTRAL))
        assert (row.signature_method, row.digest_method, row.c14n_method) == (RSA_SHA1, SHA1, C14N_WITH_COMMENTS)

        got = call(node, CHIANGMAI, PULL).ok()
        assert got.process_id == sent.process_id
        assert SIGNATURE_BLOCK.findall(got.body) == SIGNATURE_BLOCK.findall(signed.read_bytes())
        # The receiver's saved copy verifies with the sender's directory key.
        saved, answer = tmp_path / "pulled-legacy.xml", tmp_path / "pull-answer.xml"
        saved.write_bytes(saved_copy(got.body))
        answer.write_bytes(got.body)
        assert_xmlsec1_ok(xmlsec1_verify_pinned(saved, rsa_pki.cert(CENTRAL)))
        # Inclusive c14n signs the in-scope namespaces too: checked in place, inside the SOAP answer, the
        # answer's xmlns:SOAP-ENV becomes part of the letter's c14n and the digest differs. A receiver that
        # verifies legacy signatures must verify the letter as its own document (as the node itself does).
        assert_xmlsec1_refused(xmlsec1_verify_pinned(answer, rsa_pki.cert(CENTRAL)), "data and digest do not match")

    def test_refused_4003_without_the_legacy_switch(self, pkis, store, clock, rsa_cfg, tmp_path):
        signed = legacy_signed_letter(tmp_path, pkis["rsa"].key(CENTRAL), pkis["rsa"].certificate(CENTRAL))
        node = build_node(rsa_cfg, store, clock)
        assert node.config.legacy_signatures is False
        reply = call(node, CENTRAL, as_request(signed.read_bytes()))
        assert reply.error_code == ErrorCode.SIGNATURE_POLICY.code, f"{reply.error_code}: {reply.error_text}"
        assert "not allowed" in reply.error_text
        assert_nothing_stored(node)

    def test_another_rsa_key_refused_4004_with_the_legacy_switch(self, pkis, store, clock, rsa_cfg,
                                                                 impostor_key, tmp_path):
        signed = legacy_signed_letter(tmp_path, impostor_key)
        # A valid signature (xmlsec1 checks it with the key it carries), just not by the sender's key.
        assert_xmlsec1_ok(xmlsec1("--verify", *ID_ATTR, signed))
        assert_xmlsec1_refused(xmlsec1_verify_pinned(signed, pkis["rsa"].cert(CENTRAL)),
                               "signature verification failed")
        node = build_node(rsa_cfg, store, clock, legacy_signatures=True)
        reply = call(node, CENTRAL, as_request(signed.read_bytes()))
        assert reply.error_code == ErrorCode.UNTRUSTED_SIGNER.code, f"{reply.error_code}: {reply.error_text}"
        assert "RSAKeyValue" in reply.error_text
        assert_nothing_stored(node)
