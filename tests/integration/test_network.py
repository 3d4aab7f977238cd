"""Three nodes on loopback HTTP exchange letters and notifiers (issue 4), on SQLite and PostgreSQL.

The nodes run in this process (real HTTP servers, real zeep pushes, real
signatures) with one fake clock, and their delivery workers are driven by the
test, so time and retries are exact. tests/acceptance/ runs them as processes.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import uuid

import pytest
import requests
from lxml import etree
from gateway.testing.network import CENTRAL, CHIANGMAI, OCSC, REGION15, make_pki, node_config
from gateway.testing.wire import PULL, call, delete_request, notifier_request, reference, send_request, soap

from gateway.testing.live import LiveServer, free_port
from gateway.core.letters import decide
from gateway.core.state import ItemKind
from gateway.runtime import directory_sync
from gateway.runtime import wiring as app
from gateway.core.xml import envelope
from gateway.core.network import nodemsg
from gateway.core import ns
from gateway.core.trust import signing
from gateway.testing.clock import FakeClock
from gateway.core.network.nodemsg import NodeMessage
from gateway.core.trust.keyring import Keyring

NODES = ("moe-hub", "moe-r15", "ocsc")


@pytest.fixture(scope="module")
def net_pki(tmp_path_factory):
    issued = min(dt.datetime.now(dt.timezone.utc), FakeClock().now()) - dt.timedelta(days=1)
    return make_pki(tmp_path_factory.mktemp("network-pki"), issued)


class Network:
    def __init__(self, servers: dict[str, LiveServer], clock: FakeClock) -> None:
        self.servers = servers
        self.clock = clock

    def node(self, name: str) -> app.Node:
        return self.servers[name].node

    def deliver(self, rounds: int = 10) -> None:
        """Run every node's worker until nothing is due (items reach their last hop)."""
        for _ in range(rounds):
            moved = 0
            for server in self.servers.values():
                outcome = server.node.worker.run_once()
                moved += outcome.delivered + outcome.retried + outcome.failed
            if not moved:
                return

    def counts(self, name: str) -> dict:
        with self.node(name).store.transaction() as tx:
            return {**tx.table_counts(), "outbox_states": tx.outbox_counts()}


def start_network(backend, request, tmp_path, net_pki, overrides: dict | None = None) -> Network:
    """The three nodes on loopback, each on its own store of ``backend``; ``overrides``: node -> settings."""
    clock = FakeClock()
    ports = {name: free_port() for name in NODES}
    servers = {}
    for name in NODES:
        if backend == "memory":
            store = app.open_store("memory:")
        elif backend == "sqlite":
            store = app.open_store(f"sqlite:{tmp_path / name / 'gateway.sqlite3'}")
        else:
            cluster = request.getfixturevalue("pg_cluster")
            store = app.open_store(cluster.create_database(f"net_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"))
        store.migrate()
        cfg = node_config(name, net_pki, ports, tmp_path / name, **(overrides or {}).get(name, {}))
        servers[name] = LiveServer(app.build(cfg, store=store, clock=clock, migrate=False), ports[name])
    return Network(servers, clock)


def stop_network(net: Network) -> None:
    for server in net.servers.values():
        server.stop()
        server.node.close()


@pytest.fixture
def network(backend, request, tmp_path, net_pki):
    net = start_network(backend, request, tmp_path, net_pki)
    yield net
    stop_network(net)


def send(net, node, sender, receiver, letter_id):
    return call(net.node(node), sender, send_request(letter_id=letter_id, sender=sender, receiver=receiver)).ok()


