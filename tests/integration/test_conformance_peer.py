"""The node-port plan (B-cases) against our own node, a deliberately faulty one, and the reference peer.

Every node here is real: wired by ``runtime.wiring``, served by cheroot on loopback, with the
session's development PKI. The kit is a node of the peer's directory (``conformance-kit``, a
certificate issued by the same development CA) and sends for สำนักงาน ก.พ. (0101000000), which the
peer routes to it. The letter B4 makes Chiang Mai send to that office stays in the peer's outbox: no
worker runs on the peer under test (the reference peer's worker retries it against a closed port).
A faulty peer is a WSGI wrapper in front of the real node that changes one thing in its answers;
the failed and blocked cases are asserted exactly.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import threading
import time
import tomllib
import uuid
from pathlib import Path

import pytest
from lxml import etree

from gateway import config
from gateway.adapters.clock import SystemClock
from gateway.conformance import peer_plan, plan, reference_peer
from gateway.conformance.agent import THAI_DIGITS, Agent, letter
from gateway.core.network import nodemsg
from gateway.core.time import BANGKOK
from gateway.core.network.directory import DEMO_ORGANIZATIONS, Directory, Organization, PeerNode
from gateway.core.trust import pki, signing
from gateway.pipeline import outbound
from gateway.runtime import wiring
from gateway.runtime.serve import make_server
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, PDF
from gateway.testing.live import LiveServer, free_port

KIT = "conformance-kit"
OURS = "0101000000"          # สำนักงานคณะกรรมการข้าราชการพลเรือน, hosted (for these tests) by the kit's node
OURS_TH = "สำนักงานคณะกรรมการข้าราชการพลเรือน"
P = plan.Status


@pytest.fixture(scope="module")
def kit(tmp_path_factory, data_dir) -> dict[str, Path]:
    """The kit's node key and certificate, issued by the session's development CA."""
    folder = tmp_path_factory.mktemp("kit")
    ca = pki.Issued(key=pki.load_private_key((data_dir / "pki" / "ca.key").read_bytes()),
                    certificate=pki.load_certificate((data_dir / "pki" / "ca.pem").read_bytes()))
    issued = pki.issue_node(ca, KIT, ["127.0.0.1"], algorithm="ecdsa",
                            now=SystemClock().now() - dt.timedelta(days=1))
    (folder / "kit.pem").write_bytes(pki.pem_certificate(issued.certificate))
    (folder / "kit.key").write_bytes(pki.pem_private_key(issued.key))
    return {"certificate": folder / "kit.pem", "key": folder / "kit.key", "ca": data_dir / "pki" / "ca.pem"}


def peer_config(port: int, data_dir: Path, kit: dict[str, Path]) -> config.Config:
    """The demo node, with the kit's node in [[nodes]] and สำนักงาน ก.พ. routed to it."""
    url, keys = f"http://127.0.0.1:{port}", data_dir / "pki"
    hosted = [Organization(id=i, th_name=th, en_name=en, ecms_url=f"{url}/ecms-ws01/service2/{i}", node="gateway",
                           hosted=True, certificate=str(keys / f"orgs/{i}.pem"), key=str(keys / f"orgs/{i}.key"))
              for i, th, en in DEMO_ORGANIZATIONS]
    ours = Organization(id=OURS, th_name=OURS_TH, ecms_url=f"http://127.0.0.1:9/ecms-ws01/service2/{OURS}", node=KIT)
    directory = Directory.build([*hosted, ours], default_id=CENTRAL,
                                nodes=[PeerNode(id=KIT, url="http://127.0.0.1:9/ecms-ws01/node",
                                                certificate=str(kit["certificate"]))])
    return config.Config(port=port, public_url=url, data_dir=data_dir, directory=directory,
                         node_certificate=str(keys / "node.pem"), node_key=str(keys / "node.key"),
                         trust_anchors=(str(keys / "ca.pem"),))


