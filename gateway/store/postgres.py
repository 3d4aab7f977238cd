"""PostgreSQL backend (psycopg 3 and psycopg_pool): production, several processes on one database.

Each transaction borrows a pooled connection. Pulls claim queue rows with
``FOR UPDATE SKIP LOCKED`` so processes never hand out one item twice.
Migrations take an advisory lock so concurrent starts apply each file once.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from gateway.core.errors import ConflictError, StoreError
from gateway.store import Store, Tx, load_queries

POOL_MIN = 1
POOL_MAX = 10
POOL_TIMEOUT_S = 30.0
MIGRATION_LOCK = 7_320_101  # pg_advisory_lock key: "the gateway is migrating"


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        self.url = url
        self._queries = load_queries(self.dialect)
        self._local = threading.local()  # one LISTEN connection per waiting thread
        self._migration_conn: psycopg.Connection | None = None  # held by _migrating for _apply_migration
        self._listeners: list[psycopg.Connection] = []
        self._listeners_lock = threading.Lock()
        try:
            self._pool = ConnectionPool(url, min_size=min_size, max_size=max_size, timeout=POOL_TIMEOUT_S,
                                        kwargs={"row_factory": dict_row, "autocommit": False},
                                        check=ConnectionPool.check_connection, open=True)
            self._pool.wait(timeout=POOL_TIMEOUT_S)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self._pool.connection() as conn:
                with conn.transaction():
                    yield Tx(conn.execute, self._queries)
        except (psycopg.errors.IntegrityError, psycopg.errors.SerializationFailure,
                psycopg.errors.DeadlockDetected) as exc:
            raise ConflictError(str(exc)) from exc
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations') AS t").fetchone()["t"]
            if exists is None:
                return 0
            return conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").fetchone()["v"]

    @contextmanager
    def _migrating(self) -> Iterator[int]:
        try:
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                try:
                    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                                 "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
                    conn.commit()
                    self._migration_conn = conn
                    yield conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").fetchone()["v"]
                finally:
                    self._migration_conn = None
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                    conn.commit()
        except psycopg.Error as exc:
            raise StoreError(f"migration failed: {exc}") from exc

    def _apply_migration(self, version: int, name: str, statements: list[str]) -> None:
        conn = self._migration_conn
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))

    def wait_for_work(self, timeout: float) -> None:
        """LISTEN on gateway_outbox: woken by the NOTIFY an outbox insert sends at commit, in any process."""
        listener = getattr(self._local, "listener", None)
        try:
            if listener is None or listener.closed:
                listener = self._local.listener = psycopg.connect(self.url, autocommit=True)
                with self._listeners_lock:
                    self._listeners.append(listener)
                listener.execute("LISTEN gateway_outbox")
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error:
            # The database is away: drop the listener, let the caller poll again.
            self._local.listener = None
            if listener is not None:
                try:
                    listener.close()
                except psycopg.Error:
                    pass
            time.sleep(min(timeout, 1.0))

    def close(self) -> None:
        with self._listeners_lock:
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            try:
                listener.close()
            except psycopg.Error:
                pass
        self._pool.close()