def test_letter_and_notifiers_between_hub_and_region(network):
    letter_id = "ศธ 0210/2001"
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, letter_id)
    status = call(network.node("moe-hub"), CENTRAL, soap("<OutboundStatusRequest/>")).ok()
    assert status.element.findtext("Outbound/ProcessStatus") == "PENDING"
    network.deliver()
    status = call(network.node("moe-hub"), CENTRAL, soap("<OutboundStatusRequest/>")).ok()
    assert status.element.findtext("Outbound/ProcessStatus") == "DELIVERED"

    region = network.node("moe-r15")
    pulled = call(region, CHIANGMAI, PULL).ok()
    assert pulled.process_id == sent.process_id  # one ProcessID on every node
    document = pulled.element.find(ns.rsm("GovernmentDocument"))
    assert document.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}").text == "ขอเชิญประชุมผู้บริหาร"
    # the end-to-end signature of the central office arrived intact and verifies at the last hop
    assert document.find(f"{ns.ram('GovernmentSignature')}/{ns.ds('Signature')}") is not None
    with region.store.transaction() as tx:
        row = tx.letter_by_process_id(sent.process_id)
    assert row.signer_org == CENTRAL and row.signed_by == "origin"
    assert [h["node"] for h in __import__("json").loads(row.path)] == ["moe-hub", "moe-r15"]
    call(region, CHIANGMAI, delete_request(pulled.process_id)).ok()

    receive = call(region, CHIANGMAI, notifier_request("ReceiveLetterNotifier", letter_id)).ok()
    accept = call(region, CHIANGMAI, notifier_request("AcceptLetterNotifier", letter_id, accept_id="รับ 77")).ok()
    network.deliver()
    hub = network.node("moe-hub")
    first = call(hub, CENTRAL, PULL).ok()
    assert first.process_id == receive.process_id and first.element.find("ReceiveLetterNotifier") is not None
    call(hub, CENTRAL, delete_request(first.process_id)).ok()
    second = call(hub, CENTRAL, PULL).ok()
    assert second.process_id == accept.process_id
    assert second.element.findtext("AcceptLetterNotifier/AcceptID") == "รับ 77"
    status = call(hub, CENTRAL, soap("<OutboundStatusRequest/>")).ok()
    assert status.element.findtext("Outbound/ProcessStatus") == "ACCEPTED"
    assert status.element.findtext("Outbound/AcceptID") == "รับ 77"


def test_independent_agency_through_the_hub_and_back(network):
    letter_id = "นร 1008/ว 15"
    sent = send(network, "ocsc", OCSC, CHIANGMAI, letter_id)
    network.deliver()
    assert network.counts("moe-hub")["letters"] == 0, "the hub forwards; it keeps no letter of its own"
    region = network.node("moe-r15")
    pulled = call(region, CHIANGMAI, PULL).ok()
    assert pulled.process_id == sent.process_id
    with region.store.transaction() as tx:
        row = tx.letter_by_process_id(sent.process_id)
    assert [h["node"] for h in __import__("json").loads(row.path)] == ["ocsc", "moe-hub", "moe-r15"]
    assert row.signer_org == OCSC  # verified against the origin's certificate at the last hop
    call(region, CHIANGMAI, notifier_request("RejectLetterNotifier", letter_id, subject="ส่งผิดหน่วยงาน")).ok()
    network.deliver()
    agency = network.node("ocsc")
    note = call(agency, OCSC, PULL).ok()
    assert note.element.findtext("RejectLetterNotifier/LetterID") == letter_id
    # the sender withdraws across two hops; the receiver's node applies it
    call(agency, OCSC, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", letter_id, "2026-11-26",
                                      OCSC, CHIANGMAI))).ok()
    network.deliver()
    with region.store.transaction() as tx:
        assert tx.letter_by_process_id(sent.process_id).state.value == "withdrawn"


def test_region_to_central_and_dispute(network):
    letter_id = "ศธ 1515/300"
    send(network, "moe-r15", REGION15, CENTRAL, letter_id)
    network.deliver()
    hub = network.node("moe-hub")
    pulled = call(hub, CENTRAL, PULL).ok()
    call(hub, CENTRAL, delete_request(pulled.process_id)).ok()
    call(hub, CENTRAL, notifier_request("AcceptLetterNotifier", letter_id, accept_id="1")).ok()
    network.deliver()
    region = network.node("moe-r15")
    call(region, REGION15, PULL).ok()
    dispute = call(region, REGION15, notifier_request("InvalidAcceptIDNotifier", letter_id, accept_id="1")).ok()
    network.deliver()
    got = call(hub, CENTRAL, PULL).ok()
    assert got.process_id == dispute.process_id and got.element.find("InvalidAcceptIDNotifier") is not None


