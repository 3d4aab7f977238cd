"""Signatures over large letters whose enclosures are kept beside them (core/trust/spliced.py, issue 10).

A large letter is held as a skeleton: each enclosure's base64 text replaced by
``parts.placeholder(sha256)``, the text served in chunks by a ``parts.Texts``
callable. These tests check that signing and verifying a skeleton is, to the
byte, signing and verifying the whole letter:

1. :func:`spliced.sign_letter_spliced` of a skeleton, spliced, is what
   :func:`signing.sign_letter` makes of the whole letter (RSA, byte for byte);
   with ECDSA the reference digest is the same and the spliced letter verifies
   in signxml and in ``xmlsec1 --verify``. Base64 in one line, wrapped at 76
   with LF and with CRLF (sent as ``&#13;``), and a main file with two
   attachments.
2. :func:`spliced.verify_letter_spliced` accepts the skeleton of a letter
   signed whole by the gateway or by xmlsec1, and a legacy letter (inclusive
   c14n with comments, RSAKeyValue) behind the legacy switch only; one changed
   character of an enclosure or of the skeleton is 4002.
3. A 40 MB enclosure served in 1 MiB chunks is signed and verified within
   16 MiB of Python memory (``tracemalloc``).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import tracemalloc
from copy import deepcopy
from pathlib import Path
from typing import Callable, Iterator

import pytest
from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError, StoreError
from gateway.core.letters import parts
from gateway.core.trust import pki, signing, spliced
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, unique_letter_id
from gateway.testing.wire import letter
from test_signature_interop import TEMPLATES, assert_xmlsec1_ok, xmlsec1_sign, xmlsec1_verify

NOW = FakeClock().now()
KIB64 = 64 * 1024
MIB = 1024 * 1024
SUBJECT = "ส่งแบบแปลนอาคารเรียนฉบับสแกน"
CENTRAL_TH = "สำนักงานปลัดกระทรวงศึกษาธิการ"
BINARY = (ns.ram("MainLetterBinaryObject"), ns.ram("AttachmentBinaryObject"))
MODERN_TEMPLATE = {"rsa": "modern-rsa-sha256-x509.xml", "ecdsa": "modern-ecdsa-sha256-x509.xml"}
PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False)


# ---------------------------------------------------------------- keys

@dataclasses.dataclass(frozen=True)
class Keys:
    signer: signing.Signer
    ca_pem: Path
    key_pem: Path
    cert_pem: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Keys]:
    """CENTRAL's RSA and ECDSA keys, each under its own CA, also as PEM files for xmlsec1."""
    made = {}
    for algorithm in ("rsa", "ecdsa"):
        folder = tmp_path_factory.mktemp(f"spliced-{algorithm}")
        ca = pki.create_ca(f"ทดสอบ CA {algorithm}", algorithm=algorithm, now=NOW)
        org = pki.issue_organization(ca, CENTRAL, CENTRAL_TH, algorithm=algorithm, now=NOW)
        files = {"ca.pem": pki.pem_certificate(ca.certificate), "org.key": pki.pem_private_key(org.key),
                 "org.pem": pki.pem_certificate(org.certificate)}
        for name, data in files.items():
            (folder / name).write_bytes(data)
        made[algorithm] = Keys(signer=signing.Signer(org_id=CENTRAL, key=org.key, certificate=org.certificate,
                                                     given_name="สมชาย", family_name="ใจดี", title="ผู้อำนวยการ"),
                               ca_pem=folder / "ca.pem", key_pem=folder / "org.key", cert_pem=folder / "org.pem")
    return made


@pytest.fixture(params=["rsa", "ecdsa"])
def algorithm(request) -> str:
    return request.param


# ------------------------------------------------------------- letters

def encoded(raw: bytes, layout: str) -> str:
    """Base64 of ``raw`` as clients send it: one line, or wrapped at 76 with LF or CRLF."""
    text = base64.b64encode(raw).decode()
    if layout == "one-line":
        return text
    newline = {"lf": "\n", "crlf": "\r\n"}[layout]
    return newline.join(text[i:i + 76] for i in range(0, len(text), 76))


def as_xml(text: str) -> str:
    """Element text as it is written in the document: a carriage return only survives as ``&#13;``."""
    return text.replace("\r", "&#13;")


