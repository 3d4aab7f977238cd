"""The outbound pipeline, pure (STYLE 8): build -> validate -> sign last.

Every document this node signs for another node goes through here: the
NodeMessage the delivery worker pushes, the NodeReceipt the relay answers
with, and the DirectorySnapshot an authority publishes. Validation runs on
the built, unsigned document, so nothing we sign is malformed, and the
signature is the last thing added.
"""
from __future__ import annotations

from lxml import etree

from gateway.core.network import attestation as attest, nodemsg, snapshot, status
from gateway.core.network.nodemsg import NodeMessage, Receipt
from gateway.core.trust import signing
from gateway.core.trust.signing import Signer
from gateway.core.xml import contract


def _sign(document: etree._Element, signer: Signer) -> etree._Element:
    contract.check_before_signing(document, contract.node_schema())
    return signing.sign_document(document, signer)


def node_message(message: NodeMessage, signer: Signer) -> etree._Element:
    """The signed NodeMessage for one push of an outbox item."""
    return _sign(nodemsg.build_message(message), signer)


def node_receipt(receipt: Receipt, signer: Signer) -> bytes:
    """The signed NodeReceipt, as the bytes that are kept and answered to every repeat."""
    return etree.tostring(_sign(nodemsg.build_receipt(receipt), signer), encoding="utf-8")


def attestation(item: "attest.Attestation", signer: Signer) -> bytes:
    """A notifier's or withdrawal's ItemAttestation, signed with its organisation's key."""
    return etree.tostring(_sign(attest.build(item), signer), encoding="utf-8")


def delivery_status(report: "status.DeliveryStatus", signer: Signer) -> bytes:
    """The signed DeliveryStatus a node reports to a letter's origin, as the Payload's bytes."""
    return etree.tostring(_sign(status.build(report), signer), encoding="utf-8")


def directory_snapshot(snap: "snapshot.Snapshot", signer: Signer) -> bytes:
    """The signed DirectorySnapshot a directory authority publishes."""
    return etree.tostring(_sign(snapshot.build(snap), signer), encoding="utf-8")

