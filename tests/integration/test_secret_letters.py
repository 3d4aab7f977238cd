"""ลับ and ลับมาก letters cross the network sealed (docs/secret-letters.md), on every store.

The three nodes of the test network in this process, real HTTP and real signatures, as in
test_network.py; here Chiang Mai (at moe-r15) has an RSA certificate and ศธภ.15 (also at moe-r15)
an ECDSA one, so both key transports travel. สำนักงาน ก.พ. (at ocsc) reaches them only through the
hub moe-hub, which holds nothing it could read.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os

import pytest
from lxml import etree

from gateway.core import ns
from gateway.core.trust import sealing, signing
from gateway.testing.clock import FakeClock
from gateway.testing.network import CHIANGMAI, OCSC, REGION15, make_pki
from gateway.testing.wire import PULL, call, notifier_request, send_request, soap
from test_network import NODES, Network, _post, _signed_message, start_network, stop_network

SUBJECT = "ลับมาก รายงานผลการสอบสวนข้อเท็จจริง กรณีร้องเรียนการจัดซื้อจัดจ้าง"
LETTER_NO = "นร 1008/ลับ 12"


@pytest.fixture(scope="module")
def secret_pki(tmp_path_factory):
    issued = min(dt.datetime.now(dt.timezone.utc), FakeClock().now()) - dt.timedelta(days=1)
    return make_pki(tmp_path_factory.mktemp("secret-pki"), issued, rsa_orgs=frozenset({CHIANGMAI}))


def start(backend, request, tmp_path, net_pki, **origin) -> Network:
    """The network, with ``origin`` settings for the agency's node ocsc."""
    return start_network(backend, request, tmp_path, net_pki, {"ocsc": origin})


@pytest.fixture
def network(backend, request, tmp_path, secret_pki):
    net = start(backend, request, tmp_path, secret_pki)
    yield net
    stop_network(net)


def secret_letter(receiver: str, letter_no: str = LETTER_NO, secret: str = "003") -> tuple[bytes, bytes]:
    """A request sending a ลับมาก letter from สำนักงาน ก.พ., and its enclosure's bytes."""
    enclosure = b"%PDF-1.4\n% " + os.urandom(250_000)    # its base64 is past the parser's 262,144-character text limit
    return send_request(letter_id=letter_no, sender=OCSC, receiver=receiver, subject=SUBJECT, secret=secret,
                        main=base64.b64encode(enclosure).decode()), enclosure


def hub_outbox(net: Network, process_id: str):
    with net.node("moe-hub").store.transaction() as tx:
        return tx.outbox_of_letter(process_id)


@pytest.mark.parametrize("receiver", [CHIANGMAI, REGION15], ids=["rsa", "ecdsa"])
def test_a_secret_letter_crosses_the_hub_sealed_and_is_pulled_in_clear(network, receiver):
    body, enclosure = secret_letter(receiver)
    sent = call(network.node("ocsc"), OCSC, body).ok()
    network.deliver()
    (item,) = hub_outbox(network, sent.process_id)
    assert item.state == "delivered" and sealing.is_sealed(item.payload)
    text = base64.b64encode(enclosure)[:64]
    assert SUBJECT.encode() not in item.payload and text not in item.payload and enclosure[:200] not in item.payload
    assert network.counts("moe-hub")["letters"] == 0

    region = network.node("moe-r15")
    with region.store.transaction() as tx:
        row = tx.letter_by_process_id(sent.process_id)
        stored = tx.letter_document(row.id)
    assert row.subject == sealing.SEALED_SUBJECT and row.secret_code == "003" and row.signer_org == OCSC
    assert sealing.is_sealed(stored) and SUBJECT.encode() not in stored, "sealed at rest at the receiver too"

    pulled = call(region, receiver, PULL).ok()
    document = pulled.element.find(ns.rsm("GovernmentDocument"))
    assert document.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}") == SUBJECT
    main = pulled.root.find(f".//{{{ns.RAM}}}MainLetterBinaryObject")
    assert base64.b64decode(main.text) == enclosure
    verified = signing.verify_letter(document, trusted=region.keyring.trusted_for(OCSC),
                                     policy=signing.VerifyPolicy.modern(), now=network.clock.now())
    assert verified.signer_org == OCSC, "the sender's own signature, intact"
    network.deliver()
    status = call(network.node("ocsc"), OCSC, soap("<OutboundStatusRequest/>")).ok()
    assert status.element.findtext("Outbound/ProcessStatus") == "PULLED"


def test_the_notifiers_of_a_secret_letter_carry_no_subject_across_the_network(network):
    body, _ = secret_letter(CHIANGMAI, letter_no="นร 1008/ลับ 13")
    sent = call(network.node("ocsc"), OCSC, body).ok()
    network.deliver()
    region = network.node("moe-r15")
    call(region, CHIANGMAI, PULL).ok()
    call(region, CHIANGMAI, notifier_request("AcceptLetterNotifier", "นร 1008/ลับ 13", subject=SUBJECT,
                                             accept_id="รับ ลับ 5")).ok()
    network.deliver()
    items = hub_outbox(network, sent.process_id)
    assert [i.kind.value for i in items] == ["letter", "status", "notifier"]
    assert all(SUBJECT.encode() not in i.payload for i in items)
    origin = network.node("ocsc")
    note = call(origin, OCSC, PULL).ok()
    assert note.element.findtext("AcceptLetterNotifier/AcceptID") == "รับ ลับ 5"
    assert note.element.findtext("AcceptLetterNotifier/Subject") == sealing.SEALED_SUBJECT