def full_letter(layout: str, *, attachments: int = 0, signature: str = "") -> str:
    """A GovernmentDocument whose main file (and attachments) are a few hundred KB of base64 in ``layout``."""
    main = encoded(b"%PDF-1.4\n" + os.urandom(300_000), layout)
    parts_xml = "".join(
        f'<ram:AttachmentBinaryObject mimeCode="pdf">'
        f"{as_xml(encoded(b'%PDF-1.4 ' + os.urandom(100_000 + 1000 * n), layout))}</ram:AttachmentBinaryObject>"
        for n in range(attachments))
    return letter(letter_id=unique_letter_id(), subject=SUBJECT, main=as_xml(main), attachments=parts_xml,
                  signature=signature)


def serve(blobs: dict[str, bytes], chunk: int = KIB64) -> parts.Texts:
    """A Texts callable over ``blobs`` (digest -> exact text) yielding ``chunk``-byte pieces."""
    def texts(digest: str) -> Iterator[bytes]:
        data = blobs[digest]
        for at in range(0, len(data), chunk):
            yield data[at:at + chunk]
    return texts


def skeleton_of(document: etree._Element) -> tuple[etree._Element, dict[str, bytes]]:
    """The skeleton of a whole letter (each binary element's text a placeholder) and the texts it names."""
    skeleton = deepcopy(document)
    blobs = {}
    for element in skeleton.iter(*BINARY):
        if element.text:
            text = element.text.encode("ascii")
            digest = hashlib.sha256(text).hexdigest()
            blobs[digest] = text
            element.text = parts.placeholder(digest)
    assert blobs, "the letter has no enclosure text"
    return skeleton, blobs


def spliced_bytes(skeleton: etree._Element, texts: parts.Texts) -> bytes:
    return b"".join(parts.splice(etree.tostring(skeleton, encoding="utf-8"), texts))


def digest_value(document: etree._Element) -> str:
    return document.findtext(f".//{ns.ds('DigestValue')}")


def verify_whole(data: bytes, keys: Keys) -> signing.Verified:
    return signing.verify_letter(etree.fromstring(data, PARSER), trusted=[keys.signer.certificate],
                                 policy=signing.VerifyPolicy.modern(), now=NOW)


def verify_skeleton(skeleton: etree._Element, keys: Keys, texts: parts.Texts,
                    policy: signing.VerifyPolicy | None = None) -> signing.Verified:
    return spliced.verify_letter_spliced(skeleton, trusted=[keys.signer.certificate],
                                         policy=policy or signing.VerifyPolicy.modern(), now=NOW, texts=texts)


LAYOUTS = [pytest.param("one-line", 0, id="one-line"), pytest.param("lf", 0, id="lf-76"),
           pytest.param("crlf", 0, id="crlf-76"), pytest.param("lf", 2, id="main-and-two-attachments"),
           pytest.param("crlf", 2, id="crlf-main-and-two-attachments")]


# ======================================================== 1. signing

class TestSignSpliced:
    @pytest.mark.parametrize("layout,attachments", LAYOUTS)
    def test_spliced_signature_is_the_whole_letters(self, keys, algorithm, layout, attachments, tmp_path):
        own = keys[algorithm]
        document = etree.fromstring(full_letter(layout, attachments=attachments).encode(), PARSER)
        skeleton, blobs = skeleton_of(document)
        assert len(blobs) == 1 + attachments
        if layout == "crlf":
            assert all(b"\r\n" in text for text in blobs.values())
        texts = serve(blobs)

        signed_skeleton = spliced.sign_letter_spliced(skeleton, own.signer, texts)
        signed_whole = signing.sign_letter(document, own.signer)
        # The skeleton keeps its placeholders; splicing them gives the signed letter.
        assert parts.digests(etree.tostring(signed_skeleton)) == list(blobs)
        result = spliced_bytes(signed_skeleton, texts)
        whole = etree.tostring(signed_whole, encoding="utf-8")
        assert digest_value(signed_skeleton) == digest_value(signed_whole)
        if algorithm == "rsa":
            assert result == whole          # PKCS#1 v1.5 is deterministic: the very same bytes
        else:
            sig_value = signed_skeleton.findtext(f".//{ns.ds('SignatureValue')}")
            assert sig_value != signed_whole.findtext(f".//{ns.ds('SignatureValue')}")   # ECDSA: fresh k

        verified = verify_whole(result, own)
        assert verified.signer_org == CENTRAL and verified.signed_letter.findtext(ns.ram("Subject")) == SUBJECT
        path = tmp_path / "spliced-signed.xml"
        path.write_bytes(result)
        assert_xmlsec1_ok(xmlsec1_verify(path, own.ca_pem, NOW))

    def test_signing_the_skeleton_leaves_it_unchanged(self, keys):
        skeleton, blobs = skeleton_of(etree.fromstring(full_letter("lf").encode(), PARSER))
        before = etree.tostring(skeleton)
        spliced.sign_letter_spliced(skeleton, keys["rsa"].signer, serve(blobs))
        assert etree.tostring(skeleton) == before


