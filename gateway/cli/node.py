"""Node commands: serve, worker, migrate, directory sync."""
from __future__ import annotations

import argparse

from gateway.adapters.clock import SystemClock
from gateway.cli.env import load_config
from gateway.core.time import thai_datetime


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.runtime import serve

    return serve.serve(load_config(args), with_worker=not getattr(args, "no_worker", False))


def cmd_worker(args: argparse.Namespace) -> int:
    """A delivery worker process: several may run on one PostgreSQL database."""
    from gateway.runtime import serve

    return serve.run_worker(load_config(args))


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

