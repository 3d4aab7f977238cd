"""Hardening of the node port: what an outside attack run got through, each a documented client fault.

Each case pushes a message into moe-r15's node port (its WSGI app, through
InProcessPeer) and checks the fault code, that it is final (HTTP 400: the
sender must not retry a poison message for five days), that nothing was
stored, and that the node still accepts a genuine letter afterwards.
"""
from __future__ import annotations

import datetime as dt
import http.server
import threading
import uuid

import pytest
from lxml import etree
from operations_support import HUB, R15, node_url, outbox, submit

from gateway.adapters.peer import PeerClient
from gateway.core import ns
from gateway.core.errors import DeliveryError
from gateway.core.network import nodemsg
from gateway.core.network.nodemsg import NodeMessage
from gateway.core.trust import signing
from gateway.operations.delivery import Outcome
from gateway.pipeline import outbound
from gateway.testing.network import CENTRAL, CHIANGMAI
from gateway.testing.peer import InProcessPeer

SUBJECT = "ขอเชิญประชุมคณะทำงานด้านความมั่นคงปลอดภัยไซเบอร์"


@pytest.fixture
def pair(make_node):
    apps: dict = {}
    hub = make_node(HUB, peer=InProcessPeer(apps))
    r15 = make_node(R15, peer=InProcessPeer(apps))
    apps[node_url(hub, R15)] = r15.wsgi
    apps[node_url(r15, HUB)] = hub.wsgi
    return hub, r15


def counts(node) -> dict[str, int]:
    with node.store.transaction() as tx:
        return tx.table_counts()


def pending_letter(hub, letter_id: str):
    """A letter the hub holds for moe-r15, not yet pushed: its outbox row."""
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id=letter_id, subject=SUBJECT)
    (row,) = outbox(hub, sent.process_id)
    return row


def message(hub, row, *, at: dt.datetime, **changes) -> NodeMessage:
    fields = dict(message_id=row.message_id, sender_node=HUB, receiver_node=R15, sender_org=row.sender_org,
                  receiver_org=row.receiver_org, timestamp=at, kind=row.kind, process_id=row.process_id,
                  letter_process_id=row.letter_process_id, path=nodemsg.path_from_json(row.path), payload=row.payload)
    return NodeMessage(**{**fields, **changes})


def refused(hub, r15, element: etree._Element, code: str) -> DeliveryError:
    before = counts(r15)
    with pytest.raises(DeliveryError) as caught:
        InProcessPeer({node_url(hub, R15): r15.wsgi}).deliver(node_url(hub, R15), element)
    assert (caught.value.code, caught.value.retryable) == (code, False), str(caught.value)
    assert counts(r15) == before, "nothing of a refused message is stored"
    return caught.value


def still_serves(hub, r15) -> None:
    row = pending_letter(hub, f"ศธ 0210/{uuid.uuid4().int % 100000:05d}")
    assert hub.worker.run_once().delivered >= 1
    with r15.store.transaction() as tx:
        assert tx.letter_by_process_id(row.process_id) is not None


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00",
                                   "9999-12-31T23:59:59+14:00"])
def test_a_timestamp_at_the_end_of_the_calendar_is_a_client_fault(pair, clock, stamp):
    hub, r15 = pair
    row = pending_letter(hub, "ศธ 0210/501")
    document = nodemsg.build_message(message(hub, row, at=clock.now()))
    document.find(ns.node("Timestamp")).text = stamp
    error = refused(hub, r15, signing.sign_document(document, hub.keyring.node_signer), "2007")
    assert stamp in str(error)
    still_serves(hub, r15)


def test_a_known_process_id_reused_for_other_content_is_refused_not_retried(pair, clock):
    hub, r15 = pair
    first = pending_letter(hub, "ศธ 0210/502")
    assert hub.worker.run_once() == Outcome(delivered=1)
    other = pending_letter(hub, "ศธ 0210/503")
    # A new MessageId, but the ProcessID of the letter r15 already stores, for another letter's payload.
    reused = message(hub, other, at=clock.now(), message_id=str(uuid.uuid4()), process_id=first.process_id,
                     letter_process_id=first.process_id)
    error = refused(hub, r15, outbound.node_message(reused, hub.keyring.node_signer), "4005")
    assert first.process_id in str(error)
    still_serves(hub, r15)


def test_a_receipt_with_a_doctype_is_not_a_receipt(pair, clock, tmp_path):
    """The peer adapter reads answers with the hardened parser: a DOCTYPE naming an external DTD is refused
    (nothing is fetched) and the push is retried later, not recorded as delivered."""
    hub, r15 = pair
    row = pending_letter(hub, "ศธ 0210/504")
    signed = outbound.node_message(message(hub, row, at=clock.now()), hub.keyring.node_signer)
    answer = (b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
              b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>')
    fetched = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's interface
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self):  # noqa: N802 - a fetched DTD would arrive here
            fetched.append(self.path)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = PeerClient(timeout=dt.timedelta(seconds=5))
        with pytest.raises(DeliveryError) as caught:
            client.deliver(f"http://127.0.0.1:{server.server_port}/ecms-ws01/node", signed)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert caught.value.retryable and caught.value.code == "1002", str(caught.value)
    assert fetched == []


def test_a_node_cannot_speak_for_an_organisation_it_does_not_serve(pair, clock):
    """The hub's genuine node signature on a notifier that claims to come from Chiang Mai, which moe-r15
    hosts itself: a node may send only for organisations it hosts or routes (4004), and nothing is kept
    or forwarded."""
    hub, r15 = pair
    row = pending_letter(hub, "ศธ 0210/505")
    element = f"<ReceiveLetterNotifier><LetterID>ศธ 0210/505</LetterID><CorrespondenceDate>2026-11-26" \
              f"</CorrespondenceDate><Subject>รับแล้ว</Subject></ReceiveLetterNotifier>".encode()
    forged = message(hub, row, at=clock.now(), message_id=str(uuid.uuid4()), kind="notifier",
                     process_id=str(uuid.uuid4()), sender_org=CHIANGMAI, receiver_org=CENTRAL, payload=element)
    error = refused(hub, r15, outbound.node_message(forged, hub.keyring.node_signer), "4004")
    assert CHIANGMAI in str(error)
    still_serves(hub, r15)


def test_a_forwarded_letter_whose_own_signature_fails_is_refused_though_the_hop_signature_holds(pair, clock):
    """End-to-end integrity through hubs: the hub signs the hop correctly, but the letter it carries was
    altered after its origin signed it (the subject changed). The receiving node verifies the letter's
    own signature (4002), keeps nothing and issues no receipt."""
    hub, r15 = pair
    row = pending_letter(hub, "ศธ 0210/506")
    tampered = row.payload.replace(SUBJECT.encode(), "โปรดโอนเงินงบประมาณด่วนที่สุด".encode())
    assert tampered != row.payload
    element = outbound.node_message(message(hub, row, at=clock.now(), payload=tampered), hub.keyring.node_signer)
    refused(hub, r15, element, "4002")
    with r15.store.transaction() as tx:
        assert tx.received_message(sender_node=HUB, message_id=row.message_id) is None, "no receipt was issued"
    still_serves(hub, r15)
