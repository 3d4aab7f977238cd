"""The agency-interface plan (A-cases): every operation's normal path, as a sending and a receiving e-Saraban.

The kit plays both organisations' e-Saraban against any node's agency interface. Use test
organisations: the kit pulls their queues and deletes what it sent. Cases share what they made in
``ctx.state`` (the letter sent in A5 is the one A6 pulls), and say so in ``requires``.
The edges (refusals, quirks, styles, timeouts) are in ``node_edges.py``.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from lxml import etree

from gateway.conformance.agent import THAI_DIGITS, Agent, Reply, letter
from gateway.conformance.plan import Failed, Recording, case, expect, expect_equal
from gateway.core import ns
from gateway.core.letters import codelists
from gateway.core.time import BANGKOK
from gateway.ports import Clock

PLAN = "node"
SUBJECT = 'ขอเชิญประชุมคณะกรรมการ ครั้งที่ ๓/๒๕๖๙ & "วาระพิเศษ" <ด่วน>'
ACCEPT_ID = "รับ ๑๒๓๔/๒๕๖๙"
# A small real PDF with bytes that are not UTF-8, so an enclosure must travel as binary.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n" + bytes(range(256)) + b"\n%%EOF\n")
MAX_PULLS = 50


@dataclass(kw_only=True)
class NodeContext(Recording):
    """What the A-cases share: the two e-Sarabans, the run's options, and what earlier cases made."""

    sender: Agent
    receiver: Agent
    clock: Clock
    visibility_timeout: float | None = None   # the node's, as its operator declares it (seconds)
    max_wait: float = 60.0                    # the longest a case may wait
    delivery_wait: float = 0.0                # how long an item may take to reach the other organisation's node
    large_bytes: int = 5 * 1024 * 1024
    signer: Any = None                        # a core.trust.signing.Signer of the sender, for A23
    sleep: Callable[[float], None] = time.sleep
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    state: dict = field(default_factory=dict)

    def agents(self) -> tuple[Agent, Agent]:
        return self.sender, self.receiver

    @property
    def today(self) -> str:
        """The correspondence date: today in Thailand (Gregorian on the wire)."""
        return self.clock.now().astimezone(BANGKOK).date().isoformat()

    def letter_id(self, label: str) -> str:
        """A letter number new in every run, with Thai digits as clerks write them."""
        return f"ศธ ๐๒๑๐/{label}-{self.run_id}".translate(THAI_DIGITS)

    def letter(self, label: str, *, receiver: str | None = None, **kw) -> tuple[str, str]:
        """(letter_id, the GovernmentDocument) from the sender to the receiver (or ``receiver``)."""
        letter_id = self.letter_id(label)
        kw.setdefault("main", PDF)
        kw.setdefault("subject", SUBJECT)
        return letter_id, letter(letter_id=letter_id, date=self.today, sender=self.sender.org,
                                 receiver=receiver or self.receiver.org, **kw)


# ------------------------------------------------------------------ helpers the predicates share

def ok(reply: Reply, what: str) -> Reply:
    """A successful answer: HTTP 200, a SOAP envelope, no fault."""
    if reply.status == 0:
        raise Failed(f"{what}: no answer ({reply.exchange.error})")
    if reply.root is None:
        raise Failed(f"{what}: the answer is not XML ({reply.parse_error}): {reply.exchange.response_body[:200]!r}")
    if reply.fault_code:
        raise Failed(f"{what}: refused with {reply.fault_code}: {reply.fault_text[:300]}")
    expect(reply.status == 200, f"{what}: HTTP {reply.status}, expected 200")
    expect(reply.element is not None, f"{what}: the answer has no Body child")
    return reply


def refused(reply: Reply, code: str, what: str) -> Reply:
    """A refusal with ``code`` in an ErrorDetail, as deployed clients read it."""
    expect(reply.root is not None, f"{what}: expected fault {code}, got {reply.describe()}")
    expect_equal(f"{what}: ErrorCode", code, reply.fault_code)
    return reply


