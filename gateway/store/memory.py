"""In-memory backend: the in-package fake of the Store port (STYLE 6), with no database at all.

Modelled on procrastinate's ``InMemoryConnector``: the fake sits at the
execute level and is keyed by query name. :class:`Tx` is shared with the real
backends and unchanged; it is given a mapping in which every query name of the
SQLite dialect stands for itself, so ``execute(name, params)`` reaches one
``q_<name>`` method that does what that named SQL block does, over the tables
of :mod:`gateway.store.memory_tables`, and answers rows with SQLite's column
names and value types (times as integer microseconds, blobs as bytes, booleans
as 0/1).

Each method mirrors its block in ``sql/sqlite/queries.sql`` clause by clause:
the same filters, ORDER BY, LIMIT, compare-and-set conditions and rowcounts;
the constraints of the migrations raise :class:`ConflictError` as the SQLite
store does. Parameters compared in WHERE clauses are never NULL (:class:`Tx`
passes values), so Python comparison is SQL comparison here.

Tests run every store test on memory, SQLite and PostgreSQL, so a handler
that drifts from its SQL fails next to the real backends. One process-wide
lock serialises transactions, like the SQLite store; a transaction snapshots
the tables when it starts and puts the snapshot back on any exception, so
nothing is half-stored.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, Iterator, Mapping

from gateway.core.errors import LocalError, StoreError
from gateway.store import Store, Tx, load_queries
from gateway.store.memory_blobs import BlobQueries
from gateway.store.memory_console import ConsoleQueries
from gateway.store.memory_evidence import EvidenceQueries
from gateway.store.memory_registers import RegisterQueries
from gateway.store.memory_tables import IDENTITY, SIGNATURE_COLUMNS, WITHDRAWN, Cursor, Row, Tables, Where, limited

MIRRORED_DIALECT = "sqlite"  # whose queries and migrations this store implements
PENDING, FAILED, DELIVERED = "pending", "failed", "delivered"
COUNTED = ("letters", "letter_blobs", "notices", "queue", "outbox", "received")   # table_counts' columns

Params = Mapping[str, Any]


def _pick(params: Params, *names: str) -> dict[str, Any]:
    """The named parameters, for columns of the same names."""
    return {name: params[name] for name in names}


def _is(**values: Any) -> Where:
    """``column = value AND ...`` (a None value stands for ``IS NULL``)."""
    return lambda row: all(row[column] == value for column, value in values.items())


def _rows(rows: list[Row]) -> Cursor:
    """A SELECT's answer."""
    return Cursor(rows)


def _written(rows: list[Row]) -> Cursor:
    """An UPDATE's answer: how many rows it changed."""
    return Cursor(rowcount=len(rows))


def _returned(rows: list[Row]) -> Cursor:
    """An ``UPDATE ... RETURNING *``'s answer: the rows as changed, and their count."""
    return Cursor(rows, rowcount=len(rows))


def _inserted(row: Row, *returning: str) -> Cursor:
    """An INSERT's answer: one row written, and the ``RETURNING`` columns if any."""
    return Cursor([{column: row[column] for column in returning}] if returning else [], rowcount=1)


def _newest_first(rows: list[Row], limit: int) -> list[Row]:
    return limited(sorted(rows, key=itemgetter("id"), reverse=True), limit)


def _per(rows: list[Row], column: str) -> Cursor:
    """``SELECT column, count(*) AS items ... GROUP BY column ORDER BY column``."""
    counts = Counter(row[column] for row in rows)
    return _rows([{column: value, "items": counts[value]} for value in sorted(counts)])