# ===================================================== 2. verification

def xmlsec1_signed(tmp_path: Path, template: str, layout: str, key: Path, cert: Path | None = None) -> bytes:
    """A letter with enclosures signed by xmlsec1 from one of the fixture templates (as xmlsec1 wrote it)."""
    ds_template = (TEMPLATES / template).read_text(encoding="utf-8").strip()
    gov = (f"<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ram:SignerParty>"
           f"<ram:GivenName>สมชาย</ram:GivenName><ram:FamilyName>ใจดี</ram:FamilyName>"
           f"<ram:Title>ผู้อำนวยการ</ram:Title><ram:MinistryCode>{CENTRAL[:2]}</ram:MinistryCode>"
           f"<ram:DepartmentCode>{CENTRAL}</ram:DepartmentCode></ram:SignerParty>{ds_template}"
           f"</ram:GovernmentSignature>")
    source = tmp_path / "template.xml"
    source.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + full_letter(layout, attachments=1,
                                                                             signature=gov), encoding="utf-8")
    out = tmp_path / "signed.xml"
    xmlsec1_sign(source, out, key, cert)
    return out.read_bytes()


class TestVerifySpliced:
    @pytest.mark.parametrize("layout", ["one-line", "lf", "crlf"])
    def test_accepts_a_letter_signed_whole_by_the_gateway(self, keys, algorithm, layout):
        own = keys[algorithm]
        signed = signing.sign_letter(etree.fromstring(full_letter(layout, attachments=2).encode(), PARSER),
                                     own.signer)
        skeleton, blobs = skeleton_of(signed)
        verified = verify_skeleton(skeleton, own, serve(blobs))

        assert verified == verify_whole(etree.tostring(signed, encoding="utf-8"), own)
        assert verified.signer_org == CENTRAL and not verified.key_value_only
        # What callers read is the skeleton's letter: the placeholders, not the text.
        assert etree.tostring(verified.signed_letter, method="c14n", exclusive=True) == \
            etree.tostring(skeleton.find(ns.ram("CorrespondenceLetter")), method="c14n", exclusive=True)
        assert parts.digests(etree.tostring(verified.signed_letter)) == list(blobs)

    @pytest.mark.parametrize("layout", ["lf", "crlf"])
    def test_accepts_a_letter_signed_by_xmlsec1(self, keys, algorithm, layout, tmp_path):
        own = keys[algorithm]
        signed = xmlsec1_signed(tmp_path, MODERN_TEMPLATE[algorithm], layout, own.key_pem, own.cert_pem)
        skeleton, blobs = skeleton_of(etree.fromstring(signed, PARSER))
        assert len(blobs) == 2
        verified = verify_skeleton(skeleton, own, serve(blobs))
        assert verified.signer_org == CENTRAL
        assert verified.certificate_sha256 == pki.fingerprint(own.signer.certificate)
        assert verified.signed_letter.findtext(ns.ram("Subject")) == SUBJECT
        assert verified == verify_whole(signed, own)

    def test_legacy_letter_behind_the_legacy_switch_only(self, keys, tmp_path):
        own = keys["rsa"]
        signed = xmlsec1_signed(tmp_path, "legacy-rsa-sha1-keyvalue.xml", "crlf", own.key_pem)
        skeleton, blobs = skeleton_of(etree.fromstring(signed, PARSER))
        assert skeleton.find(f".//{ns.ds('X509Data')}") is None

        verified = verify_skeleton(skeleton, own, serve(blobs), signing.VerifyPolicy.with_legacy())
        assert verified.key_value_only and verified.policy == "legacy"
        assert verified.c14n_method == signing.C14N_COMMENTS
        assert verified.digest_method == "http://www.w3.org/2000/09/xmldsig#sha1"
        with pytest.raises(RemoteError) as refused:
            verify_skeleton(skeleton, own, serve(blobs))
        assert refused.value.code is ErrorCode.SIGNATURE_POLICY

    def test_one_changed_character_of_an_enclosure_is_4002(self, keys, algorithm):
        own = keys[algorithm]
        signed = signing.sign_letter(etree.fromstring(full_letter("lf", attachments=2).encode(), PARSER),
                                     own.signer)
        skeleton, blobs = skeleton_of(signed)
        verify_skeleton(skeleton, own, serve(blobs))
        last = list(blobs)[-1]
        text = bytearray(blobs[last])
        at = len(text) // 2 + 1
        text[at] = ord("B") if text[at] != ord("B") else ord("C")
        with pytest.raises(RemoteError) as refused:
            verify_skeleton(skeleton, own, serve({**blobs, last: bytes(text)}))
        assert refused.value.code is ErrorCode.SIGNATURE_INVALID
        assert "Digest mismatch" in refused.value.detail

    def test_a_line_break_turned_crlf_is_4002(self, keys):
        own = keys["rsa"]
        signed = signing.sign_letter(etree.fromstring(full_letter("lf").encode(), PARSER), own.signer)
        skeleton, blobs = skeleton_of(signed)
        (digest,) = blobs
        with pytest.raises(RemoteError) as refused:
            verify_skeleton(skeleton, own, serve({digest: blobs[digest].replace(b"\n", b"\r\n", 1)}))
        assert refused.value.code is ErrorCode.SIGNATURE_INVALID

    def test_a_changed_skeleton_field_is_4002(self, keys, algorithm):
        own = keys[algorithm]
        skeleton, blobs = skeleton_of(etree.fromstring(full_letter("crlf").encode(), PARSER))
        signed = spliced.sign_letter_spliced(skeleton, own.signer, serve(blobs))
        verify_skeleton(signed, own, serve(blobs))
        signed.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}").text = "ขอยกเลิกการประชุม"
        with pytest.raises(RemoteError) as refused:
            verify_skeleton(signed, own, serve(blobs))
        assert refused.value.code is ErrorCode.SIGNATURE_INVALID

    def test_the_blob_stores_failure_is_not_the_clients(self, keys):
        """An error serving the text goes through as it is (a 5xx), not as a bad signature (4002)."""
        own = keys["rsa"]
        skeleton, blobs = skeleton_of(etree.fromstring(full_letter("lf").encode(), PARSER))

        def broken(digest: str) -> Iterator[bytes]:
            yield blobs[digest][:100]
            raise StoreError("blob store unavailable")

        with pytest.raises(StoreError):
            spliced.sign_letter_spliced(skeleton, own.signer, broken)
        signed = spliced.sign_letter_spliced(skeleton, own.signer, serve(blobs))
        with pytest.raises(StoreError):
            verify_skeleton(signed, own, broken)


