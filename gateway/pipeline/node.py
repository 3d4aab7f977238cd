"""The node port's inbound pipeline, pure: bytes in, one checked NodeMessage out (DESIGN section 4).

Stages, in this order::

    read:  hardened parse -> the node envelope (SOAP 1.1, one carrier operation)
    check: exactly one n:NodeMessage -> XSD -> the sending node's signature, pinned to the
           directory -> only the signed message flows on -> addressed to this node -> timestamp
           window -> the sending node may speak for the sending organisation -> hop count ->
           the payload: a letter's own end-to-end signature verified, a notifier read

A refused message raises the RemoteError its sender is answered with; nothing
needs the store yet. The result is typed by kind, so the relay operation never
guesses what it holds.
"""
from __future__ import annotations

import datetime as dt
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.letters.letter import NOTIFIER_ELEMENTS, Letter, check_signer_party, read_letter
from gateway.core.network import attestation as attest, nodemsg, status
from gateway.core.network.directory import Directory
from gateway.core.network.nodemsg import NodeMessage
from gateway.core.state import Event, ItemKind
from gateway.core.trust import sealing, signing
from gateway.core.trust.keyring import Keyring
from gateway.core.trust.signing import VerifyPolicy
from gateway.core.xml import contract, envelope, safe

DELIVER = "Deliver"


@dataclass(frozen=True, kw_only=True)
class NodeContext:
    """What the node pipeline needs besides the request: built once by the composition root."""

    node_id: str
    directory: Directory
    keyring: Keyring
    limits: safe.Limits
    verify: VerifyPolicy
    clock_skew: dt.timedelta
    allow_top_secret: bool


@dataclass(frozen=True, kw_only=True)
class CheckedLetter:
    message: NodeMessage
    letter: Letter
    verified: signing.Verified
    sealed: bool = False     # the Payload is the letter encrypted to its receiver (core/trust/sealing.py)


@dataclass(frozen=True, kw_only=True)
class CheckedSealedLetter:
    """A secret letter passing through: ciphertext only this node cannot open; forwarded unchanged."""

    message: NodeMessage


@dataclass(frozen=True, kw_only=True)
class CheckedNotifier:
    message: NodeMessage
    event: Event
    element: etree._Element


@dataclass(frozen=True, kw_only=True)
class CheckedWithdrawal:
    message: NodeMessage      # the letter is named by the message's LetterProcessID


@dataclass(frozen=True, kw_only=True)
class CheckedStatus:
    message: NodeMessage
    report: status.DeliveryStatus   # signed by the node that saw it, verified here


Checked = CheckedLetter | CheckedSealedLetter | CheckedNotifier | CheckedWithdrawal | CheckedStatus


def read(body: bytes, limits: safe.Limits) -> envelope.AgencyRequest:
    """Parse with the hardened parser and find the node port's operation."""
    return envelope.parse_node_request(safe.parse(body, limits))


def check(request: envelope.AgencyRequest, *, ctx: NodeContext, now: dt.datetime) -> Checked | None:
    """The Deliver operation's one NodeMessage, checked; None for operations that carry none."""
    if request.operation != DELIVER:
        return None
    messages = [c for c in request.body if isinstance(c.tag, str)]
    if len(messages) != 1 or messages[0].tag != ns.node("NodeMessage"):
        raise RemoteError(ErrorCode.SCHEMA_INVALID, "DeliverRequest holds exactly one n:NodeMessage")
    # A document of its own: the signed element taken out of the envelope it came in.
    return check_message(deepcopy(messages[0]), ctx=ctx, now=now)


def check_message(document: etree._Element, *, ctx: NodeContext, now: dt.datetime) -> Checked:
    """Schema, the sending node's signature, addressing, timestamp, and the payload."""
    contract.validate(document, contract.node_schema())
    claimed = (document.findtext(ns.node("SenderNode")) or "").strip()
    trusted = ctx.keyring.node_trusted(claimed)  # during a rotation, its old and its new certificate
    if not trusted:
        raise RemoteError(ErrorCode.UNTRUSTED_SIGNER, f"node {claimed!r} is not in this node's directory")
    signed, _ = signing.verify_document(document, trusted=trusted, now=now)
    message = nodemsg.read_message(signed)   # only the signed content flows on
    if message.receiver_node != ctx.node_id:
        raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, f"the message is for node {message.receiver_node}, "
                                                      f"this is {ctx.node_id}")
    nodemsg.check_timestamp(message, now, ctx.clock_skew)
    _check_sender_node(message, ctx.directory)
    if len(message.path) >= nodemsg.MAX_HOPS - 1:
        raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, "too many hops: a routing loop?")
    return _payload(message, ctx, now)


def _check_sender_node(message: NodeMessage, directory: Directory) -> None:
    """A node may send only for organisations it hosts or routes for us (DESIGN section 6)."""
    org = directory.get(message.sender_org)
    if org is None or org.hosted:
        raise RemoteError(ErrorCode.UNTRUSTED_SIGNER,
                          f"organisation {message.sender_org} is not reached through node {message.sender_node}")
    if message.sender_node not in (org.node, org.via):
        raise RemoteError(ErrorCode.UNTRUSTED_SIGNER,
                          f"node {message.sender_node} may not send for {message.sender_org}")


