"""The e-Saraban client plan (C-cases): a vendor's product against a reference node that records what it sends.

:func:`run_client_session` starts a real node of this project on loopback (SQLite in a data folder),
with the recorder of ``client_record.py`` in front of its agency interface. It prints the
:data:`STEPS` for the vendor to perform in their product, one at a time (Thai, then English), and
``wait(step)`` blocks until the vendor is done (:func:`polling` watches the log, so a session also runs unattended).
The kit plays the other organisation: before a step it may send letters or notifiers itself
(marked with :data:`KIT_HEADER`, kept apart from the vendor's requests). Then the C-cases judge
the recorded requests and their order; they make no HTTP of their own and attach the recorded
exchanges they judged to ``ctx.recorder``.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import socket
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from gateway import __version__
from gateway.adapters.clock import SystemClock
from gateway.config import Config, demo_directory
from gateway.conformance.agent import THAI_DIGITS, Agent, Reply, letter
from gateway.conformance.client_record import (KIT_HEADER, Parsed, Recorded, Recording, RequestLog, deletes,
                                               first_letter, identity, notifiers, parse_request, pull_of, pulled,
                                               sends, wait_for_requests)
from gateway.conformance.node_plan import find_item, is_letter, ok
from gateway.conformance.plan import (PLANS, Failed, NotCheckable, Outcome, Report, case, expect, expect_equal, run,
                                      select)
from gateway.core import ns
from gateway.core.errors import RemoteError
from gateway.core.letters.letter import content_digest
from gateway.core.time import BANGKOK, thai_date, wire_time
from gateway.core.xml import envelope, safe as xmlsafe
from gateway.operations import queries
from gateway.pipeline import agency as pipeline
from gateway.ports import Clock
from gateway.runtime import wiring
from gateway.runtime.serve import make_server

__all__ = ["ClientContext", "Step", "STEPS", "polling", "run_client_session", "wait_for_requests", "Recorded",
           "RequestLog", "Recording", "Parsed", "parse_request", "KIT_HEADER"]
PLAN = "client"
DEFAULT_VENDOR, DEFAULT_KIT = "2000350000", "2000100000"   # demo organisations: Chiang Mai, the central office
DEFAULT_STEP_TIMEOUT = 600.0              # seconds a step may take before the session moves on
SUBJECT = "ขอส่งรายงานผลการดำเนินงาน ประจำปีงบประมาณ ๒๕๖๙ ครั้งที่ ๒/๒๕๖๙"
KIT_SUBJECTS = {"accept": "ขอเชิญประชุมคณะกรรมการสถานศึกษา ครั้งที่ ๓/๒๕๖๙",
                "reject": "ขอความอนุเคราะห์ข้อมูลนักเรียน ๑๒ โรงเรียน"}
KIT_ACCEPT_ID = "รับ ๐๔๕๖/๒๕๖๙"        # the kit's receive number for the vendor's letter
PDF_MIME = ("pdf", ".pdf", "application/pdf")
KIT_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n" + bytes(range(128, 256)) + b"\n%%EOF\n"


# ------------------------------------------------------------------ the context and the steps

@dataclass(kw_only=True)
class ClientContext:
    """What the C-cases read: the log of the vendor's requests, and the reference node that answered them."""

    node: wiring.Node
    log: RequestLog
    vendor_org: str
    kit_org: str
    kit: Agent                   # the kit's own e-Saraban (the other organisation)
    clock: Clock
    subject: str = SUBJECT
    run_id: str = field(default_factory=lambda: f"{secrets.randbelow(10 ** 4):04d}")   # new letter numbers per run
    state: dict = field(default_factory=lambda: {"letters": {}, "notes": [], "shown": {}})
    recorder: Any = None         # set by the runner before each case

    @property
    def endpoint(self) -> str:
        return self.node.config.agency_url(self.vendor_org)

    @property
    def today(self) -> str:
        return self.clock.now().astimezone(BANGKOK).date().isoformat()

    def vendor(self) -> list[Recorded]:
        return self.log.entries()

    def attach(self, entries: Iterable[Recorded]) -> None:
        if self.recorder is not None:
            for entry in entries:
                self.recorder.add(entry.exchange())

    def org_names(self, org: str) -> tuple[str, str]:
        found = self.node.config.directory.get(org)
        return (found.th_name, found.en_name) if found else ("", "")


