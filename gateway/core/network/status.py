"""DeliveryStatus: what became of a letter further along its path, told back to its origin (node-exchange.md).

Theory of operation
-------------------
A letter's origin learns from its own outbox only that the next node took the
letter. What happens beyond (the region's e-Saraban pulled it; a hub could not
deliver it and gave up; a hub delivered it after all) is reported back by the
node that saw it, in a small document signed with that node's own key:

* ``pulled``: the receiving organisation's node, when its e-Saraban first pulls the letter;
* ``failed``: a node that forwards the letter, when its delivery FAILED (the retry window
  ran out, a definite refusal, or its operator abandoned it);
* ``delivered``: that forwarding node, when a push that had failed or erred before got a receipt.

The document travels as the Payload of a NodeMessage of kind ``status``, from
the letter's receiving organisation to its sending organisation, through the
same hubs; each hub forwards the signed bytes unchanged. A "pulled" is signed
with the receiving organisation's key (by its node on its behalf, as a letter
is signed for its sender), so no hub can make or alter one; "failed" and
"delivered" are signed by the node that pushed. The origin verifies the
signature against its directory and then sets what OutboundStatus answers.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.time import wire_time

MAX_DETAIL = 500   # characters of a failure's reason


class Status(enum.StrEnum):
    PULLED = "pulled"
    FAILED = "failed"
    DELIVERED = "delivered"


@dataclass(frozen=True, kw_only=True)
class DeliveryStatus:
    letter_process_id: str
    status: Status
    at: dt.datetime
    node: str            # the node that saw it and signs the document
    organization: str    # the letter's receiving organisation
    detail: str = ""


def build(status: DeliveryStatus) -> etree._Element:
    """The unsigned n:DeliveryStatus (sign it with signing.sign_document)."""
    root = etree.Element(ns.node("DeliveryStatus"), nsmap={"n": ns.NODE})
    for local, text in (("LetterProcessID", status.letter_process_id), ("Status", status.status.value),
                        ("At", wire_time(status.at)), ("Node", status.node),
                        ("Organization", status.organization), ("Detail", status.detail[:MAX_DETAIL])):
        etree.SubElement(root, ns.node(local)).text = text
    return root


def read(signed: etree._Element) -> DeliveryStatus:
    """The values of a verified, schema-valid DeliveryStatus."""
    def text(local: str) -> str:
        return (signed.findtext(ns.node(local)) or "").strip()

    try:
        at = dt.datetime.fromisoformat(text("At"))
    except ValueError:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"DeliveryStatus At {text('At')!r} is not a time") from None
    if at.tzinfo is None:
        raise RemoteError(ErrorCode.INVALID_FIELD, "DeliveryStatus At must carry a UTC offset")
    return DeliveryStatus(letter_process_id=text("LetterProcessID"), status=Status(text("Status")), at=at,
                          node=text("Node"), organization=text("Organization"), detail=text("Detail"))
