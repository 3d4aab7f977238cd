"""Secret letters sealed end to end: W3C XML Encryption 1.1 to the receiving organisation's certificate.

Theory of operation
-------------------
A letter with secret code 002 (ลับ) or 003 (ลับมาก) leaves its origin node as
one ``xenc:EncryptedData`` element (``Type`` Element) in place of the signed
``rsm:GovernmentDocument``. The document's exact bytes are the plaintext, so
the letter that comes out at the receiver's node is the one its sender
signed, byte for byte, and its signature verifies after decryption.

* Content: AES-256-GCM (``xenc11#aes256-gcm``), a fresh 256-bit key and
  96-bit IV per letter; CipherValue is IV || ciphertext || tag, as the
  standard says.
* The key, to an RSA certificate: RSA-OAEP (``xenc#rsa-oaep-mgf1p``, MGF1
  and digest SHA-1, the only OAEP form xmlsec1 1.2 reads; OAEP's security
  does not rest on SHA-1's collision resistance). ``xenc11#rsa-oaep`` with
  SHA-256 is read too.
* The key, to an ECDSA (P-256) certificate: ECDH-ES key agreement with an
  ephemeral key, ConcatKDF (SHA-256) and AES-256 key wrap, XML Encryption
  1.1 section 5.6.2. xmlsec1 reads this from version 1.3; the Debian 1.2.37
  the tests use does not, so that form is checked against the
  ``cryptography`` primitives only.
* The certificate it was sealed to is named in ``ds:X509Data``
  (IssuerSerial and the SHA-256 fingerprint as ``ds:KeyName``), so a receiver
  during a key rotation can say which key it would need.

Nothing else is accepted when opening: no CBC (its padding oracles are why
XML Encryption 1.1 added GCM), no other key transport, no external
references. A ciphertext that does not open raises ``ENCRYPTION`` (4007).
"""
from __future__ import annotations

import base64
import io
import os
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.trust import pki
from gateway.core.xml import safe

SEALED_CODES = frozenset({"002", "003"})          # ลับ, ลับมาก: sealed when they leave the origin node
# What a node that holds a sealed letter shows for its subject (registers, console): never the clear text.
SEALED_SUBJECT = "(หนังสือลับ: เนื้อหาเข้ารหัสไว้ / secret letter, encrypted)"

XENC = ns.XENC
XENC11 = "http://www.w3.org/2009/xmlenc11#"
DS = "http://www.w3.org/2000/09/xmldsig#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
NSMAP = {"xenc": XENC, "ds": DS}

ELEMENT = XENC + "Element"
AES256_GCM = XENC11 + "aes256-gcm"
RSA_OAEP_MGF1P = XENC + "rsa-oaep-mgf1p"
RSA_OAEP = XENC11 + "rsa-oaep"
KW_AES256 = XENC + "kw-aes256"
ECDH_ES = XENC11 + "ECDH-ES"
CONCAT_KDF = XENC11 + "ConcatKDF"
SHA1 = DS + "sha1"
SHA256 = XENC + "sha256"
MGF1_SHA1 = XENC11 + "mgf1sha1"
MGF1_SHA256 = XENC11 + "mgf1sha256"
P256 = "urn:oid:1.2.840.10045.3.1.7"
ENCRYPTED_DATA = f"{{{XENC}}}EncryptedData"
IV_BYTES, KEY_BYTES = 12, 32
_HASHES = {SHA1: hashes.SHA1, DS + "sha256": hashes.SHA256, SHA256: hashes.SHA256}
_MGFS = {MGF1_SHA1: hashes.SHA1, MGF1_SHA256: hashes.SHA256}


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def _sub(parent: etree._Element, namespace: str, local: str, text: str | None = None, **attrib: str):
    element = etree.SubElement(parent, _q(namespace, local), **attrib)
    if text is not None:
        element.text = text
    return element


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def should_seal(secret_code: str) -> bool:
    return secret_code in SEALED_CODES


def is_sealed(data: bytes) -> bool:
    """True when stored bytes are an EncryptedData document: only the root's start tag is read."""
    try:
        for _, element in etree.iterparse(io.BytesIO(data), events=("start",), resolve_entities=False,
                                          no_network=True, load_dtd=False, huge_tree=False):
            return element.tag == ENCRYPTED_DATA
    except etree.XMLSyntaxError:
        return False
    return False


