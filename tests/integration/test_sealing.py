"""Secret letters sealed with W3C XML Encryption (core/trust/sealing.py), against xmlsec1 both ways.

xmlsec1 (Debian 1.2.37) decrypts what we seal to an RSA certificate, and we open what it encrypts
with the same algorithms (AES-256-GCM, RSA-OAEP MGF1P). The ECDH-ES form for P-256 certificates is
newer than that xmlsec1 (1.3), so it is checked here by recomputing the key agreement with the
``cryptography`` primitives from the document's own parameters. Whatever else is sent is refused
with 4007: altered bytes, another key, CBC, an unknown key transport.
"""
from __future__ import annotations

import base64
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from lxml import etree

from gateway.core.errors import RemoteError
from gateway.core.trust import pki, sealing
from gateway.testing import wire

NOW = dt.datetime.now(dt.timezone.utc)
SUBJECT = "ลับมาก ขอรายงานผลการสอบสวนข้อเท็จจริง กรณีทุจริตการจัดซื้อครุภัณฑ์"
XENC = {"xenc": sealing.XENC, "ds": sealing.DS, "dsig11": sealing.DSIG11, "xenc11": sealing.XENC11}


@pytest.fixture(scope="module")
def parties():
    ca = pki.create_ca("ศูนย์ทดสอบ CA", algorithm="rsa", now=NOW - dt.timedelta(days=1))
    return {alg: pki.issue_organization(ca, "2000350000", "สำนักงานศึกษาธิการจังหวัดเชียงใหม่", algorithm=alg,
                                        now=NOW - dt.timedelta(days=1)) for alg in ("rsa", "ecdsa")}


def letter() -> bytes:
    return wire.letter(letter_id="ศธ 0210/ลับ 7", subject=SUBJECT, secret="003").encode()


def keys(issued) -> list:
    return [(issued.certificate, issued.key)]


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_sealed_bytes_open_to_the_same_bytes_and_hide_the_subject(parties, algorithm):
    plain = letter()
    sealed = sealing.seal(plain, parties[algorithm].certificate)
    assert SUBJECT.encode() not in sealed and b"GovernmentDocument" not in sealed
    assert sealing.is_sealed(sealed) and not sealing.is_sealed(plain)
    assert sealing.open_sealed(sealed, keys(parties[algorithm])) == plain
    assert sealing.seal(plain, parties[algorithm].certificate) != sealed, "a fresh key and IV every time"
    root = etree.fromstring(sealed)
    assert root.xpath("string(ds:KeyInfo//ds:KeyName)", namespaces=XENC) == \
        pki.fingerprint(parties[algorithm].certificate)


