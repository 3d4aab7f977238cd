"""The e-Saraban client plan (C-cases): the project's own client passes every case; faulty ones fail theirs.

Each session serves a real reference node on loopback (SQLite in the test's folder) behind the
recorder. The "vendor's product" is :class:`gateway.adapters.esaraban.AgencyClient` in a thread of
its own, doing each step when the kit shows it, as a clerk would at the terminal.
"""
from __future__ import annotations

import datetime as dt
import io
import queue
import threading
from dataclasses import replace

import pytest

from gateway.adapters.clock import SystemClock
from gateway.adapters.esaraban import AgencyClient, Attachment, ClientError, OutgoingLetter
from gateway.conformance.agent import Agent, letter as agent_letter
from gateway.conformance import client_plan
from gateway.conformance.client_plan import Step
from gateway.conformance.plan import Status

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n" + bytes(range(200, 256)) + b"\n%%EOF\n")
RECEIVE_NUMBER = "รับ ๐๐๑๒/๒๕๖๙"
CASES = [c.id for c in client_plan.PLANS[client_plan.PLAN]]


class Vendor:
    """An e-Saraban product built on AgencyClient: it does each step as written, answers' faults noted."""

    def __init__(self, step: Step) -> None:
        ctx = step.ctx
        self.ctx = ctx
        self.client = AgencyClient(ctx.endpoint, timeout=10)
        self.letter = OutgoingLetter(
            letter_id="ชม ๐๐๑๗/๒๕๖๙", correspondence_date=ctx.today, subject=step.params["subject"],
            sender=ctx.vendor_org, receiver=ctx.kit_org, main_letter=Attachment(mime_code="pdf", content=PDF),
            sender_name=("สมศรี", "ใจดี", "นักจัดการงานทั่วไป"), receiver_name=("", "", "ผู้อำนวยการ"),
            attachment_text="สำเนารายงาน ๑ ชุด", description="รายงานผลการดำเนินงานตามแผน")
        self.items: dict[str, object] = {}   # ProcessID -> the pulled item, as the product stores it
        self.faults: list[str] = []

    def do(self, step: Step) -> None:
        getattr(self, step.id.lower())(step)

    def call(self, operation, *args, **kw):
        try:
            return operation(*args, **kw)
        except ClientError as exc:
            self.faults.append(exc.code)
            return None

    def s1(self, step: Step) -> None:
        self.call(self.client.send_letter, self.letter)

    def s2(self, step: Step) -> None:   # a retry rebuilds the XML (a new SendDate): still the same letter
        self.call(self.client.send_letter, self.letter)

    def s3(self, step: Step) -> None:
        while (answer := self.call(self.client.pull)) is not None and answer.item is not None:
            self.items[answer.process_id] = answer.item
            self.delete(answer.process_id)

    def delete(self, process_id: str) -> None:
        self.call(self.client.delete, process_id)

    def pulled_letter(self, letter_id: str) -> tuple[str, str]:
        for item in self.items.values():
            if item.findtext(".//{*}CorrespondenceLetter/{*}ID") == letter_id:
                return letter_id, item.findtext(".//{*}CorrespondenceLetter/{*}CorrespondenceDate")
        raise AssertionError(f"the product never received {letter_id}")

    def notify(self, kind: str, letter_id: str, accept_id: str | None = None) -> None:
        letter_id, date = self.pulled_letter(letter_id)
        self.call(self.client.notify, kind, letter_id=letter_id, correspondence_date=date, accept_id=accept_id)

    def s4(self, step: Step) -> None:
        self.notify("ReceiveLetterNotifier", step.params["accept_id"])
        self.notify("AcceptLetterNotifier", step.params["accept_id"], RECEIVE_NUMBER)

    def s5(self, step: Step) -> None:
        self.notify("RejectLetterNotifier", step.params["reject_id"])

    def s6(self, step: Step) -> None:
        self.call(self.client.outbound_status)


class NeverDeletes(Vendor):
    def delete(self, process_id: str) -> None:
        pass