# ------------------------------------------------------------------ sealing
def seal(plaintext: bytes, recipient: x509.Certificate) -> bytes:
    """``plaintext`` (an XML document's bytes) as an EncryptedData element to ``recipient``'s key."""
    key = AESGCM.generate_key(bit_length=256)
    iv = os.urandom(IV_BYTES)
    root = etree.Element(_q(XENC, "EncryptedData"), nsmap=NSMAP, Type=ELEMENT, MimeType="text/xml")
    _sub(root, XENC, "EncryptionMethod", Algorithm=AES256_GCM)
    info = _sub(root, DS, "KeyInfo")
    encrypted_key = _sub(info, XENC, "EncryptedKey")
    public = recipient.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        _sub(encrypted_key, XENC, "EncryptionMethod", Algorithm=RSA_OAEP_MGF1P)
        _recipient_info(_sub(encrypted_key, DS, "KeyInfo"), recipient)
        wrapped = public.encrypt(key, _oaep(hashes.SHA1, hashes.SHA1))
    elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        _sub(encrypted_key, XENC, "EncryptionMethod", Algorithm=KW_AES256)
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        agreement = _sub(_sub(encrypted_key, DS, "KeyInfo"), XENC, "AgreementMethod", Algorithm=ECDH_ES)
        kdf = _sub(agreement, XENC11, "KeyDerivationMethod", Algorithm=CONCAT_KDF)
        params = _sub(kdf, XENC11, "ConcatKDFParams", AlgorithmID="00", PartyUInfo="00", PartyVInfo="00")
        _sub(params, DS, "DigestMethod", Algorithm=SHA256)
        value = _sub(_sub(_sub(agreement, XENC, "OriginatorKeyInfo"), DS, "KeyValue"), DSIG11, "ECKeyValue")
        _sub(value, DSIG11, "NamedCurve", URI=P256)
        _sub(value, DSIG11, "PublicKey", _b64(ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)))
        _recipient_info(_sub(agreement, XENC, "RecipientKeyInfo"), recipient)
        wrapped = aes_key_wrap(_concat_kdf(ephemeral.exchange(ec.ECDH(), public), hashes.SHA256, b""), key)
    else:
        raise RemoteError(ErrorCode.ENCRYPTION, f"the certificate {pki.describe(recipient)} has neither an RSA "
                                                "nor a P-256 key: a secret letter cannot be encrypted to it")
    _sub(_sub(encrypted_key, XENC, "CipherData"), XENC, "CipherValue", _b64(wrapped))
    _sub(_sub(root, XENC, "CipherData"), XENC, "CipherValue", _b64(iv + AESGCM(key).encrypt(iv, plaintext, None)))
    return etree.tostring(root, encoding="utf-8")


def _recipient_info(parent: etree._Element, recipient: x509.Certificate) -> None:
    _sub(parent, DS, "KeyName", pki.fingerprint(recipient))
    data = _sub(parent, DS, "X509Data")
    serial = _sub(data, DS, "X509IssuerSerial")
    _sub(serial, DS, "X509IssuerName", recipient.issuer.rfc4514_string())
    _sub(serial, DS, "X509SerialNumber", str(recipient.serial_number))


def _oaep(digest: type[hashes.HashAlgorithm], mgf: type[hashes.HashAlgorithm]) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=mgf()), algorithm=digest(), label=None)


def _concat_kdf(shared: bytes, digest: type[hashes.HashAlgorithm], other_info: bytes) -> bytes:
    return ConcatKDFHash(algorithm=digest(), length=KEY_BYTES, otherinfo=other_info).derive(shared)


# ------------------------------------------------------------------ opening
def open_sealed(data: bytes, keys: Sequence[tuple[x509.Certificate, pki.PrivateKey]]) -> bytes:
    """The plaintext of a sealed letter, with one of the receiver's ``keys`` (certificate, private key).

    The key whose certificate's fingerprint the letter names is used; failing that, the first.
    """
    return open_element(safe.parse(data), keys)


def open_element(root: etree._Element, keys: Sequence[tuple[x509.Certificate, pki.PrivateKey]]) -> bytes:
    """:func:`open_sealed` for an EncryptedData the caller has parsed already (with the hardened parser)."""
    if not keys:
        raise RemoteError(ErrorCode.ENCRYPTION, "this node holds no key of the receiving organisation")
    if root.tag != _q(XENC, "EncryptedData"):
        raise RemoteError(ErrorCode.ENCRYPTION, "not an xenc:EncryptedData")
    if _algorithm(root) != AES256_GCM:
        raise RemoteError(ErrorCode.ENCRYPTION, f"content encryption {_algorithm(root)!r} is not allowed "
                                                f"(only {AES256_GCM})")
    encrypted_keys = root.findall(f"{_q(DS, 'KeyInfo')}/{_q(XENC, 'EncryptedKey')}")
    if len(encrypted_keys) != 1:
        raise RemoteError(ErrorCode.ENCRYPTION, "the EncryptedData must carry exactly one EncryptedKey")
    named = (root.findtext(f".//{_q(DS, 'KeyName')}") or "").strip()
    key = next((k for c, k in keys if pki.fingerprint(c) == named), keys[0][1])
    content_key = _unwrap(encrypted_keys[0], key)
    sealed = _cipher_value(root)
    if len(sealed) < IV_BYTES + 16:
        raise RemoteError(ErrorCode.ENCRYPTION, "the CipherValue is too short for AES-GCM")
    try:
        return AESGCM(content_key).decrypt(sealed[:IV_BYTES], sealed[IV_BYTES:], None)
    except InvalidTag:
        raise RemoteError(ErrorCode.ENCRYPTION, "the ciphertext does not authenticate (altered, or another key)") \
            from None