def unqualified(reply: Reply, what: str) -> None:
    """Deployed clients read answers with GetElementsByTagName("ProcessID"): no namespace, no prefix."""
    element = reply.element
    for el in element.iter():
        if not isinstance(el.tag, str) or el.tag.startswith(f"{{{ns.RSM}}}"):
            break
        expect(not el.tag.startswith("{") and el.prefix is None,
               f"{what}: {etree.QName(el).localname} is qualified or prefixed ({el.tag}); deployed clients "
               "read unqualified, unprefixed answer elements")


def queued(agent: Agent, what: str, **kw) -> Iterator[Reply]:
    """The items a queue serves, pulled one after another until it answers empty (at most MAX_PULLS).

    Pulled items are hidden for the visibility timeout, so this walks the queue once.
    """
    for _ in range(MAX_PULLS):
        reply = ok(agent.pull(**kw), what)
        if reply.item is None:
            return
        yield reply


def find_item(ctx: Any, agent: Agent, wanted: Callable[[Reply], bool], what: str, **kw) -> Reply:
    """Pull until the wanted item comes (other items of a shared test organisation are left queued).

    An organisation on another node gets its items when they have been delivered there: the
    queue is walked again every half second for up to ``ctx.delivery_wait`` seconds (a context
    without one, like the client plan's, walks it once).
    """
    wait = getattr(ctx, "delivery_wait", 0.0)
    deadline = ctx.clock.now().timestamp() + wait
    while True:
        for reply in queued(agent, what, **kw):
            if wanted(reply):
                return reply
        if ctx.clock.now().timestamp() >= deadline:
            waited = f" (waited {wait:g} s for it)" if wait else ""
            raise Failed(f"{what}: not in {agent.org}'s queue after pulling it empty{waited}")
        getattr(ctx, "sleep", time.sleep)(0.5)


def is_letter(letter_id: str) -> Callable[[Reply], bool]:
    def wanted(reply: Reply) -> bool:
        item = reply.item
        return (item is not None and item.tag == ns.rsm("GovernmentDocument")
                and item.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('ID')}") == letter_id)
    return wanted


def is_notifier(kind: str, letter_id: str) -> Callable[[Reply], bool]:
    def wanted(reply: Reply) -> bool:
        item = reply.item
        return item is not None and etree.QName(item).localname == kind and reply.text(f"{kind}/LetterID") == letter_id
    return wanted


def main_letter_bytes(item: etree._Element) -> bytes:
    found = item.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('MainLetterBinaryObject')}")
    expect(found is not None, "the letter has no MainLetterBinaryObject")
    return base64.b64decode("".join((found.text or "").split()))


def status_of(agent: Agent, process_id: str, what: str, **kw) -> etree._Element:
    reply = ok(agent.simple("OutboundStatusRequest", **kw), what)
    rows = [row for row in reply.element if isinstance(row.tag, str)]
    found = [row for row in rows if (row.findtext(reply._q("ProcessID")) or "").strip() == process_id]
    expect(len(found) == 1, f"{what}: OutboundStatus has {len(found)} rows for ProcessID {process_id}")
    return found[0]


# ------------------------------------------------------------------ directory and code lists

@case(PLAN, "A1", en="The directory lists both organisations with their endpoints",
      th="ทะเบียนหน่วยงานมีทั้งหน่วยงานผู้ส่งและผู้รับ พร้อมที่อยู่บริการ", section="3.3.2",
      prerequisite="the endpoint answers GetOrganizationList")
def directory(ctx: NodeContext) -> None:
    reply = ok(ctx.sender.simple("GetOrganizationList"), "GetOrganizationList")
    unqualified(reply, "OrganizationList")
    found = {(el.findtext("OrganizationID") or "").strip(): el for el in reply.element.findall("OrganizationInfo")}
    for org in (ctx.sender.org, ctx.receiver.org):
        expect(org in found, f"OrganizationList does not list {org}")
        for field_name in ("Th-Name", "ECMS-URL"):
            expect(bool((found[org].findtext(field_name) or "").strip()), f"{org} has no {field_name}")
    ctx.state["directory"] = {org: (el.findtext("ECMS-URL") or "").strip() for org, el in found.items()}


