"""Shared fixtures: both stores, a real node on loopback HTTP, letters with Thai text.

Every store test runs on the in-memory store, SQLite and PostgreSQL (STYLE 6); the PostgreSQL
cluster is started once per session from the machine's binaries
(gateway/testing/pgcluster.py), or taken from TEST_DATABASE_URL.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest


from gateway.runtime import files, wiring as app
from gateway import config
from gateway.testing.clock import FakeClock
from gateway.store import Store
from gateway.testing import pgcluster
from gateway.testing.live import LiveServer, free_port, live_config

BACKENDS = ("memory", "sqlite", "postgres")
TABLES = ("queue", "notices", "letter_blobs", "letter_parts", "blob_chunks", "blobs", "letters", "outbox", "received", "console_sessions", "console_audit",
          "console_accounts", "evidence", "evidence_checkpoints")



@pytest.fixture(scope="session")
def pg_cluster():
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    cluster = pgcluster.Cluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg_url(pg_cluster) -> str:
    """A migrated database for the session's store tests."""
    url = os.environ.get("TEST_DATABASE_URL") or pg_cluster.create_database("gateway_test")
    from gateway.store.postgres import PostgresStore
    with PostgresStore(url) as s:
        s.migrate()
    return url


@pytest.fixture(scope="session")
def _pg_store(pg_url):
    from gateway.store.postgres import PostgresStore
    s = PostgresStore(pg_url)
    yield s
    s.close()


def _truncate_postgres(url: str) -> None:
    pgcluster.truncate(url, TABLES)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, request, tmp_path) -> Store:
    """A migrated, empty store of each backend."""
    if backend == "memory":
        from gateway.store.memory import MemoryStore
        s = MemoryStore()
        s.migrate()
        yield s
        s.close()
    elif backend == "sqlite":
        s = app.open_store(f"sqlite:{tmp_path / 'gateway.sqlite3'}")
        s.migrate()
        yield s
        s.close()
    else:
        url = request.getfixturevalue("pg_url")
        _truncate_postgres(url)
        yield request.getfixturevalue("_pg_store")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data folder for the session: its development PKI is made once and reused by every node."""
    folder = tmp_path_factory.mktemp("node-data")
    # Issued the day before the test clock's start (today), so valid for the fake clock and for real
    # TLS handshakes alike, in whatever year the suite runs.
    issued = FakeClock().now() - dt.timedelta(days=1)
    files.ensure_development_pki(config.Config(data_dir=folder), FakeClock(issued))
    return folder


@pytest.fixture
def cfg(data_dir) -> config.Config:
    return config.Config(data_dir=data_dir)


@pytest.fixture
def node(store, clock, cfg):
    """A wired node (no HTTP) on each backend with a fake clock."""
    n = app.build(cfg, store=store, clock=clock, migrate=False)
    yield n


@pytest.fixture
def live(store, clock, data_dir):
    """A real HTTP node on loopback, on each backend, with a fake clock."""
    port = free_port()
    server = LiveServer(app.build(live_config(port, data_dir), store=store, clock=clock, migrate=False), port)
    yield server
    server.stop()


def pytest_collection_modifyitems(config, items):
    """The in-memory store is for store semantics and fast operations: tests that start a real HTTP
    server (``live``, ``secure``) or a network of them run on SQLite and PostgreSQL only, which keeps
    the suite's time within its budget. They are not collected for memory (deselected, not skipped)."""
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        uses_server = bool({"live", "secure", "network", "z"} & set(getattr(item, "fixturenames", ())))
        if callspec is not None and callspec.params.get("backend") == "memory" and uses_server:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