def test_an_ordinary_letter_is_not_sealed(network):
    sent = call(network.node("ocsc"), OCSC, send_request(letter_id="นร 1008/ว 77", sender=OCSC, receiver=CHIANGMAI,
                                                        subject="ขอเชิญประชุม", secret="001")).ok()
    network.deliver()
    (item,) = hub_outbox(network, sent.process_id)
    assert not sealing.is_sealed(item.payload) and "ขอเชิญประชุม".encode() in item.payload


def test_a_hub_that_alters_the_ciphertext_is_refused_and_nothing_is_stored(network):
    body, _ = secret_letter(CHIANGMAI, letter_no="นร 1008/ลับ 14")
    sent = call(network.node("ocsc"), OCSC, body).ok()
    hub = network.node("moe-hub")
    network.servers["ocsc"].node.worker.run_once()       # the letter reaches the hub only
    (item,) = hub_outbox(network, sent.process_id)
    root = etree.fromstring(item.payload)
    value = root.find(f"{{{sealing.XENC}}}CipherData/{{{sealing.XENC}}}CipherValue")
    data = bytearray(base64.b64decode(value.text))
    data[100] ^= 0x01
    value.text = base64.b64encode(bytes(data)).decode()
    altered = _post(network.servers["moe-r15"], _signed_message(
        hub, dataclasses.replace(item, payload=etree.tostring(root)), timestamp=network.clock.now()))
    assert altered.status_code == 400 and b"<ErrorCode>4007</ErrorCode>" in altered.content
    assert b"NodeReceipt" not in altered.content
    assert network.counts("moe-r15")["letters"] == 0
    network.deliver()                                     # the genuine bytes still go through
    assert network.counts("moe-r15")["letters"] == 1


def test_the_policy_can_be_switched_off_at_the_origin(backend, request, tmp_path, secret_pki):
    net = start(backend, request, tmp_path, secret_pki, encrypt_secret=False)
    try:
        body, _ = secret_letter(CHIANGMAI, secret="002")
        sent = call(net.node("ocsc"), OCSC, body).ok()
        net.deliver()
        (item,) = hub_outbox(net, sent.process_id)
        assert not sealing.is_sealed(item.payload) and SUBJECT.encode() in item.payload
        with net.node("moe-r15").store.transaction() as tx:
            assert tx.letter_by_process_id(sent.process_id).subject == SUBJECT
        pulled = call(net.node("moe-r15"), CHIANGMAI, PULL).ok()
        assert pulled.element.find(ns.rsm("GovernmentDocument")) is not None
    finally:
        stop_network(net)


def test_the_hubs_evidence_names_only_the_ciphertexts_digest(network):
    body, _ = secret_letter(CHIANGMAI, letter_no="นร 1008/ลับ 15")
    sent = call(network.node("ocsc"), OCSC, body).ok()
    network.deliver()
    with network.node("moe-hub").store.transaction() as tx:
        entries = tx.evidence_of(sent.process_id)
    details = "".join(e.detail for e in entries)
    assert entries and SUBJECT not in details and LETTER_NO not in details


def test_a_proof_bundle_of_a_sealed_letter_holds_only_its_ciphertext(network):
    from gateway.core import proof
    from gateway.operations import proof as export_proof
    body, enclosure = secret_letter(CHIANGMAI, letter_no="นร 1008/ลับ 16")
    sent = call(network.node("ocsc"), OCSC, body).ok()
    network.deliver()
    region = network.node("moe-r15")
    bundle = export_proof.export(region.store, region.keyring, node_id="moe-r15", process_id=sent.process_id,
                                 now=network.clock.now())
    assert SUBJECT.encode() not in bundle and base64.b64encode(enclosure)[:64] not in bundle
    report = proof.verify(bundle, now=network.clock.now())
    assert report.ok, report.problems
    assert any("sealed to its receiver" in line for line in report.findings), report.findings
    origin = network.node("ocsc")      # the sender's own node keeps its letter in clear, and proves its content
    report = proof.verify(export_proof.export(origin.store, origin.keyring, node_id="ocsc",
                                              process_id=sent.process_id, now=network.clock.now()),
                          now=network.clock.now())
    assert report.ok and any(SUBJECT in line and "signature verifies" in line for line in report.findings), report


def test_the_evidence_log_verifies_on_every_node_after_a_secret_letter(network):
    from gateway.operations import evidence
    body, _ = secret_letter(CHIANGMAI, letter_no="นร 1008/ลับ 17")
    sent = call(network.node("ocsc"), OCSC, body).ok()
    network.deliver()
    call(network.node("moe-r15"), CHIANGMAI, PULL).ok()
    network.deliver()
    for name in NODES:
        node = network.node(name)
        evidence.checkpoint(node.store, node_id=name, signer=node.keyring.node_signer, now=network.clock.now())
        result = evidence.verify(node.store, node.keyring, node_id=name, now=network.clock.now())
        assert result.ok, (name, result.problems)
    with network.node("moe-r15").store.transaction() as tx:
        assert [e.event for e in tx.evidence_of(sent.process_id)][:2] == ["received-from-node", "stored"]
