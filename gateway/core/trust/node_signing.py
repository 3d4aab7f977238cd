"""XML-DSig on node documents: NodeMessage, NodeReceipt, DirectorySnapshot (DESIGN section 4).

Theory of operation
-------------------
A node document is signed as a whole: one enveloped signature, Reference
``URI=""``, exclusive c14n, appended as the document's last child, the node's
(or organisation's) certificate in X509Data. Verification fixes that shape
before any digest is computed, with the same shape check as letters
(:func:`signing.check_signed_info`) under :data:`NODE_POLICY`: modern
algorithms only, no legacy switch (node-to-node is ours), and trust pinned to
the certificates the caller passes.

Split from core/trust/signing.py, which re-exports :data:`NODE_POLICY`,
:func:`sign_document` and :func:`verify_document`, so ``signing.sign_document``
keeps working.

Pure: keys, certificates and ``now`` come in as arguments.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from cryptography import x509
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod

from gateway.core import ns
from gateway.core.errors import ErrorCode, LocalError
from gateway.core.trust import pki
from gateway.core.trust.signing import (EXC_C14N, Signer, VerifyPolicy, _XMLSigner, _check_subject_name, _key_info,
                                        _refuse, _signxml_verify, check_signed_info)

NODE_POLICY = VerifyPolicy(c14n_methods=frozenset({EXC_C14N}))

_SIGNATURE = ns.ds("Signature")


def sign_document(document: etree._Element, signer: Signer) -> etree._Element:
    """Sign a node document (NodeMessage, NodeReceipt, DirectorySnapshot) as a whole.

    Enveloped signature, Reference URI="" (the whole document), exclusive c14n,
    appended as the document's last child, certificate in X509Data.
    """
    xml_signer = _XMLSigner(method=SignatureConstructionMethod.enveloped, signature_algorithm=signer.method,
                           digest_algorithm=DigestAlgorithm.SHA256,
                           c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    try:
        return xml_signer.sign(document, key=signer.key, cert=[signer.certificate])
    except Exception as exc:
        raise LocalError(f"cannot sign node document: {exc}") from exc


def verify_document(document: etree._Element, *, trusted: Sequence[x509.Certificate],
                    now: dt.datetime) -> tuple[etree._Element, x509.Certificate]:
    """Verify a node document signed by one of ``trusted``; return what was signed and the signer.

    The shape is fixed before any digest is computed: one ds:Signature, the
    document's last child, one Reference to the whole document, enveloped and
    exclusive c14n transforms only, modern algorithms only (node-to-node is
    ours: no legacy switch here).
    """
    signatures = list(document.iter(_SIGNATURE))
    if not signatures:
        raise _refuse(ErrorCode.UNSIGNED, f"{etree.QName(document).localname} is not signed")
    if len(signatures) > 1 or signatures[0].getparent() is not document or document[-1] is not signatures[0]:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "one ds:Signature, the last child of the document")
    sig = signatures[0]
    check_signed_info(sig, reference_uri="", policy=NODE_POLICY)
    certs, key_value = _key_info(sig)
    if len(certs) != 1 or key_value is not None:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "KeyInfo must carry exactly the signer's certificate")
    match = [c for c in trusted if pki.fingerprint(c) == pki.fingerprint(certs[0])]
    if not match:
        raise _refuse(ErrorCode.UNTRUSTED_SIGNER,
                      f"{pki.describe(certs[0])} may not sign this {etree.QName(document).localname}")
    cert = match[0]
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise _refuse(ErrorCode.UNTRUSTED_SIGNER, f"certificate {pki.describe(cert)} is not valid now")
    _check_subject_name(sig, cert)
    config = SignatureConfiguration(location="./", expect_references=1,
                                    signature_methods=frozenset(NODE_POLICY.signature_methods),
                                    digest_algorithms=frozenset(NODE_POLICY.digest_methods), verification_time=now)
    signed = _signxml_verify(document, config, x509_cert=cert)
    if not isinstance(signed, etree._Element) or signed.tag != document.tag:
        raise _refuse(ErrorCode.SIGNATURE_POLICY, "the signature does not cover the document")
    return signed, cert
