"""The evidence log's store methods (store/evidence.py), on memory, SQLite and PostgreSQL.

Entries read back as stored (a Thai JSON detail byte for byte), each letter's chain has its own
head, the log pages by id; two appends naming the same previous entry of one letter, or two
entries with one hash, conflict and leave nothing of their transaction; checkpoints keep their
bytes; purging a letter leaves its entries.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from gateway.core.errors import ConflictError
from gateway.core.records import CheckpointRow, EvidenceRow
from gateway.core.state import Delivery, Event, LetterState
from gateway.core.time import BANGKOK
from gateway.operations import retention
from gateway.store import run

REGION15, CHIANGMAI = "2000215000", "2000350000"
NOW = dt.datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=BANGKOK)   # 2 ธันวาคม 2569, to the microsecond
SECOND, YEAR = dt.timedelta(seconds=1), dt.timedelta(days=365)
MEETING = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"
# as the caller wrote it (its key order and spacing): the store keeps the text, it does not re-encode it
THAI_DETAIL = '{"เรื่อง": "' + MEETING + '", "ผู้รับ": "สพป.เชียงใหม่ เขต ๑",  "ขนาด": 12345}'


def append(tx, process_id: str, n: int, *, prev: str, event: str = "stored", detail: str = "{}",
           hash: str | None = None) -> int:
    """Entry ``n`` of a letter's chain, after the entry whose hash is ``prev``; its id."""
    return tx.insert_evidence(at=NOW + n * SECOND, process_id=process_id, event=event, item=f"m{n:03}",
                              detail=detail, digest=f"sha256-{n}", prev_hash=prev,
                              hash=hash or f"h-{process_id}-{n}")


def chain(tx, process_id: str, *numbers: int) -> list[int]:
    """Entries ``numbers`` appended to the letter's chain, each after its head; their ids."""
    return [append(tx, process_id, n, prev=tx.evidence_head(process_id)) for n in numbers]


# ---------------------------------------------------------------- entries
def test_an_entry_reads_back_as_it_was_stored_thai_detail_and_all(store):
    with store.transaction() as tx:
        assert tx.evidence_head("p001") == "" and tx.evidence_of("p001") == []
        assert tx.evidence_max_id() == 0 and tx.evidence_after(after_id=0, limit=10) == []
        entry = tx.insert_evidence(at=NOW, process_id="p001", event="stored", item="", detail=THAI_DETAIL,
                                   digest="b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
                                   prev_hash="", hash="h-p001-0")
    with store.transaction() as tx:
        (row,) = tx.evidence_of("p001")
        assert tx.evidence_after(after_id=0, limit=10) == [row]
    assert row == EvidenceRow(id=entry, at=NOW, process_id="p001", event="stored", item="", detail=THAI_DETAIL,
                              digest="b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
                              prev_hash="", hash="h-p001-0")
    assert row.detail == THAI_DETAIL and json.loads(row.detail)["เรื่อง"] == MEETING, "the text as given"
    assert row.at.utcoffset() == dt.timedelta(0) and row.at == NOW, "the same instant, to the microsecond"


def test_each_letter_has_its_own_chain_and_head(store):
    with store.transaction() as tx:
        first = chain(tx, "p001", 1, 2)
        other = chain(tx, "p002", 1)
        first += chain(tx, "p001", 3)
    with store.transaction() as tx:
        heads = {pid: tx.evidence_head(pid) for pid in ("p001", "p002", "p999")}
        mine, theirs = tx.evidence_of("p001"), tx.evidence_of("p002")
    assert heads == {"p001": "h-p001-3", "p002": "h-p002-1", "p999": ""}
    assert [e.id for e in mine] == first and [e.id for e in theirs] == other
    assert [(e.prev_hash, e.hash) for e in mine] == [("", "h-p001-1"), ("h-p001-1", "h-p001-2"),
                                                     ("h-p001-2", "h-p001-3")]
    assert [(e.item, e.digest, e.at) for e in mine] == [(f"m00{n}", f"sha256-{n}", NOW + n * SECOND)
                                                        for n in (1, 2, 3)]


def test_the_log_pages_by_id_and_knows_its_newest_entry(store):
    with store.transaction() as tx:
        ids = []
        for pid, n in (("p001", 1), ("p002", 1), ("p001", 2), ("p003", 1), ("p002", 2)):
            ids += chain(tx, pid, n)
        newest = tx.evidence_max_id()
    with store.transaction() as tx:
        first = tx.evidence_after(after_id=0, limit=2)
        second = tx.evidence_after(after_id=first[-1].id, limit=2)
        last = tx.evidence_after(after_id=second[-1].id, limit=2)
        beyond = tx.evidence_after(after_id=newest, limit=2)
        whole = tx.evidence_after(after_id=0, limit=100)
    assert ids == sorted(ids) and newest == ids[-1]
    assert [e.id for e in first] == ids[:2] and [e.id for e in second] == ids[2:4] and [e.id for e in last] == ids[4:]
    assert beyond == [] and whole == first + second + last
    assert [e.process_id for e in whole] == ["p001", "p002", "p001", "p003", "p002"]


def test_two_appends_after_one_entry_of_a_letter_conflict_and_store_nothing(store):
    with store.transaction() as tx:
        chain(tx, "p001", 1, 2)
    with store.transaction() as tx:
        before, newest = tx.evidence_of("p001"), tx.evidence_max_id()
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            chain(tx, "p002", 1)                                            # written, then undone with the rest
            append(tx, "p001", 9, prev="h-p001-1")                          # the entry 2 already follows
    with store.transaction() as tx:
        assert tx.evidence_of("p001") == before and tx.evidence_of("p002") == []
        assert tx.evidence_max_id() == newest and tx.evidence_head("p001") == "h-p001-2"
        append(tx, "p002", 1, prev="h-p001-1")     # the same prev_hash in another letter's chain is no clash
        append(tx, "p003", 1, prev="")             # nor is another letter's first entry
        assert [e.process_id for e in tx.evidence_after(after_id=newest, limit=10)] == ["p002", "p003"]


