"""The memory store's handlers for the blob store's queries (issue 10, ``store/blobs.py``).

A mixin of :class:`gateway.store.memory.MemoryStore`, like ``memory_evidence.py``: each ``q_<name>``
mirrors its block in ``sql/sqlite/queries.sql`` (the same filters and order, SQLite's value types).
The tables' keys are (``blobs.digest``) and (``blob_chunks.digest, seq``), (``letter_parts.letter_id,
seq``); a letter's parts reference its row, so a letter with parts cannot be purged before them. The
foreign keys to ``blobs.digest`` (a TEXT key, which memory_tables does not model) are checked here.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Mapping

from gateway.core.errors import ConflictError
from gateway.store.memory_tables import Cursor, Tables, limited

Params = Mapping[str, Any]


class BlobQueries:
    """``q_`` handlers over ``self._tables``."""

    _tables: Tables

    def _blob_must_exist(self, digest: str) -> None:
        """The foreign keys to ``blobs.digest`` (memory_tables models only those to a rowid)."""
        if not self._tables.select("blobs", lambda b: b["digest"] == digest):
            raise ConflictError("FOREIGN KEY constraint failed")

    def _referenced(self, digest: str) -> bool:
        return bool(self._tables.select("letter_parts", lambda p: p["digest"] == digest))

    def q_insert_blob(self, p: Params) -> Cursor:
        if self._tables.select("blobs", lambda b: b["digest"] == p["digest"]):
            return Cursor([], rowcount=0)             # ON CONFLICT DO NOTHING: no row returned
        self._tables.insert("blobs", {"digest": p["digest"], "size": p["size"], "created_at": p["now"]})
        return Cursor([{"digest": p["digest"]}], rowcount=1)

    def q_insert_blob_chunk(self, p: Params) -> Cursor:
        self._blob_must_exist(p["digest"])
        self._tables.insert("blob_chunks", {"digest": p["digest"], "seq": p["seq"], "data": p["data"]})
        return Cursor(rowcount=1)

    def q_link_part(self, p: Params) -> Cursor:
        self._blob_must_exist(p["digest"])
        self._tables.insert("letter_parts", {"letter_id": p["letter_id"], "seq": p["seq"], "digest": p["digest"]})
        return Cursor(rowcount=1)

    def q_letter_parts(self, p: Params) -> Cursor:
        found = sorted(self._tables.select("letter_parts", lambda r: r["letter_id"] == p["letter_id"]),
                       key=itemgetter("seq"))
        sizes = {b["digest"]: b["size"] for b in self._tables.select("blobs", lambda b: True)}
        return Cursor([{"seq": r["seq"], "digest": r["digest"], "size": sizes[r["digest"]]} for r in found])

    def q_blob_size(self, p: Params) -> Cursor:
        return Cursor([{"size": b["size"]} for b in self._tables.select("blobs", lambda b: b["digest"] == p["digest"])])

    def q_blob_chunk(self, p: Params) -> Cursor:
        return Cursor([{"data": c["data"]} for c in self._tables.select(
            "blob_chunks", lambda c: c["digest"] == p["digest"] and c["seq"] == p["seq"])])

    def q_purge_letter_parts(self, p: Params) -> Cursor:
        return Cursor(rowcount=len(self._tables.delete("letter_parts", lambda r: r["letter_id"] == p["letter_id"])))

    def q_unreferenced_blobs(self, p: Params) -> Cursor:
        found = [b for b in self._tables.select("blobs", lambda b: b["created_at"] < p["before"])
                 if not self._referenced(b["digest"])]
        found.sort(key=itemgetter("created_at", "digest"))
        return Cursor([{"digest": b["digest"]} for b in limited(found, p["limit"])])

    def q_delete_blob_chunks(self, p: Params) -> Cursor:
        return Cursor(rowcount=len(self._tables.delete("blob_chunks", lambda c: c["digest"] == p["digest"])))

    def q_delete_blob(self, p: Params) -> Cursor:
        if self._referenced(p["digest"]):
            return Cursor(rowcount=0)
        if self._tables.select("blob_chunks", lambda c: c["digest"] == p["digest"]):
            raise ConflictError("FOREIGN KEY constraint failed")
        return Cursor(rowcount=len(self._tables.delete("blobs", lambda b: b["digest"] == p["digest"])))
