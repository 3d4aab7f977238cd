"""The web console's store methods (store/console.py), on memory, SQLite and PostgreSQL.

Accounts, sessions and the audit log; the failed and retrying outbox items and an
operator's retry or abandonment of one (compare-and-set: an item a worker holds is
refused); the dashboard's delivery times and unregistered letters; the letter search
(Thai subjects found by any part of them, the trigram indexes and the LIKE fallback
for text shorter than three characters) and a letter's timeline rows.
"""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from gateway.core.errors import ConflictError
from gateway.core.state import Delivery, Event, LetterState, OutboxState
from gateway.core.time import BANGKOK
from gateway.store import iter_statements, migrations
from gateway.store.sqlite import SqliteStore

CENTRAL, REGION15, CHIANGMAI, LAMPHUN = "2000100000", "2000215000", "2000350000", "2000510000"
NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=BANGKOK)        # 2 ธันวาคม 2569, 09:30 Bangkok time
HOUR, DAY, MINUTE = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(minutes=1)
MEETING = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"


def add(tx, n: int, *, subject: str = MEETING, letter_no: str | None = None, sender: str = REGION15,
        receiver: str = CHIANGMAI, at: dt.datetime = NOW, state: LetterState = LetterState.SENT,
        delivery: Delivery = Delivery.DELIVERED) -> int:
    return tx.insert_letter(process_id=f"p{n:03}", sender_org=sender, receiver_org=receiver,
                            letter_no=letter_no or f"ศธ 0215/{n}", corr_date="2026-12-02", subject=subject,
                            secret_code="001", speed_code="001", digest=f"d{n}", signed=True, state=state,
                            delivery=delivery, raw=b"raw", document="<หนังสือ/>".encode(), now=at)


def push(tx, n: int, *, at: dt.datetime = NOW) -> int:
    """An outbox item (a letter of its own to the hub); its id."""
    message_id = f"m{n:03}"
    tx.insert_outbox(message_id=message_id, kind="letter", process_id=f"p{n:03}", letter_process_id=f"p{n:03}",
                     sender_org=REGION15, receiver_org=CENTRAL, next_node="moe-hub", path="[]", payload=b"<m/>",
                     now=at, deadline=at + 5 * DAY)
    return tx.outbox_by_message_id(message_id).id


def lease(tx, *, at: dt.datetime = NOW, token: str = "worker-1") -> list[int]:
    return [row.id for row in tx.claim_outbox(now=at, until=at + 10 * MINUTE, token=token, limit=100)]


# ---------------------------------------------------------------- accounts
def test_accounts_are_unique_by_username_and_listed_by_it(store):
    with store.transaction() as tx:
        somsri = tx.insert_account(username="somsri", display_name="สมศรี รักงาน", password_hash="h-somsri",
                                   role="auditor", now=NOW)
        somchai = tx.insert_account(username="somchai", display_name="สมชาย ใจดี", password_hash="h-somchai",
                                    role="operator", now=NOW + MINUTE)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.insert_account(username="somchai", display_name="สมชาย อีกคน", password_hash="x", role="operator",
                              now=NOW)
    with store.transaction() as tx:
        accounts = tx.accounts()
        found = tx.account("somchai")
        assert tx.account("manee") is None
        assert tx.set_account_password(username="somsri", password_hash="h-new") is True
        assert tx.set_account_password(username="manee", password_hash="h-new") is False
        assert tx.set_account_disabled(username="manee", disabled=True) is False
    assert [(a.username, a.id) for a in accounts] == [("somchai", somchai), ("somsri", somsri)]
    assert (found.display_name, found.role, found.disabled, found.created_at) == (
        "สมชาย ใจดี", "operator", False, NOW + MINUTE)
    with store.transaction() as tx:
        assert tx.account("somsri").password_hash == "h-new"
        assert tx.account("somchai").password_hash == "h-somchai"


