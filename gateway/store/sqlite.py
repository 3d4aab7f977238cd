"""SQLite backend: the embedded default (WAL, one data folder, no server).

One connection, one writer at a time: SQLite serialises writers anyway, and a
Python lock around each transaction turns "database is locked" races between
our own threads into plain waiting. ``synchronous=FULL``: a letter the node
acknowledged survives a power cut, not only a killed process. Several
processes on one SQLite file are not supported (DESIGN section 7: use
PostgreSQL for that).
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from gateway.core.errors import ConflictError, StoreError
from gateway.store import Store, Tx, load_queries

BUSY_TIMEOUT_MS = 30_000


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         timeout=BUSY_TIMEOUT_MS / 1000)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._queries = load_queries(self.dialect)
        self._work = threading.Event()  # one process per SQLite file: in-process wake-ups suffice

    def _execute(self, sql: str, params: Mapping[str, Any]) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite: {exc}") from exc
            tx = Tx(self._execute, self._queries)
            try:
                yield tx
            except sqlite3.IntegrityError as exc:
                self._conn.execute("ROLLBACK")
                raise ConflictError(str(exc)) from exc
            except sqlite3.Error as exc:
                self._rollback_quietly()
                raise StoreError(f"SQLite: {exc}") from exc
            except BaseException:
                self._rollback_quietly()
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback_quietly()
                    raise StoreError(f"SQLite commit failed: {exc}") from exc
                if tx.outbox_written:
                    self._work.set()

    def _rollback_quietly(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def schema_version(self) -> int:
        with self._lock:
            exists = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
            if not exists:
                return 0
            return self._conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    @contextmanager
    def _migrating(self) -> Iterator[int]:
        with self._lock:
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                               "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            yield self.schema_version()

    def _apply_migration(self, version: int, name: str, statements: list[str]) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for statement in statements:
                self._conn.execute(statement)
            self._conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback_quietly()
            raise StoreError(f"migration {name} failed: {exc}") from exc

    def wait_for_work(self, timeout: float) -> None:
        if self._work.wait(timeout):
            self._work.clear()

    def close(self) -> None:
        self._work.set()
        with self._lock:
            self._conn.close()
