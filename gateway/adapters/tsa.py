"""An RFC 3161 time-stamping client (Thailand's ETDA e-timestamping speaks RFC 3161).

Theory of operation
-------------------
:meth:`TimestampClient.stamp` sends a TimeStampReq (SHA-256 imprint of the data, a random
nonce, certReq true) by HTTP POST as ``application/timestamp-query`` and reads an
``application/timestamp-reply``. It refuses an answer that is not *granted*, whose nonce or
message imprint is not the request's, or that is not signed by the pinned TSA certificate,
and returns the TimeStampToken (a CMS ContentInfo, DER) exactly as the TSA gave it: the
bytes to store, which ``openssl ts -verify -token_in`` also reads. :func:`verify_token`
checks such a token later against the data and the pinned certificate and gives its
genTime; it reads no clock (the certificates must have been valid at genTime, RFC 3161
section 4.3, which is how the library checks them).

The pinned certificate is the TSA's own signing certificate, given as a ``cryptography``
certificate, a sequence of them, or a PEM file with one or more. The first is the TSA's:
the token must name exactly it as its signer. The rest are its issuers up to a self-signed
root: the signature check (OpenSSL's PKCS7_verify inside rfc3161-client) accepts a chain
only if it ends at a self-signed certificate, so a TSA certificate a CA issued must come
with that CA (a self-signed TSA certificate needs nothing more).

Libraries: rfc3161-client (Trail of Bits) builds the request, parses the TSTInfo and
verifies the CMS signature, the signer's critical timeStamping EKU, the nonce and the
imprint. Two things it cannot do, and asn1crypto does for it (its ASN.1 definitions, no
hand-written encoding):

* it parses only a whole TimeStampResp, never a bare token, so a stored token is put back
  in a *granted* TimeStampResp before it is handed over;
* it insists on DER, in which the SignedData ``certificates`` SET OF is sorted; OpenSSL-based
  TSAs (``openssl ts -reply`` with a chain) send the signer first, unsorted, which is valid
  BER and what ``openssl ts -verify`` reads. That set is outside the signature, so it is
  put in DER order before the check; the token returned and stored is left as it came.

Every failure is a :class:`TimestampError`, a :class:`LocalError` (the TSA is part of our
own configuration), with a message saying what did not hold.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path

import requests
from asn1crypto import cms, core, tsp
from cryptography import x509
from rfc3161_client import (HashAlgorithm, TimeStampResponse, TimestampRequestBuilder, VerificationError,
                            VerifierBuilder, decode_timestamp_response)

from gateway.core.errors import LocalError

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPES = ("application/timestamp-reply", "application/timestamp-response")  # the second: old drafts
SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
MAX_REPLY = 1024 * 1024

Certificates = x509.Certificate | Sequence[x509.Certificate] | str | Path


class TimestampError(LocalError):
    """A time-stamp could not be had, or a token does not verify; the message says why."""


class _Reply(core.Sequence):
    """TimeStampResp as RFC 3161 section 2.4.2 has it (asn1crypto's makes the token required)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def load_certificates(certificate: Certificates) -> tuple[x509.Certificate, ...]:
    """The pinned certificates: the TSA's first, then its issuers (see the module text)."""
    if isinstance(certificate, x509.Certificate):
        found: tuple[x509.Certificate, ...] = (certificate,)
    elif isinstance(certificate, (str, Path)):
        try:
            found = tuple(x509.load_pem_x509_certificates(Path(certificate).read_bytes()))
        except (OSError, ValueError) as exc:
            raise TimestampError(f"cannot read the TSA certificate file {certificate}: {exc}") from exc
    else:
        found = tuple(certificate)
    if not found or not all(isinstance(c, x509.Certificate) for c in found):
        raise TimestampError("the TSA certificate is required: a certificate, a list of them or a PEM file")
    return found


def token_of(answer: bytes) -> bytes:
    """The TimeStampToken of a TimeStampResp, as sent; raises unless the TSA granted it."""
    try:
        reply = _Reply.load(answer, strict=True)
        status = reply["status"].native
        token = reply["time_stamp_token"]
        raw = None if isinstance(token, core.Void) else token.dump()
    except (ValueError, TypeError) as exc:
        raise TimestampError(f"the TSA answered something that is not a TimeStampResp: {exc}") from exc
    if status["status"] != "granted":
        reasons = "; ".join(status["status_string"] or []) or "no reason given"
        failure = ", ".join(sorted(status["fail_info"] or ()))
        raise TimestampError(f"the TSA did not grant the time-stamp: {status['status']} ({reasons})"
                             + (f", failure {failure}" if failure else ""))
    if not raw:
        raise TimestampError("the TSA granted the time-stamp but sent no TimeStampToken")
    return raw


def _as_response(token: bytes) -> TimeStampResponse:
    """``token`` (certificates in DER order) in a granted TimeStampResp, parsed by rfc3161-client."""
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            raise TimestampError(f"the time-stamp token is {info['content_type'].native}, not CMS SignedData")
        signed = info["content"]
        certificates = signed["certificates"]
        if not isinstance(certificates, core.Void):
            encodings = [c.dump() for c in certificates]
            if encodings != sorted(encodings):
                signed["certificates"] = cms.CertificateSet([cms.CertificateChoices.load(e)
                                                             for e in sorted(encodings)])
        framed = _Reply({"status": {"status": "granted"}, "time_stamp_token": info}).dump()
        return decode_timestamp_response(framed)
    except (ValueError, TypeError) as exc:
        raise TimestampError(f"the time-stamp token is not a DER TimeStampToken: {exc}") from exc


def _verifier(certificates: tuple[x509.Certificate, ...], nonce: int | None = None):
    builder = VerifierBuilder(tsa_certificate=certificates[0], roots=list(certificates))
    return builder.nonce(nonce).build() if nonce is not None else builder.build()


def _check(token: bytes, message: bytes, certificates: tuple[x509.Certificate, ...],
           *, nonce: int | None = None) -> dt.datetime:
    """genTime, after checking ``token`` covers ``message`` (SHA-256) and is signed by the pin."""
    response = _as_response(token)
    try:
        info = response.tst_info
        imprint = info.message_imprint
        if imprint.hash_algorithm != SHA256_OID or imprint.message != hashlib.sha256(message).digest():
            raise TimestampError("the time-stamp token does not cover this data: its message imprint "
                                 f"({imprint.hash_algorithm.dotted_string}, {imprint.message.hex()}) is not "
                                 "the SHA-256 digest of the data")
        if nonce is not None and info.nonce != nonce:
            raise TimestampError(f"the TSA answered another request: nonce {info.nonce} instead of {nonce}")
        _verifier(certificates, nonce).verify_message(response, message)
        return info.gen_time
    except (VerificationError, ValueError) as exc:
        pinned = certificates[0].subject.rfc4514_string()
        hint = (" (a TSA certificate that a CA issued is pinned together with that CA's certificates, "
                "up to a self-signed root)" if "Verify error" in str(exc) else "")
        raise TimestampError(f"the time-stamp token is not signed by the pinned TSA certificate ({pinned}) "
                             f"or is damaged: {exc}{hint}") from exc


def verify_token(token: bytes, data: bytes, certificate: Certificates) -> dt.datetime:
    """The genTime (UTC) of ``token`` after checking it covers ``data`` and is signed by ``certificate``."""
    if not token:
        raise TimestampError("there is no time-stamp token to verify")
    return _check(token, data, load_certificates(certificate))


class TimestampClient:
    """Stamps data at one TSA (``url``) whose certificate is pinned (``certificate``, required:
    see the module text for its forms).

    ``verify`` is requests' TLS setting for an https URL: True, a CA bundle path, or False.
    """

    def __init__(self, url: str, *, timeout: float = 10, verify: str | bool = True,
                 certificate: Certificates) -> None:
        if not url.startswith(("http://", "https://")):
            raise TimestampError(f"the TSA URL must be http(s)://, not {url!r}")
        self.url = url
        self.timeout = timeout
        self.verify = verify
        self.certificates = load_certificates(certificate)
        self.session = requests.Session()

    def stamp(self, data: bytes) -> bytes:
        """The DER TimeStampToken the TSA gives for ``data``, checked (see the module text)."""
        if not data:
            raise TimestampError("there is nothing to time-stamp: the data is empty")
        request = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
        token = token_of(self._post(request.as_bytes()))
        _check(token, data, self.certificates, nonce=request.nonce)
        return token

    def _post(self, query: bytes) -> bytes:
        try:
            with self.session.post(self.url, data=query, timeout=self.timeout, verify=self.verify, stream=True,
                                   headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPES[0]}) as answer:
                kind = (answer.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if answer.status_code != 200:
                    raise TimestampError(f"the TSA at {self.url} answered HTTP {answer.status_code}")
                if kind not in REPLY_TYPES:
                    raise TimestampError(f"the TSA at {self.url} answered {kind or 'no content type'}, "
                                         f"not {REPLY_TYPES[0]}")
                body = bytearray()
                for chunk in answer.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > MAX_REPLY:
                        raise TimestampError(f"the TSA at {self.url} answered more than {MAX_REPLY} bytes")
        except requests.RequestException as exc:
            raise TimestampError(f"cannot reach the TSA at {self.url}: {exc}") from exc
        return bytes(body)

    def close(self) -> None:
        self.session.close()