# ===================================================== 3. bounded memory

BLOCK = base64.b64encode(b"\x89PDF" * (3 * MIB // 16))   # exactly 1 MiB of base64 text
BLOCKS = 40


def big_texts(served: list[int]) -> tuple[str, Callable[[str], Iterator[bytes]]]:
    """A 40 MB enclosure served in 1 MiB chunks from a generator, never held whole; ``served`` counts chunks."""
    assert len(BLOCK) == MIB
    hasher = hashlib.sha256()
    for _ in range(BLOCKS):
        hasher.update(BLOCK)
    digest = hasher.hexdigest()

    def texts(asked: str) -> Iterator[bytes]:
        assert asked == digest
        for _ in range(BLOCKS):
            served.append(1)
            yield BLOCK
    return digest, texts


def peak_of(work: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_40_mb_enclosure_is_signed_and_verified_in_bounded_memory(keys):
    own = keys["rsa"]
    served: list[int] = []
    digest, texts = big_texts(served)
    skeleton = etree.fromstring(letter(letter_id=unique_letter_id(), subject=SUBJECT,
                                       main=parts.placeholder(digest)).encode())

    signed, sign_peak = peak_of(lambda: spliced.sign_letter_spliced(skeleton, own.signer, texts))
    assert len(served) == BLOCKS, "the signer must have hashed the whole text"
    verified, verify_peak = peak_of(lambda: verify_skeleton(signed, own, texts))
    assert len(served) == 2 * BLOCKS, "the verifier must have hashed the whole text"
    assert verified.signer_org == CENTRAL
    assert sign_peak < 16 * MIB, f"signing peaked at {sign_peak / MIB:.1f} MiB"
    assert verify_peak < 16 * MIB, f"verifying peaked at {verify_peak / MIB:.1f} MiB"