def test_an_entry_with_a_hash_already_in_the_log_conflicts_and_stores_nothing(store):
    with store.transaction() as tx:
        chain(tx, "p001", 1)
        newest = tx.evidence_max_id()
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            append(tx, "p002", 1, prev="")
            append(tx, "p003", 1, prev="", hash="h-p001-1")                 # another letter's entry's hash
    with store.transaction() as tx:
        assert tx.evidence_max_id() == newest
        assert [e.hash for e in tx.evidence_after(after_id=0, limit=10)] == ["h-p001-1"]
        assert tx.evidence_head("p002") == "" and tx.evidence_head("p003") == ""


def test_an_append_that_lost_the_race_is_retried_after_the_new_head(store):
    with store.transaction() as tx:
        chain(tx, "p001", 1)
        stale = tx.evidence_head("p001")
    with store.transaction() as tx:
        chain(tx, "p001", 2)                                                # another worker got there first
    tried = []

    def append_next(tx) -> int:
        prev = stale if not tried else tx.evidence_head("p001")
        tried.append(prev)
        return append(tx, "p001", 3, prev=prev)

    entry = run(store, append_next)
    with store.transaction() as tx:
        assert [(e.prev_hash, e.hash) for e in tx.evidence_of("p001")] == [
            ("", "h-p001-1"), ("h-p001-1", "h-p001-2"), ("h-p001-2", "h-p001-3")]
        assert tx.evidence_max_id() == entry
    assert tried == ["h-p001-1", "h-p001-2"]


# ------------------------------------------------------------ checkpoints
def test_checkpoints_keep_their_bytes_and_the_last_is_the_newest(store):
    document = ('<?xml version="1.0" encoding="UTF-8"?><จุดตรวจ node="moe-r15">ถึงรายการที่ 3</จุดตรวจ>'
                .encode("utf-8"))
    token = bytes(range(256)) + b"\x00"
    with store.transaction() as tx:
        assert tx.last_checkpoint() is None and tx.checkpoints() == []
        first = tx.insert_checkpoint(at=NOW, upto_id=3, entries=3, root="r1", prev_root="", document=document,
                                     timestamp_token=b"")
        second = tx.insert_checkpoint(at=NOW + YEAR, upto_id=7, entries=4, root="r2", prev_root="r1",
                                      document=bytearray(b"<x/>\x00\xff"), timestamp_token=memoryview(token))
    with store.transaction() as tx:
        last, every = tx.last_checkpoint(), tx.checkpoints()
    assert first < second
    assert every == [
        CheckpointRow(id=first, at=NOW, upto_id=3, entries=3, root="r1", prev_root="", document=document,
                      timestamp_token=b""),
        CheckpointRow(id=second, at=NOW + YEAR, upto_id=7, entries=4, root="r2", prev_root="r1",
                      document=b"<x/>\x00\xff", timestamp_token=token)]
    assert last == every[-1]
    assert all(type(cp.document) is bytes and type(cp.timestamp_token) is bytes for cp in every)


# -------------------------------------------------------------- retention
OLD = dt.datetime(2026, 9, 30, 23, 59, tzinfo=BANGKOK)
PURGE_AT = OLD + 11 * YEAR          # more than ten years later


def letter(tx, n: int) -> int:
    """An accepted letter, answered, last touched at OLD: a purge candidate."""
    letter_id = tx.insert_letter(process_id=f"p{n:03}", sender_org=REGION15, receiver_org=CHIANGMAI,
                                 letter_no=f"ศธ 0215/{n}", corr_date="2026-09-30", subject=MEETING,
                                 secret_code="001", speed_code="001", digest=f"d{n}", signed=True,
                                 state=LetterState.SENT, delivery=Delivery.DELIVERED, raw=b"raw",
                                 document="<หนังสือ/>".encode(), now=OLD)
    tx.insert_notice(process_id=f"n{n:03}", letter_id=letter_id, kind=Event.ACCEPT, accept_id=str(n),
                     from_org=CHIANGMAI, to_org=REGION15, payload=b"<n/>", raw=b"", now=OLD)
    tx.set_letter_state(letter_id=letter_id, expected=LetterState.SENT, new=LetterState.ACCEPTED,
                        accept_id=str(n), now=OLD)
    return letter_id


def test_purging_a_letter_leaves_its_evidence(store):
    with store.transaction() as tx:
        gone = letter(tx, 1)
        chain(tx, "p001", 1, 2)
    with store.transaction() as tx:
        before = tx.evidence_of("p001")
        removed = tx.purge_letter(tx.get_letter(gone))
    with store.transaction() as tx:
        assert removed["letters"] == 1 and removed["notices"] == 1
        assert tx.letter_by_process_id("p001") is None
        assert tx.evidence_of("p001") == before, "the log outlives the letter"
        assert tx.evidence_head("p001") == "h-p001-2"


def test_the_retention_purge_keeps_every_entry_of_the_letters_it_removes(store):
    with store.transaction() as tx:
        letter(tx, 1)
        chain(tx, "p001", 1, 2)
    with store.transaction() as tx:
        before = tx.evidence_of("p001")
    report = retention.purge(store, now=PURGE_AT, keep_years=10)
    with store.transaction() as tx:
        assert report.letters == 1 and tx.letter_by_process_id("p001") is None
        after = tx.evidence_of("p001")
    # what the log held stays, in order (the purge may add its own entry after it, never remove one)
    assert len(before) == 2 and after[:2] == before
