"""The memory store's handlers for the registers, statistics and retention queries (issue 13).

A mixin of :class:`gateway.store.memory.MemoryStore`, kept apart so each file
stays one concern. Like the rest of the fake, each ``q_<name>`` mirrors its
block in ``sql/sqlite/queries.sql`` clause by clause: the same filters, the
same ORDER BY and LIMIT, SQLite's column names and value types, and the
rowcount of each DELETE.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Mapping

from gateway.store.memory_tables import Cursor, Row, Tables, limited

Params = Mapping[str, Any]
FINAL_STATES = ("accepted", "rejected", "invalid", "withdrawn")
PENDING = "pending"


def _deleted(rows: list[Row]) -> Cursor:
    return Cursor(rowcount=len(rows))


class RegisterQueries:
    """``q_`` handlers over ``self._tables``."""

    _tables: Tables

    def _accepted_at(self, letter_id: int) -> int | None:
        """``(SELECT max(n.created_at) FROM notices n WHERE n.letter_id = ? AND n.kind = 'accept')``."""
        times = [n["created_at"] for n in self._tables.select(
            "notices", lambda n: n["letter_id"] == letter_id and n["kind"] == "accept")]
        return max(times, default=None)

    def _with_accepted_at(self, rows: list[Row]) -> list[dict[str, Any]]:
        return [{**row, "accepted_at": self._accepted_at(row["id"])} for row in rows]

    def q_register_received(self, p: Params) -> Cursor:
        rows = self._with_accepted_at(self._tables.select(
            "letters", lambda r: r["receiver_org"] == p["org"] and r["created_at"] < p["until"]))

        def entered(row: Row) -> int:
            return row["accepted_at"] if row["accepted_at"] is not None else row["created_at"]

        chosen = [r for r in rows if p["since"] <= entered(r) < p["until"]]
        return Cursor(sorted(chosen, key=lambda r: (entered(r), r["id"])))

    def q_register_sent(self, p: Params) -> Cursor:
        rows = self._tables.select("letters", lambda r: r["sender_org"] == p["org"]
                                   and p["since"] <= r["created_at"] < p["until"])
        return Cursor(sorted(self._with_accepted_at(rows), key=itemgetter("created_at", "id")))

    def q_letter_counts(self, p: Params) -> Cursor:
        org = p["org"]
        letters = self._tables.select("letters", lambda r: (r["sender_org"] == org or r["receiver_org"] == org)
                                      and p["since"] <= r["created_at"] < p["until"])
        pairs = [(r, self._tables.get("letter_blobs", r["id"])) for r in letters]
        pairs = [(r, len(b["document"])) for r, b in pairs if b is not None]   # the inner JOIN
        sent = [(r, size) for r, size in pairs if r["sender_org"] == org]
        received = [(r, size) for r, size in pairs if r["receiver_org"] == org]
        return Cursor([{
            "sent": len(sent), "sent_delivered": sum(1 for r, _ in sent if r["delivery"] == "delivered"),
            "sent_bytes": sum(size for _, size in sent), "received": len(received),
            "received_bytes": sum(size for _, size in received)}])

    def q_notice_counts(self, p: Params) -> Cursor:
        org = p["org"]
        letters: dict[str, set[int]] = {}
        for n in self._tables.select("notices", lambda n: n["from_org"] == org
                                     and p["since"] <= n["created_at"] < p["until"]):
            letter = self._tables.get("letters", n["letter_id"])
            if letter is not None and letter["receiver_org"] == org:
                letters.setdefault(n["kind"], set()).add(n["letter_id"])
        return Cursor([{"kind": kind, "letters": len(letters[kind])} for kind in sorted(letters)])

    def q_purge_candidates(self, p: Params) -> Cursor:
        before = p["before"]

        def done(row: Row) -> bool:
            final = row["state"] in FINAL_STATES or (row["state"] == "sent" and row["delivery"] == "failed")
            return (row["id"] > p["after"] and row["updated_at"] < before and (row["pulled_at"] or 0) < before
                    and final and not self._touched_since(row, before))

        return Cursor(limited(self._tables.select("letters", done), p["limit"]))

    def _touched_since(self, letter: Row, before: int) -> bool:
        """The three NOT EXISTS of purge_candidates, negated: a newer notice, queue or outbox row, or one in flight."""
        lid, pid = letter["id"], letter["process_id"]
        return bool(
            self._tables.select("notices", lambda n: n["letter_id"] == lid and n["created_at"] >= before)
            or self._tables.select("queue", lambda q: q["letter_id"] == lid
                                   and (q["deleted_at"] is None or q["deleted_at"] >= before))
            or self._tables.select("outbox", lambda o: o["letter_process_id"] == pid and (
                o["state"] == PENDING or _finished(o) >= before)))

    def q_transit_purge_candidates(self, p: Params) -> Cursor:
        stored = {r["process_id"] for r in self._tables.select("letters", lambda r: True)}
        rows = self._tables.select("outbox", lambda o: o["id"] > p["after"] and o["state"] != PENDING
                                   and _finished(o) < p["before"] and o["letter_process_id"] not in stored)
        columns = ("id", "kind", "letter_process_id", "next_node", "state")
        return Cursor([{c: o[c] for c in columns} for o in limited(rows, p["limit"])])

    def q_purge_letter_queue(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("queue", lambda q: q["letter_id"] == p["letter_id"]))

    def q_purge_letter_notices(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("notices", lambda n: n["letter_id"] == p["letter_id"]))

    def q_purge_letter_outbox(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("outbox", lambda o: o["letter_process_id"] == p["letter_process_id"]))

    def q_purge_letter_blob(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("letter_blobs", lambda b: b["letter_id"] == p["letter_id"]))

    def q_purge_letter(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("letters", lambda r: r["id"] == p["letter_id"]))

    def q_purge_outbox_item(self, p: Params) -> Cursor:
        return _deleted(self._tables.delete("outbox", lambda o: o["id"] == p["id"] and o["state"] != PENDING))


def _finished(item: Row) -> int:
    """``coalesce(finished_at, created_at)``."""
    return item["finished_at"] if item["finished_at"] is not None else item["created_at"]