def test_a_role_is_operator_or_auditor(store):
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.insert_account(username="manee", display_name="มานี", password_hash="h", role="admin", now=NOW)
    with store.transaction() as tx:
        assert tx.accounts() == []


# ---------------------------------------------------------------- sessions
def test_a_session_counts_until_it_expires_and_only_while_its_account_is_enabled(store):
    with store.transaction() as tx:
        somchai = tx.insert_account(username="somchai", display_name="สมชาย ใจดี", password_hash="h",
                                    role="operator", now=NOW)
        somsri = tx.insert_account(username="somsri", display_name="สมศรี", password_hash="h", role="auditor",
                                   now=NOW)
        tx.insert_session(token_hash="t-somchai", account_id=somchai, csrf_token="c1", now=NOW, expires=NOW + HOUR)
        tx.insert_session(token_hash="t-somchai-2", account_id=somchai, csrf_token="c2", now=NOW, expires=NOW + HOUR)
        tx.insert_session(token_hash="t-somsri", account_id=somsri, csrf_token="c3", now=NOW, expires=NOW + HOUR)
    with store.transaction() as tx:
        session = tx.session("t-somchai", now=NOW + HOUR - MINUTE)
        assert tx.session("t-somchai", now=NOW + HOUR) is None, "expired at its expiry"
        assert tx.session("t-nobody", now=NOW) is None
    assert (session.account_id, session.username, session.display_name, session.role, session.csrf_token,
            session.created_at, session.expires_at) == (somchai, "somchai", "สมชาย ใจดี", "operator", "c1", NOW,
                                                        NOW + HOUR)
    with store.transaction() as tx:
        assert tx.set_account_disabled(username="somchai", disabled=True) is True
        assert tx.session("t-somchai", now=NOW) is None and tx.session("t-somchai-2", now=NOW) is None
        assert tx.account("somchai").disabled is True
    with store.transaction() as tx:
        assert tx.set_account_disabled(username="somchai", disabled=False) is True
        assert tx.account("somchai").disabled is False
        assert tx.session("t-somchai", now=NOW) is None, "disabling ended its sessions for good"
        assert tx.session("t-somsri", now=NOW).username == "somsri", "someone else's session stays"


def test_sessions_are_deleted_one_by_one_or_when_expired(store):
    with store.transaction() as tx:
        somchai = tx.insert_account(username="somchai", display_name="สมชาย", password_hash="h", role="operator",
                                    now=NOW)
        for n, expires in enumerate((NOW, NOW + MINUTE, NOW + HOUR, NOW + DAY)):
            tx.insert_session(token_hash=f"t{n}", account_id=somchai, csrf_token=f"c{n}", now=NOW - DAY,
                              expires=expires)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.insert_session(token_hash="t0", account_id=somchai, csrf_token="again", now=NOW, expires=NOW + DAY)
    with store.transaction() as tx:
        assert tx.delete_session("t3") is True and tx.delete_session("t3") is False
        assert tx.delete_expired_sessions(NOW + MINUTE) == 2
        assert tx.delete_expired_sessions(NOW + MINUTE) == 0
        assert [t for t in ("t0", "t1", "t2", "t3") if tx.session(t, now=NOW)] == ["t2"]


# --------------------------------------------------------------- audit log
def test_the_audit_log_is_newest_first_and_pages_by_id(store):
    with store.transaction() as tx:
        ids = [tx.insert_audit(now=NOW + n * MINUTE, username="somchai", action=action, target=target,
                               detail=detail, remote_addr="10.15.0.7")
               for n, (action, target, detail) in enumerate((
                   ("login", "", ""), ("retry", "outbox/7", "ส่งใหม่"), ("abandon", "outbox/8", "ปลายทางปิดระบบ"),
                   ("export", "register-receive-2000350000-2569.csv", ""), ("logout", "", "")))]
    with store.transaction() as tx:
        first = tx.audit_log(limit=2)
        second = tx.audit_log(limit=2, before_id=first[-1].id)
        last = tx.audit_log(limit=10, before_id=second[-1].id)
        assert tx.audit_log(limit=10, before_id=ids[0]) == []
    assert [e.action for e in first + second + last] == ["logout", "export", "abandon", "retry", "login"]
    assert [e.id for e in first + second + last] == ids[::-1]
    entry = second[0]
    assert (entry.at, entry.username, entry.target, entry.detail, entry.remote_addr) == (
        NOW + 2 * MINUTE, "somchai", "outbox/8", "ปลายทางปิดระบบ", "10.15.0.7")