def test_xmlsec1_decrypts_what_we_seal_to_an_rsa_certificate(parties, tmp_path):
    plain = letter()
    (tmp_path / "sealed.xml").write_bytes(sealing.seal(plain, parties["rsa"].certificate))
    (tmp_path / "key.pem").write_bytes(pki.pem_private_key(parties["rsa"].key))
    done = subprocess.run(["xmlsec1", "--decrypt", "--privkey-pem", str(tmp_path / "key.pem"),
                           "--output", str(tmp_path / "plain.xml"), str(tmp_path / "sealed.xml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = etree.parse(str(tmp_path / "plain.xml")).getroot()
    assert etree.tostring(out, method="c14n") == etree.tostring(etree.fromstring(plain), method="c14n")
    assert SUBJECT in etree.tostring(out, encoding="unicode")


TEMPLATE = """<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">
<xenc:EncryptionMethod Algorithm="{data}"/><ds:KeyInfo><xenc:EncryptedKey>
<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>
<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"""


def xmlsec1_encrypt(tmp_path: Path, issued, plain: bytes, data_algorithm: str, session: str) -> bytes:
    (tmp_path / "plain.xml").write_bytes(plain)
    (tmp_path / "template.xml").write_text(TEMPLATE.format(data=data_algorithm), encoding="utf-8")
    (tmp_path / "cert.pem").write_bytes(pki.pem_certificate(issued.certificate))
    done = subprocess.run(["xmlsec1", "--encrypt", "--pubkey-cert-pem", str(tmp_path / "cert.pem"),
                           "--session-key", session, "--binary-data", str(tmp_path / "plain.xml"),
                           "--output", str(tmp_path / "sealed.xml"), str(tmp_path / "template.xml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return (tmp_path / "sealed.xml").read_bytes()


def test_we_open_what_xmlsec1_encrypts_to_us(parties, tmp_path):
    plain = letter()
    sealed = xmlsec1_encrypt(tmp_path, parties["rsa"], plain, sealing.AES256_GCM, "aes-256")
    assert sealing.open_sealed(sealed, keys(parties["rsa"])) == plain


def test_cbc_from_xmlsec1_is_refused(parties, tmp_path):
    sealed = xmlsec1_encrypt(tmp_path, parties["rsa"], letter(), "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                             "aes-256")
    with pytest.raises(RemoteError) as caught:
        sealing.open_sealed(sealed, keys(parties["rsa"]))
    assert caught.value.code.code == "4007" and "aes256-cbc" in caught.value.detail


def test_ecdh_es_follows_xml_encryption_1_1(parties):
    """The key agreement recomputed from the document alone: ephemeral key, ConcatKDF, AES key wrap."""
    plain = letter()
    issued = parties["ecdsa"]
    root = etree.fromstring(sealing.seal(plain, issued.certificate))
    agreement = root.xpath("ds:KeyInfo/xenc:EncryptedKey/ds:KeyInfo/xenc:AgreementMethod", namespaces=XENC)[0]
    assert agreement.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#ECDH-ES"
    assert root.xpath("string(ds:KeyInfo/xenc:EncryptedKey/xenc:EncryptionMethod/@Algorithm)",
                      namespaces=XENC) == "http://www.w3.org/2001/04/xmlenc#kw-aes256"
    point = base64.b64decode(agreement.xpath("string(.//dsig11:PublicKey)", namespaces=XENC))
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    kek = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=b"").derive(
        issued.key.exchange(ec.ECDH(), ephemeral))
    wrapped = base64.b64decode(root.xpath("string(ds:KeyInfo/xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue)",
                                          namespaces=XENC))
    content = base64.b64decode(root.xpath("string(xenc:CipherData/xenc:CipherValue)", namespaces=XENC))
    assert AESGCM(aes_key_unwrap(kek, wrapped)).decrypt(content[:12], content[12:], None) == plain


def _flip(sealed: bytes, where: str) -> bytes:
    root = etree.fromstring(sealed)
    value = root.xpath(where, namespaces=XENC)[0]
    data = bytearray(base64.b64decode(value.text))
    data[len(data) // 2] ^= 1
    value.text = base64.b64encode(bytes(data)).decode()
    return etree.tostring(root)


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
@pytest.mark.parametrize("where", ["xenc:CipherData/xenc:CipherValue",
                                   "ds:KeyInfo/xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue"])
def test_an_altered_ciphertext_or_key_is_refused(parties, algorithm, where):
    sealed = _flip(sealing.seal(letter(), parties[algorithm].certificate), where)
    with pytest.raises(RemoteError) as caught:
        sealing.open_sealed(sealed, keys(parties[algorithm]))
    assert caught.value.code.code == "4007"


def test_another_organisations_key_cannot_open_it(parties):
    other = pki.new_key("rsa")
    sealed = sealing.seal(letter(), parties["rsa"].certificate)
    with pytest.raises(RemoteError) as caught:
        sealing.open_sealed(sealed, [(parties["rsa"].certificate, other)])
    assert caught.value.code.code == "4007"
    with pytest.raises(RemoteError):
        sealing.open_sealed(sealed, [(parties["ecdsa"].certificate, parties["ecdsa"].key)])
    with pytest.raises(RemoteError) as caught:
        sealing.open_sealed(sealed, [])
    assert "no key" in caught.value.detail


def test_the_key_the_letter_names_is_chosen(parties):
    """During a rotation the node holds several keys: the one whose certificate the letter names opens it."""
    sealed = sealing.seal(letter(), parties["rsa"].certificate)
    both = [(parties["ecdsa"].certificate, parties["ecdsa"].key), (parties["rsa"].certificate, parties["rsa"].key)]
    assert sealing.open_sealed(sealed, both) == letter()


def test_only_secret_codes_are_sealed():
    assert [code for code in ("001", "002", "003", "004", "005") if sealing.should_seal(code)] == ["002", "003"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_whatever_a_hub_makes_of_the_bytes_is_refused_with_4007_or_opens_to_the_original(parties, data):
    """Fuzz: cut, flip, splice or replace parts of a sealed letter; never a crash, never other bytes."""
    algorithm = data.draw(st.sampled_from(["rsa", "ecdsa"]))
    plain = letter()
    sealed = bytearray(sealing.seal(plain, parties[algorithm].certificate))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "replace-attribute"]))
        at = data.draw(st.integers(0, len(sealed) - 1))
        if action == "flip":
            sealed[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del sealed[at:at + data.draw(st.integers(1, 64))]
        elif action == "insert":
            sealed[at:at] = data.draw(st.binary(min_size=1, max_size=32))
        else:
            sealed = bytearray(bytes(sealed).replace(
                data.draw(st.sampled_from([b"aes256-gcm", b"rsa-oaep-mgf1p", b"kw-aes256", b"ECDH-ES", b"sha256"])),
                data.draw(st.sampled_from([b"aes256-cbc", b"rsa-1_5", b"kw-aes128", b"DH-ES", b"sha1", b""]))))
        if not sealed:
            sealed = bytearray(b"<")
    try:
        opened = sealing.open_sealed(bytes(sealed), keys(parties[algorithm]))
    except RemoteError as exc:
        assert exc.code.code in {"4007", "1001", "1002", "1007", "1008"}, exc
    else:
        assert opened == plain, "GCM authenticates: any other plaintext would be a forgery"