@dataclass(frozen=True)
class Step:
    """One thing the vendor does in their product; ``expects`` says, from the log, when it is done."""

    id: str
    text_th: str
    text_en: str
    expects: Callable[[ClientContext, Sequence[Recorded]], bool] = lambda ctx, entries: True
    kit: Callable[[ClientContext], None] | None = None     # what the kit does before the step is shown
    params: Mapping[str, str] = field(default_factory=dict)
    ctx: ClientContext | None = field(default=None, compare=False, repr=False)

    def done(self) -> bool:
        return self.ctx is not None and self.expects(self.ctx, self.ctx.vendor())


def polling(timeout: float = DEFAULT_STEP_TIMEOUT, *, clock: Clock | None = None) -> Callable[[Step], None]:
    """A ``wait`` that watches the log until the step's expected requests have come (or ``timeout``)."""
    def wait(step: Step) -> None:
        wait_for_requests(step.ctx.log, lambda entries: step.expects(step.ctx, entries), timeout, clock=clock)
    return wait


def kit_letter(ctx: ClientContext, role: str) -> dict:
    found = ctx.state["letters"].get(role)
    if found is None:
        raise NotCheckable(f"the kit could not send its letter ({role}): {'; '.join(ctx.state['notes'])}")
    return found


def _kit_acts(ctx: ClientContext) -> None:
    """Before the pull step: accept the vendor's letter as its receiver, and send two letters to the vendor."""
    sent = first_letter(ctx.vendor())
    if sent is not None:
        letter_id, date = sent.fields["LetterID"], sent.fields["CorrespondenceDate"]
        got = find_item(ctx, ctx.kit, is_letter(letter_id), f"the vendor's letter in {ctx.kit_org}'s queue")
        ok(ctx.kit.delete(got.process_id), "the kit deletes the vendor's letter")
        ok(ctx.kit.notify("ReceiveLetterNotifier", letter_id, date, ctx.subject), "the kit's ReceiveLetterNotifier")
        ok(ctx.kit.notify("AcceptLetterNotifier", letter_id, date, ctx.subject, KIT_ACCEPT_ID),
           "the kit's AcceptLetterNotifier")
    for role, label in (("accept", "ก"), ("reject", "ข")):
        letter_id = f"ศธ ๐๒๐๐/{label}{ctx.run_id}".translate(THAI_DIGITS)   # e.g. ศธ ๐๒๐๐/ก๐๔๑๗
        reply = ok(ctx.kit.send(letter(letter_id=letter_id, date=ctx.today, subject=KIT_SUBJECTS[role],
                                       sender=ctx.kit_org, receiver=ctx.vendor_org, main=KIT_PDF)),
                   f"the kit's letter to {ctx.vendor_org}")
        ctx.state["letters"][role] = {"id": letter_id, "date": ctx.today, "process_id": reply.process_id}


def _sent_twice(ctx: ClientContext, entries: Sequence[Recorded]) -> bool:
    first = first_letter(entries)
    return first is not None and sum(identity(e) == identity(first) for e in sends(entries)) >= 2


def _pulled_and_deleted(ctx: ClientContext, entries: Sequence[Recorded]) -> bool:
    letters = ctx.state["letters"].values()
    deleted = {e.fields.get("ProcessID") for e in deletes(entries)}
    return (all(pull_of(entries, x["id"], x["date"]) for x in letters)
            and all(pid in deleted for _, pid, _ in pulled(entries)))


def _notified(kinds: tuple[str, ...], role: str) -> Callable[[ClientContext, Sequence[Recorded]], bool]:
    def expects(ctx: ClientContext, entries: Sequence[Recorded]) -> bool:
        found = ctx.state["letters"].get(role)
        return found is not None and all(notifiers(entries, k, found["id"]) for k in kinds)
    return expects


def _asked_status(ctx: ClientContext, entries: Sequence[Recorded]) -> bool:
    return any(e.parsed.operation == "OutboundStatus" and e.seq > ctx.state["shown"].get("S6", 0) for e in entries)