# -------------------------------------------------------------- deliveries
def test_failed_items_newest_first_and_retrying_ones_the_next_due_first(store):
    with store.transaction() as tx:
        items = [push(tx, n, at=NOW + n * MINUTE) for n in range(1, 6)]
        delivered = push(tx, 6)
    with store.transaction() as tx:
        assert sorted(lease(tx, at=NOW + HOUR)) == items + [delivered]
        tx.outbox_failed(items[0], error="ปลายทางปฏิเสธ: ไม่รู้จักหน่วยงาน", now=NOW + HOUR)
        tx.outbox_failed(items[1], error="ลายมือชื่อไม่ถูกต้อง", now=NOW + HOUR)
        tx.outbox_retry(items[2], token="worker-1", next_at=NOW + 3 * HOUR, error="หมดเวลารอ")
        tx.outbox_retry(items[3], token="worker-1", next_at=NOW + 2 * HOUR, error="เชื่อมต่อไม่ได้")
        tx.outbox_retry(items[4], token="worker-1", next_at=NOW + 2 * HOUR, error="")
        tx.outbox_delivered(delivered, receipt=b"<receipt/>", now=NOW + HOUR)
    with store.transaction() as tx:
        failed = tx.failed_outbox(limit=10)
        retrying = tx.retrying_outbox(limit=10)
        assert [r.id for r in tx.failed_outbox(limit=1)] == [items[1]]
        assert tx.outbox_abandon(items[1], now=NOW + 2 * HOUR, by="somchai") is True
        assert [r.id for r in tx.failed_outbox(limit=10)] == [items[0]], "an abandoned item leaves the list"
    assert [(r.id, r.state, r.last_error) for r in failed] == [
        (items[1], OutboxState.FAILED, "ลายมือชื่อไม่ถูกต้อง"),
        (items[0], OutboxState.FAILED, "ปลายทางปฏิเสธ: ไม่รู้จักหน่วยงาน")]
    assert [(r.id, r.last_error) for r in retrying] == [(items[3], "เชื่อมต่อไม่ได้"), (items[2], "หมดเวลารอ")]
    assert failed[0].abandoned_at is None and failed[0].abandoned_by == ""


def test_retry_now_takes_a_failed_item_or_a_free_pending_one_and_never_a_leased_one(store):
    with store.transaction() as tx:
        failed, leased, free, delivered = (push(tx, n) for n in range(1, 5))
        lease(tx, at=NOW)
        tx.outbox_failed(failed, error="ปลายทางปฏิเสธ", now=NOW + MINUTE)
        tx.outbox_retry(free, token="worker-1", next_at=NOW + HOUR, error="หมดเวลารอ")
        tx.outbox_delivered(delivered, receipt=b"<receipt/>", now=NOW + MINUTE)
    later = NOW + 2 * MINUTE                  # the lease of `leased` runs until NOW + 10 minutes
    deadline = later + 5 * DAY
    with store.transaction() as tx:
        assert tx.outbox_retry_now(leased, now=later, deadline=deadline) is False, "a worker is pushing it"
        assert tx.outbox_retry_now(delivered, now=later, deadline=deadline) is False
        assert tx.outbox_retry_now(9999, now=later, deadline=deadline) is False
        assert tx.outbox_retry_now(failed, now=later, deadline=deadline) is True
        assert tx.outbox_retry_now(free, now=later, deadline=deadline) is True
        assert tx.outbox_retry_now(leased, now=NOW + 10 * MINUTE, deadline=deadline) is True, "its lease ran out"
    with store.transaction() as tx:
        again = tx.outbox_item(failed)
        untouched = tx.outbox_item(delivered)
        claimed = set(lease(tx, at=later, token="worker-2"))
    assert (again.state, again.next_attempt_at, again.deadline_at, again.finished_at, again.last_error) == (
        OutboxState.PENDING, later, deadline, None, "ปลายทางปฏิเสธ")
    assert untouched.state is OutboxState.DELIVERED and untouched.deadline_at == NOW + 5 * DAY
    assert claimed == {failed, free}, "due at once (the third is due from the lease's end)"


