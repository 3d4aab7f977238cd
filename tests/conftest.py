"""Shared fixtures: both stores, a real node on loopback HTTP, letters with Thai text.

Every store test runs on SQLite and on PostgreSQL (STYLE 6); the PostgreSQL
cluster is started once per session from the machine's binaries
(tests/pgcluster.py), or taken from TEST_DATABASE_URL.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import threading
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pgcluster  # noqa: E402

from gateway.runtime import files, wiring as app  # noqa: E402
from gateway import config
from gateway.testing.clock import FakeClock  # noqa: E402
from gateway.store import Store  # noqa: E402

BACKENDS = ("sqlite", "postgres")
TABLES = ("queue", "notices", "letter_blobs", "letters", "outbox", "received")

CENTRAL = "2000100000"       # สำนักงานปลัดกระทรวงศึกษาธิการ
REGION1 = "2000201000"       # สำนักงานศึกษาธิการภาค 1
CHIANGMAI = "2000350000"     # สำนักงานศึกษาธิการจังหวัดเชียงใหม่
KHONKAEN = "2000340000"      # สำนักงานศึกษาธิการจังหวัดขอนแก่น

# A tiny but real PDF, so the files clients store open.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
PDF_B64 = base64.b64encode(PDF).decode()


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
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, request, tmp_path) -> Store:
    """A migrated, empty store of each backend."""
    if backend == "sqlite":
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
    return FakeClock(dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data folder for the session: its development PKI is made once and reused by every node."""
    folder = tmp_path_factory.mktemp("node-data")
    # Valid both at the fake clock's time (tests) and now (real TLS handshakes).
    issued = min(dt.datetime.now(dt.timezone.utc), FakeClock().now()) - dt.timedelta(days=1)
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


class LiveServer:
    """A node served by cheroot on a loopback port, in a thread of the test process."""

    def __init__(self, node_: app.Node, port: int, *, tls: bool = False) -> None:
        from cheroot import wsgi

        from gateway.runtime.serve import tls_adapter
        self.node = node_
        self.port = port
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.server = wsgi.Server(("127.0.0.1", port), node_.wsgi, numthreads=8)
        if tls:
            self.server.ssl_adapter = tls_adapter(node_.config)
        self.server.prepare()
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    def endpoint(self, org: str | None = None) -> str:
        return f"{self.base}{config.AGENCY_PATH}" + (f"/{org}" if org else "")

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_config(port: int, data_dir: Path, **overrides) -> config.Config:
    """The demo node's configuration with URLs that name the real port."""
    url = f"http://127.0.0.1:{port}"
    return config.Config(port=port, public_url=url, directory=config.demo_directory(url), data_dir=data_dir,
                         **overrides)


@pytest.fixture
def live(store, clock, data_dir):
    """A real HTTP node on loopback, on each backend, with a fake clock."""
    port = free_port()
    server = LiveServer(app.build(live_config(port, data_dir), store=store, clock=clock, migrate=False), port)
    yield server
    server.stop()


def unique_letter_id(prefix: str = "ศธ 0210") -> str:
    """A Thai letter number that is new in every test run."""
    return f"{prefix}/{uuid.uuid4().int % 100000:05d}"