class Served:
    """A WSGI application on a loopback port (cheroot, as `gateway serve` runs it)."""

    def __init__(self, app, port: int) -> None:
        self.server = make_server(app, "127.0.0.1", port, threads=8, clock=SystemClock())
        self.server.prepare()
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


@pytest.fixture
def peer(backend, store, data_dir, kit):
    """Our node on loopback, trusting the kit's node; on every store."""
    port = free_port()
    server = LiveServer(wiring.build(peer_config(port, data_dir, kit), store=store, clock=SystemClock(),
                                     migrate=False), port)
    yield server
    server.stop()


def context(base: str, data_dir: Path, kit: dict[str, Path], *, receiver: bool = True) -> peer_plan.PeerContext:
    clock = SystemClock()
    return peer_plan.peer_context(
        url=f"{base}/ecms-ws01/node", peer_node="gateway", peer_certificate=data_dir / "pki" / "node.pem",
        node_id=KIT, key=kit["key"], certificate=kit["certificate"], receiver_org=CHIANGMAI, sender_org=OURS,
        clock=clock, receiver_endpoint=f"{base}/ecms-ws01/service2/{CHIANGMAI}" if receiver else "", timeout=30)


def run(ctx: peer_plan.PeerContext, only=()) -> plan.Report:
    report = plan.Report(plan="peer", target={"node": ctx.url}, started="")
    return plan.run(report, plan.select(plan.PLANS["peer"], only), ctx, clock=ctx.clock)


def not_passed(report: plan.Report) -> dict[str, str]:
    return {o.case.id: f"{o.status}: {o.message[:400]}" for o in report.outcomes if o.status is not P.PASSED}


def test_every_case_passes_against_our_node(peer, data_dir, kit):
    report = run(context(peer.base, data_dir, kit))
    assert not_passed(report) == {}
    assert [o.case.id for o in report.outcomes] == [c.id for c in plan.PLANS["peer"]]
    assert report.passed and all(o.exchanges for o in report.outcomes)


def test_cases_are_numbered_titled_in_thai_and_english_and_need_only_earlier_cases():
    cases = plan.PLANS["peer"]
    assert [c.id for c in cases] == [f"B{n}" for n in range(1, len(cases) + 1)]
    for c in cases:
        assert c.title_en and c.section and any("\u0e00" <= ch <= "\u0e7f" for ch in c.title_th), c.id
        assert all(r in {x.id for x in cases[: cases.index(c)]} for r in c.requires), c.id


def test_without_the_receiving_organisations_endpoint_the_queue_cases_are_not_checkable(peer, data_dir, kit):
    report = run(context(peer.base, data_dir, kit, receiver=False))
    statuses = {o.case.id: o.status for o in report.outcomes}
    assert {i for i, s in statuses.items() if s is P.NOT_CHECKABLE} == {"B3", "B4"}
    assert statuses["B5"] is P.BLOCKED
    assert {i for i, s in statuses.items() if s is P.PASSED} == {c.id for c in plan.PLANS["peer"]} - {"B3", "B4", "B5"}


def test_peer_context_refuses_bad_inputs_with_a_clear_message(data_dir, kit):
    good = dict(url="http://127.0.0.1:1/ecms-ws01/node", peer_node="gateway",
                peer_certificate=data_dir / "pki/node.pem",
                node_id=KIT, key=kit["key"], certificate=kit["certificate"], receiver_org=CHIANGMAI, sender_org=OURS,
                clock=SystemClock())
    assert peer_plan.peer_context(**good).signer.certificate.subject.rfc4514_string().find(KIT) >= 0
    for change, message in ((dict(receiver_org="200035"), "10 digits"), (dict(url="ftp://x"), "http"),
                            (dict(key=data_dir / "pki/node.key"), "does not belong"),
                            (dict(certificate=data_dir / "missing.pem"), "cannot read"),
                            (dict(peer_certificate=kit["key"]), "cannot load")):
        with pytest.raises(ValueError, match=message):
            peer_plan.peer_context(**{**good, **change})


# ------------------------------------------------------------------ a deliberately faulty peer