def _algorithm(element: etree._Element) -> str:
    method = element.find(_q(XENC, "EncryptionMethod"))
    return "" if method is None else method.get("Algorithm", "")


def _cipher_value(element: etree._Element) -> bytes:
    text = element.findtext(f"{_q(XENC, 'CipherData')}/{_q(XENC, 'CipherValue')}")
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except ValueError:
        raise RemoteError(ErrorCode.ENCRYPTION, "a CipherValue is not base64") from None


def _unwrap(encrypted_key: etree._Element, key: pki.PrivateKey) -> bytes:
    algorithm = _algorithm(encrypted_key)
    wrapped = _cipher_value(encrypted_key)
    try:
        if algorithm in (RSA_OAEP_MGF1P, RSA_OAEP) and isinstance(key, rsa.RSAPrivateKey):
            content_key = key.decrypt(wrapped, _oaep_of(encrypted_key.find(_q(XENC, "EncryptionMethod")), algorithm))
        elif algorithm == KW_AES256 and isinstance(key, ec.EllipticCurvePrivateKey):
            content_key = aes_key_unwrap(_agreed_key(encrypted_key, key), wrapped)
        else:
            raise RemoteError(ErrorCode.ENCRYPTION, f"key transport {algorithm!r} is not allowed for a "
                                                    f"{type(key).__name__.removeprefix('_')} key")
    except (ValueError, InvalidUnwrap):
        raise RemoteError(ErrorCode.ENCRYPTION, "the content key does not decrypt with this organisation's key "
                                                "(sealed to another certificate?)") from None
    if len(content_key) != KEY_BYTES:
        raise RemoteError(ErrorCode.ENCRYPTION, "the content key is not an AES-256 key")
    return content_key


def _oaep_of(method: etree._Element, algorithm: str) -> padding.OAEP:
    digest_uri = method.find(_q(DS, "DigestMethod"))
    digest = _HASHES.get(SHA1 if digest_uri is None else digest_uri.get("Algorithm", ""))
    mgf_uri = method.find(_q(XENC11, "MGF"))
    mgf = hashes.SHA1 if algorithm == RSA_OAEP_MGF1P or mgf_uri is None else _MGFS.get(mgf_uri.get("Algorithm", ""))
    if digest is None or mgf is None or method.find(_q(XENC, "OAEPparams")) is not None:
        raise RemoteError(ErrorCode.ENCRYPTION, "RSA-OAEP with a digest, MGF or label that is not allowed")
    return _oaep(digest, mgf)


def _agreed_key(encrypted_key: etree._Element, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key-encryption key of ECDH-ES: our static key with the originator's ephemeral public key."""
    agreement = encrypted_key.find(f"{_q(DS, 'KeyInfo')}/{_q(XENC, 'AgreementMethod')}")
    if agreement is None or agreement.get("Algorithm") != ECDH_ES:
        raise RemoteError(ErrorCode.ENCRYPTION, "kw-aes256 needs an ECDH-ES AgreementMethod")
    kdf = agreement.find(_q(XENC11, "KeyDerivationMethod"))
    params = None if kdf is None or kdf.get("Algorithm") != CONCAT_KDF else kdf.find(_q(XENC11, "ConcatKDFParams"))
    digest = None if params is None else params.find(_q(DS, "DigestMethod"))
    if digest is None or _HASHES.get(digest.get("Algorithm", "")) is not hashes.SHA256:
        raise RemoteError(ErrorCode.ENCRYPTION, "ECDH-ES needs ConcatKDF with SHA-256")
    point = agreement.findtext(f"{_q(XENC, 'OriginatorKeyInfo')}/{_q(DS, 'KeyValue')}/{_q(DSIG11, 'ECKeyValue')}/"
                               f"{_q(DSIG11, 'PublicKey')}")
    try:
        other_info = b"".join(_bit_string(params.get(name, "")) for name in ("AlgorithmID", "PartyUInfo", "PartyVInfo"))
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            key.curve, base64.b64decode("".join((point or "").split()), validate=True))
    except ValueError:
        raise RemoteError(ErrorCode.ENCRYPTION, "the originator's key or the ConcatKDF parameters are malformed") \
            from None
    return _concat_kdf(key.exchange(ec.ECDH(), public), hashes.SHA256, other_info)


def _bit_string(value: str) -> bytes:
    """A ConcatKDFParams attribute: hex, its first byte the count of padding bits (always 0 for us)."""
    data = bytes.fromhex(value)
    if not data or data[0] != 0:
        raise ValueError("ConcatKDF parameters must be whole bytes")
    return data[1:]