STEPS: list[Step] = [
    Step("S1", "ส่งหนังสือจากระบบของท่าน ({vendor_org}) ถึง {kit_org} {kit_th} เรื่อง \"{subject}\" "
               "(พิมพ์เรื่องให้ตรงทุกตัวอักษร รวมทั้งเลขไทย) โดยแนบตัวหนังสือเป็นแฟ้ม PDF "
               "เลขที่และวันที่ตามที่ระบบของท่านออก",
         "Send a letter from your product ({vendor_org}) to {kit_org} {kit_en} with subject \"{subject}\" (exactly, "
         "Thai digits included) and the letter itself as a PDF file; number and date as your product assigns them.",
         expects=lambda ctx, entries: first_letter(entries) is not None),
    Step("S2", "ส่งหนังสือฉบับเดิมซ้ำอีกครั้งโดยไม่แก้ไข (เหมือนเมื่อไม่ได้รับคำตอบจากศูนย์ เช่น ใช้ปุ่มส่งซ้ำ)",
         "Send the same letter again, unchanged (as your product does when the node's answer was lost, "
         "e.g. with its resend button).", expects=_sent_twice),
    Step("S3", "ชุดทดสอบส่งหนังสือถึงหน่วยงานของท่าน ๒ ฉบับ ลงวันที่ {date_th}: "
               "ที่ {accept_id} เรื่อง \"{accept_subject}\" และที่ {reject_id} เรื่อง \"{reject_subject}\" "
               "กรุณารับหนังสือเข้าระบบ (ดึงคิวจนหมด) และลบทุกรายการที่ดึงแล้วออกจากคิว",
         "The kit has sent your organisation two letters dated {date_th}: No. {accept_id} \"{accept_subject}\" and "
         "No. {reject_id} \"{reject_subject}\". Receive them (pull your queue until it is empty) and delete every "
         "item you pulled from the queue.", expects=_pulled_and_deleted, kit=_kit_acts),
    Step("S4", "ลงทะเบียนรับหนังสือที่ {accept_id}: แจ้งว่าได้รับแล้ว (ReceiveLetterNotifier) ก่อน "
               "แล้วจึงแจ้งลงทะเบียนรับพร้อมเลขทะเบียนรับ (AcceptLetterNotifier ที่มี AcceptID)",
         "Register letter No. {accept_id}: first acknowledge it (ReceiveLetterNotifier), then register it with your "
         "receive number (AcceptLetterNotifier with AcceptID).",
         expects=_notified(("ReceiveLetterNotifier", "AcceptLetterNotifier"), "accept")),
    Step("S5", "ปฏิเสธหนังสือที่ {reject_id} เรื่อง \"{reject_subject}\" (RejectLetterNotifier)",
         "Reject letter No. {reject_id} \"{reject_subject}\" (RejectLetterNotifier).",
         expects=_notified(("RejectLetterNotifier",), "reject")),
    Step("S6", "ตรวจสถานะหนังสือที่ท่านส่ง (OutboundStatusRequest): หนังสือของท่านควรมีสถานะ ACCEPTED "
               "เลขทะเบียนรับ {kit_accept_id}",
         "Check the status of the letters you sent (OutboundStatusRequest): yours should be ACCEPTED with receive "
         "number {kit_accept_id}.", expects=_asked_status),
]


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def shown(step: Step, ctx: ClientContext) -> Step:
    """The step with its texts filled in for this session, bound to the context."""
    kit_th, kit_en = ctx.org_names(ctx.kit_org)
    params = _Params(vendor_org=ctx.vendor_org, kit_org=ctx.kit_org, kit_th=kit_th, kit_en=kit_en,
                     subject=ctx.subject, kit_accept_id=KIT_ACCEPT_ID, date_th=thai_date(ctx.today),
                     date=ctx.today, endpoint=ctx.endpoint)
    for role, found in ctx.state["letters"].items():
        params.update({f"{role}_id": found["id"], f"{role}_subject": KIT_SUBJECTS[role]})
    return replace(step, text_th=step.text_th.format_map(params), text_en=step.text_en.format_map(params),
                   params=dict(params), ctx=ctx)


# ------------------------------------------------------------------ the C-cases

@case(PLAN, "C1", en="Every request is a SOAP envelope in UTF-8 the node reads, sent to the organisation's endpoint",
      th="ทุกคำขอเป็น SOAP Envelope แบบ UTF-8 ที่ศูนย์อ่านได้ และส่งถึงที่อยู่บริการของหน่วยงานเอง",
      section="transport")