def test_peer_down_then_up(network):
    region_server = network.servers["moe-r15"]
    region_server.stop()
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/3001")
    outcome = network.node("moe-hub").worker.run_once()
    assert outcome.retried == 1 and outcome.delivered == 0
    with network.node("moe-hub").store.transaction() as tx:
        row = tx.outbox_of_letter(sent.process_id)[0]
    assert row.state == "pending" and "cannot reach" in row.last_error
    # back up on the same port a day later; the retry (same MessageId) gets through
    network.servers["moe-r15"] = LiveServer(region_server.node, region_server.port)
    network.clock.advance(dt.timedelta(days=1))
    network.deliver()
    assert call(network.node("moe-r15"), CHIANGMAI, PULL).ok().process_id == sent.process_id
    with network.node("moe-hub").store.transaction() as tx:
        row = tx.outbox_of_letter(sent.process_id)[0]
    assert row.state == "delivered" and row.attempts >= 2 and row.receipt


def test_peer_down_past_the_window_is_failed_and_visible(network):
    network.servers["moe-r15"].stop()
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/3002")
    hub = network.node("moe-hub")
    for _ in range(3):
        hub.worker.run_once()
        network.clock.advance(dt.timedelta(days=2))
    hub.worker.run_once()
    status = call(hub, CENTRAL, soap("<OutboundStatusRequest/>")).ok()
    row = status.element.find("Outbound")
    assert row.findtext("ProcessID") == sent.process_id and row.findtext("ProcessStatus") == "FAILED"
    with hub.store.transaction() as tx:
        item = tx.outbox_of_letter(sent.process_id)[0]
    assert item.state == "failed" and "cannot reach" in item.last_error


def _signed_message(node: app.Node, row, *, timestamp, keyring: Keyring | None = None) -> bytes:
    message = signing.sign_document(nodemsg.build_message(NodeMessage(
        message_id=row.message_id, sender_node=node.config.node_id, receiver_node=row.next_node,
        sender_org=row.sender_org, receiver_org=row.receiver_org, timestamp=timestamp, kind=row.kind,
        process_id=row.process_id, letter_process_id=row.letter_process_id,
        path=nodemsg.path_from_json(row.path), payload=row.payload)), (keyring or node.keyring).node_signer)
    carrier = etree.Element(f"{{{ns.NODE_CARRIER}}}DeliverRequest", nsmap={"c": ns.NODE_CARRIER})
    carrier.append(message)
    return envelope.wrap("1.1", etree.tostring(carrier, encoding="utf-8"))


def _post(server: LiveServer, body: bytes) -> requests.Response:
    return requests.post(f"{server.base}/ecms-ws01/node", data=body, timeout=10,
                         headers={"Content-Type": "text/xml; charset=utf-8"})


def _receipt_bytes(response: requests.Response) -> bytes:
    start = response.content.index(b"<n:NodeReceipt")
    end = response.content.index(b"</n:NodeReceipt>") + len(b"</n:NodeReceipt>")
    return response.content[start:end]


def test_a_resent_duplicate_gets_the_byte_identical_original_receipt(network):
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/4001")
    network.deliver()
    hub = network.node("moe-hub")
    with hub.store.transaction() as tx:
        row = tx.outbox_of_letter(sent.process_id)[0]
    region = network.servers["moe-r15"]
    network.clock.advance(dt.timedelta(minutes=3))
    first = _post(region, _signed_message(hub, row, timestamp=network.clock.now()))
    network.clock.advance(dt.timedelta(minutes=3))
    again = _post(region, _signed_message(hub, row, timestamp=network.clock.now()))
    assert first.status_code == again.status_code == 200
    assert _receipt_bytes(first) == _receipt_bytes(again) == row.receipt
    assert network.counts("moe-r15")["letters"] == 1


