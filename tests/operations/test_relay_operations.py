"""Two nodes in one process: moe-hub's worker pushes into moe-r15's node port through InProcessPeer (no socket)."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from lxml import etree
from operations_support import HUB, R15, letter_row, node_url, notify, org, outbox, submit

from gateway.core import ns
from gateway.core.errors import DeliveryError
from gateway.core.letters.letter import make_notifier
from gateway.core.network import nodemsg
from gateway.core.network.nodemsg import NodeMessage
from gateway.core.state import Delivery, Event, LetterState, ProcessStatus
from gateway.operations.delivery import Outcome
from gateway.pipeline import outbound
from gateway.testing.network import CENTRAL, CHIANGMAI
from gateway.testing.peer import FakePeer, InProcessPeer

SUBJECT = "ขอความร่วมมือรายงานผลการดำเนินงานโครงการโรงเรียนคุณภาพ"


@pytest.fixture
def apps():
    """URL -> WSGI app, filled once both nodes exist."""
    return {}


@pytest.fixture
def pair(make_node, apps):
    hub = make_node(HUB, peer=InProcessPeer(apps))
    r15 = make_node(R15, peer=InProcessPeer(apps))
    apps[node_url(hub, R15)] = r15.wsgi
    apps[node_url(r15, HUB)] = hub.wsgi
    return hub, r15


def received(node, sender_node: str, message_id: str):
    with node.store.transaction() as tx:
        return tx.received_message(sender_node=sender_node, message_id=message_id)


def repush(hub, row, at: dt.datetime, *, payload: bytes | None = None) -> etree._Element:
    """The outbox item signed anew with the same MessageId, as the worker retries it."""
    return outbound.node_message(NodeMessage(
        message_id=row.message_id, sender_node=HUB, receiver_node=R15, sender_org=row.sender_org,
        receiver_org=row.receiver_org, timestamp=at, kind=row.kind, process_id=row.process_id,
        letter_process_id=row.letter_process_id, path=nodemsg.path_from_json(row.path),
        payload=row.payload if payload is None else payload), hub.keyring.node_signer)


def test_a_letter_reaches_the_other_nodes_queue_and_its_receipt_is_kept(pair, clock):
    hub, r15 = pair
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/301", subject=SUBJECT)
    assert r15.agency.pull(org(r15, CHIANGMAI)) is None, "nothing arrives before the worker pushes"

    assert hub.worker.run_once() == Outcome(delivered=1)

    pulled = r15.agency.pull(org(r15, CHIANGMAI))
    assert pulled.process_id == sent.process_id, "one ProcessID on every node"
    document = etree.fromstring(pulled.element)
    assert document.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}") == SUBJECT
    there = letter_row(r15, sent.process_id)
    assert (there.state, there.delivery, there.signed_by, there.signer_org) == \
        (LetterState.SENT, Delivery.DELIVERED, "origin", CENTRAL)
    assert [hop["node"] for hop in json.loads(there.path)] == [HUB, R15]

    (item,) = outbox(hub, sent.process_id)
    assert item.state == "delivered"
    issued = received(r15, HUB, item.message_id)
    assert issued.process_id == sent.process_id and issued.payload_digest == nodemsg.digest(item.payload)
    assert item.receipt == issued.receipt, "the hub keeps the receipt moe-r15 issued, byte for byte"
    kept = nodemsg.read_receipt(etree.fromstring(item.receipt))
    assert (kept.sender_node, kept.receiver_node, kept.message_id) == (HUB, R15, item.message_id)
    assert letter_row(hub, sent.process_id).delivery is Delivery.DELIVERED
    (status,) = hub.agency.outbound_status(org(hub, CENTRAL))
    assert status.status is ProcessStatus.DELIVERED


def test_a_repeated_push_gets_the_original_receipt_byte_for_byte(make_node, apps, clock):
    """The answer to the first push is lost; the retry (same MessageId, new signature) gets the first receipt."""
    inproc = InProcessPeer(apps)
    first_answers: list[bytes] = []

    def lose_the_answer(url, message):
        first_answers.append(etree.tostring(inproc.deliver(url, message), encoding="utf-8"))
        raise DeliveryError(f"cannot reach {url}: ReadTimeout", retryable=True)

    hub = make_node(HUB, peer=FakePeer([lose_the_answer, inproc.deliver]))
    r15 = make_node(R15)
    apps[node_url(hub, R15)] = r15.wsgi
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/302", subject=SUBJECT)

    assert hub.worker.run_once() == Outcome(retried=1)
    (item,) = outbox(hub, sent.process_id)
    assert item.state == "pending" and item.receipt is None
    assert received(r15, HUB, item.message_id) is not None, "moe-r15 stored it; only its answer was lost"

    clock.advance(item.next_attempt_at - clock.now() + dt.timedelta(seconds=1))
    assert hub.worker.run_once() == Outcome(delivered=1)

    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts) == ("delivered", 2)
    assert item.receipt == first_answers[0] == received(r15, HUB, item.message_id).receipt, \
        "the first receipt, byte for byte"
    assert r15.relay.duplicates == 1
    with r15.store.transaction() as tx:
        counts = tx.table_counts()
    assert (counts["letters"], counts["queue"], counts["received"]) == (1, 1, 1), "stored once"
    assert r15.agency.pull(org(r15, CHIANGMAI)).process_id == sent.process_id


def test_the_receiver_answers_a_reused_message_id_with_a_replay_fault(pair, clock):
    hub, r15 = pair
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/303", subject=SUBJECT)
    assert hub.worker.run_once() == Outcome(delivered=1)
    (row,) = outbox(hub, sent.process_id)

    clock.advance(dt.timedelta(minutes=1))
    peer = InProcessPeer({node_url(hub, R15): r15.wsgi})
    repeat = peer.deliver(node_url(hub, R15), repush(hub, row, clock.now()))
    assert etree.tostring(repeat, encoding="utf-8") == row.receipt == received(r15, HUB, row.message_id).receipt
    assert r15.relay.duplicates == 1

    other = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/313", subject="อีกเรื่องหนึ่ง")
    (other_row,) = outbox(hub, other.process_id)
    with pytest.raises(DeliveryError) as replay:  # a valid letter, but under the first item's MessageId
        peer.deliver(node_url(hub, R15), repush(hub, row, clock.now(), payload=other_row.payload))
    assert (replay.value.code, replay.value.retryable) == ("4005", False)


def test_a_notifier_travels_back_and_moves_the_senders_letter(pair, clock):
    hub, r15 = pair
    letter_id = "ศธ 0210/304"
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id=letter_id, subject=SUBJECT)
    assert hub.worker.run_once() == Outcome(delivered=1)
    notifier = make_notifier(Event.ACCEPT, letter_id=letter_id, correspondence_date="2026-11-26",
                             subject="ลงทะเบียนรับแล้ว", accept_id="ชม 4410")
    accept = notify(r15, CHIANGMAI, notifier, "AcceptLetterNotifier")
    assert letter_row(r15, sent.process_id).state is LetterState.ACCEPTED
    assert hub.agency.pull(org(hub, CENTRAL)) is None, "not before moe-r15's worker pushes it"

    assert r15.worker.run_once() == Outcome(delivered=1)

    row = letter_row(hub, sent.process_id)
    assert (row.state, row.accept_id) == (LetterState.ACCEPTED, "ชม 4410")
    note = hub.agency.pull(org(hub, CENTRAL))
    assert note.process_id == accept.process_id
    element = etree.fromstring(note.element)
    assert (element.tag, element.findtext("AcceptID")) == ("AcceptLetterNotifier", "ชม 4410")
    (status,) = hub.agency.outbound_status(org(hub, CENTRAL))
    assert (status.status, status.accept_id) == (ProcessStatus.ACCEPTED, "ชม 4410")


def test_a_refused_message_is_a_final_delivery_error_and_nothing_is_stored(pair, clock):
    hub, r15 = pair
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/305", subject=SUBJECT)
    (row,) = outbox(hub, sent.process_id)
    message = repush(hub, row, clock.now())
    payload = message.find(ns.node("Payload"))
    payload.text = base64.b64encode(row.payload.replace(SUBJECT.encode(), "เรื่องที่ถูกแก้ไข".encode())).decode()

    with pytest.raises(DeliveryError) as refused:
        InProcessPeer({node_url(hub, R15): r15.wsgi}).deliver(node_url(hub, R15), message)
    assert (refused.value.code, refused.value.retryable) == ("4002", False)
    with r15.store.transaction() as tx:
        assert tx.table_counts()["received"] == 0 and tx.table_counts()["letters"] == 0


def test_an_unknown_url_cannot_be_reached_and_is_retried(make_node, clock):
    hub = make_node(HUB, peer=InProcessPeer({}))
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id="ศธ 0210/306", subject=SUBJECT)
    assert hub.worker.run_once() == Outcome(retried=1)
    (item,) = outbox(hub, sent.process_id)
    assert item.state == "pending" and item.last_error.startswith(f"cannot reach {node_url(hub, R15)}")


def test_a_node_that_is_no_directory_authority_refuses_the_snapshot(pair):
    hub, r15 = pair
    with pytest.raises(DeliveryError) as refused:
        InProcessPeer({node_url(r15, HUB): hub.wsgi}).directory_snapshot(node_url(r15, HUB))
    assert (refused.value.code, refused.value.retryable) == ("1005", False)


# ------------------------------------------------ how InProcessPeer reads answers

def app_answering(status: int, body: bytes, content_type: str = "text/xml; charset=utf-8"):
    seen = {}

    def app(environ, start_response):
        seen.update(environ, body=environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response(f"{status} X", [("Content-Type", content_type)])
        return [body]

    app.seen = seen
    return app


def fault(code: str | None) -> bytes:
    detail = "" if code is None else (f"<detail><ErrorDetail><ErrorCode>{code}</ErrorCode>"
                                      "<ErrorDescription>ข้อผิดพลาด</ErrorDescription></ErrorDetail></detail>")
    return (f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{ns.SOAP11_ENV}"><SOAP-ENV:Body><SOAP-ENV:Fault>'
            f"<faultcode>SOAP-ENV:Server</faultcode><faultstring>refused</faultstring>{detail}"
            "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>").encode()


URL = "https://peer.example.go.th:8443/ecms-ws01/node"
MESSAGE = etree.fromstring(f'<n:NodeMessage xmlns:n="{ns.NODE}"><n:MessageId>m-1</n:MessageId></n:NodeMessage>')


@pytest.mark.parametrize("status,body,code,retryable,text", [
    (500, fault("5001"), "5001", True, "5001 ข้อผิดพลาด"),
    (500, fault(None), "", True, "refused"),
    (400, fault("4004"), "4004", False, "4004 ข้อผิดพลาด"),
    (200, fault("2001"), "2001", False, "2001 ข้อผิดพลาด"),
    (503, b"Service Unavailable", "", True, "HTTP 503"),
    (502, b"<html><body>Bad Gateway</body></html>", "", True, "HTTP 502"),
    (429, b"slow down", "", True, "HTTP 429"),
    (404, b"not found", "", False, "HTTP 404"),
    (200, b"not xml at all", "", True, "unreadable answer"),
])
def test_answers_are_translated_as_the_zeep_adapter_does(status, body, code, retryable, text):
    with pytest.raises(DeliveryError) as error:
        InProcessPeer({URL: app_answering(status, body)}).deliver(URL, MESSAGE)
    assert (error.value.code, error.value.retryable) == (code, retryable)
    assert str(error.value).startswith(text)


def test_the_request_is_the_envelope_zeep_sends():
    app = app_answering(200, b"x")
    with pytest.raises(DeliveryError):
        InProcessPeer(lambda url: app if url == URL else None).deliver(URL, MESSAGE)
    seen = app.seen
    assert (seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["wsgi.url_scheme"], seen["REMOTE_ADDR"]) == \
        ("POST", "/ecms-ws01/node", "https", "127.0.0.1")
    assert (seen["CONTENT_TYPE"], seen["HTTP_SOAPACTION"]) == ("text/xml; charset=utf-8", f'"{ns.NODE}#Deliver"')
    assert seen["body"] == (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b'<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>'
        b'<ns0:DeliverRequest xmlns:ns0="urn:th:gov:egif:ecms:node:carrier:1">'
        b'<n:NodeMessage xmlns:n="urn:th:gov:egif:ecms:node:1"><n:MessageId>m-1</n:MessageId></n:NodeMessage>'
        b"</ns0:DeliverRequest></soap-env:Body></soap-env:Envelope>")
    assert MESSAGE.getparent() is None, "the caller's element is copied, not moved into the envelope"
