"""Signing and verifying a large letter whose enclosures are kept beside it (issue 10, part 2).

Theory of operation
-------------------
A large letter is held as a *skeleton* (core/letters/parts.py): each large
enclosure's base64 text is replaced by a placeholder naming it by its SHA-256,
and a :data:`parts.Texts` callable serves the text in chunks. The letter's
signature covers ``#Letter`` in canonical form, the text included, so the
skeleton is signed and verified by signing.py's own :func:`~signing.sign_letter`
and :func:`~signing.verify_letter` (every shape check, the pinned
certificate, the legacy switch, "the letter differs from what was signed"),
with one thing changed: the reference digest.

signxml computes every reference digest through ``_get_digest(data,
algorithm)``, ``data`` being the referenced element's canonical bytes. The
subclasses here hash those bytes with each placeholder replaced by its text
as canonical XML writes it (:func:`parts.c14n_text`: a carriage return is
``&#xD;``; base64 holds nothing else c14n escapes), chunk by chunk, so the
whole letter is never in memory. SignedInfo is signed over as usual: it holds
the digest, not the text. The signed skeleton, once spliced
(:func:`parts.splice`), is byte for byte the letter a signer of the whole
letter makes (RSA PKCS#1 v1.5 is deterministic; ECDSA is not, and verifies),
and verifies in signxml and xmlsec1.

What verification returns is read from the skeleton: its ``signed_letter``
is the signed letter with the placeholders in it, which is what callers read
(an enclosure's text is never a letter fact).

Every placeholder in the canonical form is spliced, as :func:`parts.splice`
does when the letter is served, so what is hashed is what is served.

Pure: the text comes from ``texts``; whatever it raises (the blob store's
errors) goes through unchanged.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.hashes import Hash
from lxml import etree
from signxml import DigestAlgorithm, XMLVerifier

from gateway.core.letters import parts
from gateway.core.trust import signing


def spliced_digest(data: bytes, algorithm: DigestAlgorithm, texts: parts.Texts) -> bytes:
    """The digest of canonical bytes ``data`` with each placeholder replaced by its canonical text, streamed."""
    hasher = Hash(algorithm.implementation())
    for chunk in parts.splice(data, texts, parts.c14n_text):
        hasher.update(chunk)
    return hasher.finalize()


class _SplicedSigner(signing._XMLSigner):
    """signing's signer, its reference digest taken over the spliced canonical form."""

    def __init__(self, *args, texts: parts.Texts, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._texts = texts

    def _get_digest(self, data, algorithm: DigestAlgorithm) -> bytes:
        return spliced_digest(data, algorithm, self._texts)


class _SplicedVerifier(XMLVerifier):
    """signxml's verifier, its reference digest taken over the spliced canonical form."""

    def __init__(self, *, texts: parts.Texts) -> None:
        super().__init__()
        self._texts = texts

    def _get_digest(self, data, algorithm: DigestAlgorithm) -> bytes:
        return spliced_digest(data, algorithm, self._texts)


def sign_letter_spliced(skeleton: etree._Element, signer: signing.Signer, texts: parts.Texts) -> etree._Element:
    """:func:`signing.sign_letter` for a skeleton: the signed skeleton, placeholders kept.

    ``parts.splice(etree.tostring(result, encoding="utf-8"), texts)`` is the
    letter :func:`signing.sign_letter` makes of the whole document.
    """
    return signing.sign_letter(skeleton, signer, signer_class=functools.partial(_SplicedSigner, texts=texts))


def verify_letter_spliced(skeleton: etree._Element, *, trusted: Sequence[x509.Certificate],
                          policy: signing.VerifyPolicy, now: dt.datetime, texts: parts.Texts) -> signing.Verified:
    """:func:`signing.verify_letter` for a skeleton; its ``signed_letter`` is the skeleton's (placeholders in it)."""
    return signing.verify_letter(skeleton, trusted=trusted, policy=policy, now=now,
                                 verifier_class=functools.partial(_SplicedVerifier, texts=texts))
