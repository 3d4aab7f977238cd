"""A throwaway PostgreSQL cluster for the tests (DESIGN section 7).

Started from the machine's PostgreSQL binaries in a temporary folder with a
unix socket there (as root: through ``runuser -u postgres``), or taken from
TEST_DATABASE_URL. A missing PostgreSQL is an error, never a skip.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
        "postgresql (or set TEST_DATABASE_URL)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One running cluster; ``url(dbname)`` gives a psycopg connection URL."""

    def __init__(self, *, durable: bool = False) -> None:
        # Not durable (fsync and synchronous commit off) is fine for tests that never crash
        # PostgreSQL itself; a test that restarts it "immediately" needs a durable cluster,
        # or commits the gateway acknowledged may vanish, as they would on a real server so set.
        self.durable = durable
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    @property
    def _options(self) -> str:
        opts = f"-k {self.sock} -p {self.port} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        return opts

    def start(self) -> "Cluster":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8",
                  "--locale=C.UTF-8")
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.sock}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """Crash (immediate stop) and start again (crash recovery runs at start)."""
        self.stop("immediate")
        for attempt in range(3):
            done = self._run("pg_ctl", "-D", str(self.data), "-o", self._options, "-l", str(self.root / "log"),
                             "-w", "-t", "120", "start", check=False)
            if done.returncode == 0:
                return
            time.sleep(1)
        log = (self.root / "log").read_text(errors="replace")[-3000:]
        raise PostgresUnavailable(f"PostgreSQL did not start again: {done.stdout}{done.stderr}\n{log}")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(url: str, timeout: float = 10.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def truncate(url: str, tables) -> None:
    """Empty ``tables`` of the database at ``url`` (a test's fresh start on a shared database)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
