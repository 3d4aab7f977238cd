"""The delivery worker on moe-hub with a scripted peer: receipts, retries, refusals, the retry window."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from operations_support import HUB, R15, letter_row, node_url, org, outbox, signed_receipt, submit

from gateway.core import ns
from gateway.core.errors import DeliveryError
from gateway.core.network import nodemsg
from gateway.core.state import Delivery, ProcessStatus
from gateway.operations.delivery import Outcome
from gateway.testing.network import CENTRAL, CHIANGMAI
from gateway.testing.peer import FakePeer

SUBJECT = "แจ้งกำหนดการตรวจราชการ ภาคเรียนที่ 2"


@pytest.fixture
def peer():
    return FakePeer()


@pytest.fixture
def hub(make_node, peer):
    return make_node(HUB, peer=peer)


@pytest.fixture
def r15(make_node):
    """The receiving node: only its node key is used here, to sign receipts."""
    return make_node(R15)


def send_to_chiang_mai(hub, letter_id: str):
    sent = submit(hub, CENTRAL, CHIANGMAI, letter_id=letter_id, subject=SUBJECT)
    assert letter_row(hub, sent.process_id).delivery is Delivery.PENDING
    return sent


def status(hub) -> ProcessStatus:
    (row,) = hub.agency.outbound_status(org(hub, CENTRAL))
    return row.status


def test_a_verified_receipt_marks_the_item_and_the_letter_delivered(hub, r15, peer, clock):
    sent = send_to_chiang_mai(hub, "ศธ 0210/201")
    assert status(hub) is ProcessStatus.PENDING
    peer.add(lambda url, message: signed_receipt(r15, message, at=clock.now()))

    assert hub.worker.run_once() == Outcome(delivered=1)

    (url, message), = peer.sent
    assert url == node_url(hub, R15) == "http://127.0.0.1:18102/ecms-ws01/node"
    pushed = nodemsg.read_message(message)
    (item,) = outbox(hub, sent.process_id)
    assert (pushed.message_id, pushed.sender_node, pushed.receiver_node) == (item.message_id, HUB, R15)
    assert (pushed.sender_org, pushed.receiver_org, pushed.kind) == (CENTRAL, CHIANGMAI, "letter")
    assert (item.state, item.attempts, item.last_error) == ("delivered", 1, "")
    assert item.receipt_at == clock.now()
    kept = nodemsg.read_receipt(etree.fromstring(item.receipt))
    assert (kept.message_id, kept.payload_digest) == (item.message_id, nodemsg.digest(item.payload))
    assert etree.fromstring(item.receipt).find(ns.ds("Signature")) is not None, "the signed receipt is the proof"
    assert letter_row(hub, sent.process_id).delivery is Delivery.DELIVERED
    assert status(hub) is ProcessStatus.DELIVERED
    assert hub.worker.run_once() == Outcome(), "nothing is left to push"


def test_a_retryable_failure_schedules_the_next_attempt(hub, r15, peer, clock):
    sent = send_to_chiang_mai(hub, "ศธ 0210/202")
    peer.add(DeliveryError("cannot reach http://127.0.0.1:18102/ecms-ws01/node: ConnectionError", retryable=True))
    pushed_at = clock.now()

    assert hub.worker.run_once() == Outcome(retried=1)

    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts) == ("pending", 1)
    assert item.last_error.startswith("cannot reach")
    assert pushed_at < item.next_attempt_at <= pushed_at + hub.config.retry_first
    assert letter_row(hub, sent.process_id).delivery is Delivery.PENDING
    assert status(hub) is ProcessStatus.PENDING
    assert hub.worker.run_once() == Outcome() and len(peer.sent) == 1, "not due yet: not pushed again"

    clock.advance(item.next_attempt_at - clock.now())
    peer.add(lambda url, message: signed_receipt(r15, message, at=clock.now()))
    assert hub.worker.run_once() == Outcome(delivered=1)
    (first, _), (second, message) = peer.sent
    assert first == second and nodemsg.read_message(message).message_id == item.message_id, \
        "a retry keeps the MessageId"
    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts) == ("delivered", 2)
    assert letter_row(hub, sent.process_id).delivery is Delivery.DELIVERED


def test_a_definite_refusal_fails_the_item_at_once(hub, peer, clock):
    sent = send_to_chiang_mai(hub, "ศธ 0210/203")
    peer.add(DeliveryError("2001 the receiver organisation is not in the directory", retryable=False, code="2001"))

    assert hub.worker.run_once() == Outcome(failed=1)

    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts) == ("failed", 1)
    assert item.last_error.startswith("2001 ")
    assert letter_row(hub, sent.process_id).delivery is Delivery.FAILED
    assert status(hub) is ProcessStatus.FAILED
    clock.advance(dt.timedelta(hours=1))
    assert hub.worker.run_once() == Outcome() and len(peer.sent) == 1, "a failed item is never pushed again"


@pytest.mark.parametrize("case", ["signed by another node", "names another message"])
def test_a_receipt_that_does_not_verify_is_not_accepted(hub, r15, peer, clock, case):
    sent = send_to_chiang_mai(hub, "ศธ 0210/204")
    if case == "signed by another node":  # the hub's own key, not moe-r15's
        peer.add(lambda url, message: signed_receipt(hub, message, at=clock.now()))
    else:  # the right key, but a receipt for some other MessageId
        peer.add(lambda url, message: signed_receipt(r15, message, at=clock.now(), message_id="another-message"))

    assert hub.worker.run_once() == Outcome(retried=1)

    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts, item.receipt) == ("pending", 1, None)
    assert item.last_error.startswith("bad receipt")
    assert item.next_attempt_at > clock.now()
    assert letter_row(hub, sent.process_id).delivery is Delivery.PENDING


def test_the_retry_window_running_out_fails_the_item(make_node, clock):
    peer = FakePeer([DeliveryError("HTTP 503 from moe-r15", retryable=True)])
    hub = make_node(HUB, peer=peer, retry_window=dt.timedelta(minutes=10))
    sent = send_to_chiang_mai(hub, "ศธ 0210/205")
    assert hub.worker.run_once() == Outcome(retried=1)
    (item,) = outbox(hub, sent.process_id)
    assert item.deadline_at == item.created_at + dt.timedelta(minutes=10)

    clock.advance(dt.timedelta(minutes=11))
    assert hub.worker.run_once() == Outcome(failed=1)

    assert len(peer.sent) == 1, "past the window the item is failed, not pushed"
    (item,) = outbox(hub, sent.process_id)
    assert (item.state, item.attempts) == ("failed", 1)
    assert "HTTP 503" in item.last_error, "the last error is kept"
    assert letter_row(hub, sent.process_id).delivery is Delivery.FAILED
    assert status(hub) is ProcessStatus.FAILED


def test_the_fake_peer_refuses_an_unscripted_push(hub, peer):
    send_to_chiang_mai(hub, "ศธ 0210/206")
    with pytest.raises(LookupError, match="push #1 to http://127.0.0.1:18102/ecms-ws01/node"):
        hub.worker.run_once()
    with pytest.raises(DeliveryError) as snapshot:
        peer.directory_snapshot("http://127.0.0.1:18101/ecms-ws01/node")
    assert snapshot.value.retryable is True
    assert peer.snapshot_requests == ["http://127.0.0.1:18101/ecms-ws01/node"]