def test_abandon_takes_a_failed_item_once_or_a_free_pending_one_and_never_a_leased_one(store):
    with store.transaction() as tx:
        failed, leased, free, delivered = (push(tx, n) for n in range(1, 5))
        lease(tx, at=NOW)
        tx.outbox_failed(failed, error="ปลายทางปฏิเสธ", now=NOW + MINUTE)
        tx.outbox_retry(free, token="worker-1", next_at=NOW + HOUR, error="")
        tx.outbox_delivered(delivered, receipt=b"<receipt/>", now=NOW + MINUTE)
    later = NOW + 2 * MINUTE
    with store.transaction() as tx:
        assert tx.outbox_abandon(leased, now=later, by="somchai") is False, "a worker is pushing it"
        assert tx.outbox_abandon(delivered, now=later, by="somchai") is False
        assert tx.outbox_abandon(9999, now=later, by="somchai") is False
        assert tx.outbox_abandon(failed, now=later, by="somchai") is True
        assert tx.outbox_abandon(failed, now=later + MINUTE, by="somsri") is False, "abandoned already"
        assert tx.outbox_abandon(free, now=later, by="somsri") is True
    with store.transaction() as tx:
        gave_up, pending_gave_up, still_leased = (tx.outbox_item(i) for i in (failed, free, leased))
        assert lease(tx, at=NOW + DAY, token="worker-2") == [leased], "abandoned items are never pushed again"
    assert (gave_up.state, gave_up.finished_at, gave_up.abandoned_at, gave_up.abandoned_by, gave_up.last_error) == (
        OutboxState.FAILED, NOW + MINUTE, later, "somchai", "ปลายทางปฏิเสธ"), "its failure time and error are kept"
    assert (pending_gave_up.state, pending_gave_up.finished_at, pending_gave_up.abandoned_by,
            pending_gave_up.last_error) == (OutboxState.FAILED, later, "somsri", "abandoned by somsri")
    assert still_leased.state is OutboxState.PENDING and still_leased.abandoned_at is None
    with store.transaction() as tx:
        assert tx.outbox_retry_now(failed, now=later, deadline=later + DAY) is True, "retried after all"
        back = tx.outbox_item(failed)
    assert (back.state, back.abandoned_at, back.abandoned_by) == (OutboxState.PENDING, None, "")


def test_delivery_latencies_are_the_seconds_to_each_receipt_since_a_time(store):
    with store.transaction() as tx:
        fast, slow, old, failed, pending = (push(tx, n, at=NOW - DAY + n * MINUTE) for n in range(1, 6))
        lease(tx, at=NOW)
        tx.outbox_delivered(slow, receipt=b"<r/>", now=NOW + 5 * MINUTE)
        tx.outbox_delivered(fast, receipt=b"<r/>", now=NOW + 2 * MINUTE)
        tx.outbox_delivered(old, receipt=b"<r/>", now=NOW - HOUR)
        tx.outbox_failed(failed, error="ปฏิเสธ", now=NOW)
    with store.transaction() as tx:
        latencies = tx.delivery_latencies(since=NOW)
        assert len(tx.delivery_latencies(since=NOW - DAY)) == 3
        assert tx.delivery_latencies(since=NOW + HOUR) == []
    created = {fast: NOW - DAY + MINUTE, slow: NOW - DAY + 2 * MINUTE}
    assert latencies == [(NOW + 2 * MINUTE, (NOW + 2 * MINUTE - created[fast]).total_seconds()),
                         (NOW + 5 * MINUTE, (NOW + 5 * MINUTE - created[slow]).total_seconds())]
    assert all(isinstance(seconds, float) for _, seconds in latencies)