@case(PLAN, "A2", en="Ministry, secret, speed and MIME code lists hold the standard's codes",
      th="รหัสกระทรวง ชั้นความลับ ชั้นความเร็ว และชนิดแฟ้มครบตามมาตรฐาน", section="3.3.1, 3.3.3-3.3.5")
def code_lists(ctx: NodeContext) -> None:
    ministries = ok(ctx.sender.simple("GetMinistryOrganizationList"), "GetMinistryOrganizationList")
    ids = {(el.findtext("MinistryID") or "").strip() for el in ministries.element.findall("MinistryOrganizationList")}
    expect("20" in ids, f"GetMinistryOrganizationList lacks 20 (กระทรวงศึกษาธิการ): {sorted(ids)[:10]}")
    for request, table in (("GetSecretCodes", codelists.SECRET_CODES), ("GetSpeedCodes", codelists.SPEED_CODES)):
        reply = ok(ctx.sender.simple(request), request)
        codes = {(c.findtext("Value") or "").strip() for c in reply.element.findall("Code")}
        expect(set(table) <= codes, f"{request} lacks {sorted(set(table) - codes)}")
    mime = ok(ctx.sender.simple("GetMimeCodes"), "GetMimeCodes")
    extensions = {(c.findtext("File-Extension") or "").strip() for c in mime.element.findall("Code")}
    expect("pdf" in extensions, f"GetMimeCodes lacks pdf: {sorted(extensions)}")


@case(PLAN, "A3", en="TimeCheck gives the node's clock in Thai time, within a minute of ours",
      th="TimeCheck ให้เวลาของศูนย์ตามเวลาประเทศไทย คลาดเคลื่อนไม่เกินหนึ่งนาที", section="3.3.7")
def time_check(ctx: NodeContext) -> None:
    reply = ok(ctx.sender.simple("TimeCheckRequest"), "TimeCheck")
    text = (reply.element.text or "").strip()
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Failed(f"ECMSTime {text!r} is not ISO 8601") from None
    expect(when.utcoffset() == dt.timedelta(hours=7), f"ECMSTime {text!r} is not in +07:00 (Asia/Bangkok)")
    skew = abs((when - ctx.clock.now()).total_seconds())
    expect(skew < 60, f"the node's clock is {skew:.0f} s away from the kit's")


# ------------------------------------------------------------------ a letter's normal path

@case(PLAN, "A4", en="A letter with a Thai subject, Thai digits and a PDF is accepted",
      th="รับหนังสือที่มีเรื่องภาษาไทย เลขไทย และแฟ้ม PDF", section="3.2.1", requires=("A1",),
      prerequisite="the receiver is in the directory (A1)")
