"""The store queries of the registers, the statistics and the retention purge, on memory, SQLite and PostgreSQL.

Times are fixed here (no signatures are made), so the periods are exact:
fiscal year 2570 runs from 1 October 2026 to 30 September 2027, Bangkok time.
"""
from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from gateway.core.errors import ConflictError
from gateway.core.state import Delivery, Event, LetterState
from gateway.core.time import BANGKOK
from gateway.testing import pgcluster

CENTRAL, REGION15, CHIANGMAI = "2000100000", "2000215000", "2000350000"
LAST_DAY = dt.datetime(2026, 9, 30, 23, 59, tzinfo=BANGKOK)     # the last minute of fiscal year 2569
FY2570 = (dt.datetime(2026, 10, 1, tzinfo=BANGKOK), dt.datetime(2027, 10, 1, tzinfo=BANGKOK))
FY2569 = (dt.datetime(2025, 10, 1, tzinfo=BANGKOK), FY2570[0])
LATER = dt.timedelta(minutes=2)
YEAR = dt.timedelta(days=365)


def add(tx, n: int, *, sender=REGION15, receiver=CHIANGMAI, at=LAST_DAY, state=LetterState.SENT,
        delivery=Delivery.DELIVERED, doc=b"<doc/>") -> int:
    return tx.insert_letter(process_id=f"p{n:03}", sender_org=sender, receiver_org=receiver,
                            letter_no=f"ศธ 0215/{n}", corr_date="2026-09-30", subject="ขอเชิญประชุม", secret_code="001",
                            speed_code="001", digest=f"d{n}", signed=True, state=state, delivery=delivery, raw=b"raw",
                            document=doc, now=at)


def notice(tx, letter_id: int, n: int, kind: Event, *, at, from_org=CHIANGMAI, to_org=REGION15, accept_id="") -> int:
    return tx.insert_notice(process_id=f"n{n:03}", letter_id=letter_id, kind=kind, accept_id=accept_id,
                            from_org=from_org, to_org=to_org, payload=b"<n/>", raw=b"", now=at)


def move(tx, letter_id: int, old: LetterState, new: LetterState, at, accept_id: str = "") -> None:
    tx.set_letter_state(letter_id=letter_id, expected=old, new=new, accept_id=accept_id, now=at)


# ---------------------------------------------------------------- registers
def test_the_registers_split_letters_at_the_fiscal_year_boundary(store):
    with store.transaction() as tx:
        last = add(tx, 1)                                          # 30 Sep 23:59: fiscal year 2569
        first = add(tx, 2, at=LAST_DAY + LATER)                    # 1 Oct 00:01: fiscal year 2570
        registered_late = add(tx, 3, at=LAST_DAY - dt.timedelta(hours=1))
        notice(tx, registered_late, 1, Event.ACCEPT, at=LAST_DAY + LATER, accept_id="77")   # registered on 1 Oct
        move(tx, registered_late, LetterState.SENT, LetterState.ACCEPTED, LAST_DAY + LATER, "77")
        add(tx, 4, receiver="2000340000")                          # someone else's letter
        add(tx, 5, sender=CHIANGMAI, receiver=REGION15)            # Chiang Mai's own letter
    with store.transaction() as tx:
        old = tx.register_received(org=CHIANGMAI, since=FY2569[0], until=FY2569[1])
        new = tx.register_received(org=CHIANGMAI, since=FY2570[0], until=FY2570[1])
        sent_old = tx.register_sent(org=REGION15, since=FY2569[0], until=FY2569[1])
        sent_new = tx.register_sent(org=REGION15, since=FY2570[0], until=FY2570[1])
    assert [(row.id, accepted) for row, accepted in old] == [(last, None)]
    assert [row.id for row, _ in new] == [first, registered_late], "in the order they entered: 00:01, then 00:02"
    assert new[1][1] == LAST_DAY + LATER and new[1][0].accept_id == "77"
    assert [row.id for row, _ in sent_old] == [registered_late, last, 4], "sending order, the receiver regardless"
    assert [(row.id, accepted) for row, accepted in sent_new] == [(first, None)]
    assert sent_old[0][1] == LAST_DAY + LATER, "the send register sees the receiver's acceptance too"


