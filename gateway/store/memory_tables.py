"""The memory store's tables: the SQLite schema after every migration, and the constraints it enforces.

Each table is a dict from rowid to a frozen row (a read-only mapping with the
columns in SQLite's order). Writes replace rows instead of changing them, so a
shallow copy of every table is a snapshot a rollback can put back. Like
SQLite's ``sqlite_sequence``, the highest id each AUTOINCREMENT table ever
handed out is kept (a deleted row's id is never used again), and a snapshot
holds it too, so a rollback restores the sequence with the rows.

What SQLite refuses with ``sqlite3.IntegrityError`` (and the SQLite store
answers as :class:`ConflictError`) is refused here the same way: NOT NULL,
UNIQUE (including the partial index on a letter's identity), PRIMARY KEY, CHECK and
FOREIGN KEY (the SQLite store turns foreign keys on), on insert, update and
delete (a row still referenced cannot go). A statement is checked whole before
any of its rows is written, as SQLite rolls back a failed statement.
"""
from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping

from gateway.core.errors import ConflictError

Row = Mapping[str, Any]
Where = Callable[[Row], bool]
Change = Mapping[str, Any] | Callable[[Row], Mapping[str, Any]]


class _Required:
    """The default of a NOT NULL column that has none: leaving it out is a NOT NULL violation."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
WITHDRAWN = "withdrawn"


def _everywhere(row: Row) -> bool:
    return True


@dataclass(frozen=True)
class Unique:
    """A UNIQUE constraint or unique index; ``where`` is a partial index's condition."""

    columns: tuple[str, ...]
    where: Where = _everywhere


