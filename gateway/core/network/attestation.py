"""ItemAttestation: a notifier or withdrawal signed end to end by the organisation that makes it.

Theory of operation
-------------------
A letter carries its sender's signature to the receiver; its notifiers and
withdrawals used to carry only each hop's node signature, so a hub in the
middle could alter an AcceptLetterNotifier (another receive number) or invent
one. Now, where the item enters the network, the organisation's node signs, on
its behalf and with its key (as it signs an unsigned letter), a small document
naming the item and the SHA-256 of its exact bytes. The document travels in
the NodeMessage's ``Attestation``, unchanged through every hub, and the node
that stores the item verifies it against that organisation's certificates in
its own directory: a changed byte, another item, or a key that is not the
organisation's is refused, and nothing is stored.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError

ATTESTED_KINDS = ("notifier", "withdrawal")


@dataclass(frozen=True, kw_only=True)
class Attestation:
    organization: str        # who makes the item (the message's SenderOrganization)
    kind: str
    process_id: str
    letter_process_id: str
    payload_digest: str      # base64 SHA-256 of the item's bytes (the Payload)


def payload_digest(payload: bytes) -> str:
    return base64.b64encode(hashlib.sha256(payload).digest()).decode("ascii")


def build(item: Attestation) -> etree._Element:
    """The unsigned n:ItemAttestation (sign it with the organisation's signer)."""
    root = etree.Element(ns.node("ItemAttestation"), nsmap={"n": ns.NODE})
    for local, text in (("Organization", item.organization), ("Kind", item.kind), ("ProcessID", item.process_id),
                        ("LetterProcessID", item.letter_process_id), ("PayloadDigest", item.payload_digest)):
        etree.SubElement(root, ns.node(local)).text = text
    return root


def read(signed: etree._Element) -> Attestation:
    def text(local: str) -> str:
        return (signed.findtext(ns.node(local)) or "").strip()

    return Attestation(organization=text("Organization"), kind=text("Kind"), process_id=text("ProcessID"),
                       letter_process_id=text("LetterProcessID"), payload_digest=text("PayloadDigest"))


def check(item: Attestation, *, organization: str, kind: str, process_id: str, letter_process_id: str,
          payload: bytes) -> None:
    """The verified attestation names exactly this item and these bytes; SIGNATURE_INVALID otherwise."""
    expected = Attestation(organization=organization, kind=kind, process_id=process_id,
                           letter_process_id=letter_process_id, payload_digest=payload_digest(payload))
    if item != expected:
        differs = [name for name in ("organization", "kind", "process_id", "letter_process_id", "payload_digest")
                   if getattr(item, name) != getattr(expected, name)]
        raise RemoteError(ErrorCode.SIGNATURE_INVALID,
                          f"the organisation's attestation does not match the item: {', '.join(differs)} differ")