def test_the_latest_acceptance_dates_a_re_registered_letter(store):
    with store.transaction() as tx:
        lid = add(tx, 1, at=LAST_DAY - YEAR)
        notice(tx, lid, 1, Event.ACCEPT, at=LAST_DAY - YEAR, accept_id="1")
        notice(tx, lid, 2, Event.DISPUTE, at=LAST_DAY - YEAR + LATER, from_org=REGION15, to_org=CHIANGMAI)
        notice(tx, lid, 3, Event.ACCEPT, at=LAST_DAY + LATER, accept_id="2")
        move(tx, lid, LetterState.SENT, LetterState.ACCEPTED, LAST_DAY + LATER, "2")
    with store.transaction() as tx:
        assert tx.register_received(org=CHIANGMAI, since=FY2569[0] - YEAR, until=FY2569[1]) == []
        [(row, accepted)] = tx.register_received(org=CHIANGMAI, since=FY2570[0], until=FY2570[1])
    assert (row.accept_id, accepted) == ("2", LAST_DAY + LATER)


# --------------------------------------------------------------- statistics
def test_letter_and_notice_counts_per_month(store):
    october = (FY2570[0], dt.datetime(2026, 11, 1, tzinfo=BANGKOK))
    with store.transaction() as tx:
        a = add(tx, 1, at=LAST_DAY + LATER, doc=b"x" * 100)
        b = add(tx, 2, at=LAST_DAY + LATER, doc="<หนังสือ/>".encode(), delivery=Delivery.PENDING)
        add(tx, 3, at=LAST_DAY, doc=b"y" * 7)                                  # September: not counted
        add(tx, 4, sender=CHIANGMAI, receiver=REGION15, at=LAST_DAY + LATER, doc=b"z" * 5)
        notice(tx, a, 1, Event.ACCEPT, at=LAST_DAY + LATER, accept_id="1")
        notice(tx, b, 2, Event.RECEIVE, at=LAST_DAY + LATER)
        notice(tx, b, 3, Event.REJECT, at=october[1] + LATER)                   # November
        notice(tx, a, 4, Event.DISPUTE, at=LAST_DAY + LATER, from_org=REGION15, to_org=CHIANGMAI)
    with store.transaction() as tx:
        region = tx.letter_counts(org=REGION15, since=october[0], until=october[1])
        chiangmai = tx.letter_counts(org=CHIANGMAI, since=october[0], until=october[1])
        answered = tx.notice_counts(org=CHIANGMAI, since=october[0], until=october[1])
        november = tx.notice_counts(org=CHIANGMAI, since=october[1], until=FY2570[1])
        region_notices = tx.notice_counts(org=REGION15, since=october[0], until=october[1])
    thai_bytes = len("<หนังสือ/>".encode())
    assert region == {"sent": 2, "sent_delivered": 1, "sent_bytes": 100 + thai_bytes, "received": 1,
                      "received_bytes": 5}
    assert chiangmai == {"sent": 1, "sent_delivered": 1, "sent_bytes": 5, "received": 2,
                         "received_bytes": 100 + thai_bytes}
    assert answered == {Event.ACCEPT: 1, Event.RECEIVE: 1} and november == {Event.REJECT: 1}
    assert region_notices == {}, "a sender's dispute is not an answer to a letter it received"


# ------------------------------------------------------------------ retention
CUTOFF = LAST_DAY + 10 * YEAR
OLD = LAST_DAY - YEAR


