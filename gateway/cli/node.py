"""Node commands: serve, worker, migrate, directory sync."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from gateway.adapters.clock import SystemClock
from gateway.cli.env import load_config
from gateway.config import Config
from gateway.core.time import thai_datetime


MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"   # prometheus_client's own variable


def with_metrics_folder(cfg: Config) -> Config:
    """prometheus_client's multi-process mode reads its folder from PROMETHEUS_MULTIPROC_DIR.

    The variable is set from ``metrics.multiprocess_dir``; when the file names
    no folder and the variable is set, the variable's folder is used (so that
    /metrics adds up the processes the library is already writing for).
    """
    folder = cfg.metrics_multiprocess_dir or os.environ.get(MULTIPROC_VARIABLE, "")
    if not folder:
        return cfg
    Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_VARIABLE] = folder
    return replace(cfg, metrics_multiprocess_dir=folder)


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.runtime import serve

    return serve.serve(with_metrics_folder(load_config(args)), with_worker=not getattr(args, "no_worker", False))


def cmd_worker(args: argparse.Namespace) -> int:
    """A delivery worker process: several may run on one PostgreSQL database."""
    from gateway.runtime import serve

    return serve.run_worker(with_metrics_folder(load_config(args)))


def cmd_directory_sync(args: argparse.Namespace) -> int:
    from gateway.runtime import directory_sync

    cfg = load_config(args)
    snap = directory_sync.sync_directory(cfg, SystemClock())
    print(f"directory snapshot {snap.serial} of {snap.authority} ({thai_datetime(snap.issued_at)}): "
          f"{len(snap.nodes)} nodes, {len(snap.organizations)} organisations; restart the node to use it")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from gateway.runtime import wiring

    cfg = load_config(args)
    store = wiring.open_store(cfg.database_url)
    try:
        applied = store.migrate()
        print(f"schema version {store.schema_version()} at {cfg.database_url}"
              + (f" (applied {', '.join(applied)})" if applied else " (up to date)"))
    finally:
        store.close()
    return 0