# ----------------------------------------------------------------- letters
def test_unregistered_letters_are_delivered_and_neither_answered_nor_new(store):
    with store.transaction() as tx:
        sent = add(tx, 1, at=NOW - 3 * DAY)
        received = add(tx, 2, at=NOW - 4 * DAY)
        tx.set_letter_state(letter_id=received, expected=LetterState.SENT, new=LetterState.RECEIVED, accept_id="",
                            now=NOW - 3 * DAY)
        accepted = add(tx, 3, at=NOW - 5 * DAY)
        tx.set_letter_state(letter_id=accepted, expected=LetterState.SENT, new=LetterState.ACCEPTED, accept_id="12",
                            now=NOW - 4 * DAY)
        add(tx, 4, at=NOW - 5 * DAY, delivery=Delivery.PENDING)          # not in the receiver's queue yet
        add(tx, 5, at=NOW - 6 * DAY, delivery=Delivery.FAILED)
        add(tx, 6, at=NOW - HOUR)                                        # too new to be overdue
    with store.transaction() as tx:
        overdue = tx.unregistered_letters(before=NOW - DAY, limit=10)
        assert [r.id for r in tx.unregistered_letters(before=NOW - DAY, limit=1)] == [received]
    assert [r.id for r in overdue] == [received, sent], "oldest first"


def search(store, text: str = "", *, letter_no: str = "", org: str = "", since=None, until=None,
           limit: int = 50) -> list[str]:
    with store.transaction() as tx:
        return [r.process_id for r in tx.search_letters(text=text, letter_no=letter_no, org=org, since=since,
                                                         until=until, limit=limit)]


@pytest.fixture
def letters(store):
    """Letters with Thai subjects, stored a day apart (p001 the oldest)."""
    with store.transaction() as tx:
        add(tx, 1, subject=MEETING, letter_no="ศธ ๐๒๑๕/๑๒๓", at=NOW - 4 * DAY)
        add(tx, 2, subject="ขอส่งรายงานผลการประเมินครู ประจำปี ๒๕๖๙", letter_no="ศธ 0215/456", at=NOW - 3 * DAY,
            sender=CHIANGMAI, receiver=LAMPHUN)
        add(tx, 3, subject="ขอความอนุเคราะห์ประชาสัมพันธ์ 100% ออนไลน์", letter_no="ชม 0017/9", at=NOW - 2 * DAY,
            sender=LAMPHUN, receiver=REGION15)
        add(tx, 4, subject="แจ้งเปลี่ยนแปลง e_Saraban ของ Budget OFFICE", letter_no="ศธ 0215/ว 77", at=NOW - DAY)
        add(tx, 5, subject="ขอเชิญประชุมผู้บริหารระดับเขต", letter_no="ศธ 0215/124", at=NOW, sender=CENTRAL,
            receiver=LAMPHUN)
    return store


def test_a_thai_subject_is_found_by_any_part_of_it_newest_first(letters):
    assert search(letters, "ผู้บริหาร") == ["p005", "p001"]
    assert search(letters, "ประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙") == ["p001"]
    assert search(letters, "ครั้งที่ ๑/") == ["p001"]
    assert search(letters, "ผู้บริหาร", limit=1) == ["p005"]
    assert search(letters, "ผู้บริหารโรงเรียน") == []
    assert search(letters) == ["p005", "p004", "p003", "p002", "p001"], "no text: every letter"