def test_purge_candidates_are_old_final_and_in_flight_nowhere(store):
    with store.transaction() as tx:
        accepted = add(tx, 1, at=OLD)
        move(tx, accepted, LetterState.SENT, LetterState.ACCEPTED, OLD, "1")
        tx.enqueue(org=CHIANGMAI, process_id="q1", item_kind="letter", letter_id=accepted, notice_id=None, now=OLD)
        tx.delete_queue_item(org=CHIANGMAI, process_id="q1", now=OLD)
        failed = add(tx, 2, at=OLD, delivery=Delivery.FAILED, receiver="0101000000")
        tx.insert_outbox(message_id="m2", kind="letter", process_id="p002", letter_process_id="p002",
                         sender_org=REGION15, receiver_org="0101000000", next_node="moe-hub", path="[]",
                         payload=b"<m/>", now=OLD, deadline=OLD + dt.timedelta(days=5))
        (item,) = tx.outbox_of_letter("p002")
        tx.outbox_failed(item.id, error="window ended", now=OLD + dt.timedelta(days=5))
        add(tx, 3, at=OLD)                                                         # SENT, delivered: not final
        unpulled = add(tx, 4, at=OLD, state=LetterState.REJECTED)
        tx.enqueue(org=CHIANGMAI, process_id="q4", item_kind="letter", letter_id=unpulled, notice_id=None, now=OLD)
        pending = add(tx, 5, at=OLD, state=LetterState.WITHDRAWN, delivery=Delivery.PENDING, receiver="0101000000")
        tx.insert_outbox(message_id="m5", kind="withdrawal", process_id="w5", letter_process_id="p005",
                         sender_org=REGION15, receiver_org="0101000000", next_node="moe-hub", path="[]",
                         payload=b"<w/>", now=OLD, deadline=OLD + dt.timedelta(days=5))
        recent = add(tx, 6, at=OLD, state=LetterState.INVALID)
        notice(tx, recent, 6, Event.INVALID, at=CUTOFF)                            # at the cut-off: too recent
        disputed = add(tx, 7, at=OLD, state=LetterState.DISPUTED)
        young = add(tx, 8, at=CUTOFF - LATER, state=LetterState.WITHDRAWN)
        move(tx, young, LetterState.WITHDRAWN, LetterState.WITHDRAWN, CUTOFF)      # touched at the cut-off
        taken_late = add(tx, 9, at=OLD, state=LetterState.ACCEPTED)
        tx.enqueue(org=CHIANGMAI, process_id="q9", item_kind="letter", letter_id=taken_late, notice_id=None, now=OLD)
        tx.delete_queue_item(org=CHIANGMAI, process_id="q9", now=CUTOFF)          # deleted at the cut-off
    with store.transaction() as tx:
        found = tx.purge_candidates(before=CUTOFF, after=0, limit=100)
        first = tx.purge_candidates(before=CUTOFF, after=0, limit=1)
        rest = tx.purge_candidates(before=CUTOFF, after=first[0].id, limit=100)
        earlier = tx.purge_candidates(before=OLD, after=0, limit=100)
    assert [r.id for r in found] == [accepted, failed]
    assert [r.id for r in first] == [accepted] and [r.id for r in rest] == [failed]
    assert earlier == [], "nothing is older than its own last activity"
    assert {disputed, pending, unpulled} & {r.id for r in found} == set()


def test_purging_a_letter_removes_everything_of_it_and_nothing_else(store):
    with store.transaction() as tx:
        kept = add(tx, 1, at=OLD, state=LetterState.ACCEPTED)
        gone = add(tx, 2, at=OLD, state=LetterState.ACCEPTED)           # the highest id
        for lid, n in ((kept, 1), (gone, 2)):
            nid = notice(tx, lid, n, Event.ACCEPT, at=OLD, accept_id=str(n))
            tx.enqueue(org=CHIANGMAI, process_id=f"q{n}", item_kind="letter", letter_id=lid, notice_id=None, now=OLD)
            tx.enqueue(org=REGION15, process_id=f"n{n}", item_kind="notice", letter_id=lid, notice_id=nid, now=OLD)
            tx.insert_outbox(message_id=f"m{n}", kind="notifier", process_id=f"n{n}", letter_process_id=f"p00{n}",
                             sender_org=CHIANGMAI, receiver_org=REGION15, next_node="moe-hub", path="[]",
                             payload=b"<n/>", now=OLD, deadline=OLD + dt.timedelta(days=5))
        before = tx.table_counts()
    with store.transaction() as tx:
        removed = tx.purge_letter(tx.get_letter(gone))
    with store.transaction() as tx:
        after = tx.table_counts()
        assert tx.letter_by_process_id("p001").id == kept
        assert [o.message_id for o in tx.outbox_of_letter("p001")] == ["m1"]
        assert tx.letter_by_process_id("p002") is None and tx.outbox_of_letter("p002") == []
    assert removed == {"queue": 2, "notices": 1, "outbox": 1, "letter_blobs": 1, "letters": 1}
    assert {t: before[t] - after[t] for t in before} == {"letters": 1, "letter_blobs": 1, "notices": 1, "queue": 2,
                                                         "outbox": 1, "received": 0}
    with pytest.raises(ConflictError):                  # a letter is never deleted from under its notices
        with store.transaction() as tx:
            tx._count("purge_letter", letter_id=kept)
    with store.transaction() as tx:
        again = add(tx, 3, at=OLD)
    assert again == gone + 1, "the purged id is never handed out again (AUTOINCREMENT / BIGSERIAL)"


