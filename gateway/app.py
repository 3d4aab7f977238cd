"""The composition root: the only module that names concrete adapters."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.agency import Agency, Policy
from gateway.clock import Clock, IdFactory, SystemClock, new_process_id
from gateway.config import OUTBOUND_STATUS_MAX, Config
from gateway.errors import ConfigError, StoreError
from gateway.store import Store
from gateway.wsgi import NodeApp

log = logging.getLogger(__name__)


def open_store(url: str) -> Store:
    """A store for ``url``: ``sqlite:PATH``, ``sqlite::memory:`` or ``postgresql://...``."""
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore
        return SqliteStore(url[len("sqlite:"):] or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore
        return PostgresStore(url)
    raise ConfigError(f"unsupported database URL {url!r}")


@dataclass
class Node:
    """A running node's parts, wired."""

    config: Config
    store: Store
    agency: Agency
    wsgi: NodeApp

    def close(self) -> None:
        self.store.close()


def build(config: Config, *, store: Store | None = None, clock: Clock | None = None,
          new_id: IdFactory = new_process_id, migrate: bool = True) -> Node:
    """Wire a node from its configuration. The store is migrated unless told otherwise."""
    store = store or open_store(config.database_url)
    if migrate:
        applied = store.migrate()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    agency = Agency(store=store, directory=config.directory, clock=clock or SystemClock(), new_id=new_id,
                    policy=Policy(allow_top_secret=config.allow_top_secret,
                                  visibility_timeout=config.visibility_timeout,
                                  outbound_status_window=config.outbound_status_window,
                                  outbound_status_max=OUTBOUND_STATUS_MAX))

    def health() -> bool:
        try:
            store.schema_version()
            return True
        except StoreError:
            return False

    app = NodeApp(agency=agency, directory=config.directory, limits=config.limits,
                  agency_url=config.agency_url, health=health)
    return Node(config=config, store=store, agency=agency, wsgi=app)