@dataclass(frozen=True)
class Table:
    """One table: columns in order with their defaults (``None``: nullable; :data:`REQUIRED`:
    NOT NULL without a default; any other value: NOT NULL with that default)."""

    columns: Mapping[str, Any]
    key: str | None = None  # the INTEGER PRIMARY KEY (the rowid); None: a hidden rowid
    unique: tuple[Unique, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (column, table whose rowid it names)
    checks: tuple[tuple[str, Where], ...] = ()      # (column, CHECK condition; a NULL passes, as in SQL)


def _columns(**defaults: Any) -> Mapping[str, Any]:
    return MappingProxyType(defaults)


R = REQUIRED  # short, for the schema below
SIGNATURE_COLUMNS = ("signed_by", "signer", "signer_org", "certificate_sha256", "signature_method",
                     "digest_method", "c14n_method", "signature_policy", "signature_digest")
IDENTITY = ("sender_org", "receiver_org", "letter_key", "corr_date")
CONSOLE_ROLES = ("operator", "auditor")

SCHEMA: Mapping[str, Table] = MappingProxyType({
    "letters": Table(
        _columns(id=None, process_id=R, sender_org=R, receiver_org=R, letter_no=R, corr_date=R, subject=R,
                 secret_code=R, speed_code=R, digest=R, signed=R, state=R, delivery=R, accept_id="",
                 created_at=R, updated_at=R, pulled_at=None, **dict.fromkeys(SIGNATURE_COLUMNS, ""),
                 verified_at=None, path="[]", letter_key=""),
        key="id",
        unique=(Unique(("process_id",)), Unique(IDENTITY, lambda row: row["state"] != WITHDRAWN))),
    "letter_blobs": Table(
        _columns(letter_id=None, raw=R, document=R), key="letter_id",
        references=(("letter_id", "letters"),)),
    "notices": Table(
        _columns(id=None, process_id=R, letter_id=R, kind=R, accept_id="", from_org=R, to_org=R, payload=R,
                 raw=R, created_at=R, path="[]"),
        key="id",
        unique=(Unique(("process_id",)), Unique(("letter_id", "kind", "accept_id"))),
        references=(("letter_id", "letters"),)),
    "queue": Table(
        _columns(id=None, org=R, process_id=R, item_kind=R, letter_id=R, notice_id=None, created_at=R,
                 visible_at=R, pulled_at=None, pull_count=0, deleted_at=None),
        key="id",
        unique=(Unique(("org", "process_id")),),
        references=(("letter_id", "letters"), ("notice_id", "notices"))),
    "outbox": Table(
        _columns(id=None, message_id=R, kind=R, process_id=R, letter_process_id=R, sender_org=R, receiver_org=R,
                 next_node=R, path="[]", payload=R, state=R, attempts=0, created_at=R, next_attempt_at=R,
                 deadline_at=R, lease_until=0, lease_token="", last_error="", receipt=None, receipt_at=None,
                 delivered_late=0, finished_at=None, abandoned_at=None, abandoned_by="", attestation=b""),
        key="id",
        unique=(Unique(("message_id",)),)),
    "received": Table(
        _columns(sender_node=R, message_id=R, process_id=R, payload_digest=R, receipt=R, received_at=R),
        unique=(Unique(("sender_node", "message_id")),)),
    # the web console (0007)
    "console_accounts": Table(
        _columns(id=None, username=R, display_name=R, password_hash=R, role=R, disabled=0, created_at=R),
        key="id",
        unique=(Unique(("username",)),),
        checks=(("role", lambda row: row["role"] in CONSOLE_ROLES),)),
    "console_sessions": Table(
        _columns(token_hash=R, account_id=R, csrf_token=R, created_at=R, expires_at=R),
        unique=(Unique(("token_hash",)),),
        references=(("account_id", "console_accounts"),)),
    "console_audit": Table(
        _columns(id=None, at=R, username=R, action=R, target="", detail="", remote_addr=""), key="id"),
    # the evidence log (0009)
    "evidence": Table(
        _columns(id=None, at=R, process_id=R, event=R, item="", detail="{}", digest="", prev_hash=R, hash=R),
        key="id",
        unique=(Unique(("hash",)), Unique(("process_id", "prev_hash")))),
    "evidence_checkpoints": Table(
        _columns(id=None, at=R, upto_id=R, entries=R, root=R, prev_root=R, document=R, timestamp_token=b""),
        key="id", unique=(Unique(("prev_root",)),)),
    # large enclosures beside the letter rows (0011)
    "blobs": Table(_columns(digest=R, size=R, created_at=R), unique=(Unique(("digest",)),)),
    "blob_chunks": Table(_columns(digest=R, seq=R, data=R), unique=(Unique(("digest", "seq")),)),
    "letter_parts": Table(_columns(letter_id=R, seq=R, digest=R), unique=(Unique(("letter_id", "seq")),),
                          references=(("letter_id", "letters"),)),
})


def _stored(value: Any) -> Any:
    """A parameter as SQLite stores it: booleans as 0/1, every bytes-like object as bytes."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


Snapshot = tuple[Mapping[str, dict[int, Row]], Mapping[str, int]]   # (rows per table, sqlite_sequence)


class Tables:
    """The rows of every table in :data:`SCHEMA`, with SQLite's constraints."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[int, Row]] = {name: {} for name in SCHEMA}
        self._sequence: dict[str, int] = {}   # AUTOINCREMENT: the highest id each table handed out

    def snapshot(self) -> Snapshot:
        return (MappingProxyType({name: dict(rows) for name, rows in self._rows.items()}),
                MappingProxyType(dict(self._sequence)))

    def restore(self, snapshot: Snapshot) -> None:
        rows, sequence = snapshot
        self._rows = {name: dict(table) for name, table in rows.items()}
        self._sequence = dict(sequence)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self._rows.items()}

    def get(self, table: str, rowid: int) -> Row | None:
        """The row with this rowid (INTEGER PRIMARY KEY), or None."""
        return self._rows[table].get(rowid)

    def select(self, table: str, where: Where) -> list[Row]:
        """Matching rows in rowid order (what SQLite scans when no ORDER BY says otherwise)."""
        return [row for row in self._rows[table].values() if where(row)]

    def insert(self, table: str, values: Mapping[str, Any]) -> Row:
        """One new row: defaults filled in, rowid assigned, constraints checked."""
        spec, rows = SCHEMA[table], self._rows[table]
        row = {column: _stored(values.get(column, default)) for column, default in spec.columns.items()}
        rowid = row[spec.key] if spec.key else None
        if rowid is None:
            rowid = max(max(rows, default=0), self._sequence.get(table, 0) if spec.key else 0) + 1
            if spec.key:
                row[spec.key] = rowid
        elif rowid in rows:
            raise ConflictError(f"UNIQUE constraint failed: {table}.{spec.key}")
        frozen = MappingProxyType(row)
        self._check(table, rowid, frozen, rows)
        rows[rowid] = frozen
        if spec.key:
            self._sequence[table] = max(self._sequence.get(table, 0), rowid)
        return frozen

    def delete(self, table: str, where: Where) -> list[Row]:
        """``DELETE FROM table WHERE where``: the rows deleted, in rowid order.

        Refused whole (FOREIGN KEY) when a row of another table still names one of them.
        """
        rows = self._rows[table]
        gone = {rowid: row for rowid, row in rows.items() if where(row)}
        for other, spec in SCHEMA.items():
            for column, target in spec.references:
                if target == table and any(r[column] in gone for r in self._rows[other].values()):
                    raise ConflictError(f"FOREIGN KEY constraint failed: {other}.{column}")
        for rowid in gone:
            del rows[rowid]
        return list(gone.values())

    def update(self, table: str, where: Where, change: Change) -> list[Row]:
        """``UPDATE ... SET change WHERE where``: the rows as updated, in rowid order.

        ``change`` maps columns to new values, or is computed from each old row
        (SQL's right-hand sides see the row before the update).
        """
        rows = self._rows[table]
        updated = {}
        for rowid, row in rows.items():
            if where(row):
                values = change(row) if callable(change) else change
                updated[rowid] = MappingProxyType({**row, **{c: _stored(v) for c, v in values.items()}})
        after = ChainMap(updated, rows)
        for rowid, row in updated.items():
            self._check(table, rowid, row, after)
        rows.update(updated)
        return list(updated.values())

    def _check(self, table: str, rowid: int, row: Row, rows: Mapping[int, Row]) -> None:
        """Raise ConflictError where SQLite raises IntegrityError for ``row`` among ``rows``."""
        spec = SCHEMA[table]
        for column, default in spec.columns.items():
            if default is not None and (row[column] is None or row[column] is REQUIRED):
                raise ConflictError(f"NOT NULL constraint failed: {table}.{column}")
        for column, condition in spec.checks:
            if row[column] is not None and not condition(row):
                raise ConflictError(f"CHECK constraint failed: {column}")
        for column, target in spec.references:
            if row[column] is not None and row[column] not in self._rows[target]:
                raise ConflictError(f"FOREIGN KEY constraint failed: {table}.{column}")
        for unique in spec.unique:
            if unique.where(row) and _clashes(unique, rowid, row, rows.items()):
                raise ConflictError(f"UNIQUE constraint failed: {table}.{', '.join(unique.columns)}")


def _clashes(unique: Unique, rowid: int, row: Row, others: Iterable[tuple[int, Row]]) -> bool:
    """Whether another row has the same key under ``unique`` (NULLs never clash, as in SQL)."""
    key = tuple(row[c] for c in unique.columns)
    if None in key:
        return False
    return any(other_id != rowid and unique.where(other) and tuple(other[c] for c in unique.columns) == key
               for other_id, other in others)


def limited(rows: list[Row], limit: int) -> list[Row]:
    """SQLite's ``LIMIT``: a negative limit means no limit."""
    return rows if limit < 0 else rows[:limit]


class Cursor:
    """What a query answers: its rows (plain dicts by column name, like ``sqlite3.Row``) and ``rowcount``.

    ``rowcount`` is as sqlite3 reports it: rows written by INSERT and UPDATE, -1 for SELECT.
    """

    def __init__(self, rows: Iterable[Row] = (), rowcount: int = -1) -> None:
        self._rows: Iterator[dict[str, Any]] = iter([dict(row) for row in rows])
        self.rowcount = rowcount

    def fetchone(self) -> dict[str, Any] | None:
        return next(self._rows, None)

    def fetchall(self) -> list[dict[str, Any]]:
        return list(self._rows)