def test_forwarded_items_are_purged_once_finished_and_old(store):
    with store.transaction() as tx:
        stored_here = add(tx, 1, at=OLD)
        for n, letter_pid in enumerate(("hub-a", "hub-a", "hub-b", "p001", "hub-c"), start=1):
            tx.insert_outbox(message_id=f"m{n}", kind="letter" if n != 2 else "notifier", process_id=f"x{n}",
                             letter_process_id=letter_pid, sender_org=CENTRAL, receiver_org=CHIANGMAI,
                             next_node="moe-r15", path="[]", payload=b"<m/>", now=OLD,
                             deadline=OLD + dt.timedelta(days=5))
        items = {o.message_id: o.id for pid in ("hub-a", "hub-b", "p001", "hub-c") for o in tx.outbox_of_letter(pid)}
        tx.outbox_delivered(items["m1"], receipt=b"<r/>", now=OLD + LATER)
        tx.outbox_delivered(items["m2"], receipt=b"<r/>", now=CUTOFF)          # finished at the cut-off: kept
        tx.outbox_failed(items["m3"], error="refused", now=OLD + LATER)
        tx.outbox_delivered(items["m4"], receipt=b"<r/>", now=OLD + LATER)     # its letter is stored here
        # m5 is still pending
    with store.transaction() as tx:
        found = tx.transit_purge_candidates(before=CUTOFF, after=0, limit=100)
        paged = tx.transit_purge_candidates(before=CUTOFF, after=items["m1"], limit=100)
        assert [(i.id, i.kind, i.letter_process_id, i.next_node, i.state) for i in found] == [
            (items["m1"], "letter", "hub-a", "moe-r15", "delivered"),
            (items["m3"], "letter", "hub-b", "moe-r15", "failed")]
        assert [i.id for i in paged] == [items["m3"]]
        assert tx.purge_outbox_item(items["m1"]) and not tx.purge_outbox_item(items["m5"]), "pending: never"
        assert not tx.purge_outbox_item(items["m1"]), "gone already"
    with store.transaction() as tx:
        assert [o.message_id for o in tx.outbox_of_letter("hub-a")] == ["m2"]
        assert [o.message_id for o in tx.outbox_of_letter("hub-c")] == ["m5"]
        assert tx.get_letter(stored_here).process_id == "p001"


# ------------------------------------------------------ PostgreSQL row locks
TABLES = ("queue", "notices", "letter_blobs", "letters", "outbox", "received")


def test_on_postgres_a_letter_another_transaction_holds_is_skipped_not_waited_for(pg_url, _pg_store):
    """A notifier's transaction holds the letter's row: the purge passes it by (the next run takes it)."""
    pgcluster.truncate(pg_url, TABLES)
    store = _pg_store
    with store.transaction() as tx:
        held, free = (add(tx, n, at=OLD, state=LetterState.ACCEPTED) for n in (1, 2))
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT id FROM letters WHERE id = %s FOR UPDATE", (held,))
        with store.transaction() as tx:
            assert [r.id for r in tx.purge_candidates(before=CUTOFF, after=0, limit=10)] == [free]
        other.rollback()
    with store.transaction() as tx:
        assert [r.id for r in tx.purge_candidates(before=CUTOFF, after=0, limit=10)] == [held, free]