def test_a_refused_message_gets_no_receipt_and_stores_nothing(network, net_pki):
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/4002")
    hub = network.node("moe-hub")
    with hub.store.transaction() as tx:
        row = tx.outbox_of_letter(sent.process_id)[0]
    region = network.servers["moe-r15"]
    before = network.counts("moe-r15")
    # signed by the agency's node while claiming to be the hub
    agency_keyring = network.node("ocsc").keyring
    forged = _post(region, _signed_message(hub, row, timestamp=network.clock.now(), keyring=agency_keyring))
    assert forged.status_code == 400 and b"<ErrorCode>4004</ErrorCode>" in forged.content
    assert b"NodeReceipt" not in forged.content
    # far from the receiver's clock: a replay from long ago
    stale = _post(region, _signed_message(hub, row, timestamp=network.clock.now() - dt.timedelta(hours=2)))
    assert stale.status_code == 400 and b"<ErrorCode>4005</ErrorCode>" in stale.content
    assert network.counts("moe-r15") == before


def test_a_late_receipt_for_a_failed_item_is_still_recorded(network):
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/4003")
    hub = network.node("moe-hub")
    with hub.store.transaction() as tx:
        row = tx.claim_outbox(now=network.clock.now(), until=network.clock.now() + dt.timedelta(minutes=1),
                              token="slow", limit=1)[0]
        # the window runs out while this push is under way, and the sweeper marks it FAILED
        tx.outbox_failed(row.id, error="window over", now=network.clock.now())
    assert hub.worker.deliver(row, "slow") == "delivered"
    with hub.store.transaction() as tx:
        item = tx.outbox_of_letter(sent.process_id)[0]
        letter = tx.letter_by_process_id(sent.process_id)
    assert item.state == "delivered" and item.delivered_late and item.receipt
    assert letter.delivery.value == "delivered"


def test_items_of_one_letter_leave_in_order(network):
    network.servers["moe-r15"].stop()
    sent = send(network, "moe-hub", CENTRAL, CHIANGMAI, "ศธ 0210/4004")
    hub = network.node("moe-hub")
    with hub.store.transaction() as tx:
        hub.relay.enqueue(tx, decide.place(CHIANGMAI, hub.config.directory), kind=ItemKind.WITHDRAWAL,
                          process_id=str(uuid.uuid4()), letter_process_id=sent.process_id, sender_org=CENTRAL,
                          payload=b"<x/>", path=(), now=network.clock.now())
        claimed = tx.claim_outbox(now=network.clock.now(), until=network.clock.now() + dt.timedelta(minutes=1),
                                  token="t", limit=10)
    assert [r.kind for r in claimed] == ["letter"], "the withdrawal waits for its letter"


# --------------------------------------------------------------- directory authority

def test_directory_snapshot_from_the_hub_is_verified_and_used(network, net_pki, tmp_path):
    hub = network.node("moe-hub")
    hub_cfg = dataclasses.replace(hub.config, publish_directory=True)
    publisher = app.build(hub_cfg, store=hub.store, clock=network.clock, migrate=False)
    network.servers["moe-hub"].stop()
    network.servers["moe-hub"] = LiveServer(publisher, network.servers["moe-hub"].port)

    # An agency node that knows only the hub; everything else comes from the signed snapshot.
    agency = network.node("ocsc")
    only_hub = [o for o in agency.config.directory.organizations.values() if o.hosted or o.id == CENTRAL]
    bare = dataclasses.replace(
        agency.config, data_dir=tmp_path / "ocsc-snap",
        directory=type(agency.config.directory).build(only_hub, default_id=OCSC,
                                                      nodes=agency.config.directory.nodes.values()),
        authority_node="moe-hub", authority_url=hub.config.node_url,
        authority_certificate=net_pki.path("nodes/moe-hub.pem"))
    assert bare.directory.get(CHIANGMAI) is None
    snap = directory_sync.sync_directory(bare, network.clock)
    assert snap.authority == "moe-hub" and {o.id for o in snap.organizations} >= {CENTRAL, CHIANGMAI, OCSC}
    merged = app.build(bare, store=agency.store, clock=network.clock, migrate=False)
    chiangmai = merged.config.directory.get(CHIANGMAI)
    assert chiangmai.node == "moe-r15" and chiangmai.via == "moe-hub"
    assert chiangmai.th_name == "สำนักงานศึกษาธิการจังหวัดเชียงใหม่"
    network.servers["ocsc"].stop()
    network.servers["ocsc"] = LiveServer(merged, network.servers["ocsc"].port)
    sent = call(merged, OCSC, send_request(letter_id="นร 1008/9001", sender=OCSC, receiver=CHIANGMAI)).ok()
    network.deliver()
    assert call(network.node("moe-r15"), CHIANGMAI, PULL).ok().process_id == sent.process_id

    # the same serial again is not newer; a tampered snapshot does not verify
    with pytest.raises(Exception, match="not newer"):
        directory_sync.sync_directory(bare, network.clock)
    path = directory_sync.snapshot_path(bare)
    path.write_bytes(path.read_bytes().replace("เชียงใหม่".encode(), "เชียงราย".encode()))
    from gateway.core.errors import ConfigError
    with pytest.raises(ConfigError, match="does not verify"):
        app.build(bare, store=agency.store, clock=network.clock, migrate=False)