class FaultyPeer:
    """The real node behind, with one fault in what its node port answers."""

    def __init__(self, app, fault: str, node_signer: signing.Signer) -> None:
        self.app, self.fault, self.signer = app, fault, node_signer
        self.seen: set[str] = set()
        self.last_receipt: bytes = b""
        self.stranger = peer_plan.stranger(peer_plan.PeerContext(
            url="", peer_node="", peer_certificate=node_signer.certificate, node_id="", signer=node_signer,
            receiver_org="", sender_org="", clock=SystemClock()))

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ = {**environ, "wsgi.input": io.BytesIO(body)}
        seen = {}
        answer = b"".join(self.app(environ, lambda s, h, exc_info=None: seen.update(status=s, headers=h)))
        status = seen["status"]
        if environ.get("PATH_INFO", "").endswith("/node"):
            status, answer = self.change(status, answer)
        headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]

    def change(self, status: str, answer: bytes) -> tuple[str, bytes]:
        found = re.search(rb"<n:NodeReceipt.*</n:NodeReceipt>", answer, re.S)
        if found is None:
            if self.fault == "receipt-for-refusals" and self.last_receipt:
                return "200 OK", self.last_receipt      # a receipt (for another message) instead of the fault
            return status, answer
        self.last_receipt = answer
        receipt = nodemsg.read_receipt(etree.fromstring(found.group(0)))
        if self.fault == "fresh-receipt-for-repeats" and receipt.message_id in self.seen:
            fresh = dataclasses.replace(receipt, received_at=SystemClock().now() + dt.timedelta(seconds=1))
            return status, answer.replace(found.group(0), outbound.node_receipt(fresh, self.signer))
        self.seen.add(receipt.message_id)
        if self.fault == "foreign-signer":
            return status, answer.replace(found.group(0), outbound.node_receipt(receipt, self.stranger))
        return status, answer


@pytest.fixture
def faulty(request, data_dir, kit, tmp_path):
    port = free_port()
    store = wiring.open_store(f"sqlite:{tmp_path / 'peer.sqlite3'}")
    store.migrate()
    node = wiring.build(peer_config(port, data_dir, kit), store=store, clock=SystemClock(), migrate=False)
    served = Served(FaultyPeer(node.wsgi, request.param, node.keyring.node_signer), port)
    yield f"http://127.0.0.1:{port}"
    served.stop()
    store.close()


REFUSALS = {f"B{n}" for n in range(6, 17)}


@pytest.mark.parametrize("faulty, failed, blocked", [
    # A repeat answered with a newly signed receipt instead of the one first issued.
    ("fresh-receipt-for-repeats", {"B2", "B5"}, set()),
    # Refused messages answered HTTP 200 with a receipt: every refusal case, and nothing else.
    ("receipt-for-refusals", REFUSALS, set()),
    # Receipts signed by a key other than the peer's pinned certificate: nothing can build on B1.
    ("foreign-signer", {"B1"}, {f"B{n}" for n in range(2, 17)}),
], indirect=["faulty"])
def test_a_faulty_peer_fails_exactly_the_cases_that_check_its_fault(faulty, data_dir, kit, failed, blocked):
    report = run(context(faulty, data_dir, kit))
    got_failed = {o.case.id for o in report.outcomes if o.status in (P.FAILED, P.ERROR)}
    got_blocked = {o.case.id for o in report.outcomes if o.status is P.BLOCKED}
    assert (got_failed, got_blocked) == (failed, blocked), not_passed(report)
    assert not report.passed


def test_an_unreachable_peer_is_a_failure_not_a_crash(data_dir, kit):
    report = run(context(f"http://127.0.0.1:{free_port()}", data_dir, kit, receiver=False), only=["B1", "B2"])
    (first, second) = report.outcomes
    assert first.status is P.FAILED and "no answer" in first.message and first.exchanges[0].status == 0
    assert second.status is P.BLOCKED


# ------------------------------------------------------------------ the reference peer

