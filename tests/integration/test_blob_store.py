"""The blob store (issue 10, part 3) on memory, SQLite and PostgreSQL: large enclosures beside the letters.

A blob is named by the hex SHA-256 of its text and kept once however many letters name it; it is
written through a :class:`Spool` and read back a chunk at a time (``read_blob``), and it goes with
``sweep`` once no letter names it and the grace has passed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from gateway.core.errors import ConflictError, LocalError
from gateway.core.state import Delivery, LetterState
from gateway.operations import retention
from gateway.store import blobs
from gateway.store.blobs import CHUNK, Spool, read_blob, sweep, sweep_spools

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
GRACE = dt.timedelta(hours=1)
MiB = 1 << 20
# base64 text as an enclosure carries it, with a Thai file name in the letter that names it
TEXT = b"JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K" * 4


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "blobs"


def spooled(folder: Path, *chunks: bytes) -> Spool:
    spool = Spool(folder)
    for chunk in chunks:
        spool.write(chunk)
    spool.finish()
    return spool


def add_letter(tx, n: int = 1, *, state=LetterState.SENT, now=NOW) -> int:
    return tx.insert_letter(process_id=f"blob-{n}", sender_org="2000100000", receiver_org="2000350000",
                            letter_no=f"ศธ 0210/{n}", corr_date="2026-11-26", subject="ส่งเอกสารแนบขนาดใหญ่",
                            secret_code="001", speed_code="001", digest="d", signed=False, state=state,
                            delivery=Delivery.DELIVERED, raw=b"<raw/>", document=b"<doc/>", now=now)


def stored(store, spool: Spool, now=NOW) -> str:
    with store.transaction() as tx:
        tx.put_blob(spool, now)
    spool.discard()
    return spool.digest


def size_of(store, digest: str) -> int | None:
    with store.transaction() as tx:
        return tx.blob_size(digest)


def purge(store, letter_id: int) -> None:
    with store.transaction() as tx:
        tx.purge_letter(tx.get_letter(letter_id))


# ------------------------------------------------------------------ spooling
def test_a_spool_hashes_what_it_is_given_and_keeps_it_in_a_file(folder):
    spool = Spool(folder)
    assert spool.path.parent == folder / "tmp" and spool.path.name.endswith(".part")
    for piece in (TEXT[:7], b"", TEXT[7:]):
        spool.write(piece)
    digest = spool.finish()
    assert digest == spool.digest == hashlib.sha256(TEXT).hexdigest() and spool.size == len(TEXT)
    assert spool.path.read_bytes() == TEXT and b"".join(spool.chunks()) == TEXT
    spool.discard()
    spool.discard()                                  # the second time: nothing, no error
    assert not spool.path.exists()


def test_two_spools_never_share_a_file(folder):
    first, second = Spool(folder), Spool(folder)
    assert first.path != second.path
    first.discard(), second.discard()
    assert list((folder / "tmp").iterdir()) == []


def test_a_spool_is_discarded_when_its_block_fails_and_kept_when_it_ends(folder):
    with pytest.raises(RuntimeError):
        with Spool(folder) as spool:
            spool.write(TEXT)
            raise RuntimeError("the upload broke off")
    assert not spool.path.exists() and list((folder / "tmp").glob("*.part")) == []
    with Spool(folder) as kept:
        kept.write(TEXT)
        kept.finish()
    assert kept.path.read_bytes() == TEXT, "a finished spool is the caller's to store or discard"
    kept.discard()


def test_an_unfinished_spool_is_no_blob(store, folder):
    spool = Spool(folder)
    spool.write(TEXT)
    with pytest.raises(LocalError):
        list(spool.chunks())
    with pytest.raises(LocalError):
        with store.transaction() as tx:
            tx.put_blob(spool, NOW)
    spool.discard()
    assert size_of(store, hashlib.sha256(TEXT).hexdigest()) is None


def test_stale_spool_files_go_after_the_grace_and_not_before(folder):
    stale = Spool(folder)
    stale.write(TEXT)                                # a killed process never finished it
    fresh = spooled(folder, TEXT)
    written = NOW.timestamp()
    os.utime(stale.path, (written, written))
    os.utime(fresh.path, (written + 3600, written + 3600))
    assert sweep_spools(folder, now=NOW + GRACE / 2) == 0 and stale.path.exists()
    assert sweep_spools(folder, now=NOW + GRACE + dt.timedelta(seconds=1)) == 1
    assert not stale.path.exists() and fresh.path.exists()
    assert sweep_spools(folder, now=NOW + 10 * GRACE) == 1 and not fresh.path.exists()
    assert sweep_spools(folder / "never-made", now=NOW) == 0
    stale.discard()


# ------------------------------------------------------------------ blobs
def test_a_5_mib_blob_round_trips_byte_for_byte(store, folder):
    text = os.urandom(5 * MiB + 12_345)
    spool = spooled(folder, *(text[i:i + 64 * 1024] for i in range(0, len(text), 64 * 1024)))
    digest = stored(store, spool)
    assert digest == hashlib.sha256(text).hexdigest()
    assert size_of(store, digest) == len(text)
    chunks = list(read_blob(store, digest))
    assert [len(c) for c in chunks] == [CHUNK] * 5 + [12_345]
    assert b"".join(chunks) == text
    with store.transaction() as tx:
        assert tx.blob_chunk(digest, 2) == text[2 * CHUNK:3 * CHUNK]
        assert tx.blob_chunk(digest, 5) == text[5 * CHUNK:]
        assert tx.blob_chunk(digest, 6) == b"" and tx.blob_chunk("0" * 64, 0) == b""


def test_an_empty_text_and_a_missing_blob(store, folder):
    empty = stored(store, spooled(folder))
    assert empty == hashlib.sha256(b"").hexdigest() and size_of(store, empty) == 0
    assert list(read_blob(store, empty)) == []
    with pytest.raises(LocalError):
        list(read_blob(store, "f" * 64))


def test_the_same_text_twice_is_one_blob(store, folder):
    first = stored(store, spooled(folder, TEXT))
    again = [spooled(folder, TEXT[:100], TEXT[100:]), spooled(folder, TEXT)]
    with store.transaction() as tx:                  # again in one transaction, and in another
        for spool in again:
            tx.put_blob(spool, NOW)
    for spool in again:
        spool.discard()
    assert stored(store, spooled(folder, TEXT), NOW + dt.timedelta(minutes=5)) == first
    assert b"".join(read_blob(store, first)) == TEXT and size_of(store, first) == len(TEXT)
    assert sweep(store, now=NOW + 10 * GRACE) == 1, "one row to remove, however often it was put"
    assert size_of(store, first) is None


def test_a_rolled_back_transaction_leaves_no_blob(store, folder):
    spool = spooled(folder, TEXT * 100)
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.put_blob(spool, NOW)
            assert tx.blob_size(spool.digest) == len(TEXT) * 100   # seen inside its own transaction
            raise RuntimeError("the letter was refused after its blobs were put")
    assert size_of(store, spool.digest) is None
    with store.transaction() as tx:
        assert tx.blob_chunk(spool.digest, 0) == b""
    with pytest.raises(LocalError):
        list(read_blob(store, spool.digest))
    assert sweep(store, now=NOW + 10 * GRACE) == 0
    spool.discard()
    assert list((folder / "tmp").glob("*.part")) == []
    assert stored(store, spooled(folder, TEXT * 100)) == spool.digest, "the same text can come again"
    assert b"".join(read_blob(store, spool.digest)) == TEXT * 100


# ------------------------------------------------------------------ letters and their parts
def test_a_letter_lists_its_parts_in_order(store, folder):
    big, small = spooled(folder, TEXT * 3), spooled(folder, "ภาคผนวก".encode())
    with store.transaction() as tx:
        letter_id = add_letter(tx)
        other = add_letter(tx, 2)
        tx.put_blob(big, NOW)
        tx.put_blob(small, NOW)
        tx.link_part(letter_id, 1, small.digest)
        tx.link_part(letter_id, 0, big.digest)
        tx.link_part(other, 0, big.digest)          # the same enclosure in another letter
    with store.transaction() as tx:
        assert tx.letter_parts(letter_id) == [(0, big.digest, len(TEXT) * 3),
                                              (1, small.digest, len("ภาคผนวก".encode()))]
        assert tx.letter_parts(other) == [(0, big.digest, len(TEXT) * 3)]
        assert tx.letter_parts(add_letter(tx, 3)) == []
    big.discard(), small.discard()


def test_a_part_names_a_stored_blob_once_per_place(store, folder):
    digest = stored(store, spooled(folder, TEXT))
    with store.transaction() as tx:
        letter_id = add_letter(tx)
        tx.link_part(letter_id, 0, digest)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.link_part(letter_id, 0, digest)      # that place is taken
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.link_part(letter_id + 99, 0, digest)  # no such letter
    with store.transaction() as tx:
        assert tx.letter_parts(letter_id) == [(0, digest, len(TEXT))]


def test_a_part_cannot_name_a_blob_that_is_not_stored(store):
    with store.transaction() as tx:
        letter_id = add_letter(tx)
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.link_part(letter_id, 0, "a" * 64)    # letter_parts.digest REFERENCES blobs (digest)
    with store.transaction() as tx:
        assert tx.letter_parts(letter_id) == []


def test_a_purged_letter_leaves_its_blob_to_the_sweep_after_the_grace(store, folder):
    spool = spooled(folder, TEXT)
    with store.transaction() as tx:
        letter_id = add_letter(tx)
        tx.put_blob(spool, NOW)
        tx.link_part(letter_id, 0, spool.digest)
    spool.discard()
    assert sweep(store, now=NOW + 10 * GRACE) == 0, "a letter names it"
    purge(store, letter_id)
    with store.transaction() as tx:
        assert tx.letter_parts(letter_id) == []
    assert sweep(store, now=NOW + GRACE / 2) == 0 and size_of(store, spool.digest) == len(TEXT)
    assert sweep(store, now=NOW + GRACE + dt.timedelta(seconds=1)) == 1
    assert size_of(store, spool.digest) is None
    with pytest.raises(LocalError):
        list(read_blob(store, spool.digest))
    assert sweep(store, now=NOW + 10 * GRACE) == 0


def test_a_blob_two_letters_name_stays_until_the_last_is_purged(store, folder):
    spool = spooled(folder, TEXT)
    with store.transaction() as tx:
        first, second = add_letter(tx, 1), add_letter(tx, 2)
        tx.put_blob(spool, NOW)
        tx.link_part(first, 0, spool.digest)
        tx.link_part(second, 3, spool.digest)
    spool.discard()
    purge(store, first)
    assert sweep(store, now=NOW + 10 * GRACE) == 0
    assert b"".join(read_blob(store, spool.digest)) == TEXT
    purge(store, second)
    assert sweep(store, now=NOW + 10 * GRACE) == 1 and size_of(store, spool.digest) is None


def test_the_sweep_removes_many_blobs_in_batches(store, folder):
    digests = [stored(store, spooled(folder, f"หน้า {n}".encode())) for n in range(blobs.SWEEP_BATCH + 3)]
    assert sweep(store, now=NOW + 10 * GRACE) == len(digests)
    assert all(size_of(store, d) is None for d in digests[:3] + digests[-3:])


def test_the_retention_purge_takes_the_blobs_of_the_letters_it_removes(store, folder):
    kept_text, gone_text = TEXT, TEXT[::-1]
    kept, gone = spooled(folder, kept_text), spooled(folder, gone_text)
    with store.transaction() as tx:
        old = add_letter(tx, 1, state=LetterState.REJECTED)
        tx.put_blob(gone, NOW)
        tx.link_part(old, 0, gone.digest)
    purge_at = NOW + dt.timedelta(days=3 * 365)
    later = purge_at - dt.timedelta(days=30)         # within the year kept
    with store.transaction() as tx:
        young = add_letter(tx, 2, state=LetterState.REJECTED, now=later)
        tx.put_blob(kept, later)
        tx.link_part(young, 0, kept.digest)
    kept.discard(), gone.discard()
    report = retention.purge(store, now=purge_at, keep_years=1)
    assert report.letters == 1 and report.rows["blobs"] == 1
    assert size_of(store, gone.digest) is None
    assert b"".join(read_blob(store, kept.digest)) == kept_text


# ------------------------------------------------------------------ bounded memory
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_64_mib_blob_is_written_and_read_in_bounded_memory(store, folder):
    piece = os.urandom(CHUNK)
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        spool = Spool(folder)
        for n in range(64):
            chunk = bytes([n]) + piece[1:]
            expected.update(chunk)
            spool.write(chunk)
        spool.finish()
        with store.transaction() as tx:
            tx.put_blob(spool, NOW)
        spool.discard()
        read, got = 0, hashlib.sha256()
        for chunk in read_blob(store, spool.digest):
            read += len(chunk)
            got.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert spool.digest == expected.hexdigest() == got.hexdigest() and read == 64 * MiB
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