def _payload(message: NodeMessage, ctx: NodeContext, now: dt.datetime) -> Checked:
    """Parse and verify what the message carries."""
    if message.kind == ItemKind.LETTER:
        return _letter(message, ctx, now)
    if message.kind in attest.ATTESTED_KINDS:
        _check_attestation(message, ctx, now)
    if message.kind == ItemKind.NOTIFIER:
        element = safe.parse(message.payload)
        event = NOTIFIER_ELEMENTS.get(element.tag)
        if event is None:
            raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{element.tag!r} is not a notifier")
        return CheckedNotifier(message=message, event=event, element=element)
    if message.kind == ItemKind.STATUS:
        return CheckedStatus(message=message, report=_status(message, ctx, now))
    return CheckedWithdrawal(message=message)


def _letter(message: NodeMessage, ctx: NodeContext, now: dt.datetime) -> CheckedLetter | CheckedSealedLetter:
    """A letter's own end-to-end signature, verified; a sealed one opened first when its receiver is ours."""
    document = safe.parse(message.payload)
    sealed = document.tag == sealing.ENCRYPTED_DATA
    if sealed:
        receiver = ctx.directory.get(message.receiver_org)
        if receiver is None or not receiver.hosted:
            return CheckedSealedLetter(message=message)   # a hub: it cannot read it, and passes it on
        document = safe.parse(sealing.open_element(document, ctx.keyring.opening_keys(message.receiver_org)))
    if document.tag != ns.rsm("GovernmentDocument"):
        raise RemoteError(ErrorCode.SCHEMA_INVALID, "a letter's Payload is an rsm:GovernmentDocument")
    contract.validate(document)
    verified = signing.verify_letter(document, trusted=ctx.keyring.trusted_for(message.sender_org),
                                     policy=ctx.verify, now=now)
    letter = read_letter(document, allow_top_secret=ctx.allow_top_secret)
    check_signer_party(document, message.sender_org)
    if (letter.sender.department_id, letter.receiver.department_id) != \
            (message.sender_org, message.receiver_org):
        raise RemoteError(ErrorCode.SENDER_MISMATCH, "the letter's parties differ from the message's")
    if message.process_id != message.letter_process_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, "a letter's LetterProcessID is its own ProcessID")
    return CheckedLetter(message=message, letter=letter, verified=verified, sealed=sealed)


def _node_document(data: bytes, local: str, what: str) -> etree._Element:
    """A small signed node document carried in a message (attestation, status): parsed, named, schema-valid."""
    document = safe.parse(data)
    if document.tag != ns.node(local):
        raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{what} is an n:{local}")
    contract.validate(document, contract.node_schema())
    return document


def _signed_by(document: etree._Element, signer: str, trusted: list, now: dt.datetime) -> etree._Element:
    """The signed content of ``document``, verified against ``signer``'s certificates in our directory."""
    if not trusted:
        raise RemoteError(ErrorCode.UNTRUSTED_SIGNER, f"{signer!r} has no certificate in this node's directory")
    return signing.verify_document(document, trusted=trusted, now=now)[0]


def _check_attestation(message: NodeMessage, ctx: NodeContext, now: dt.datetime) -> None:
    """A notifier or withdrawal is its organisation's: its attestation verifies against that organisation's
    certificates and names exactly this item and these bytes. A hub cannot alter or invent one."""
    if not message.attestation:
        raise RemoteError(ErrorCode.SIGNATURE_POLICY, f"a {message.kind} needs its organisation's Attestation "
                                                      "(signed end to end)")
    document = _node_document(message.attestation, "ItemAttestation", "the Attestation")
    signed = _signed_by(document, message.sender_org, ctx.keyring.trusted_for(message.sender_org), now)
    attest.check(attest.read(signed), organization=message.sender_org, kind=message.kind,
                 process_id=message.process_id, letter_process_id=message.letter_process_id, payload=message.payload)


def _status(message: NodeMessage, ctx: NodeContext, now: dt.datetime) -> status.DeliveryStatus:
    """A DeliveryStatus verified end to end, whoever forwarded it.

    "pulled" is signed with the receiving organisation's key (by its node on its behalf), as the
    letter was with the sender's: verified against that organisation's certificates, so no hub can
    make one. "failed" and "delivered" are signed by the node that pushed (a hub reporting its own
    delivery), verified against that node's certificate in our directory.
    """
    document = _node_document(message.payload, "DeliveryStatus", "a status message's Payload")
    said = (document.findtext(ns.node("Status")) or "").strip()
    if said == status.Status.PULLED:
        signer = message.sender_org
        trusted = ctx.keyring.trusted_for(signer)
    else:
        signer = (document.findtext(ns.node("Node")) or "").strip()
        trusted = ctx.keyring.node_trusted(signer)
    report = status.read(_signed_by(document, signer, trusted, now))
    if (report.letter_process_id, report.organization) != (message.letter_process_id, message.sender_org):
        raise RemoteError(ErrorCode.INVALID_FIELD, "the DeliveryStatus names another letter or organisation "
                                                   "than its message")
    return report