REJECTS, ACCEPTS, SLOW, DOWN, LOST = "9900000002", "9900000001", "9900000004", "9900000005", "9900000006"


@pytest.fixture(scope="module")
def reference_net(tmp_path_factory, data_dir, kit):
    """The reference peer, and our node (``gateway``, with its delivery worker) as the vendor's node under test."""
    folder = tmp_path_factory.mktemp("reference")
    ref_port, vendor_port = free_port(), free_port()
    keys = data_dir / "pki"
    vendors = [reference_peer.Vendor(node_id="gateway", url=f"http://127.0.0.1:{vendor_port}/ecms-ws01/node",
                                     certificate=keys / "node.pem", ca=keys / "ca.pem",
                                     organizations={CENTRAL: keys / f"orgs/{CENTRAL}.pem"}),
               reference_peer.Vendor(node_id=KIT, url="http://127.0.0.1:9/ecms-ws01/node",
                                     certificate=kit["certificate"], ca=kit["ca"], organizations={OURS: ""})]
    ref = reference_peer.build_reference_peer(folder / "ref", ref_port, clock=SystemClock(), vendors=vendors,
                                              slow_seconds=1.0, down_seconds=1.5, poll_seconds=0.1).start()
    cfg = peer_config(vendor_port, data_dir, kit)
    theirs = [Organization(id=b.org, th_name=b.th_name, node=ref.node_id, ecms_url=ref.endpoint(b.org))
              for b in reference_peer.BEHAVIOURS]
    cfg = dataclasses.replace(cfg, trust_anchors=(*cfg.trust_anchors, ref.ca), directory=Directory.build(
        [*cfg.directory.hosted(), *theirs], default_id=CENTRAL,
        nodes=[PeerNode(id=ref.node_id, url=ref.node_url, certificate=ref.certificate)]))
    store = wiring.open_store(f"sqlite:{folder / 'vendor.sqlite3'}")
    vendor = LiveServer(wiring.build(cfg, store=store, clock=SystemClock()), vendor_port)
    threads, stop = vendor.node.start_worker("vendor-delivery")
    yield ref, vendor
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    vendor.stop()
    store.close()
    ref.stop()


def collect(agent: Agent, wanted: set[tuple[str, str]], seconds: float = 20.0) -> dict:
    """Pull (and delete) the vendor organisation's items until every (notifier, LetterID) wanted has come."""
    found, deadline = {}, time.monotonic() + seconds
    while not wanted <= set(found) and time.monotonic() < deadline:
        reply = agent.pull()
        if reply.item is None:
            time.sleep(0.1)
            continue
        agent.delete(reply.process_id)
        kind = etree.QName(reply.item).localname
        found[(kind, reply.text(f"{kind}/LetterID"))] = reply
    assert wanted <= set(found), f"missing after {seconds} s: {wanted - set(found)}"
    return found


def test_the_reference_peer_answers_letters_by_organisation(reference_net):
    ref, vendor = reference_net
    clerk = Agent(endpoint=vendor.endpoint(CENTRAL), org=CENTRAL, clock=SystemClock(), timeout=30)
    now = SystemClock().now().astimezone(BANGKOK)
    sent, duplicates = {}, ref.node.relay.duplicates
    for org in (REJECTS, ACCEPTS, LOST):
        letter_id = f"ศธ ๐๒๑๐/ทดสอบ-{org[-1]}-{uuid.uuid4().hex[:6]}"
        reply = clerk.send(letter(letter_id=letter_id, date=now.date().isoformat(), subject="ขอความอนุเคราะห์ทดสอบระบบ",
                                  sender=CENTRAL, receiver=org, main=PDF))
        assert reply.status == 200 and reply.fault_code is None, reply.describe()
        sent[org] = letter_id
    found = collect(clerk, {("RejectLetterNotifier", sent[REJECTS]), ("ReceiveLetterNotifier", sent[ACCEPTS]),
                            ("AcceptLetterNotifier", sent[ACCEPTS]), ("AcceptLetterNotifier", sent[LOST])})
    rejected, accepted = found[("RejectLetterNotifier", sent[REJECTS])], found[("AcceptLetterNotifier", sent[ACCEPTS])]
    assert (rejected.text("RejectLetterNotifier/AcceptDepartment/Code") or "").strip() == REJECTS
    number = accepted.text("AcceptLetterNotifier/AcceptID") or ""
    be_year = str(now.year + 543).translate(THAI_DIGITS)
    assert number.startswith("ทดสอบ ") and number.endswith(f"/{be_year}"), number
    status = clerk.simple("OutboundStatusRequest")
    states = {(row.findtext("LetterID") or ""): (row.findtext("ProcessStatus") or "") for row in status.element}
    assert [states[sent[org]] for org in (REJECTS, ACCEPTS, LOST)] == ["REJECTED", "ACCEPTED", "ACCEPTED"]
    # The answer to 9900000006 was lost once: our worker pushes again (its notifiers may come first) and gets the
    # original receipt, which the reference peer counts as a duplicate.
    deadline = time.monotonic() + 10
    while ref.node.relay.duplicates == duplicates and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ref.node.relay.duplicates > duplicates


