"""The blob store: large enclosures beside the letter rows (issue 10, part 3).

Theory of operation
-------------------
A blob is one enclosure's exact base64 text, named by the lowercase hex SHA-256 of its bytes; a
large letter's stored document names it by placeholder (core/letters/parts.py) and ``letter_parts``
lists the blobs of each letter in order.

While a request is read, each large text is streamed into a :class:`Spool`: a temporary file under
the node's data folder (``blobs/tmp``), hashed as it is written and fsynced when finished; nothing is
held in memory but one chunk. The operation that stores the letter then copies each spool into the
database, 1 MiB per row of ``blob_chunks``, **in the letter's own transaction** (:meth:`BlobTx.put_blob`):
a crash or a refusal leaves no letter without its blobs and no blob without its letter, on SQLite and
on PostgreSQL alike, and every gateway process on every host reads them through the database.

This departs from the first plan, content-addressed files on SQLite: a file cannot join the
database's transaction, so it would need a cleaner for the orphans a crash leaves, and a backup of
the database file would miss it. Chunked rows need neither (PostgreSQL large objects would need their
own cleanup too). The spool files are the only files, and the request's own ``finally`` removes them
(:func:`sweep_spools` removes those a killed process left).

The same text twice is one blob. A letter purged leaves its blobs unreferenced; the purge removes them
(:func:`sweep`). Reading streams a blob a chunk at a time, one short transaction per chunk
(:func:`read_blob`), so an answer that takes minutes to send holds no transaction.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from gateway.core.errors import LocalError

CHUNK = 1 << 20
SPOOL_FOLDER = "tmp"
SWEEP_BATCH = 100


class Spool:
    """A large text as it arrives: a temporary file, hashed as written (core/xml/stream.py's TextSink)."""

    def __init__(self, folder: Path) -> None:
        (folder / SPOOL_FOLDER).mkdir(parents=True, exist_ok=True)
        self.path = folder / SPOOL_FOLDER / f"{secrets.token_hex(12)}.part"
        self._file = open(self.path, "xb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest = ""

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> str:
        """Flush and fsync the file; the hex SHA-256 of everything written."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.digest = self._hash.hexdigest()
        return self.digest

    def chunks(self) -> Iterator[bytes]:
        if not self.digest:
            raise LocalError("a spool is read before it is finished")
        with open(self.path, "rb") as source:
            while data := source.read(CHUNK):
                yield data

    def discard(self) -> None:
        """Close and delete the file (nothing happens the second time)."""
        if not self._file.closed:
            self._file.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, kind, value, trace) -> None:
        if kind is not None:
            self.discard()


class BlobTx:
    """The blob store's methods of :class:`gateway.store.Tx`, which provides these:"""

    _rows: Callable[..., list[Mapping[str, Any]]]
    _row: Callable[..., Mapping[str, Any] | None]
    _count: Callable[..., int]

    def put_blob(self, spool: Spool, now: dt.datetime) -> None:
        """Keep a finished spool's text as a blob, in this transaction (once per digest)."""
        from gateway.store import to_us
        if not spool.digest:
            raise LocalError("put_blob needs a finished spool")
        if self._row("insert_blob", digest=spool.digest, size=spool.size, now=to_us(now)) is None:
            return   # the same text is stored already
        for seq, data in enumerate(spool.chunks()):
            self._count("insert_blob_chunk", digest=spool.digest, seq=seq, data=data)

    def link_part(self, letter_id: int, seq: int, digest: str) -> None:
        self._count("link_part", letter_id=letter_id, seq=seq, digest=digest)

    def letter_parts(self, letter_id: int) -> list[tuple[int, str, int]]:
        """The letter's blobs as (seq, digest, size), in order; none for a letter held whole."""
        return [(r["seq"], r["digest"], r["size"]) for r in self._rows("letter_parts", letter_id=letter_id)]

    def blob_size(self, digest: str) -> int | None:
        row = self._row("blob_size", digest=digest)
        return None if row is None else row["size"]

    def blob_chunk(self, digest: str, index: int) -> bytes:
        """The index-th chunk of a blob (``CHUNK`` bytes; the last may be shorter); b"" past its end."""
        row = self._row("blob_chunk", digest=digest, seq=index)
        return b"" if row is None else bytes(row["data"])

    def purge_letter_parts(self, letter_id: int) -> int:
        return self._count("purge_letter_parts", letter_id=letter_id)

    def delete_unreferenced_blobs(self, *, before: dt.datetime, limit: int = SWEEP_BATCH) -> int:
        """Remove at most ``limit`` blobs no letter names, created before ``before``; how many went."""
        from gateway.store import to_us
        gone = 0
        for row in self._rows("unreferenced_blobs", before=to_us(before), limit=limit):
            self._count("delete_blob_chunks", digest=row["digest"])
            gone += self._count("delete_blob", digest=row["digest"])
        return gone


def read_blob(store, digest: str) -> Iterator[bytes]:
    """A blob's text, a chunk at a time, one short transaction per chunk."""
    with store.transaction() as tx:
        if tx.blob_size(digest) is None:
            raise LocalError(f"no blob {digest}")
    index = 0
    while True:
        with store.transaction() as tx:
            data = tx.blob_chunk(digest, index)
        if not data:
            return
        yield data
        index += 1


def sweep(store, *, now: dt.datetime, grace: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Remove the blobs no letter names that are older than ``grace``; how many were removed."""
    removed = 0
    while True:
        with store.transaction() as tx:
            gone = tx.delete_unreferenced_blobs(before=now - grace)
        removed += gone
        if gone < SWEEP_BATCH:
            return removed


def sweep_spools(folder: Path, *, now: dt.datetime, grace: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Delete spool files a killed process left (last written before ``now - grace``); how many."""
    removed = 0
    spools = folder / SPOOL_FOLDER
    if not spools.is_dir():
        return 0
    cutoff = (now - grace).timestamp()
    for path in spools.glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