class AcceptsFirst(Vendor):
    def s4(self, step: Step) -> None:
        self.notify("AcceptLetterNotifier", step.params["accept_id"], RECEIVE_NUMBER)
        self.notify("ReceiveLetterNotifier", step.params["accept_id"])


class DeletesWhatItSent(Vendor):
    def s3(self, step: Step) -> None:   # "cleans up" its own sent letter too: a ProcessID it never pulled
        super().s3(step)
        self.delete(self.sent_process_id)

    def s1(self, step: Step) -> None:
        self.sent_process_id = self.call(self.client.send_letter, self.letter).process_id


class AcknowledgesBeforePulling(Vendor):
    def s3(self, step: Step) -> None:   # acknowledges from the list it was told of, before storing the letter
        self.call(self.client.notify, "ReceiveLetterNotifier", letter_id=step.params["accept_id"],
                  correspondence_date=step.params["date"])
        super().s3(step)


class ResendsChanged(Vendor):
    def s2(self, step: Step) -> None:
        self.call(self.client.send_letter, replace(self.letter, description="รายงานผลการดำเนินงาน (แก้ไขแล้ว)"))


class StubsVendor(Vendor):
    """A product generated from the WSDL: qualified wrappers (the stubs contract), SOAP 1.2."""

    def __init__(self, step: Step) -> None:
        super().__init__(step)
        self.agent = Agent(endpoint=self.ctx.endpoint, org=self.ctx.vendor_org, clock=SystemClock(), timeout=10)
        self.style = {"version": "1.2", "qualified": True, "addressing": "none"}

    def s1(self, step: Step) -> None:
        self.agent.send(agent_letter(letter_id=self.letter.letter_id, date=self.ctx.today, subject=self.letter.subject,
                                     sender=self.ctx.vendor_org, receiver=self.ctx.kit_org, main=PDF,
                                     letter_attribute=False), **self.style)

    s2 = s1

    def s3(self, step: Step) -> None:
        while (reply := self.agent.pull(**self.style)).item is not None:
            self.items[reply.process_id] = reply.item
            self.agent.delete(reply.process_id, **self.style)

    def notify(self, kind: str, letter_id: str, accept_id: str | None = None) -> None:
        letter_id, date = self.pulled_letter(letter_id)
        reply = self.agent.notify(kind, letter_id, date, accept_id=accept_id, **self.style)
        if reply.fault_code:
            self.faults.append(reply.fault_code)

    def s6(self, step: Step) -> None:
        self.agent.simple("OutboundStatusRequest", **self.style)


def session(tmp_path, product: type[Vendor], step_timeout: float):
    """Run a client session with ``product`` answering each step in its own thread; (report, output, vendor)."""
    steps: queue.Queue = queue.Queue()
    vendors: list[Vendor] = []
    broken: list[BaseException] = []

    def run_product() -> None:
        while (step := steps.get()) is not None:
            try:
                if not vendors:
                    vendors.append(product(step))
                vendors[0].do(step)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                broken.append(exc)

    thread = threading.Thread(target=run_product, daemon=True)
    thread.start()
    poll = client_plan.polling(step_timeout)

    def wait(step: Step) -> None:
        steps.put(step)
        poll(step)

    out = io.StringIO()
    try:
        report = client_plan.run_client_session(data_dir=tmp_path, port=0, steps_out=out, wait=wait)
    finally:
        steps.put(None)
        thread.join(timeout=10)
    assert not broken, broken
    return report, out.getvalue(), vendors[0]


def statuses(report) -> dict[str, Status]:
    return {o.case.id: o.status for o in report.outcomes}


def explain(report) -> str:
    return "\n".join(f"{o.case.id} {o.status}: {o.message}" for o in report.outcomes)