def ref_context(ref, data_dir, kit, receiver_org: str = reference_peer.PASSIVE) -> peer_plan.PeerContext:
    return peer_plan.peer_context(
        url=ref.node_url, peer_node=ref.node_id, peer_certificate=ref.certificate, node_id=KIT, key=kit["key"],
        certificate=kit["certificate"], receiver_org=receiver_org, sender_org=OURS, clock=SystemClock(),
        receiver_endpoint=ref.endpoint(receiver_org) if receiver_org == reference_peer.PASSIVE else "", timeout=30)


def test_the_slow_down_and_lost_answer_organisations(reference_net, data_dir, kit):
    ref, _ = reference_net
    for org, kind in ((SLOW, "slow"), (DOWN, "down"), (LOST, "lost")):
        ctx = ref_context(ref, data_dir, kit, org)
        message = ctx.message(ctx.letter(kind)[1])
        answer, body = peer_plan.send(ctx, message)
        if kind == "slow":
            assert answer.exchange.seconds >= 1.0, answer.exchange.seconds
        elif kind == "down":
            assert answer.exchange.status == 503 and answer.exchange.response_headers["Retry-After"] in ("1", "2")
            assert peer_plan.deliver(ctx, body).exchange.status == 503        # still down: nothing was stored
            time.sleep(1.6)
            answer = peer_plan.deliver(ctx, body)
        else:
            assert answer.exchange.status == 502 and not answer.receipts
            answer = peer_plan.deliver(ctx, body)
        _, first = peer_plan.accepted(ctx, answer, message, kind)
        again = dataclasses.replace(message, timestamp=SystemClock().now())
        answer = peer_plan.send(ctx, again)[0]
        _, repeat = peer_plan.accepted(ctx, answer, again, f"{kind} again")
        assert repeat == first, kind      # a repeat gets the receipt first issued (for lost: the one never seen)
        assert answer.exchange.seconds < 1.0, (kind, answer.exchange.seconds)   # and is not held back


def test_the_peer_plan_passes_against_the_reference_peer(reference_net, data_dir, kit):
    ref, _ = reference_net
    report = run(ref_context(ref, data_dir, kit))
    assert not_passed(report) == {}


def test_the_banner_names_every_organisation_and_gives_a_configuration_that_parses(reference_net):
    ref, _ = reference_net
    table = reference_peer.describe()
    assert all(b.org in table and b.th_name in table for b in reference_peer.BEHAVIOURS)
    banner = ref.banner()
    snippet = tomllib.loads(banner.split("In your node's configuration:\n", 1)[1])
    assert snippet["nodes"] == [{"id": ref.node_id, "url": ref.node_url, "certificate": ref.certificate}]
    assert [o["id"] for o in snippet["directory"]] == [b.org for b in reference_peer.BEHAVIOURS]
    assert all(o["node"] == ref.node_id for o in snippet["directory"])