class MemoryStore(RegisterQueries, ConsoleQueries, EvidenceQueries, BlobQueries, Store):
    """The Store port over dicts in this process; for tests and demonstrations, never for production.

    The handlers of the registers, statistics and retention queries are in ``memory_registers.py``,
    those of the web console's in ``memory_console.py``, those of the evidence log in ``memory_evidence.py``, the blob store's in
    ``memory_blobs.py``.
    """

    dialect = "memory"
    migrations_dialect = MIRRORED_DIALECT

    def __init__(self) -> None:
        self._tables = Tables()
        self._lock = threading.RLock()
        self._queries = {name: name for name in load_queries(MIRRORED_DIALECT)}
        self._version = 0
        self._in_transaction = False
        self._work = threading.Event()

    # ------------------------------------------------------------ Store
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            if self._in_transaction:  # SQLite refuses a BEGIN inside a transaction
                raise StoreError("memory store: cannot start a transaction within a transaction")
            snapshot = self._tables.snapshot()
            tx = Tx(self._execute, self._queries)
            self._in_transaction = True
            try:
                yield tx
            except BaseException:
                self._tables.restore(snapshot)
                raise
            finally:
                self._in_transaction = False
            if tx.outbox_written:
                self._work.set()

    @contextmanager
    def _migrating(self) -> Iterator[int]:
        with self._lock:
            yield self._version

    def _apply_migration(self, version: int, name: str, statements: list[str]) -> None:
        """The tables exist whole (memory_tables.SCHEMA mirrors every migration): only the version moves."""
        self._version = version

    def schema_version(self) -> int:
        with self._lock:
            return self._version

    def wait_for_work(self, timeout: float) -> None:
        if self._work.wait(timeout):
            self._work.clear()

    def close(self) -> None:
        self._work.set()

    def _execute(self, name: str, params: Params) -> Cursor:
        handler = getattr(self, f"q_{name}", None)
        if handler is None:
            raise LocalError(f"memory store: no handler for query {name!r}")
        if not self._version:
            raise StoreError(f"memory store: query {name} before migrate (no such table)")
        return handler(params)

    # ---------------------------------------------------------- letters
    def q_insert_letter(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("letters", {
            **_pick(p, "process_id", "sender_org", "receiver_org", "letter_no", "letter_key", "corr_date", "subject",
                    "secret_code", "speed_code", "digest", "signed", "state", "delivery"),
            "accept_id": "", "created_at": p["now"], "updated_at": p["now"]}), "id")

    def q_record_verification(self, p: Params) -> Cursor:
        return _written(self._tables.update("letters", _is(id=p["id"]),
                                            _pick(p, *SIGNATURE_COLUMNS, "verified_at")))

    def q_letters_by_signature(self, p: Params) -> Cursor:
        return _rows(self._tables.select("letters", _is(**_pick(p, "sender_org", "signature_digest"))))

    def q_insert_letter_blob(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("letter_blobs", _pick(p, "letter_id", "raw", "document")))

    def _identity(self, p: Params, live: bool) -> list[Row]:
        same = _is(**_pick(p, *IDENTITY))
        return self._tables.select("letters", lambda r: same(r) and (r["state"] != WITHDRAWN) == live)

    def q_find_live_letter(self, p: Params) -> Cursor:
        return _rows(self._identity(p, live=True))

    def q_find_withdrawn_letter(self, p: Params) -> Cursor:
        return _rows(_newest_first(self._identity(p, live=False), 1))

    def _live_letters(self, where: Where) -> Cursor:
        return _rows(self._tables.select("letters", lambda r: where(r) and r["state"] != WITHDRAWN))

    def q_letters_to_receiver(self, p: Params) -> Cursor:
        return self._live_letters(_is(**_pick(p, "receiver_org", "letter_key", "corr_date")))

    def q_letters_from_sender(self, p: Params) -> Cursor:
        return self._live_letters(_is(**_pick(p, "sender_org", "letter_key", "corr_date")))

    def _by_rowid(self, table: str, rowid: int, *columns: str) -> Cursor:
        """``SELECT * (or columns) FROM table WHERE <INTEGER PRIMARY KEY> = rowid``."""
        row = self._tables.get(table, rowid)
        if row is None:
            return _rows([])
        return _rows([{c: row[c] for c in columns} if columns else row])

    def q_get_letter(self, p: Params) -> Cursor:
        return self._by_rowid("letters", p["id"])

    def q_letter_by_process_id(self, p: Params) -> Cursor:
        return _rows(self._tables.select("letters", _is(process_id=p["process_id"])))

    def q_letter_document(self, p: Params) -> Cursor:
        return self._by_rowid("letter_blobs", p["letter_id"], "document")

    def q_letter_raw(self, p: Params) -> Cursor:
        return self._by_rowid("letter_blobs", p["letter_id"], "raw")

    def q_set_letter_state(self, p: Params) -> Cursor:
        return _written(self._tables.update("letters", _is(id=p["id"], state=p["expected_state"]), {
            "state": p["new_state"], "accept_id": p["accept_id"], "updated_at": p["now"]}))

    def q_set_letter_pulled(self, p: Params) -> Cursor:
        return _written(self._tables.update("letters", _is(id=p["id"], pulled_at=None), {"pulled_at": p["now"]}))

    def q_outbound_status(self, p: Params) -> Cursor:
        rows = self._tables.select("letters", lambda r: r["sender_org"] == p["sender_org"]
                                   and r["created_at"] >= p["since"])
        return _rows(limited(sorted(rows, key=itemgetter("created_at", "id"), reverse=True), p["limit"]))

    def q_recent_letters(self, p: Params) -> Cursor:
        org = p["org"]
        rows = self._tables.select("letters", lambda r: r["sender_org"] == org or r["receiver_org"] == org)
        return _rows(_newest_first(rows, p["limit"]))

    def q_set_letter_delivery(self, p: Params) -> Cursor:
        return _written(self._tables.update(
            "letters", lambda r: r["process_id"] == p["process_id"] and r["delivery"] != p["delivery"],
            {"delivery": p["delivery"], "updated_at": p["now"]}))

    def q_set_letter_path(self, p: Params) -> Cursor:
        return _written(self._tables.update("letters", _is(id=p["id"]), {"path": p["path"]}))

    # ---------------------------------------------------------- notices
    def q_insert_notice(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("notices", {
            **_pick(p, "process_id", "letter_id", "kind", "accept_id", "from_org", "to_org", "payload", "raw"),
            "created_at": p["now"]}), "id")

    def q_find_notice(self, p: Params) -> Cursor:
        return _rows(self._tables.select("notices", _is(**_pick(p, "letter_id", "kind", "accept_id"))))

    def q_latest_notice(self, p: Params) -> Cursor:
        return _rows(_newest_first(self._tables.select("notices", _is(**_pick(p, "letter_id", "kind"))), 1))

    def q_get_notice(self, p: Params) -> Cursor:
        return self._by_rowid("notices", p["id"])

    def q_notice_by_process_id(self, p: Params) -> Cursor:
        return _rows(self._tables.select("notices", _is(process_id=p["process_id"])))

    def q_set_notice_path(self, p: Params) -> Cursor:
        return _written(self._tables.update("notices", _is(id=p["id"]), {"path": p["path"]}))

    # ------------------------------------------------------------ queue
    def q_enqueue(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("queue", {
            **_pick(p, "org", "process_id", "item_kind", "letter_id", "notice_id"),
            "created_at": p["now"], "visible_at": p["now"]}))

    def q_claim_next(self, p: Params) -> Cursor:
        """The lowest id of the org's visible, undeleted items becomes invisible until ``until``."""
        visible = self._tables.select("queue", lambda r: r["org"] == p["org"] and r["deleted_at"] is None
                                      and r["visible_at"] <= p["now"])
        if not visible:
            return _returned([])
        first = min(row["id"] for row in visible)
        return _returned(self._tables.update("queue", _is(id=first), lambda r: {
            "visible_at": p["until"], "pulled_at": p["now"], "pull_count": r["pull_count"] + 1}))

    def q_queue_item(self, p: Params) -> Cursor:
        return _rows(self._tables.select("queue", _is(**_pick(p, "org", "process_id"))))

    def q_delete_queue_item(self, p: Params) -> Cursor:
        return _written(self._tables.update("queue", _is(**_pick(p, "org", "process_id"), deleted_at=None),
                                            {"deleted_at": p["now"]}))

    def q_delete_letter_items(self, p: Params) -> Cursor:
        where = _is(**_pick(p, "org", "letter_id"), item_kind="letter", deleted_at=None)
        return _written(self._tables.update("queue", where, {"deleted_at": p["now"]}))

    def q_queue_depth(self, p: Params) -> Cursor:
        return _per(self._tables.select("queue", _is(deleted_at=None)), "org")

    def q_table_counts(self, p: Params) -> Cursor:
        counts = self._tables.counts()
        return _rows([{name: counts[name] for name in COUNTED}])

    # ------------------------------------------------------------ outbox
    def q_insert_outbox(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("outbox", {
            **_pick(p, "message_id", "kind", "process_id", "letter_process_id", "sender_org", "receiver_org",
                    "next_node", "path", "payload", "attestation"),
            "state": PENDING, "created_at": p["now"], "next_attempt_at": p["now"], "deadline_at": p["deadline"]}))

    def q_notify_outbox(self, p: Params) -> Cursor:
        return _rows([{"notified": 1}])

    def q_claim_outbox(self, p: Params) -> Cursor:
        """The ``limit`` earliest due, unleased items whose letter has no earlier pending item, leased to ``token``.

        RETURNING's order is arbitrary in SQL (Tx sorts); this answers in rowid order, as SQLite does.
        """
        pending = self._tables.select("outbox", _is(state=PENDING))
        first_of_letter: dict[str, int] = {}
        for row in pending:  # rowid order: the first seen is the letter's lowest pending id
            first_of_letter.setdefault(row["letter_process_id"], row["id"])
        due = [r for r in pending if r["next_attempt_at"] <= p["now"] and r["lease_until"] <= p["now"]
               and first_of_letter[r["letter_process_id"]] == r["id"]]
        chosen = {r["id"] for r in limited(sorted(due, key=itemgetter("next_attempt_at", "id")), p["limit"])}
        return _returned(self._tables.update("outbox", lambda r: r["id"] in chosen, lambda r: {
            "lease_until": p["until"], "lease_token": p["token"], "attempts": r["attempts"] + 1}))

    def q_outbox_delivered(self, p: Params) -> Cursor:
        return _written(self._tables.update(
            "outbox", lambda r: r["id"] == p["id"] and r["state"] in (PENDING, FAILED), lambda r: {
                "state": DELIVERED, "receipt": p["receipt"], "receipt_at": p["now"],
                "delivered_late": int(r["state"] == FAILED), "finished_at": p["now"], "lease_until": 0,
                "last_error": ""}))

    def q_outbox_retry(self, p: Params) -> Cursor:
        return _written(self._tables.update("outbox", _is(id=p["id"], state=PENDING, lease_token=p["token"]), {
            "next_attempt_at": p["next_at"], "last_error": p["error"], "lease_until": 0}))

    def q_outbox_failed(self, p: Params) -> Cursor:
        return _written(self._tables.update("outbox", _is(id=p["id"], state=PENDING), {
            "state": FAILED, "last_error": p["error"], "finished_at": p["now"], "lease_until": 0}))

    def q_expired_outbox(self, p: Params) -> Cursor:
        rows = self._tables.select("outbox", lambda r: r["state"] == PENDING and r["deadline_at"] < p["now"]
                                   and r["lease_until"] <= p["now"])
        return _rows(limited(rows, p["limit"]))

    def q_outbox_item(self, p: Params) -> Cursor:
        return self._by_rowid("outbox", p["id"])

    def q_outbox_by_message_id(self, p: Params) -> Cursor:
        return _rows(self._tables.select("outbox", _is(message_id=p["message_id"])))

    def q_outbox_of_letter(self, p: Params) -> Cursor:
        return _rows(self._tables.select("outbox", _is(letter_process_id=p["letter_process_id"])))

    def q_outbox_counts(self, p: Params) -> Cursor:
        return _per(self._tables.select("outbox", lambda r: True), "state")

    def q_next_due_at(self, p: Params) -> Cursor:
        """``min()`` over no rows is one row holding NULL."""
        due = [r["next_attempt_at"] for r in self._tables.select("outbox", _is(state=PENDING))]
        return _rows([{"due": min(due, default=None)}])

    # ---------------------------------------------------------- received
    def q_insert_received(self, p: Params) -> Cursor:
        return _inserted(self._tables.insert("received", {
            **_pick(p, "sender_node", "message_id", "process_id", "payload_digest", "receipt"),
            "received_at": p["now"]}))

    def q_received_message(self, p: Params) -> Cursor:
        return _rows(self._tables.select("received", _is(**_pick(p, "sender_node", "message_id"))))