# --------------------------------------------------------------- TLS between nodes

def _over_tls(network, net_pki, region_cert: str, region_key: str):
    """Serve moe-r15 over HTTPS with the given certificate; point the hub at https://."""
    region = network.node("moe-r15")
    port = network.servers["moe-r15"].port
    network.servers["moe-r15"].stop()
    tls_region = app.build(dataclasses.replace(region.config, tls_certificate=region_cert, tls_key=region_key),
                           store=region.store, clock=network.clock, migrate=False)
    network.servers["moe-r15"] = LiveServer(tls_region, port, tls=True)
    hub = network.node("moe-hub")
    nodes = [dataclasses.replace(p, url=p.url.replace("http://", "https://")) if p.id == "moe-r15" else p
             for p in hub.config.directory.nodes.values()]
    directory = type(hub.config.directory).build(hub.config.directory.organizations.values(),
                                                 default_id=hub.config.directory.default_id, nodes=nodes)
    tls_hub = app.build(dataclasses.replace(hub.config, directory=directory), store=hub.store, clock=network.clock,
                        migrate=False)
    network.servers["moe-hub"].stop()
    network.servers["moe-hub"] = LiveServer(tls_hub, network.servers["moe-hub"].port)
    return tls_hub


def test_nodes_talk_over_tls_verified_against_the_trust_anchors(network, net_pki):
    hub = _over_tls(network, net_pki, net_pki.path("nodes/moe-r15.pem"), net_pki.path("nodes/moe-r15.key"))
    sent = call(hub, CENTRAL, send_request(letter_id="ศธ 0210/5001", sender=CENTRAL, receiver=CHIANGMAI)).ok()
    network.deliver()
    assert call(network.node("moe-r15"), CHIANGMAI, PULL).ok().process_id == sent.process_id


def test_a_peer_with_an_untrusted_tls_certificate_gets_nothing(network, net_pki, tmp_path):
    from gateway.testing.network import make_pki
    stranger = make_pki(tmp_path / "stranger", FakeClock().now() - dt.timedelta(days=1))
    hub = _over_tls(network, net_pki, stranger.path("nodes/moe-r15.pem"), stranger.path("nodes/moe-r15.key"))
    sent = call(hub, CENTRAL, send_request(letter_id="ศธ 0210/5002", sender=CENTRAL, receiver=CHIANGMAI)).ok()
    outcome = hub.worker.run_once()
    assert outcome.retried == 1 and outcome.delivered == 0
    with hub.store.transaction() as tx:
        row = tx.outbox_of_letter(sent.process_id)[0]
    assert row.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert network.counts("moe-r15")["letters"] == 0


def test_a_letter_past_the_old_text_node_cap_travels_from_node_to_node(network):
    """A 7.6 MB enclosure (issue 10): signed at the hub, verified at the region, pulled intact."""
    enclosure = b"%PDF-1.4\n" + os.urandom(7_600_000)
    body = send_request(letter_id="ศธ 0210/2099", sender=CENTRAL, receiver=CHIANGMAI, subject="คู่มือฉบับสแกน",
                        main=base64.b64encode(enclosure).decode())
    assert call(network.node("moe-hub"), CENTRAL, body).ok()
    network.deliver()
    pulled = call(network.node("moe-r15"), CHIANGMAI, PULL).ok()
    main = pulled.root.find(f".//{{{ns.RAM}}}MainLetterBinaryObject")
    assert base64.b64decode(main.text) == enclosure


