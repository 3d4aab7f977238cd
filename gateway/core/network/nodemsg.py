"""NodeMessage and NodeReceipt: the documents nodes exchange (xsd/NodeMessage.xsd).

Theory of operation
-------------------
A node pushes one item per message. The item (a letter's stored bytes, a
queued notifier element, or a withdrawal reference) travels base64-encoded in
``Payload``, so its bytes, and a letter's end-to-end signature, survive every
hop unchanged. The message is signed by the node that sends this hop; the
receipt by the node that stored it, naming the MessageId and the SHA-256 of
the Payload it stored. Retries keep the MessageId and re-sign with a fresh
Timestamp; the receiver keeps (sender node, MessageId) and answers a repeat
with the receipt it issued first.

Building and reading only; signing is :mod:`gateway.core.trust.signing`, I/O elsewhere.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.time import wire_time
from gateway.core.errors import ErrorCode, RemoteError

KINDS = ("letter", "notifier", "withdrawal", "status")
MAX_HOPS = 16
MIN_YEAR, MAX_YEAR = 2000, 2999   # plausible node-message times; others are refused before any arithmetic
N = ns.NODE


@dataclass(frozen=True, kw_only=True)
class Hop:
    node: str
    at: str  # ISO 8601


@dataclass(frozen=True, kw_only=True)
class NodeMessage:
    message_id: str
    sender_node: str
    receiver_node: str
    sender_org: str
    receiver_org: str
    timestamp: dt.datetime
    kind: str
    process_id: str
    letter_process_id: str
    path: tuple[Hop, ...]
    payload: bytes
    attestation: bytes = b""   # a notifier's or withdrawal's signed ItemAttestation (core/network/attestation.py)

    @property
    def payload_digest(self) -> str:
        return digest(self.payload)


@dataclass(frozen=True, kw_only=True)
class Receipt:
    message_id: str
    sender_node: str
    receiver_node: str
    process_id: str
    payload_digest: str
    received_at: dt.datetime


def digest(payload: bytes) -> str:
    """The PayloadDigest of a receipt: base64 SHA-256."""
    return base64.b64encode(hashlib.sha256(payload).digest()).decode("ascii")


def _sub(parent: etree._Element, local: str, text: str) -> etree._Element:
    el = etree.SubElement(parent, ns.node(local))
    el.text = text
    return el


def build_message(message: NodeMessage) -> etree._Element:
    """The unsigned NodeMessage element (sign it with signing.sign_document)."""
    if message.kind not in KINDS:
        raise ValueError(message.kind)
    root = etree.Element(ns.node("NodeMessage"), nsmap={"n": N})
    _sub(root, "MessageId", message.message_id)
    _sub(root, "SenderNode", message.sender_node)
    _sub(root, "ReceiverNode", message.receiver_node)
    _sub(root, "SenderOrganization", message.sender_org)
    _sub(root, "ReceiverOrganization", message.receiver_org)
    _sub(root, "Timestamp", wire_time(message.timestamp))
    _sub(root, "Kind", message.kind)
    _sub(root, "ProcessID", message.process_id)
    _sub(root, "LetterProcessID", message.letter_process_id)
    path = etree.SubElement(root, ns.node("Path"))
    for hop in message.path:
        etree.SubElement(path, ns.node("Hop"), node=hop.node, at=hop.at)
    _sub(root, "Payload", base64.b64encode(message.payload).decode("ascii"))
    if message.attestation:
        _sub(root, "Attestation", base64.b64encode(message.attestation).decode("ascii"))
    return root


def _text(root: etree._Element, local: str) -> str:
    return (root.findtext(ns.node(local)) or "").strip()


def _time(value: str, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} must carry a UTC offset")
    # Years near 1 or 9999 overflow as soon as they are moved to another zone; nothing real is there.
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} {value!r} is outside {MIN_YEAR}-{MAX_YEAR}")
    return parsed


def read_message(signed: etree._Element) -> NodeMessage:
    """The values of a verified, schema-valid NodeMessage (the signed content only)."""
    path = tuple(Hop(node=h.get("node", ""), at=h.get("at", ""))
                 for h in signed.iterfind(f"{ns.node('Path')}/{ns.node('Hop')}"))
    try:
        payload = base64.b64decode("".join(_text(signed, "Payload").split()), validate=True)
        attestation = base64.b64decode("".join(_text(signed, "Attestation").split()), validate=True)
    except ValueError:
        raise RemoteError(ErrorCode.SCHEMA_INVALID, "Payload or Attestation is not base64") from None
    return NodeMessage(
        message_id=_text(signed, "MessageId"), sender_node=_text(signed, "SenderNode"),
        receiver_node=_text(signed, "ReceiverNode"), sender_org=_text(signed, "SenderOrganization"),
        receiver_org=_text(signed, "ReceiverOrganization"),
        timestamp=_time(_text(signed, "Timestamp"), "Timestamp"), kind=_text(signed, "Kind"),
        process_id=_text(signed, "ProcessID"), letter_process_id=_text(signed, "LetterProcessID"),
        path=path, payload=payload, attestation=attestation,
    )


def check_timestamp(message: NodeMessage, now: dt.datetime, skew: dt.timedelta) -> None:
    """Refuse a message signed too far from our clock: a replay from long ago, or a broken clock."""
    if abs(message.timestamp - now) > skew:
        raise RemoteError(ErrorCode.REPLAY, f"Timestamp {wire_time(message.timestamp)} is more than "
                                            f"{int(skew.total_seconds())} s from this node's clock {wire_time(now)}")


def build_receipt(receipt: Receipt) -> etree._Element:
    root = etree.Element(ns.node("NodeReceipt"), nsmap={"n": N})
    _sub(root, "MessageId", receipt.message_id)
    _sub(root, "SenderNode", receipt.sender_node)
    _sub(root, "ReceiverNode", receipt.receiver_node)
    _sub(root, "ProcessID", receipt.process_id)
    _sub(root, "PayloadDigest", receipt.payload_digest)
    _sub(root, "ReceivedAt", wire_time(receipt.received_at))
    return root


def read_receipt(signed: etree._Element) -> Receipt:
    return Receipt(
        message_id=_text(signed, "MessageId"), sender_node=_text(signed, "SenderNode"),
        receiver_node=_text(signed, "ReceiverNode"), process_id=_text(signed, "ProcessID"),
        payload_digest=_text(signed, "PayloadDigest"),
        received_at=_time(_text(signed, "ReceivedAt"), "ReceivedAt"),
    )


def path_json(path: tuple[Hop, ...]) -> str:
    return json.dumps([{"node": h.node, "at": h.at} for h in path], ensure_ascii=False)


def path_from_json(text: str) -> tuple[Hop, ...]:
    if not text:
        return ()
    return tuple(Hop(node=h["node"], at=h["at"]) for h in json.loads(text))
