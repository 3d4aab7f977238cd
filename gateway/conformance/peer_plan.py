"""The node-port plan (B-cases): a peer node's ``Deliver`` operation, as a sending node sees it.

The kit plays a node of the peer's directory (its node ID, key and certificate, pinned there in a
``[[nodes]]`` entry, with one sending organisation of ours routed to it). It builds NodeMessages
with the project's own core functions (``core.network.nodemsg``, ``core.trust.signing``), signs
them with the kit's node key, POSTs them to ``/ecms-ws01/node`` byte for byte and reads the answers
with the hardened parser (docs/node-exchange.md):

* an accepted message gets a ``NodeReceipt`` signed by the peer's pinned certificate, naming its
  MessageId, both nodes, the ProcessID and the base64 SHA-256 of the Payload (B1, B4);
* a repeated MessageId gets the original receipt: its exclusive-c14n bytes, which are what the
  receipt's signature covers, equal those of the first (B2, B5);
* the item is stored once (B3, B5), read through the receiving organisation's e-Saraban when the
  run has its endpoint (``receiver``; without it those cases are not checkable);
* every refusal is a SOAP fault with the README's ErrorCode, HTTP 400, and no receipt (B6-B16).

Each exchange goes into ``ctx.recorder``. Letters and letter numbers are new in every run.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from lxml import etree

from gateway.adapters.esaraban import DEFAULT_TIMEOUT_S, Exchange, post
from gateway.conformance.agent import THAI_DIGITS, Agent, letter
from gateway.conformance.node_plan import MAX_PULLS, PDF, is_letter, is_notifier, main_letter_bytes, ok, status_of
from gateway.conformance.plan import Failed, NotCheckable, Recording, case, expect, expect_equal
from gateway.core import ns
from gateway.core.errors import ConfigError, RemoteError
from gateway.core.letters.letter import notifier_element
from gateway.core.network import attestation as attest, nodemsg
from gateway.core.network.nodemsg import Hop, NodeMessage
from gateway.core.state import Event
from gateway.core.time import BANGKOK, wire_time
from gateway.core.trust import pki, signing
from gateway.core.trust.signing import Signer
from gateway.core.xml import contract, safe
from gateway.pipeline import outbound
from gateway.ports import Clock

PLAN = "peer"
SUBJECT = "ทดสอบการแลกเปลี่ยนหนังสือระหว่างเครื่องให้บริการ & ตรวจรับใบตอบรับ"
OUTSIDE_WINDOW = dt.timedelta(days=1)     # stale and future Timestamps: far outside any sane window
RECEIPT_SKEW = dt.timedelta(minutes=15)   # a fresh receipt's ReceivedAt is this close to our clock
UNKNOWN_ORG = "9999999999"
ORG_ID = re.compile(r"^[0-9]{10}$")
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ns.NODE}#Deliver"'}
NODE_SECTION = "node-exchange"


@dataclass(kw_only=True)
class PeerContext(Recording):
    """What the B-cases share: the peer, the kit's identity in the peer's directory, and what earlier cases made."""

    url: str                                  # the peer's node port, .../ecms-ws01/node
    peer_node: str                            # the peer's node ID (ReceiverNode of every message)
    peer_certificate: x509.Certificate        # the peer's node certificate: receipts must verify with it
    node_id: str                              # the kit's node ID, as the peer's [[nodes]] names it
    signer: Signer                            # the kit's node key and certificate
    receiver_org: str                         # hosted at the peer
    sender_org: str                           # ours: the peer routes it to node_id
    clock: Clock
    letter_signer: Signer | None = None       # signs letters end to end (default: the node key, for sender_org)
    receiver: Agent | None = None             # the receiver_org's e-Saraban at the peer (B3-B5)
    window: dt.timedelta = OUTSIDE_WINDOW
    unknown_org: str = UNKNOWN_ORG
    timeout: float = DEFAULT_TIMEOUT_S
    verify: bool | str = True
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    state: dict = field(default_factory=dict)

    def agents(self) -> tuple[Agent, ...]:
        return () if self.receiver is None else (self.receiver,)

    @property
    def today(self) -> str:
        return self.clock.now().astimezone(BANGKOK).date().isoformat()

    def letter_id(self, label: str) -> str:
        return f"ศธ ๐๒๑๐/ข{label}-{self.run_id}".translate(THAI_DIGITS)

    def letter(self, label: str, *, sender: str | None = None, receiver: str | None = None) -> tuple[str, bytes]:
        """(letter number, the signed GovernmentDocument's bytes) from ``sender`` (ours) to ``receiver``."""
        letter_id, sender = self.letter_id(label), sender or self.sender_org
        document = safe.parse(letter(letter_id=letter_id, date=self.today, subject=SUBJECT, sender=sender,
                                     receiver=receiver or self.receiver_org, main=PDF).encode("utf-8"))
        return letter_id, etree.tostring(signing.sign_letter(document, self.org_signer(sender)), encoding="utf-8")

    def org_signer(self, org: str) -> Signer:
        """Who signs end to end for one of the kit's organisations (letters, notifiers' attestations)."""
        return self.letter_signer if self.letter_signer is not None and org == self.sender_org else \
            Signer(org_id=org, key=self.signer.key, certificate=self.signer.certificate)

    def message(self, payload: bytes, *, kind: str = "letter", letter_process_id: str = "", **changes) -> NodeMessage:
        """A NodeMessage from the kit to the peer, new MessageId and ProcessID, signed now (``changes`` override)."""
        now = self.clock.now()
        process_id = str(uuid.uuid4())
        message = NodeMessage(
            message_id=str(uuid.uuid4()), sender_node=self.node_id, receiver_node=self.peer_node,
            sender_org=self.sender_org, receiver_org=self.receiver_org, timestamp=now, kind=kind,
            process_id=process_id, letter_process_id=letter_process_id or process_id,
            path=(Hop(node=self.node_id, at=now.astimezone(BANGKOK).isoformat(timespec="seconds")),),
            payload=payload)
        message = dataclasses.replace(message, **changes)
        if kind in attest.ATTESTED_KINDS and "attestation" not in changes:
            # a notifier or withdrawal is its organisation's, signed end to end (docs/node-exchange.md)
            message = dataclasses.replace(message, attestation=outbound.attestation(attest.Attestation(
                organization=message.sender_org, kind=kind, process_id=message.process_id,
                letter_process_id=message.letter_process_id, payload_digest=attest.payload_digest(message.payload)),
                self.org_signer(message.sender_org)))
        return message


@dataclass(kw_only=True)
class Answer:
    """The peer's answer to one Deliver, parsed with the hardened parser."""

    exchange: Exchange
    root: etree._Element | None = None
    parse_error: str = ""

    def _local(self, name: str) -> list[etree._Element]:
        found = self.root.iter() if self.root is not None else ()
        return [el for el in found if isinstance(el.tag, str) and etree.QName(el).localname == name]

    @property
    def code(self) -> str | None:
        found = self._local("ErrorCode")
        return (found[0].text or "").strip() if found else None

    @property
    def receipts(self) -> list[etree._Element]:
        return self._local("NodeReceipt")


# ------------------------------------------------------------------ building and sending

def signed(message: NodeMessage, signer: Signer) -> etree._Element:
    return signing.sign_document(nodemsg.build_message(message), signer)


def envelope(document: etree._Element | bytes) -> bytes:
    """The SOAP 1.1 request of the node WSDL: ``c:DeliverRequest`` around the document's exact bytes."""
    inner = document if isinstance(document, bytes) else etree.tostring(document, encoding="utf-8")
    return (f'<?xml version="1.0" encoding="UTF-8"?><soap-env:Envelope xmlns:soap-env="{ns.SOAP11_ENV}">'
            f'<soap-env:Body><c:DeliverRequest xmlns:c="{ns.NODE_CARRIER}">').encode("utf-8") + inner + \
        b"</c:DeliverRequest></soap-env:Body></soap-env:Envelope>"


def deliver(ctx: PeerContext, body: bytes) -> Answer:
    """POST one request to the peer's node port, record the exchange, parse the answer."""
    exchange = post(ctx.url, body, dict(HEADERS), timeout=ctx.timeout, verify=ctx.verify, clock=ctx.clock)
    if ctx.recorder is not None:
        ctx.recorder.add(exchange)
    answer = Answer(exchange=exchange)
    if exchange.status and exchange.response_body:
        try:
            answer.root = safe.parse(exchange.response_body)
        except RemoteError as exc:
            answer.parse_error = f"{exc.code.code} {exc.detail}"
    return answer


def send(ctx: PeerContext, message: NodeMessage) -> tuple[Answer, bytes]:
    body = envelope(signed(message, ctx.signer))
    return deliver(ctx, body), body


def accepted(ctx: PeerContext, answer: Answer, message: NodeMessage, what: str) -> tuple[nodemsg.Receipt, bytes]:
    """The answer is a DeliverResponse with one receipt signed by the peer for ``message``: (receipt, its c14n)."""
    if answer.exchange.status == 0:
        raise Failed(f"{what}: no answer ({answer.exchange.error})")
    if answer.root is None:
        raise Failed(f"{what}: the answer is not XML ({answer.parse_error}): {answer.exchange.response_body[:200]!r}")
    if answer.code is not None:
        raise Failed(f"{what}: refused with {answer.code} (HTTP {answer.exchange.status})")
    expect(answer.exchange.status == 200, f"{what}: HTTP {answer.exchange.status}, expected 200")
    body = answer.root.find(f"{{{ns.SOAP11_ENV}}}Body")
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    expect(len(children) == 1 and children[0].tag == f"{{{ns.NODE_CARRIER}}}DeliverResponse",
           f"{what}: the SOAP 1.1 Body holds no c:DeliverResponse ({[c.tag for c in children]})")
    found = [c for c in children[0] if isinstance(c.tag, str)]
    expect(len(found) == 1 and found[0].tag == ns.node("NodeReceipt"),
           f"{what}: DeliverResponse holds {[c.tag for c in found]}, expected one n:NodeReceipt")
    element = deepcopy(found[0])
    try:
        contract.validate(element, contract.node_schema())
        verified, _ = signing.verify_document(element, trusted=[ctx.peer_certificate], now=ctx.clock.now())
        receipt = nodemsg.read_receipt(verified)
    except RemoteError as exc:
        raise Failed(f"{what}: the receipt does not verify against the peer's certificate "
                     f"({pki.describe(ctx.peer_certificate)}): {exc.code.code} {exc.detail}") from None
    expect_equal(f"{what}: receipt MessageId", message.message_id, receipt.message_id)
    expect_equal(f"{what}: receipt SenderNode", message.sender_node, receipt.sender_node)
    expect_equal(f"{what}: receipt ReceiverNode", message.receiver_node, receipt.receiver_node)
    expect_equal(f"{what}: receipt ProcessID", message.process_id, receipt.process_id)
    expect_equal(f"{what}: receipt PayloadDigest (base64 SHA-256 of the Payload)", message.payload_digest,
                 receipt.payload_digest)
    return receipt, etree.tostring(element, method="c14n", exclusive=True)


def same_receipt(first: bytes, again: bytes, what: str) -> None:
    if first == again:
        return
    when = [(re.findall(rb"ReceivedAt>([^<]*)<", x) or [b"?"])[0].decode() for x in (first, again)]
    raise Failed(f"{what}: not the original receipt byte for byte (a repeat must be answered with the receipt "
                 f"issued first; ReceivedAt {when[0]} then {when[1]})")


def refused(answer: Answer, codes: set[str], what: str) -> None:
    """A SOAP fault with one of ``codes``, HTTP 400 (a client fault: the sender must not retry), and no receipt."""
    if answer.exchange.status == 0:
        raise Failed(f"{what}: no answer ({answer.exchange.error})")
    expect(not answer.receipts, f"{what}: answered with a NodeReceipt (HTTP {answer.exchange.status}); a refused "
                                f"message gets a fault {'/'.join(sorted(codes))} and no receipt")
    if answer.root is None:
        raise Failed(f"{what}: expected fault {'/'.join(sorted(codes))}, got a non-XML answer "
                     f"HTTP {answer.exchange.status}: {answer.exchange.response_body[:200]!r}")
    expect(bool(answer._local("Fault")), f"{what}: expected a SOAP Fault, got HTTP {answer.exchange.status}: "
                                         f"{answer.exchange.response_body[:200]!r}")
    expect(answer.code in codes, f"{what}: ErrorCode: expected {' or '.join(sorted(codes))}, got {answer.code!r}")
    expect_equal(f"{what}: HTTP status of a client fault", 400, answer.exchange.status)


def stranger(ctx: PeerContext) -> Signer:
    """A node key and certificate from a CA of its own: in no directory, trusted by nobody."""
    if "stranger" not in ctx.state:
        now = ctx.clock.now() - dt.timedelta(hours=1)
        ca = pki.create_ca("conformance stranger CA", algorithm="ecdsa", now=now)
        issued = pki.issue_node(ca, f"stranger-{ctx.run_id}", ["127.0.0.1"], algorithm="ecdsa", now=now)
        ctx.state["stranger"] = Signer(org_id="", key=issued.key, certificate=issued.certificate)
    return ctx.state["stranger"]


def need_receiver(ctx: PeerContext) -> Agent:
    if ctx.receiver is None:
        raise NotCheckable("needs the receiving organisation's e-Saraban endpoint at the peer (receiver endpoint) "
                           "to read what the peer stored")
    return ctx.receiver


def find(agent: Agent, wanted, what: str):
    """Pull until the wanted item comes: the peer stored it before its receipt, so it is there now."""
    for _ in range(MAX_PULLS):
        reply = ok(agent.pull(), what)
        if reply.item is None:
            break
        if wanted(reply):
            return reply
    raise Failed(f"{what}: not in {agent.org}'s queue after pulling it empty")


def nothing_more(agent: Agent, wanted, what: str) -> None:
    """Pull the queue empty: no second copy of the item (other items are left to their visibility timeout)."""
    for _ in range(MAX_PULLS):
        reply = ok(agent.pull(), what)
        if reply.item is None:
            return
        expect(not wanted(reply), f"{what}: a second copy is queued (ProcessID {reply.process_id})")


# ------------------------------------------------------------------ accepted messages

@case(PLAN, "B1", en="A letter message gets a NodeReceipt signed by the peer, naming the message and its payload",
      th="ข้อความนำส่งหนังสือได้รับใบตอบรับที่เครื่องปลายทางลงนาม ระบุข้อความและค่าย่อยของข้อมูล",
      section=f"{NODE_SECTION} 3-5",
      prerequisite="the peer's directory lists the kit's node and routes the sending organisation to it")
def letter_receipt(ctx: PeerContext) -> None:
    letter_id, payload = ctx.letter("1")
    message = ctx.message(payload)
    answer, body = send(ctx, message)
    receipt, raw = accepted(ctx, answer, message, "Deliver of a letter")
    skew = abs(receipt.received_at - ctx.clock.now())
    expect(skew <= RECEIPT_SKEW, f"receipt ReceivedAt {wire_time(receipt.received_at)} is {skew} from the kit's clock")
    ctx.state["letter"] = {"id": letter_id, "message": message, "body": body, "receipt": raw}


@case(PLAN, "B2", en="The same message again, as sent and re-signed by a retry, gets the original receipt byte for "
      "byte", th="ส่งข้อความเดิมซ้ำ ทั้งแบบเดิมทุกไบต์และแบบลงนามใหม่ ได้ใบตอบรับฉบับเดิมทุกไบต์",
      section=f"{NODE_SECTION}: effectively once",
      requires=("B1",), prerequisite="the message of B1")
def letter_again(ctx: PeerContext) -> None:
    first = ctx.state["letter"]
    _, raw = accepted(ctx, deliver(ctx, first["body"]), first["message"], "the same request again")
    same_receipt(first["receipt"], raw, "the same request again")
    retry = dataclasses.replace(first["message"], timestamp=ctx.clock.now())
    _, raw = accepted(ctx, send(ctx, retry)[0], retry, "a retry (same MessageId, new Timestamp and signature)")
    same_receipt(first["receipt"], raw, "a retry (same MessageId, new Timestamp and signature)")


@case(PLAN, "B3", en="The letter is queued once for the receiving organisation, its bytes intact",
      th="หนังสืออยู่ในคิวของหน่วยงานผู้รับเพียงครั้งเดียว ข้อมูลครบถ้วน", section=f"{NODE_SECTION}: effectively once",
      requires=("B1",), prerequisite="the receiving organisation's e-Saraban endpoint; the letter of B1 (and B2)")
def letter_queued_once(ctx: PeerContext) -> None:
    agent = need_receiver(ctx)
    sent = ctx.state["letter"]
    got = find(agent, is_letter(sent["id"]), "the receiving organisation's pull")
    expect_equal("ProcessID at the receiver", sent["message"].process_id, got.process_id)
    expect(main_letter_bytes(got.item) == PDF, "the main letter's bytes changed on the way")
    ok(agent.delete(got.process_id), "delete the letter")
    nothing_more(agent, is_letter(sent["id"]), "the receiving organisation's queue")


@case(PLAN, "B4", en="A notifier message gets a receipt, moves the letter along and is queued for its organisation",
      th="ข้อความแจ้งสถานะได้รับใบตอบรับ ปรับสถานะหนังสือ และเข้าคิวของหน่วยงาน", section=f"{NODE_SECTION} 5; 3.2.2",
      requires=("B1",), prerequisite="the receiving organisation's e-Saraban endpoint: it sends a letter to ours first")
def notifier_receipt(ctx: PeerContext) -> None:
    agent = need_receiver(ctx)
    letter_id = ctx.letter_id("4")
    sent = ok(agent.send(letter(letter_id=letter_id, date=ctx.today, subject=SUBJECT, sender=ctx.receiver_org,
                                receiver=ctx.sender_org, main=PDF)), "the receiving organisation's letter to ours")
    payload = notifier_element(event=Event.RECEIVE, letter_id=letter_id, correspondence_date=ctx.today, subject=SUBJECT,
                               accept_id="", accept_date=wire_time(ctx.clock.now()), accept_department=ctx.sender_org)
    message = ctx.message(payload, kind="notifier", letter_process_id=sent.process_id)
    answer, body = send(ctx, message)
    _, raw = accepted(ctx, answer, message, "Deliver of a ReceiveLetterNotifier")
    got = find(agent, is_notifier("ReceiveLetterNotifier", letter_id), "the receiving organisation's pull")
    expect_equal("the notifier's ProcessID at the peer", message.process_id, got.process_id)
    ok(agent.delete(got.process_id), "delete the notifier")
    row = status_of(agent, sent.process_id, "OutboundStatus at the peer")
    expect_equal("ProcessStatus after the notifier", "RECEIVED", (row.findtext("ProcessStatus") or "").strip())
    ctx.state["notifier"] = {"id": letter_id, "message": message, "body": body, "receipt": raw}


@case(PLAN, "B5", en="The notifier again gets the original receipt and is not queued twice",
      th="ส่งข้อความแจ้งสถานะซ้ำได้ใบตอบรับฉบับเดิม และไม่เข้าคิวซ้ำ", section=f"{NODE_SECTION}: effectively once",
      requires=("B4",))
def notifier_again(ctx: PeerContext) -> None:
    first = ctx.state["notifier"]
    retry = dataclasses.replace(first["message"], timestamp=ctx.clock.now())
    _, raw = accepted(ctx, send(ctx, retry)[0], retry, "the notifier again (a retry)")
    same_receipt(first["receipt"], raw, "the notifier again (a retry)")
    nothing_more(need_receiver(ctx), is_notifier("ReceiveLetterNotifier", first["id"]),
                 "the receiving organisation's queue")


# ------------------------------------------------------------------ refusals: a fault, no receipt

@case(PLAN, "B6", en="A message changed after signing is refused (4002); the same MessageId as signed is then accepted",
      th="ข้อความที่ถูกแก้ไขหลังลงนามถูกปฏิเสธ (4002) และข้อความเดิมที่ถูกต้องยังรับได้",
      section=f"{NODE_SECTION} 4, 6",
      requires=("B1",))
def tampered(ctx: PeerContext) -> None:
    message = ctx.message(ctx.letter("6")[1])
    element = signed(message, ctx.signer)
    changed = deepcopy(element)
    changed.find(ns.node("ProcessID")).text = str(uuid.uuid4())
    refused(deliver(ctx, envelope(changed)), {"4002"}, "a ProcessID changed after signing")
    accepted(ctx, deliver(ctx, envelope(element)), message,
             "the same MessageId as signed (nothing of the refusal was kept)")


@case(PLAN, "B7", en="A message from a node not in the peer's directory is refused (4004)",
      th="ข้อความจากเครื่องให้บริการที่ไม่อยู่ในทะเบียนถูกปฏิเสธ (4004)", section=f"{NODE_SECTION} 4, 6",
      requires=("B1",))
def unknown_node(ctx: PeerContext) -> None:
    other = stranger(ctx)
    message = ctx.message(ctx.letter("7")[1], sender_node=f"stranger-{ctx.run_id}")
    refused(deliver(ctx, envelope(signed(message, other))), {"4004"}, "a node the peer does not know")


@case(PLAN, "B8", en="A message in the kit's node name signed by another key is refused (4004)",
      th="ข้อความที่อ้างชื่อเครื่องให้บริการแต่ลงนามด้วยกุญแจอื่นถูกปฏิเสธ (4004)", section=f"{NODE_SECTION} 4, 6",
      requires=("B1",))
def impostor(ctx: PeerContext) -> None:
    message = ctx.message(ctx.letter("8")[1])
    refused(deliver(ctx, envelope(signed(message, stranger(ctx)))), {"4004"},
            "a certificate other than the one pinned for the kit's node")


@case(PLAN, "B9", en="A node may not send for an organisation it does not route (the peer's own): refused (4004)",
      th="เครื่องให้บริการส่งแทนหน่วยงานที่ไม่ได้ผ่านตนไม่ได้ ถูกปฏิเสธ (4004)", section=f"{NODE_SECTION} 4; hubs",
      requires=("B1",))
def foreign_sender(ctx: PeerContext) -> None:
    payload = ctx.letter("9", sender=ctx.receiver_org)[1]
    message = ctx.message(payload, sender_org=ctx.receiver_org)
    refused(send(ctx, message)[0], {"4004"}, "a letter in the name of the peer's own organisation")


@case(PLAN, "B10", en="A message for an organisation the peer does not know is refused (2001)",
      th="ข้อความถึงหน่วยงานที่ไม่อยู่ในทะเบียนของเครื่องปลายทางถูกปฏิเสธ (2001)", section=f"{NODE_SECTION} 5",
      requires=("B1",))
def unknown_receiver(ctx: PeerContext) -> None:
    payload = ctx.letter("10", receiver=ctx.unknown_org)[1]
    refused(send(ctx, ctx.message(payload, receiver_org=ctx.unknown_org))[0], {"2001"},
            f"a letter to {ctx.unknown_org}")


@case(PLAN, "B11", en="A message with a stale Timestamp is refused (4005)",
      th="ข้อความที่ลงเวลาเก่าเกินกำหนดถูกปฏิเสธ (4005)", section=f"{NODE_SECTION} 4", requires=("B1",))
def stale(ctx: PeerContext) -> None:
    message = ctx.message(ctx.letter("11")[1], timestamp=ctx.clock.now() - ctx.window)
    refused(send(ctx, message)[0], {"4005"}, f"a Timestamp {ctx.window.total_seconds():.0f} s ago")


@case(PLAN, "B12", en="A message with a Timestamp in the future is refused (4005)",
      th="ข้อความที่ลงเวลาล่วงหน้าเกินกำหนดถูกปฏิเสธ (4005)", section=f"{NODE_SECTION} 4", requires=("B1",))
def future(ctx: PeerContext) -> None:
    message = ctx.message(ctx.letter("12")[1], timestamp=ctx.clock.now() + ctx.window)
    refused(send(ctx, message)[0], {"4005"}, f"a Timestamp {ctx.window.total_seconds():.0f} s ahead")


@case(PLAN, "B13", en="A signed message that does not match NodeMessage.xsd is refused (1006)",
      th="ข้อความที่ลงนามแล้วแต่ไม่ตรงตาม NodeMessage.xsd ถูกปฏิเสธ (1006)", section=f"{NODE_SECTION} 4",
      requires=("B1",))
def schema_invalid(ctx: PeerContext) -> None:
    element = nodemsg.build_message(ctx.message(ctx.letter("13")[1]))
    extra = etree.Element(ns.node("Priority"))
    extra.text = "ด่วนที่สุด"
    element.find(ns.node("Kind")).addnext(extra)
    refused(deliver(ctx, envelope(signing.sign_document(element, ctx.signer))), {"1006"},
            "an element NodeMessage.xsd does not have (n:Priority)")


@case(PLAN, "B14", en="A message that is not well-formed XML is refused (1001)",
      th="ข้อความที่ไม่เป็น XML ที่ถูกต้องตามรูปแบบถูกปฏิเสธ (1001)", section=f"{NODE_SECTION} 4", requires=("B1",))
def not_well_formed(ctx: PeerContext) -> None:
    message = ctx.message(ctx.letter("14")[1])
    body = etree.tostring(signed(message, ctx.signer), encoding="utf-8")
    body = body.replace(message.process_id.encode(), b"ProcessID & more", 1)
    refused(deliver(ctx, envelope(body)), {"1001"}, "an unescaped '&'")


@case(PLAN, "B15", en="An unsigned message is refused (4006, or 1006: the schema requires ds:Signature)",
      th="ข้อความที่ไม่มีลายมือชื่อดิจิทัลถูกปฏิเสธ (4006 หรือ 1006)", section=f"{NODE_SECTION} 3-4", requires=("B1",))
def unsigned(ctx: PeerContext) -> None:
    element = nodemsg.build_message(ctx.message(ctx.letter("15")[1]))
    refused(deliver(ctx, envelope(element)), {"4006", "1006"}, "a NodeMessage without ds:Signature")


@case(PLAN, "B16", en="A MessageId reused for another payload is refused (4005)",
      th="ใช้ MessageId เดิมกับข้อมูลอื่นถูกปฏิเสธ (4005)", section=f"{NODE_SECTION}: effectively once",
      requires=("B1",))
def reused_message_id(ctx: PeerContext) -> None:
    first = ctx.state["letter"]["message"]
    other = ctx.message(ctx.letter("16")[1], message_id=first.message_id)
    refused(send(ctx, other)[0], {"4005"}, f"MessageId {first.message_id} of B1 with another letter")


# ------------------------------------------------------------------ building a context from files

def _read(path: Path | str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from exc


def peer_context(*, url: str, peer_node: str, peer_certificate: Path | str, node_id: str, key: Path | str,
                 certificate: Path | str, receiver_org: str, sender_org: str, clock: Clock,
                 org_key: Path | str | None = None, org_certificate: Path | str | None = None,
                 receiver_endpoint: str = "", receiver_auth: tuple[str, str] | None = None,
                 verify: bool | str = True, window_seconds: float = OUTSIDE_WINDOW.total_seconds(),
                 timeout: float = DEFAULT_TIMEOUT_S) -> PeerContext:
    """The context of a run from PEM files: the kit's node key/certificate (and optionally the sending
    organisation's own, to sign letters end to end), the peer's node certificate; ValueError names a bad input."""
    for label, org in (("receiver organisation", receiver_org), ("sender organisation", sender_org)):
        if not ORG_ID.match(org):
            raise ValueError(f"{label} {org!r} must be an OrganizationID of 10 digits")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the peer's node port {url!r} must be an http(s):// URL (…/ecms-ws01/node)")
    if (org_key is None) != (org_certificate is None):
        raise ValueError("the sending organisation's key and certificate go together")
    try:
        node_signer = Signer(org_id="", key=pki.load_private_key(_read(key, "node key")),
                             certificate=pki.load_certificate(_read(certificate, "node certificate")))
        letter_signer = None
        if org_key is not None:
            letter_signer = Signer(org_id=sender_org, key=pki.load_private_key(_read(org_key, "organisation key")),
                                   certificate=pki.load_certificate(_read(org_certificate, "organisation certificate")))
        pinned = pki.load_certificate(_read(peer_certificate, "peer certificate"))
    except ConfigError as exc:
        raise ValueError(f"cannot load the keys and certificates: {exc}") from exc
    for signer in (node_signer, letter_signer):
        if signer and signer.key.public_key().public_numbers() != signer.certificate.public_key().public_numbers():
            raise ValueError(f"the key does not belong to the certificate {pki.describe(signer.certificate)}")
    receiver = None
    if receiver_endpoint:
        receiver = Agent(endpoint=receiver_endpoint, org=receiver_org, clock=clock, timeout=timeout, verify=verify,
                         auth=receiver_auth)
    return PeerContext(url=url, peer_node=peer_node, peer_certificate=pinned, node_id=node_id, signer=node_signer,
                       receiver_org=receiver_org, sender_org=sender_org, clock=clock, letter_signer=letter_signer,
                       receiver=receiver, window=dt.timedelta(seconds=window_seconds), timeout=timeout, verify=verify)