def envelopes(ctx: ClientContext) -> None:
    entries = ctx.vendor()
    ctx.attach(entries)
    expect(bool(entries), f"no request from the client reached {ctx.endpoint}")
    for e in entries:
        expect(e.org == ctx.vendor_org, f"{e.describe()}: sent to the endpoint of {e.org}, not {ctx.endpoint}")
        expect(not e.parsed.error_code, f"{e.describe()}: the node cannot read it ({e.parsed.error})")
        expect(not (e.reply.fault_code or "").startswith("1"), f"{e.describe()}: refused with {e.reply.describe()}")
        try:
            e.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Failed(f"{e.describe()}: the body is not UTF-8 ({exc})") from None
        media = (e.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        wanted = envelope.CONTENT_TYPE[e.parsed.soap_version].split(";")[0]
        expect_equal(f"{e.describe()}: Content-Type of a SOAP {e.parsed.soap_version} envelope", wanted, media)


@case(PLAN, "C2", en="The letter is schema-valid, with the subject (Thai digits intact) and a PDF in base64",
      th="หนังสือถูกต้องตาม XSD เรื่องตรงตามที่กำหนด (เลขไทยไม่เปลี่ยน) และแนบ PDF แบบ base64", section="3.2.1",
      prerequisite="step S1")
def the_letter(ctx: ClientContext) -> None:
    entries = sends(ctx.vendor())
    ctx.attach(entries)
    expect(bool(entries), "the client sent no letter (CorrespondenceLetterOutboundRequest/rsm:GovernmentDocument)")
    for e in entries:
        caller = ctx.node.config.directory.get(e.org)
        expect(caller is not None and caller.hosted, f"{e.describe()}: no organisation {e.org} is hosted here")
        try:
            call = pipeline.check(pipeline.read(e.body, ctx.node.config.limits), e.body, caller=caller,
                                  ctx=ctx.node.agency_ctx, now=e.time)
        except RemoteError as exc:
            raise Failed(f"{e.describe()}: {exc.code.code} {exc}") from None
        got = call.prepared.letter
        if got.subject != ctx.subject and got.subject.translate(THAI_DIGITS) == ctx.subject:
            raise Failed(f"{e.describe()}: the Thai digits of the subject became Arabic: {got.subject!r}")
        expect_equal(f"{e.describe()}: ram:Subject", ctx.subject, got.subject)
        expect_equal(f"{e.describe()}: ReceiverParty", ctx.kit_org, got.receiver.department_id)
        main = call.body.find(f"{ns.rsm('GovernmentDocument')}/{ns.ram('CorrespondenceLetter')}/"
                              f"{ns.ram('MainLetterBinaryObject')}")
        mime = main.get("mimeCode", "").strip().lower()
        expect(mime in PDF_MIME, f"{e.describe()}: MainLetterBinaryObject mimeCode {mime!r}, expected pdf")
        try:
            content = base64.b64decode("".join((main.text or "").split()), validate=True)
        except binascii.Error as exc:
            raise Failed(f"{e.describe()}: MainLetterBinaryObject is not base64 ({exc})") from None
        expect(content.startswith(b"%PDF-"), f"{e.describe()}: the main letter is not a PDF: {content[:16]!r}")
    expect(first_letter(ctx.vendor()) is not None, "the node accepted none of the letters: "
           + "; ".join(e.reply.describe() for e in entries))


@case(PLAN, "C3", en="Sending the letter again is an idempotent retry: same content, same ProcessID, stored once",
      th="การส่งหนังสือฉบับเดิมซ้ำได้ผลเหมือนเดิม: เนื้อหาเดิม ProcessID เดิม และบันทึกเพียงครั้งเดียว",
      section="idempotency", requires=("C2",), prerequisite="steps S1 and S2")
def retry(ctx: ClientContext) -> None:
    first = first_letter(ctx.vendor())
    same = [e for e in sends(ctx.vendor()) if identity(e) == identity(first)]
    ctx.attach(same)
    expect(len(same) >= 2, f"the letter {first.fields['LetterID']} was sent once; step S2 sends it again")
    digest = _digest(first)
    for e in same:
        expect(_digest(e) == digest, f"{e.describe()}: same letter number, date and parties as #{first.seq} but "
               f"different content (answered {e.reply.describe()}); a retry must send the same letter")
        expect(e.accepted, f"{e.describe()}: the retry was refused: {e.reply.describe()}")
        expect_equal(f"{e.describe()}: ProcessID of the retry", first.reply.process_id, e.reply.process_id)
    letter_id, date, _, receiver = identity(first)
    rows = [r for r in queries.recent_letters(ctx.node.store, org=ctx.vendor_org, limit=1000)
            if (r.letter_no, r.corr_date, r.receiver_org) == (letter_id, date, receiver)]
    expect_equal(f"letters {letter_id} the node stored", 1, len(rows))


def _digest(entry: Recorded) -> str:
    root = envelope.parse_request(xmlsafe.parse(entry.body)).body
    return content_digest(root.find(f"{ns.rsm('GovernmentDocument')}/{ns.ram('CorrespondenceLetter')}"))


@case(PLAN, "C4", en="Every pulled item is deleted after it was pulled, and only pulled items are deleted",
      th="ทุกรายการที่ดึงแล้วถูกลบออกจากคิวหลังดึง และลบเฉพาะรายการที่ดึงแล้ว", section="3.2.7, 3.2.14",
      prerequisite="step S3")
def pull_then_delete(ctx: ClientContext) -> None:
    items, dels = pulled(ctx.vendor()), deletes(ctx.vendor())
    ctx.attach(sorted([e for e, _, _ in items] + dels, key=lambda e: e.seq))
    for role in ("accept", "reject"):
        sent = kit_letter(ctx, role)
        expect(pull_of(ctx.vendor(), sent["id"], sent["date"]) is not None,
               f"the client never pulled the letter {sent['id']}")
    first_pull = {}
    for e, pid, _ in items:
        first_pull.setdefault(pid, e.seq)
    for d in dels:
        pid = d.fields.get("ProcessID", "")
        expect(pid in first_pull and first_pull[pid] < d.seq, f"{d.describe()}: deletes ProcessID {pid!r}, which "
               "the client had not pulled")
        expect(d.accepted, f"{d.describe()}: {d.reply.describe()}")
    deleted = {d.fields.get("ProcessID") for d in dels}
    missing = [pid for pid in first_pull if pid not in deleted]
    expect(not missing, f"pulled but never deleted: ProcessID {', '.join(missing)} (served again after the "
           "visibility timeout, so the letter would be received twice)")


@case(PLAN, "C5", en="Notifiers name a letter the client pulled (LetterID with Thai digits, date), after the pull",
      th="การแจ้งทุกรายการอ้างหนังสือที่ดึงแล้ว (เลขที่หนังสือรวมเลขไทย และวันที่) และส่งหลังจากดึง",
      section="3.2.2-3.2.5", prerequisite="steps S3-S5")
def notifiers_after_pull(ctx: ClientContext) -> None:
    sent = notifiers(ctx.vendor())
    ctx.attach(sent)
    expect(bool(sent), "the client sent no notifier")
    for e in sent:
        letter_id, date = e.fields.get("LetterID", ""), e.fields.get("CorrespondenceDate", "")
        pull = pull_of(ctx.vendor(), letter_id, date)
        expect(pull is not None, f"{e.describe()}: names letter {letter_id!r} of {date!r}, which the client never "
               "pulled")
        ctx.attach([pull])
        expect(pull.seq < e.seq, f"{e.describe()}: sent before the letter was pulled (#{pull.seq})")


@case(PLAN, "C6", en="The receive notifier comes before the accept notifier, and both are accepted",
      th="แจ้งได้รับแล้ว (Receive) ก่อนแจ้งลงทะเบียนรับ (Accept) และศูนย์รับทั้งสองรายการ", section="3.2.2, 3.2.3",
      prerequisite="step S4")
def receive_before_accept(ctx: ClientContext) -> None:
    sent = kit_letter(ctx, "accept")
    receives = notifiers(ctx.vendor(), "ReceiveLetterNotifier", sent["id"])
    accepts = notifiers(ctx.vendor(), "AcceptLetterNotifier", sent["id"])
    ctx.attach(sorted(receives + accepts, key=lambda e: e.seq))
    expect(bool(receives), f"no ReceiveLetterNotifier for {sent['id']}")
    expect(bool(accepts), f"no AcceptLetterNotifier for {sent['id']}")
    expect(receives[0].seq < accepts[0].seq, f"{accepts[0].describe()}: AcceptLetterNotifier before "
           f"ReceiveLetterNotifier (#{receives[0].seq})")
    for e in (receives[0], accepts[0]):
        expect(e.accepted, f"{e.describe()}: {e.reply.describe()}")


@case(PLAN, "C7", en="AcceptLetterNotifier carries a non-empty AcceptID, which reaches the sender",
      th="การแจ้งลงทะเบียนรับมีเลขทะเบียนรับ (AcceptID) ไม่ว่าง และถึงผู้ส่ง", section="3.2.3", prerequisite="step S4")
def accept_id(ctx: ClientContext) -> None:
    sent = kit_letter(ctx, "accept")
    accepts = notifiers(ctx.vendor(), "AcceptLetterNotifier", sent["id"])
    ctx.attach(accepts)
    expect(bool(accepts), f"no AcceptLetterNotifier for {sent['id']}")
    for e in accepts:
        expect(bool(e.fields.get("AcceptID")), f"{e.describe()}: AcceptID is missing or empty")
    row = queries.letter(ctx.node.store, sent["process_id"])
    expect_equal(f"the state of {sent['id']} at the node", "ACCEPTED", str(row.state.value).upper())
    expect_equal("the AcceptID the sender sees", accepts[-1].fields["AcceptID"], row.accept_id)


@case(PLAN, "C8", en="The rejected letter gets RejectLetterNotifier only, accepted by the node",
      th="หนังสือที่ปฏิเสธได้รับการแจ้งปฏิเสธ (RejectLetterNotifier) เท่านั้น และศูนย์รับการแจ้ง", section="3.2.4",
      prerequisite="step S5")
def reject(ctx: ClientContext) -> None:
    sent = kit_letter(ctx, "reject")
    others = notifiers(ctx.vendor(), None, sent["id"])
    rejects = [e for e in others if e.parsed.kind == "RejectLetterNotifier"]
    ctx.attach(others)
    expect(bool(rejects), f"no RejectLetterNotifier for {sent['id']}")
    expect(rejects[0].accepted, f"{rejects[0].describe()}: {rejects[0].reply.describe()}")
    wrong = [e.describe() for e in others if e.parsed.kind in ("AcceptLetterNotifier", "InvalidLetterNotifier")]
    expect(not wrong, f"the rejected letter {sent['id']} was also: {'; '.join(wrong)}")


@case(PLAN, "C9", en="OutboundStatus is asked at the organisation's endpoint and lists the letter it sent",
      th="สอบถามสถานะหนังสือส่ง (OutboundStatus) ที่ที่อยู่บริการของหน่วยงาน และพบหนังสือที่ส่ง", section="3.3.6",
      requires=("C2",), prerequisite="step S6")
def outbound_status(ctx: ClientContext) -> None:
    asked = [e for e in ctx.vendor() if e.parsed.operation == "OutboundStatus"]
    ctx.attach(asked)
    expect(bool(asked), "the client never sent OutboundStatusRequest")
    last = asked[-1]
    expect(last.accepted, f"{last.describe()}: {last.reply.describe()}")
    pid, reply = first_letter(ctx.vendor()).reply.process_id, last.reply
    rows = [r for r in reply.element if (r.findtext(reply._q("ProcessID")) or "").strip() == pid]
    expect(bool(rows), f"{last.describe()}: the answer does not list ProcessID {pid}")
    expect_equal("ProcessStatus of the client's letter", "ACCEPTED",
                 (rows[0].findtext(reply._q("ProcessStatus")) or "").strip())


# ------------------------------------------------------------------ the session

def run_client_session(*, data_dir: Path, port: int, vendor_org: str = DEFAULT_VENDOR, kit_org: str = DEFAULT_KIT,
                       steps_out: TextIO, wait: Callable[[Step], None] | None = None,
                       step_timeout: float = DEFAULT_STEP_TIMEOUT, host: str = "127.0.0.1",
                       config: Config | None = None, only: Iterable[str] = (), skip: Iterable[str] = (),
                       clock: Clock | None = None,
                       progress: Callable[[Outcome, int, int], None] = lambda outcome, index, total: None,
                       ) -> Report:
    """Serve a recording reference node, walk the vendor through :data:`STEPS`, then judge the C-cases.

    ``port`` 0 takes a free one. Without ``config`` the node hosts the demo organisations on
    ``http://host:port``; with one, its directory and public URL are used as they are (host, port
    and data folder are replaced). ``wait(step)`` returns when the vendor is done with ``step``
    (default: :func:`polling` with ``step_timeout``).
    """
    clock = clock or SystemClock()
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    if config is None:
        url = f"http://{host}:{port}"
        config = Config(host=host, port=port, public_url=url, directory=demo_directory(url), data_dir=Path(data_dir))
    else:
        config = replace(config, host=host, port=port, data_dir=Path(data_dir))
    for org in (vendor_org, kit_org):
        if not config.directory.is_hosted(org):
            raise ValueError(f"organisation {org} is not hosted by the reference node's directory")
    if vendor_org == kit_org:
        raise ValueError("the vendor's organisation and the kit's must differ")
    node = wiring.build(config, clock=clock)
    log = RequestLog()
    app = Recording(node.wsgi, log, base_url=node.config.public_url, default_org=node.config.directory.default_id,
                    clock=clock, limit=node.config.limits.max_bytes)
    server = make_server(app, host, port, threads=node.config.threads, clock=SystemClock())
    server.prepare()
    thread = threading.Thread(target=server.serve, name="conformance-client", daemon=True)
    thread.start()
    kit = KitAgent(endpoint=node.config.agency_url(kit_org), org=kit_org, clock=clock)
    ctx = ClientContext(node=node, log=log, vendor_org=vendor_org, kit_org=kit_org, kit=kit, clock=clock)
    report = Report(plan=PLAN, started=wire_time(clock.now()), kit_version=__version__,
                    target={"endpoint": ctx.endpoint, "organisation": vendor_org, "kit organisation": kit_org,
                            "wsdl": f"{ctx.endpoint}?wsdl"})
    wait = wait or polling(step_timeout, clock=clock)
    try:
        vendor_th, vendor_en = ctx.org_names(vendor_org)
        print(f"ชุดทดสอบระบบสารบรรณอิเล็กทรอนิกส์ / e-Saraban client conformance (gateway {__version__})\n"
              f"  ตั้งค่าระบบของท่านให้ใช้ / configure your product with: {ctx.endpoint}  (WSDL: {ctx.endpoint}?wsdl)\n"
              f"  หน่วยงานของท่าน / your organisation: {vendor_org} {vendor_th} ({vendor_en})",
              file=steps_out, flush=True)
        for index, template in enumerate(STEPS, start=1):
            _play(ctx, template, index, wait, steps_out)
        return run(report, select(PLANS[PLAN], only, skip), ctx, clock=clock, progress=progress)
    finally:
        report.finished = wire_time(clock.now())
        server.stop()
        thread.join(timeout=10)
        node.close()


def _play(ctx: ClientContext, template: Step, index: int, wait: Callable[[Step], None], out: TextIO) -> None:
    if template.kit is not None:
        try:
            template.kit(ctx)
        except Exception as exc:  # noqa: BLE001 - the session goes on; the cases that need it say why
            ctx.state["notes"].append(f"{template.id}: {exc}")
            print(f"  ! ชุดทดสอบทำขั้นตอนของตนไม่สำเร็จ / the kit's own action failed: {exc}", file=out, flush=True)
    step = shown(template, ctx)
    ctx.state["shown"][step.id] = ctx.log.last_seq()
    print(f"\nขั้นที่ {index}/{len(STEPS)} [{step.id}] {step.text_th}\nStep {index}/{len(STEPS)} [{step.id}] "
          f"{step.text_en}", file=out, flush=True)
    wait(step)
    print("  ✓ ได้รับคำขอที่คาดไว้แล้ว / the expected requests arrived" if step.done() else
          "  ✗ ยังไม่ได้รับคำขอที่คาดไว้ / the expected requests did not arrive (the cases say what is missing)",
          file=out, flush=True)


class KitAgent(Agent):
    """The kit's own e-Saraban: every request carries KIT_HEADER, so the log keeps it apart from the vendor's."""

    def call(self, body: str, **kw) -> Reply:
        kw["headers"] = {KIT_HEADER: "1", **(kw.get("headers") or {})}
        return super().call(body, **kw)