# ------------------------------------------------ what became of a letter, told back to its origin

def outbound_status(node, org: str, process_id: str) -> str:
    rows = call(node, org, soap("<OutboundStatusRequest/>")).ok().element.findall("Outbound")
    return next(r.findtext("ProcessStatus") for r in rows if r.findtext("ProcessID") == process_id)


def test_a_pull_at_the_region_reaches_the_origin_through_the_hub(network):
    sent = send(network, "ocsc", OCSC, CHIANGMAI, "นร 1008/ว 31")
    network.deliver()
    origin = network.node("ocsc")
    assert outbound_status(origin, OCSC, sent.process_id) == "DELIVERED"
    call(network.node("moe-r15"), CHIANGMAI, PULL).ok()
    network.deliver()
    assert outbound_status(origin, OCSC, sent.process_id) == "PULLED"
    with network.node("moe-hub").store.transaction() as tx:
        kinds = [item.kind.value for item in tx.outbox_of_letter(sent.process_id)]
    assert kinds == ["letter", "status"], "the hub forwarded the region's report"


def test_a_failure_at_the_hub_reaches_the_origin_and_so_does_the_late_delivery(network):
    from gateway.operations import console
    network.servers["moe-r15"].stop()
    sent = send(network, "ocsc", OCSC, CHIANGMAI, "นร 1008/ว 32")
    origin, hub = network.node("ocsc"), network.node("moe-hub")
    origin.worker.run_once()
    assert outbound_status(origin, OCSC, sent.process_id) == "DELIVERED"   # as far as the hub
    for _ in range(3):
        hub.worker.run_once()
        network.clock.advance(dt.timedelta(days=2))
    hub.worker.run_once()
    network.deliver()
    assert outbound_status(origin, OCSC, sent.process_id) == "FAILED", "the hub's failure is the origin's news"
    region_server = network.servers["moe-r15"]
    network.servers["moe-r15"] = LiveServer(region_server.node, region_server.port)
    with hub.store.transaction() as tx:
        item = next(i for i in tx.outbox_of_letter(sent.process_id) if i.kind == ItemKind.LETTER)
    console.retry(hub.store, item.id, window=dt.timedelta(days=5), now=network.clock.now(), who="alice",
                  remote="127.0.0.1")
    network.deliver()
    assert outbound_status(origin, OCSC, sent.process_id) == "DELIVERED"
    call(network.node("moe-r15"), CHIANGMAI, PULL).ok()
    network.deliver()
    assert outbound_status(origin, OCSC, sent.process_id) == "PULLED"


def _status_message(network, *, reporter: str, signer_node: str, outcome: str, letter_process_id: str):
    """A status message the hub pushes to the origin, its DeliveryStatus naming ``reporter`` and signed by
    ``signer_node``'s key: what a hub that wanted to forge one could send."""
    from types import SimpleNamespace

    from gateway.core.network import status
    from gateway.pipeline import outbound
    hub = network.node("moe-hub")
    payload = outbound.delivery_status(status.DeliveryStatus(
        letter_process_id=letter_process_id, status=status.Status(outcome), at=network.clock.now(),
        node=reporter, organization=CHIANGMAI), network.node(signer_node).keyring.node_signer)
    row = SimpleNamespace(message_id=str(uuid.uuid4()), next_node="ocsc", sender_org=CHIANGMAI, receiver_org=OCSC,
                          kind="status", process_id=str(uuid.uuid4()), letter_process_id=letter_process_id,
                          path="[]", payload=payload)
    return _signed_message(hub, row, timestamp=network.clock.now())