def test_the_projects_own_client_passes_every_case(tmp_path):
    report, output, vendor = session(tmp_path, Vendor, step_timeout=15)
    assert statuses(report) == {c: Status.PASSED for c in CASES}, explain(report)
    assert report.passed and report.plan == "client" and report.finished
    assert vendor.faults == []
    assert report.target["endpoint"] == vendor.ctx.endpoint and report.target["organisation"] == "2000350000"
    # Every case attached the exchanges it judged, as they were on the wire.
    for outcome in report.outcomes:
        assert outcome.exchanges, outcome.case.id
        assert all(x.url == vendor.ctx.endpoint and x.status == 200 for x in outcome.exchanges), outcome.case.id
    letter_case = next(o for o in report.outcomes if o.case.id == "C2")
    assert "ชม ๐๐๑๗/๒๕๖๙".encode() in letter_case.exchanges[0].request_body
    assert letter_case.exchanges[0].request_headers["Content-Type"].startswith("text/xml")
    # Each step was shown in Thai and English, with the kit's letters and a Buddhist-Era date, and seen done.
    kit = vendor.ctx.state["letters"]
    assert [f"[S{i}]" in output for i in range(1, 7)] == [True] * 6
    for text in ("ขั้นที่ 1/6", "Step 1/6", client_plan.SUBJECT, kit["accept"]["id"], kit["reject"]["id"],
                 "ลงทะเบียนรับหนังสือที่", "Register letter No.", str(int(vendor.ctx.today[:4]) + 543)):
        assert text in output, text
    assert output.count("✓") == 6 and "✗" not in output
    # The log: the vendor's requests in order, with their endpoint, operation and SOAP version; the kit's apart.
    log = vendor.ctx.log.entries()
    assert {(e.org, e.parsed.soap_version, e.by_kit) for e in log} == {("2000350000", "1.1", False)}
    assert [e.parsed.kind or e.parsed.operation for e in log[:3]] == ["GovernmentDocument", "GovernmentDocument",
                                                                    "CorrespondenceLetterInbound"]
    assert log[-1].parsed.operation == "OutboundStatus" and [e.seq for e in log] == sorted(e.seq for e in log)
    assert log[0].time.utcoffset() == dt.timedelta(hours=7)   # Asia/Bangkok
    kit_requests = vendor.ctx.log.entries(kit=True)
    assert {e.org for e in kit_requests} == {"2000100000"} and len(kit_requests) >= 6


def test_a_client_generated_from_the_wsdl_passes_too(tmp_path):
    """Qualified wrappers and SOAP 1.2 are recorded and judged as the node reads them."""
    report, output, vendor = session(tmp_path, StubsVendor, step_timeout=15)
    assert statuses(report) == {c: Status.PASSED for c in CASES}, explain(report)
    log = vendor.ctx.log.entries()
    assert {(e.parsed.soap_version, e.parsed.qualified) for e in log} == {("1.2", True)}
    assert all(e.headers["Content-Type"].startswith("application/soap+xml") for e in log)


@pytest.mark.parametrize("product, failing, says", [
    (NeverDeletes, {"C4"}, "pulled but never deleted"),
    (AcceptsFirst, {"C6"}, "AcceptLetterNotifier before ReceiveLetterNotifier"),
    (ResendsChanged, {"C3"}, "different content"),
    (DeletesWhatItSent, {"C4"}, "which the client had not pulled"),
    (AcknowledgesBeforePulling, {"C5"}, "sent before the letter was pulled"),
], ids=["never-deletes", "accept-before-receive", "resend-with-other-content", "deletes-unpulled",
        "notifies-before-pull"])
def test_a_misbehaving_client_fails_exactly_the_cases_of_its_fault(tmp_path, product, failing, says):
    report, output, vendor = session(tmp_path, product, step_timeout=1.5)
    found = statuses(report)
    assert {c for c, s in found.items() if s is Status.FAILED} == failing, explain(report)
    assert {c for c, s in found.items() if s is Status.PASSED} == set(CASES) - failing, explain(report)
    assert not report.passed
    failed = next(o for o in report.outcomes if o.case.id in failing)
    assert says in failed.message, failed.message
    assert failed.exchanges, "the failing case shows the requests it judged"


def test_waiting_for_requests_that_never_come_times_out():
    log = client_plan.RequestLog()
    assert client_plan.wait_for_requests(log, lambda entries: bool(entries), 0.2) is False
    assert client_plan.wait_for_requests(log, lambda entries: not entries, 0.2) is True