def send_letter(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("1")
    reply = ok(ctx.sender.send(document), "CorrespondenceLetterOutbound")
    unqualified(reply, "CorrespondenceLetterOutboundResponse")
    expect_equal("the answer element", "CorrespondenceLetterOutboundResponse", reply.element.tag)
    process_id = reply.process_id
    expect(bool(process_id), "the answer has no ProcessID")
    expect_equal("processID (the legacy alias read by one client family)", process_id,
                 (reply.text("processID") or "").strip())
    expect(bool((reply.text("ProcessTime") or "").strip()), "the answer has no ProcessTime")
    ctx.state["letter"] = {"id": letter_id, "process_id": process_id}


@case(PLAN, "A5", en="The receiver pulls the letter intact: same ProcessID, Thai text and PDF bytes, ram: prefixes",
      th="ผู้รับดึงหนังสือได้ครบถ้วน ProcessID เดิม ข้อความไทยและแฟ้มไม่เปลี่ยน ใช้ prefix ram:", section="3.2.7",
      requires=("A4",), prerequisite="the letter of A4")
def pull_letter(ctx: NodeContext) -> None:
    sent = ctx.state["letter"]
    reply = find_item(ctx, ctx.receiver, is_letter(sent["id"]), "CorrespondenceLetterInbound")
    unqualified(reply, "CorrespondenceLetterInboundResponse")
    expect_equal("ProcessID", sent["process_id"], reply.process_id)
    item = reply.item
    body = item.find(ns.ram("CorrespondenceLetter"))
    expect_equal("prefix of CorrespondenceLetter (clients read GetElementsByTagName(\"ram:Subject\"))", "ram", body.prefix)
    expect_equal("Subject", SUBJECT, body.findtext(ns.ram("Subject")))
    expect_equal("letter number (Thai digits)", sent["id"], body.findtext(ns.ram("ID")))
    expect_equal("SHA-256 of the PDF", hashlib.sha256(PDF).hexdigest(), hashlib.sha256(main_letter_bytes(item)).hexdigest())
    ctx.state["letter"]["pulled"] = reply.process_id


@case(PLAN, "A6", en="Delete removes the pulled letter; deleting again answers the same",
      th="ลบรายการที่ดึงแล้วได้ และลบซ้ำได้คำตอบเดิม", section="3.2.14", requires=("A5",),
      prerequisite="the letter pulled in A5")
def delete_letter(ctx: NodeContext) -> None:
    process_id = ctx.state["letter"]["process_id"]
    first = ok(ctx.receiver.delete(process_id), "CorrespondenceLetterDelete")
    expect_equal("ProcessID of the delete", process_id, first.process_id)
    again = ok(ctx.receiver.delete(process_id), "CorrespondenceLetterDelete again")
    expect_equal("ProcessTime of a repeated delete", first.text("ProcessTime"), again.text("ProcessTime"))
    for reply in queued(ctx.receiver, "CorrespondenceLetterInbound after the delete"):
        expect(reply.process_id != process_id, "the deleted letter is served again")


@case(PLAN, "A7", en="OutboundStatus shows the letter PULLED at the sender",
      th="สถานะหนังสือส่งแสดง PULLED เมื่อผู้รับดึงแล้ว", section="3.3.6", requires=("A6",))
def status_pulled(ctx: NodeContext) -> None:
    # Across nodes the receiver's node reports the pull back (a signed DeliveryStatus): ask again for a while.
    deadline = ctx.clock.now().timestamp() + getattr(ctx, "delivery_wait", 0.0)
    while True:
        row = status_of(ctx.sender, ctx.state["letter"]["process_id"], "OutboundStatus")
        if (row.findtext("ProcessStatus") or "").strip() == "PULLED" or ctx.clock.now().timestamp() >= deadline:
            break
        getattr(ctx, "sleep", time.sleep)(0.5)
    expect_equal("ProcessStatus", "PULLED", (row.findtext("ProcessStatus") or "").strip())
    expect_equal("LetterID", ctx.state["letter"]["id"], row.findtext("LetterID"))


@case(PLAN, "A8", en="The receiver's receive notifier reaches the sender; status RECEIVED",
      th="ผู้ส่งได้รับแจ้งการรับหนังสือ และสถานะเป็น RECEIVED", section="3.2.2, 3.2.8", requires=("A6",))
def receive_notifier(ctx: NodeContext) -> None:
    sent = ctx.state["letter"]
    reply = ok(ctx.receiver.notify("ReceiveLetterNotifier", sent["id"], ctx.today, SUBJECT), "ReceiveLetterNotifier")
    expect(bool(reply.process_id), "the notifier's answer has no ProcessID")
    got = find_item(ctx, ctx.sender, is_notifier("ReceiveLetterNotifier", sent["id"]), "the sender's pull")
    expect_equal("the notifier's ProcessID at the sender", reply.process_id, got.process_id)
    expect_equal("AcceptDepartment/Code", ctx.receiver.org,
                 (got.text("ReceiveLetterNotifier/AcceptDepartment/Code") or "").strip())
    ok(ctx.sender.delete(got.process_id), "delete the notifier")
    row = status_of(ctx.sender, sent["process_id"], "OutboundStatus")
    expect_equal("ProcessStatus", "RECEIVED", (row.findtext("ProcessStatus") or "").strip())


@case(PLAN, "A9", en="The accept notifier carries the receive number (Thai) to the sender; status ACCEPTED",
      th="การแจ้งลงทะเบียนรับนำเลขทะเบียนรับถึงผู้ส่ง และสถานะเป็น ACCEPTED", section="3.2.3, 3.2.9",
      requires=("A8",))
def accept_notifier(ctx: NodeContext) -> None:
    sent = ctx.state["letter"]
    reply = ok(ctx.receiver.notify("AcceptLetterNotifier", sent["id"], ctx.today, SUBJECT, ACCEPT_ID),
               "AcceptLetterNotifier")
    got = find_item(ctx, ctx.sender, is_notifier("AcceptLetterNotifier", sent["id"]), "the sender's pull")
    expect_equal("AcceptID at the sender", ACCEPT_ID, got.text("AcceptLetterNotifier/AcceptID"))
    ok(ctx.sender.delete(got.process_id), "delete the notifier")
    row = status_of(ctx.sender, sent["process_id"], "OutboundStatus")
    expect_equal("ProcessStatus", "ACCEPTED", (row.findtext("ProcessStatus") or "").strip())
    expect_equal("AcceptID in OutboundStatus", ACCEPT_ID, row.findtext("AcceptID"))
    ctx.state["letter"]["accept"] = reply.process_id


@case(PLAN, "A10", en="The sender disputes the receive number; the receiver gets the dispute",
      th="ผู้ส่งโต้แย้งเลขทะเบียนรับ และผู้รับได้รับการโต้แย้ง", section="3.2.6, 3.2.12", requires=("A9",))
def dispute(ctx: NodeContext) -> None:
    sent = ctx.state["letter"]
    ok(ctx.sender.notify("InvalidAcceptIDNotifier", sent["id"], ctx.today, "เลขทะเบียนรับไม่ถูกต้อง", ACCEPT_ID),
       "InvalidAcceptIDNotifier")
    got = find_item(ctx, ctx.receiver, is_notifier("InvalidAcceptIDNotifier", sent["id"]), "the receiver's pull")
    expect_equal("AcceptID of the dispute", ACCEPT_ID, got.text("InvalidAcceptIDNotifier/AcceptID"))
    ok(ctx.receiver.delete(got.process_id), "delete the dispute")
    row = status_of(ctx.sender, sent["process_id"], "OutboundStatus")
    expect_equal("ProcessStatus", "ACCEPT_ID_DISPUTED", (row.findtext("ProcessStatus") or "").strip())


@case(PLAN, "A11", en="Special re-request: the receiver fetches the letter again, the sender the accept notifier",
      th="ขอรับซ้ำ: ผู้รับขอหนังสือเดิม ผู้ส่งขอการแจ้งลงทะเบียนรับเดิม", section="3.2.7 (special)",
      requires=("A9",))
def special(ctx: NodeContext) -> None:
    sent = ctx.state["letter"]
    args = (sent["id"], ctx.today, ctx.sender.org, ctx.receiver.org)
    again = ok(ctx.receiver.special("GovernmentDocument", *args), "special GovernmentDocument")
    expect_equal("ProcessID of the letter fetched again", sent["process_id"], again.process_id)
    expect(is_letter(sent["id"])(again), "the special answer does not carry the letter")
    expect_equal("SHA-256 of the PDF fetched again", hashlib.sha256(PDF).hexdigest(),
                 hashlib.sha256(main_letter_bytes(again.item)).hexdigest())
    accept = ok(ctx.sender.special("AcceptLetterNotifier", *args), "special AcceptLetterNotifier")
    expect_equal("ProcessID of the accept fetched again", sent["accept"], accept.process_id)
    expect_equal("AcceptID fetched again", ACCEPT_ID, accept.text("AcceptLetterNotifier/AcceptID"))
