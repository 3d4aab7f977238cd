"""Helpers of the operations suite: drive the agency, relay and delivery operations without HTTP."""
from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.core.letters.letter import Notifier
from gateway.core.network import nodemsg
from gateway.core.network.nodemsg import Receipt
from gateway.core.xml import safe
from gateway.operations.agency import Item
from gateway.pipeline import agency as agency_pipeline, outbound
from gateway.runtime import wiring
from gateway.testing import wire

HUB, R15 = "moe-hub", "moe-r15"


def node_url(node: wiring.Node, peer_id: str) -> str:
    """The URL ``node`` pushes to for its neighbour ``peer_id``."""
    return node.config.directory.nodes[peer_id].url


def org(node: wiring.Node, org_id: str):
    """The hosted Organization ``org_id`` of ``node`` (the caller of an agency operation)."""
    return node.config.directory.require_hosted(org_id)


def submit(node: wiring.Node, sender: str, receiver: str, **letter) -> Item:
    """Send a letter as ``sender``'s e-Saraban would, through the agency pipeline, into Agency.store_letter."""
    body = wire.send_request(sender=sender, receiver=receiver, **letter)
    ctx = node.agency_ctx
    caller = org(node, sender)
    call = agency_pipeline.check(agency_pipeline.read(body, ctx.limits), body, caller=caller, ctx=ctx,
                                 now=node.agency.clock.now())
    assert call.prepared is not None
    return node.agency.store_letter(caller, call.prepared)


def notify(node: wiring.Node, caller: str, notifier: Notifier, element: str) -> Item:
    """Agency.notify with the raw request a client would have sent."""
    raw = wire.notifier_request(element, notifier.letter_id, notifier.correspondence_date, notifier.subject,
                                notifier.accept_id or None)
    return node.agency.notify(org(node, caller), notifier, raw)


def letter_row(node: wiring.Node, process_id: str):
    with node.store.transaction() as tx:
        return tx.letter_by_process_id(process_id)


def outbox(node: wiring.Node, letter_process_id: str):
    """The outbox rows of one letter, oldest first."""
    with node.store.transaction() as tx:
        return tx.outbox_of_letter(letter_process_id)


def signed_receipt(signer: wiring.Node, message: etree._Element, *, at: dt.datetime,
                   message_id: str | None = None) -> etree._Element:
    """A NodeReceipt for ``message`` signed by ``signer``'s node key (``message_id`` to name another message)."""
    m = nodemsg.read_message(message)
    receipt = Receipt(message_id=message_id or m.message_id, sender_node=m.sender_node,
                      receiver_node=m.receiver_node, process_id=m.process_id, payload_digest=m.payload_digest,
                      received_at=at)
    return safe.parse(outbound.node_receipt(receipt, signer.keyring.node_signer))