def test_a_hub_cannot_report_a_pull_for_the_region(network):
    sent = send(network, "ocsc", OCSC, CHIANGMAI, "นร 1008/ว 33")
    network.deliver()
    origin = network.servers["ocsc"]
    own_name = _post(origin, _status_message(network, reporter="moe-hub", signer_node="moe-hub", outcome="pulled",
                                             letter_process_id=sent.process_id))
    assert own_name.status_code == 400 and b"<ErrorCode>4004</ErrorCode>" in own_name.content, own_name.text
    forged = _post(origin, _status_message(network, reporter="moe-r15", signer_node="moe-hub", outcome="pulled",
                                           letter_process_id=sent.process_id))
    assert forged.status_code == 400 and b"<ErrorCode>4004</ErrorCode>" in forged.content, forged.text
    assert outbound_status(origin.node, OCSC, sent.process_id) == "DELIVERED"
    with origin.node.store.transaction() as tx:
        assert tx.table_counts()["received"] == 0, "nothing of a refused report is stored"


# ------------------------------------------------ notifiers and withdrawals signed end to end

def test_a_hub_cannot_alter_or_invent_an_accept_notifier(network):
    """The receive number is the receiving organisation's word: a hub that changes it, or makes a notifier
    up, is refused at the origin and nothing is stored; the genuine notifier then goes through."""
    import dataclasses as dc
    from gateway.core.network import attestation
    from gateway.pipeline import outbound
    from types import SimpleNamespace
    letter_id = "นร 1008/ว 40"
    sent = send(network, "ocsc", OCSC, CHIANGMAI, letter_id)
    network.deliver()
    region, hub, origin = network.node("moe-r15"), network.node("moe-hub"), network.servers["ocsc"]
    call(region, CHIANGMAI, PULL).ok()
    call(region, CHIANGMAI, notifier_request("AcceptLetterNotifier", letter_id, accept_id="รับ 1234")).ok()
    for _ in range(3):                               # the pull's status, then the notifier: to the hub only
        region.worker.run_once()
    with hub.store.transaction() as tx:
        row = next(i for i in tx.outbox_of_letter(sent.process_id) if i.kind == ItemKind.NOTIFIER)
    assert row.attestation, "the region attested its notifier"
    altered = SimpleNamespace(**{**dc.asdict(row), "kind": row.kind.value,
                                 "payload": row.payload.replace("รับ 1234".encode(), "รับ 9999".encode())})
    answer = _post(origin, _signed_message_with(hub, altered, network.clock.now(), row.attestation))
    assert answer.status_code == 400 and b"<ErrorCode>4002</ErrorCode>" in answer.content, answer.text
    unattested = _post(origin, _signed_message_with(hub, altered, network.clock.now(), b""))
    assert unattested.status_code == 400 and b"<ErrorCode>4003</ErrorCode>" in unattested.content
    own = outbound.attestation(attestation.Attestation(
        organization=CHIANGMAI, kind="notifier", process_id=row.process_id, letter_process_id=row.letter_process_id,
        payload_digest=attestation.payload_digest(altered.payload)), hub.keyring.node_signer)
    invented = _post(origin, _signed_message_with(hub, altered, network.clock.now(), own))
    assert invented.status_code == 400 and b"<ErrorCode>4004</ErrorCode>" in invented.content
    assert outbound_status(origin.node, OCSC, sent.process_id) == "DELIVERED", "no forgery moved the letter"
    with origin.node.store.transaction() as tx:
        assert tx.table_counts()["notices"] == 0
    network.deliver()
    assert outbound_status(origin.node, OCSC, sent.process_id) == "ACCEPTED"
    note = call(origin.node, OCSC, PULL).ok()
    assert note.element.findtext("AcceptLetterNotifier/AcceptID") == "รับ 1234"


def _signed_message_with(node: app.Node, row, timestamp, attestation: bytes) -> bytes:
    message = signing.sign_document(nodemsg.build_message(NodeMessage(
        message_id=str(uuid.uuid4()), sender_node=node.config.node_id, receiver_node=row.next_node,
        sender_org=row.sender_org, receiver_org=row.receiver_org, timestamp=timestamp, kind=row.kind,
        process_id=row.process_id, letter_process_id=row.letter_process_id,
        path=nodemsg.path_from_json(row.path), payload=row.payload, attestation=attestation)),
        node.keyring.node_signer)
    carrier = etree.Element(f"{{{ns.NODE_CARRIER}}}DeliverRequest", nsmap={"c": ns.NODE_CARRIER})
    carrier.append(message)
    return envelope.wrap("1.1", etree.tostring(carrier, encoding="utf-8"))
