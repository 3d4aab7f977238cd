"""/readyz: may a load balancer send this process work now?

Three checks, each ``ok`` or a sentence saying what is wrong:

* ``database``: the store answers a query within PROBE_TIMEOUT (a pool that
  waits for a stopped server is not waited for); for SQLite, the file is also
  still the one the node opened (a database moved or deleted under a running
  node would take every new letter with it when the process ends);
* ``workers``: the delivery threads of this process are alive (``ok`` too
  when this process runs none: ``gateway serve --no-worker``);
* ``directory``: with a directory authority configured, the snapshot kept by
  ``gateway directory sync`` was issued less than DIRECTORY_STALE_FACTOR ×
  ``directory_authority.sync_interval_seconds`` ago (``ok`` without one).

``/healthz`` stays "the process is up"; this is the other question.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from gateway.config import Config
from gateway.core.errors import ConfigError, RemoteError
from gateway.core.network.snapshot import Snapshot
from gateway.core.time import thai_datetime
from gateway.ports import Clock
from gateway.runtime import directory_sync
from gateway.runtime.directory_sync import snapshot_path
from gateway.store import Store
from gateway.telemetry import Probe, ProbeTimeout

OK = "ok"
PROBE_TIMEOUT_S = 2.0
DIRECTORY_STALE_FACTOR = 3   # two missed syncs are tolerated; the third makes the node unready


@dataclass(frozen=True)
class Report:
    checks: Mapping[str, str]

    @property
    def ready(self) -> bool:
        return all(v == OK for v in self.checks.values())

    @property
    def not_ready(self) -> list[str]:
        return [name for name, v in self.checks.items() if v != OK]

    def as_json(self) -> dict:
        return {"ready": self.ready, "not_ready": self.not_ready, "checks": dict(self.checks)}


class Readiness:
    """The checks of one process; ``watch_workers`` is told the delivery threads when they start."""

    def __init__(self, *, config: Config, store: Store, clock: Clock, probe_timeout: float = PROBE_TIMEOUT_S) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._database = Probe(store.schema_version, probe_timeout)
        self._sqlite = _SqliteFile.of(str(getattr(store, "path", "")) if store.dialect == "sqlite" else "")
        self._threads: list[threading.Thread] = []
        self._stop: threading.Event | None = None
        self._snapshot_cache: tuple[tuple[int, int], Snapshot] | None = None   # by (mtime, size) of the file

    def watch_workers(self, threads: list[threading.Thread], stop: threading.Event) -> None:
        self._threads, self._stop = list(threads), stop

    def __call__(self) -> Report:
        return Report({"database": self.database(), "workers": self.workers(), "directory": self.directory()})

    # ------------------------------------------------------------ checks
    def database(self) -> str:
        if self._sqlite is not None:
            moved = self._sqlite.problem()
            if moved:
                return moved
        try:
            self._database()
        except ProbeTimeout as exc:
            return f"the database gave no answer: {exc}"
        except Exception as exc:  # noqa: BLE001 - any failure of the store is "not ready", said in words
            return f"the database is unavailable: {type(exc).__name__}: {exc}".strip()
        return OK

    def workers(self) -> str:
        if not self._threads:
            return OK  # none run in this process
        if self._stop is not None and self._stop.is_set():
            return "the delivery workers are stopping"
        dead = [t.name for t in self._threads if not t.is_alive()]
        if dead:
            return f"{len(dead)} of {len(self._threads)} delivery threads stopped: {', '.join(dead)}"
        return OK

    def directory(self) -> str:
        if not self.config.authority_node:
            return OK
        path = snapshot_path(self.config)
        try:
            stat = path.stat()
        except OSError:
            return f"no directory snapshot of {self.config.authority_node} yet: run `gateway directory sync`"
        key = (stat.st_mtime_ns, stat.st_size)
        if self._snapshot_cache is None or self._snapshot_cache[0] != key:
            try:   # against the pinned certificate(s): during the authority's rotation, either
                snap = directory_sync.verify_snapshot(path.read_bytes(), self.config, self.clock.now())
            except (RemoteError, ConfigError, OSError, ValueError) as exc:
                return f"the kept directory snapshot {path} does not verify: {exc}"
            self._snapshot_cache = (key, snap)
        snap = self._snapshot_cache[1]
        limit = self.config.directory_sync_interval * DIRECTORY_STALE_FACTOR
        age = self.clock.now() - snap.issued_at
        if age > limit:
            return (f"the directory snapshot is stale: issued {thai_datetime(snap.issued_at)}, "
                    f"{int(age.total_seconds())} s ago (limit {int(limit.total_seconds())} s, "
                    f"{DIRECTORY_STALE_FACTOR} × directory_authority.sync_interval_seconds)")
        return OK


@dataclass(frozen=True)
class _SqliteFile:
    """The SQLite file the store opened: still there, and still the same file (device and inode)?"""

    path: Path
    identity: tuple[int, int]

    @classmethod
    def of(cls, name: str) -> "_SqliteFile | None":
        if not name or name == ":memory:":
            return None
        path = Path(name)
        try:
            stat = path.stat()
        except OSError:
            return None  # not made yet; the store will say what is wrong
        return cls(path=path, identity=(stat.st_dev, stat.st_ino))

    def problem(self) -> str:
        try:
            stat = self.path.stat()
        except OSError as exc:
            return f"the SQLite database {self.path} is gone ({exc.strerror})"
        if (stat.st_dev, stat.st_ino) != self.identity:
            return f"the SQLite database {self.path} was replaced by another file since the node opened it"
        if not os.access(self.path, os.R_OK | os.W_OK):
            return f"the SQLite database {self.path} is not readable and writable by this process"
        return ""
