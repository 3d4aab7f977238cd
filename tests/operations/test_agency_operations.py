"""Agency operations on one node (moe-r15, hosting Regional Office 15 and Chiang Mai): no HTTP, MemoryStore."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from operations_support import R15, letter_row, notify, org, submit

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.letters.letter import LetterIdentity, make_notifier
from gateway.core.records import SignedBy
from gateway.core.state import Delivery, Event, LetterState, ProcessStatus
from gateway.core.time import wire_time
from gateway.testing.network import CHIANGMAI, REGION15

DATE = "2026-11-26"
SUBJECT = "ขอเชิญประชุมคณะกรรมการศึกษาธิการจังหวัด"


@pytest.fixture
def r15(make_node):
    return make_node(R15)


def subject_of(element: bytes) -> str:
    root = etree.fromstring(element)
    return root.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}")


def status_of(node, sender: str):
    (status,) = node.agency.outbound_status(org(node, sender))
    return status


def test_a_letter_between_hosted_organisations_is_queued_pulled_and_deleted(r15, clock):
    sent = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/101", subject=SUBJECT)
    row = letter_row(r15, sent.process_id)
    assert (row.state, row.delivery, row.signed_by) == (LetterState.SENT, Delivery.DELIVERED, SignedBy.NODE.value)
    with r15.store.transaction() as tx:
        counts = tx.table_counts()
    assert counts["outbox"] == 0 and counts["queue"] == 1
    assert status_of(r15, REGION15).status is ProcessStatus.DELIVERED

    pulled = r15.agency.pull(org(r15, CHIANGMAI))
    assert pulled.process_id == sent.process_id
    assert pulled.process_time == wire_time(clock.now())
    assert subject_of(pulled.element) == SUBJECT
    assert r15.agency.pull(org(r15, CHIANGMAI)) is None, "a pulled item is invisible until it times out"
    assert r15.agency.pull(org(r15, REGION15)) is None, "the sender's queue holds nothing"
    assert status_of(r15, REGION15).status is ProcessStatus.PULLED

    clock.advance(dt.timedelta(seconds=30))
    deleted_at = r15.agency.delete(org(r15, CHIANGMAI), f"  {pulled.process_id} ")
    assert deleted_at == wire_time(clock.now())
    clock.advance(dt.timedelta(seconds=30))
    assert r15.agency.delete(org(r15, CHIANGMAI), pulled.process_id) == deleted_at, "deleting twice answers the same"
    clock.advance(r15.config.visibility_timeout * 2)
    assert r15.agency.pull(org(r15, CHIANGMAI)) is None, "a deleted item never comes back"


def test_delete_of_an_unknown_or_foreign_item_is_item_not_found(r15):
    sent = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/102", subject=SUBJECT)
    with pytest.raises(RemoteError) as unknown:
        r15.agency.delete(org(r15, CHIANGMAI), "no-such-process-id")
    assert unknown.value.code is ErrorCode.ITEM_NOT_FOUND and unknown.value.code.code == "3003"
    with pytest.raises(RemoteError) as foreign:  # the item is in Chiang Mai's queue, not the sender's
        r15.agency.delete(org(r15, REGION15), sent.process_id)
    assert foreign.value.code is ErrorCode.ITEM_NOT_FOUND


def test_a_resent_letter_answers_the_first_process_id_and_a_different_one_conflicts(r15, clock):
    first = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/103", subject=SUBJECT)
    clock.advance(dt.timedelta(minutes=5))
    again = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/103", subject=SUBJECT)
    assert again.process_id == first.process_id
    assert again.process_time == first.process_time, "the retry is answered with the first item's time"
    with r15.store.transaction() as tx:
        assert tx.table_counts()["letters"] == 1 and tx.table_counts()["queue"] == 1

    with pytest.raises(RemoteError) as conflict:
        submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/103", subject="เรื่องอื่นที่ใช้เลขเดียวกัน")
    assert conflict.value.code is ErrorCode.DUPLICATE_CONFLICT and conflict.value.code.code == "2005"


def test_notifiers_move_the_letter_and_reach_the_sender(r15):
    letter_id = "ศธ 0215/104"
    sent = submit(r15, REGION15, CHIANGMAI, letter_id=letter_id, subject=SUBJECT)
    receive = notify(r15, CHIANGMAI, make_notifier(Event.RECEIVE, letter_id=letter_id, correspondence_date=DATE,
                                                   subject="ได้รับหนังสือแล้ว"), "ReceiveLetterNotifier")
    assert letter_row(r15, sent.process_id).state is LetterState.RECEIVED
    assert status_of(r15, REGION15).status is ProcessStatus.RECEIVED

    accept_notifier = make_notifier(Event.ACCEPT, letter_id=letter_id, correspondence_date=DATE,
                                    subject="ลงทะเบียนรับแล้ว", accept_id="รับ 2569/77")
    accept = notify(r15, CHIANGMAI, accept_notifier, "AcceptLetterNotifier")
    row = letter_row(r15, sent.process_id)
    assert (row.state, row.accept_id) == (LetterState.ACCEPTED, "รับ 2569/77")
    status = status_of(r15, REGION15)
    assert (status.status, status.accept_id) == (ProcessStatus.ACCEPTED, "รับ 2569/77")
    assert notify(r15, CHIANGMAI, accept_notifier, "AcceptLetterNotifier").process_id == accept.process_id, \
        "a repeated notifier answers the first ProcessID"

    sender = org(r15, REGION15)
    first, second = r15.agency.pull(sender), r15.agency.pull(sender)
    assert [first.process_id, second.process_id] == [receive.process_id, accept.process_id]
    assert etree.fromstring(first.element).tag == "ReceiveLetterNotifier"
    accepted = etree.fromstring(second.element)
    assert (accepted.tag, accepted.findtext("AcceptID"), accepted.findtext("AcceptDepartment/Code")) == \
        ("AcceptLetterNotifier", "รับ 2569/77", CHIANGMAI)
    assert r15.agency.pull(sender) is None

    with pytest.raises(RemoteError) as late:
        notify(r15, CHIANGMAI, make_notifier(Event.REJECT, letter_id=letter_id, correspondence_date=DATE,
                                             subject="ส่งผิดหน่วยงาน"), "RejectLetterNotifier")
    assert late.value.code is ErrorCode.ILLEGAL_TRANSITION and late.value.code.code == "3002"
    assert letter_row(r15, sent.process_id).state is LetterState.ACCEPTED, "a refused notifier changes nothing"


def test_a_notifier_for_an_unknown_letter_is_letter_not_found(r15):
    with pytest.raises(RemoteError) as missing:
        notify(r15, CHIANGMAI, make_notifier(Event.RECEIVE, letter_id="ศธ 0215/999", correspondence_date=DATE,
                                             subject="ได้รับหนังสือแล้ว"), "ReceiveLetterNotifier")
    assert missing.value.code is ErrorCode.LETTER_NOT_FOUND and missing.value.code.code == "3001"


def test_the_visibility_timeout_serves_an_undeleted_item_again(r15, clock):
    sent = submit(r15, REGION15, CHIANGMAI, letter_id="ศธ 0215/105", subject=SUBJECT)
    receiver = org(r15, CHIANGMAI)
    assert r15.agency.pull(receiver).process_id == sent.process_id
    timeout = r15.config.visibility_timeout
    clock.advance(timeout - dt.timedelta(seconds=1))
    assert r15.agency.pull(receiver) is None, "still invisible one second before the timeout"
    clock.advance(dt.timedelta(seconds=2))
    again = r15.agency.pull(receiver)
    assert again.process_id == sent.process_id and subject_of(again.element) == SUBJECT
    with r15.store.transaction() as tx:
        item = tx.queue_item(org=CHIANGMAI, process_id=sent.process_id)
    assert item.pull_count == 2 and item.deleted_at is None
    assert item.visible_at == clock.now() + timeout


def test_the_sender_withdraws_a_rejected_letter_and_the_receiver_cannot_pull_it(r15, clock):
    letter_id = "ศธ 0215/106"
    sent = submit(r15, REGION15, CHIANGMAI, letter_id=letter_id, subject=SUBJECT)
    reference = LetterIdentity(letter_id=letter_id, correspondence_date=DATE, sender=REGION15, receiver=CHIANGMAI)
    with pytest.raises(RemoteError) as early:
        r15.agency.withdraw(org(r15, REGION15), reference)
    assert early.value.code is ErrorCode.ILLEGAL_TRANSITION, "only a rejected or invalid letter is withdrawn"

    notify(r15, CHIANGMAI, make_notifier(Event.REJECT, letter_id=letter_id, correspondence_date=DATE,
                                         subject="ส่งผิดหน่วยงาน"), "RejectLetterNotifier")
    assert letter_row(r15, sent.process_id).state is LetterState.REJECTED
    clock.advance(dt.timedelta(minutes=1))
    withdrawn_id, when = r15.agency.withdraw(org(r15, REGION15), reference)
    assert (withdrawn_id, when) == (letter_id, wire_time(clock.now()))
    assert letter_row(r15, sent.process_id).state is LetterState.WITHDRAWN
    assert status_of(r15, REGION15).status is ProcessStatus.WITHDRAWN
    assert r15.agency.pull(org(r15, CHIANGMAI)) is None, "the withdrawn letter left the receiver's queue"
    clock.advance(dt.timedelta(minutes=1))
    assert r15.agency.withdraw(org(r15, REGION15), reference) == (letter_id, when), "a retry answers the same"

    with pytest.raises(RemoteError) as foreign:
        r15.agency.withdraw(org(r15, CHIANGMAI), reference)
    assert foreign.value.code is ErrorCode.SENDER_MISMATCH and foreign.value.code.code == "2006"

    resent = submit(r15, REGION15, CHIANGMAI, letter_id=letter_id, subject="ขอเชิญประชุม (แก้ไขผู้รับ)")
    assert resent.process_id != sent.process_id, "after the withdrawal the number may be sent again"
    assert r15.agency.pull(org(r15, CHIANGMAI)).process_id == resent.process_id
