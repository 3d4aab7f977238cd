"""The Store port's contract, run on SQLite and PostgreSQL alike."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from gateway.core.letters.letter import LetterIdentity

from gateway.core.errors import ConflictError
from gateway.core.state import Delivery, Event, LetterState

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)


def add_letter(tx, n: int = 1, *, receiver: str = "2000350000", state=LetterState.SENT, raw=b"raw", doc=b"<doc/>"):
    return tx.insert_letter(process_id=f"p-{n}-{receiver}", sender_org="2000100000", receiver_org=receiver,
                            letter_no=f"ศธ 0210/{n}", corr_date="2026-11-26", subject="ขอเชิญประชุม",
                            secret_code="001", speed_code="001", digest="d", signed=False, state=state,
                            delivery=Delivery.DELIVERED, raw=raw, document=doc, now=NOW)


def test_letter_round_trip_keeps_bytes_and_thai_text(store):
    raw = "<ดิบ/>".encode() + bytes(range(256))
    with store.transaction() as tx:
        lid = add_letter(tx, raw=raw, doc="<หนังสือ/>".encode())
    with store.transaction() as tx:
        row = tx.find_live_letter(LetterIdentity(sender="2000100000", receiver="2000350000", letter_id="ศธ 0210/1",
                                  correspondence_date="2026-11-26"))
        assert row.id == lid and row.subject == "ขอเชิญประชุม" and row.created_at == NOW
        assert tx.letter_raw(lid) == raw and tx.letter_document(lid) == "<หนังสือ/>".encode()


def test_one_live_letter_per_identity(store):
    with store.transaction() as tx:
        add_letter(tx)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.insert_letter(process_id="other", sender_org="2000100000", receiver_org="2000350000",
                             letter_no="ศธ 0210/1", corr_date="2026-11-26", subject="x", secret_code="001",
                             speed_code="001", digest="e", signed=False, state=LetterState.SENT,
                             delivery=Delivery.DELIVERED, raw=b"", document=b"", now=NOW)


def test_withdrawn_letter_frees_its_identity(store):
    with store.transaction() as tx:
        lid = add_letter(tx, state=LetterState.REJECTED)
        tx.set_letter_state(letter_id=lid, expected=LetterState.REJECTED, new=LetterState.WITHDRAWN, accept_id="",
                            now=NOW)
    with store.transaction() as tx:
        tx.insert_letter(process_id="again", sender_org="2000100000", receiver_org="2000350000",
                         letter_no="ศธ 0210/1", corr_date="2026-11-26", subject="x", secret_code="001",
                         speed_code="001", digest="e", signed=False, state=LetterState.SENT,
                         delivery=Delivery.DELIVERED, raw=b"", document=b"", now=NOW)
        assert tx.find_withdrawn_letter(LetterIdentity(sender="2000100000", receiver="2000350000", letter_id="ศธ 0210/1",
                                  correspondence_date="2026-11-26")).id == lid


def test_state_change_is_compare_and_set(store):
    with store.transaction() as tx:
        lid = add_letter(tx)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.set_letter_state(letter_id=lid, expected=LetterState.RECEIVED, new=LetterState.ACCEPTED,
                                accept_id="1", now=NOW)
    with store.transaction() as tx:
        assert tx.get_letter(lid).state is LetterState.SENT


def test_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            add_letter(tx)
            raise RuntimeError("crash between two writes")
    with store.transaction() as tx:
        assert tx.table_counts() == {"letters": 0, "letter_blobs": 0, "notices": 0, "queue": 0, "outbox": 0, "received": 0}


def test_notice_once_per_letter_kind_and_accept_id(store):
    with store.transaction() as tx:
        lid = add_letter(tx)
        tx.insert_notice(process_id="n1", letter_id=lid, kind=Event.ACCEPT, accept_id="1", from_org="a",
                         to_org="b", payload=b"<x/>", raw=b"", now=NOW)
        tx.insert_notice(process_id="n2", letter_id=lid, kind=Event.ACCEPT, accept_id="2", from_org="a",
                         to_org="b", payload=b"<x/>", raw=b"", now=NOW)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.insert_notice(process_id="n3", letter_id=lid, kind=Event.ACCEPT, accept_id="1", from_org="a",
                             to_org="b", payload=b"<x/>", raw=b"", now=NOW)
    with store.transaction() as tx:
        assert tx.latest_notice(letter_id=lid, kind=Event.ACCEPT).process_id == "n2"


def test_claim_order_visibility_and_delete(store):
    with store.transaction() as tx:
        for n in (1, 2):
            lid = add_letter(tx, n)
            tx.enqueue(org="2000350000", process_id=f"q{n}", item_kind="letter", letter_id=lid, notice_id=None,
                       now=NOW + dt.timedelta(seconds=n))
    later = NOW + dt.timedelta(minutes=1)
    with store.transaction() as tx:
        first = tx.claim_next(org="2000350000", now=later, until=later + dt.timedelta(minutes=10))
        second = tx.claim_next(org="2000350000", now=later, until=later + dt.timedelta(minutes=10))
        assert (first.process_id, second.process_id) == ("q1", "q2")
        assert tx.claim_next(org="2000350000", now=later, until=later) is None
        assert tx.claim_next(org="2000340000", now=later, until=later) is None
        assert tx.delete_queue_item(org="2000350000", process_id="q1", now=later)
        assert not tx.delete_queue_item(org="2000350000", process_id="q1", now=later)
    again = later + dt.timedelta(minutes=11)
    with store.transaction() as tx:
        row = tx.claim_next(org="2000350000", now=again, until=again)
        assert row.process_id == "q2" and row.pull_count == 2


def test_concurrent_pulls_never_hand_out_one_item_twice(store):
    with store.transaction() as tx:
        for n in range(40):
            lid = add_letter(tx, n)
            tx.enqueue(org="2000350000", process_id=f"q{n}", item_kind="letter", letter_id=lid, notice_id=None,
                       now=NOW)
    claimed: list[str] = []
    lock = threading.Lock()
    errors = []

    def worker():
        try:
            while True:
                with store.transaction() as tx:
                    row = tx.claim_next(org="2000350000", now=NOW, until=NOW + dt.timedelta(hours=1))
                if row is None:
                    return
                with lock:
                    claimed.append(row.process_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(claimed) == sorted(f"q{n}" for n in range(40))


def test_migrate_twice_is_harmless(store):
    from gateway.store import migrations
    assert store.migrate() == []
    assert store.schema_version() == len(migrations(store.migrations_dialect or store.dialect))
