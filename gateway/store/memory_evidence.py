"""The memory store's handlers for the evidence log's queries (issue 14, ``store/evidence.py``).

A mixin of :class:`gateway.store.memory.MemoryStore`, like ``memory_console.py``:
each ``q_<name>`` mirrors its block in ``sql/sqlite/queries.sql`` clause by
clause (the same filters, ORDER BY and LIMIT, SQLite's column names and value
types). The UNIQUE constraints of ``evidence`` (``hash``, and ``(process_id,
prev_hash)``) are the tables' (``memory_tables.SCHEMA``): a clash is a
ConflictError, as on SQLite.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Mapping

from gateway.store.memory_tables import Cursor, Row, Tables, limited

Params = Mapping[str, Any]
ENTRY = ("at", "process_id", "event", "item", "detail", "digest", "prev_hash", "hash")
CHECKPOINT = ("at", "upto_id", "entries", "root", "prev_root", "document", "timestamp_token")


def _id_of(row: Row) -> Cursor:
    """``INSERT ... RETURNING id``."""
    return Cursor([{"id": row["id"]}], rowcount=1)


def _by_id(rows: list[Row], *, newest_first: bool = False) -> list[Row]:
    return sorted(rows, key=itemgetter("id"), reverse=newest_first)


class EvidenceQueries:
    """``q_`` handlers over ``self._tables``."""

    _tables: Tables

    # ---------------------------------------------------------- entries
    def q_evidence_head(self, p: Params) -> Cursor:
        rows = self._tables.select("evidence", lambda e: e["process_id"] == p["process_id"])
        return Cursor([{"hash": e["hash"]} for e in limited(_by_id(rows, newest_first=True), 1)])

    def q_insert_evidence(self, p: Params) -> Cursor:
        return _id_of(self._tables.insert("evidence", {column: p[column] for column in ENTRY}))

    def q_evidence_of(self, p: Params) -> Cursor:
        return Cursor(_by_id(self._tables.select("evidence", lambda e: e["process_id"] == p["process_id"])))

    def q_evidence_after(self, p: Params) -> Cursor:
        rows = self._tables.select("evidence", lambda e: e["id"] > p["after_id"])
        return Cursor(limited(_by_id(rows), p["limit"]))

    def q_evidence_max_id(self, p: Params) -> Cursor:
        return Cursor([{"max_id": max((e["id"] for e in self._tables.select("evidence", lambda e: True)),
                                      default=0)}])

    def q_letters_after(self, p: Params) -> Cursor:
        rows = self._tables.select("letters", lambda row: row["id"] > p["after_id"])
        return Cursor(limited(_by_id(rows), p["limit"]))

    # ---------------------------------------------------------- checkpoints
    def q_insert_checkpoint(self, p: Params) -> Cursor:
        return _id_of(self._tables.insert("evidence_checkpoints", {column: p[column] for column in CHECKPOINT}))

    def q_last_checkpoint(self, p: Params) -> Cursor:
        rows = self._tables.select("evidence_checkpoints", lambda c: True)
        return Cursor(limited(_by_id(rows, newest_first=True), 1))

    def q_checkpoints(self, p: Params) -> Cursor:
        return Cursor(_by_id(self._tables.select("evidence_checkpoints", lambda c: True)))