def test_text_shorter_than_a_trigram_is_matched_over_the_subjects(letters):
    assert search(letters, "ปร") == ["p005", "p003", "p002", "p001"]
    assert search(letters, "ครู") == ["p002"], "three characters: the index"
    assert search(letters, "e_") == ["p004"]
    assert search(letters, "%") == ["p003"]
    assert search(letters, "_") == ["p004"]


def test_like_wildcards_and_quotes_in_the_text_are_literal(letters):
    assert search(letters, "100%") == ["p003"]
    assert search(letters, "0% อ") == ["p003"]
    assert search(letters, "%ออนไลน์") == []
    assert search(letters, "e_Saraban") == ["p004"]
    assert search(letters, "e%Saraban") == [] and search(letters, "eXSaraban") == []
    assert search(letters, "ขอ_ส่ง") == [] and search(letters, "ขอ%ส่ง") == []
    assert search(letters, '"ผู้บริหาร"') == [] and search(letters, "ผู้บริหาร OR ครู") == []
    assert search(letters, "\\") == [] and search(letters, "ผู้\\บริหาร") == []


def test_ascii_letters_in_a_subject_match_in_any_case(letters):
    assert search(letters, "budget office") == ["p004"]
    assert search(letters, "E_SARABAN") == ["p004"]
    assert search(letters, "oF") == ["p004"]


def test_the_letter_number_is_found_by_part_of_it_as_written_or_in_either_digits(letters):
    assert search(letters, letter_no="0215/12") == ["p005", "p001"], "Thai digits found by ASCII ones"
    assert search(letters, letter_no="๐๒๑๕/๔๕") == ["p002"], "and the other way round"
    assert search(letters, letter_no="ชม") == ["p003"]
    assert search(letters, letter_no="/ว 77") == ["p004"]
    assert search(letters, letter_no="0215/%") == [] and search(letters, letter_no="0215_") == []
    assert search(letters, "ผู้บริหาร", letter_no="๑๒๓") == ["p001"]


def test_an_organisation_finds_what_it_sent_and_received(letters):
    assert search(letters, org=LAMPHUN) == ["p005", "p003", "p002"]
    assert search(letters, "ผู้บริหาร", org=LAMPHUN) == ["p005"]
    assert search(letters, "ปร", org=CHIANGMAI) == ["p002", "p001"]
    assert search(letters, org="0000000000") == []


def test_a_date_range_includes_its_start_and_excludes_its_end(letters):
    assert search(letters, since=NOW - 3 * DAY, until=NOW - DAY) == ["p003", "p002"]
    assert search(letters, since=NOW - DAY) == ["p005", "p004"]
    assert search(letters, until=NOW - 3 * DAY) == ["p001"]
    assert search(letters, "ผู้บริหาร", since=NOW - 4 * DAY, until=NOW) == ["p001"]
    assert search(letters, "ปร", since=NOW - 2 * DAY, until=NOW + MINUTE) == ["p005", "p003"]


def test_a_purged_letter_is_found_no_more_and_a_new_one_at_once(letters):
    with letters.transaction() as tx:
        tx.purge_letter(tx.letter_by_process_id("p001"))
        add(tx, 6, subject="ขอเชิญประชุมผู้บริหารครั้งพิเศษ", at=NOW + MINUTE)
    assert search(letters, "ผู้บริหาร") == ["p006", "p005"]
    assert search(letters, "๒๕๖๙") == ["p002"]


def test_a_letters_notices_queue_items_and_received_messages(store):
    with store.transaction() as tx:
        lid = add(tx, 1)
        other = add(tx, 2)
        tx.enqueue(org=CHIANGMAI, process_id="p001", item_kind="letter", letter_id=lid, notice_id=None, now=NOW)
        tx.enqueue(org=CHIANGMAI, process_id="p002", item_kind="letter", letter_id=other, notice_id=None, now=NOW)
        receive = tx.insert_notice(process_id="n001", letter_id=lid, kind=Event.RECEIVE, accept_id="",
                                   from_org=CHIANGMAI, to_org=REGION15, payload=b"<n/>", raw=b"", now=NOW + MINUTE)
        accept = tx.insert_notice(process_id="n002", letter_id=lid, kind=Event.ACCEPT, accept_id="๑๒๓",
                                  from_org=CHIANGMAI, to_org=REGION15, payload=b"<n/>", raw=b"", now=NOW + HOUR)
        tx.enqueue(org=REGION15, process_id="n002", item_kind="notice", letter_id=lid, notice_id=accept,
                   now=NOW + HOUR)
        tx.insert_received(sender_node="moe-r15", message_id="m2", process_id="p001", payload_digest="d2",
                           receipt=b"<r2/>", now=NOW + MINUTE)
        tx.insert_received(sender_node="moe-hub", message_id="m1", process_id="p001", payload_digest="d1",
                           receipt=b"<r1/>", now=NOW)
        tx.insert_received(sender_node="moe-hub", message_id="m3", process_id="p002", payload_digest="d3",
                           receipt=b"<r3/>", now=NOW)
    with store.transaction() as tx:
        notices = tx.notices_of_letter(lid)
        queued = tx.queue_items_of_letter(lid)
        received = tx.received_by_process_id("p001")
        assert tx.notices_of_letter(other) == [] and tx.received_by_process_id("p999") == []
    assert [(n.id, n.kind, n.accept_id) for n in notices] == [(receive, Event.RECEIVE, ""),
                                                              (accept, Event.ACCEPT, "๑๒๓")]
    assert [(q.org, q.process_id, q.notice_id) for q in queued] == [(CHIANGMAI, "p001", None),
                                                                    (REGION15, "n002", accept)]
    assert [(r.sender_node, r.message_id, r.receipt, r.received_at) for r in received] == [
        ("moe-hub", "m1", b"<r1/>", NOW), ("moe-r15", "m2", b"<r2/>", NOW + MINUTE)]


# ------------------------------------------------------ SQLite's subject index
def _fts_rows(store) -> int:
    """Letters in letters_fts (one docsize row each), after FTS5 checked its index against the letters."""
    store._conn.execute("INSERT INTO letters_fts (letters_fts, rank) VALUES ('integrity-check', 1)")
    return store._conn.execute("SELECT count(*) FROM letters_fts_docsize").fetchone()[0]


def test_sqlite_keeps_the_subject_index_in_step_with_the_letters(tmp_path):
    with SqliteStore(tmp_path / "gateway.sqlite3") as store:
        store.migrate()
        with store.transaction() as tx:
            for n in range(1, 4):
                add(tx, n, at=NOW + n * MINUTE)
        assert _fts_rows(store) == 3
        with store.transaction() as tx:
            assert tx.purge_letter(tx.letter_by_process_id("p002"))["letters"] == 1
        assert _fts_rows(store) == 2
        store._conn.execute("UPDATE letters SET subject = 'แจ้งเลื่อนการประชุม' WHERE process_id = 'p003'")
        assert _fts_rows(store) == 2
        assert search(store, "เลื่อน") == ["p003"] and search(store, "ผู้บริหาร") == ["p001"]


def test_the_migration_indexes_the_letters_stored_before_it(tmp_path):
    path = tmp_path / "gateway.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    for version, name, sql in migrations("sqlite")[:6]:
        for statement in iter_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
    conn.execute("INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, letter_key, corr_date, "
                 "subject, secret_code, speed_code, digest, signed, state, delivery, created_at, updated_at) VALUES "
                 "('p-old', ?, ?, 'ศธ 0215/1', 'ศธ 0215/1', '2026-12-01', ?, '001', '001', 'd', 1, 'sent', "
                 "'delivered', 1, 1)", (REGION15, CHIANGMAI, MEETING))
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.migrate()[0] == "0007_console.sql"
        assert _fts_rows(store) == 1
        assert search(store, "ผู้บริหาร") == ["p-old"]
