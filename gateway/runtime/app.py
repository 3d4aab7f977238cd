"""The node as the WSGI application of a production server: gunicorn with sync workers on PostgreSQL.

    gunicorn --config deploy/gunicorn.conf.py        (docs/deployment.md)

``deploy/gunicorn.conf.py`` names ``create_app('/etc/gateway/gateway.toml')`` as the
application. A node's store holds open connections, and on PostgreSQL a pool with its
own threads: neither survives a fork. So gunicorn must not preload the application, and
:func:`create_app` runs in each worker process after the fork, which then opens its own
connections. :class:`Application` refuses to serve in a process other than the one that
built it, so a server that forks after building fails loudly instead of sharing sockets.

:func:`prepare` runs once in gunicorn's master, before any worker starts: it builds the
node once (which checks the configuration and the keys, makes the development PKI if none
is configured, so workers never race to write it, and migrates the database) and closes it.

Several processes on one SQLite file are not supported (docs/operations.md): with SQLite,
run ``gateway serve`` alone. Deliveries are made by separate ``gateway worker`` processes.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from gateway.config import Config, from_toml
from gateway.core.errors import ConfigError
from gateway.runtime import files, logs, wiring

log = logging.getLogger(__name__)


def load(config_path: str, *, database: str = "", data_dir: str = "") -> Config:
    """The configuration file at ``config_path`` (relative paths inside it are relative to its folder).

    ``database`` and ``data_dir`` override ``storage.database`` and ``storage.data_dir``,
    as GATEWAY_DATABASE and GATEWAY_DATA_DIR do for the ``gateway`` command.
    """
    if not config_path:
        raise ConfigError("no configuration file: a production server needs one (GATEWAY_CONFIG)")
    path = Path(config_path)
    try:
        text = files.read(str(path), "configuration").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration {path} is not UTF-8: {exc}") from exc
    cfg = from_toml(text, base_dir=path.resolve().parent)
    overrides: dict = {}
    if database:
        overrides["database"] = database
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    return replace(cfg, **overrides) if overrides else cfg


def require_postgres(cfg: Config) -> None:
    """A server of several processes needs PostgreSQL: one SQLite file takes one process."""
    if not cfg.database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"a server of several processes needs storage.database = 'postgresql://...', not "
                          f"{cfg.database_url}: with SQLite run `gateway serve` alone (docs/deployment.md)")


def prepare(config_path: str, *, database: str = "", data_dir: str = "") -> str:
    """Once, before the workers start: check the configuration and the keys, make the development PKI, migrate.

    The node is built once, as a worker will build it, and closed again: nothing stays open across
    the fork. Returns a line for the server's log: the node and its schema version.
    """
    cfg = load(config_path, database=database, data_dir=data_dir)
    logs.setup(cfg.log_format)
    require_postgres(cfg)
    node = wiring.build(cfg)
    try:
        version = node.store.schema_version()
    finally:
        node.close()
    return f"gateway node {node.config.node_id}: configuration checked, schema version {version}"


class Application:
    """The WSGI callable of one worker process, and the node behind it."""

    def __init__(self, node: wiring.Node) -> None:
        self.node = node
        self.pid = os.getpid()

    def __call__(self, environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
        if os.getpid() != self.pid:
            log.error("the node was built in process %s and called in %s: its database connections do not "
                      "survive a fork; build it in each worker (gunicorn: preload_app = False)", self.pid, os.getpid())
            body = b"the node was built before the fork (turn preload_app off)\n"
            start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8"),
                                                         ("Content-Length", str(len(body)))])
            return [body]
        return self.node.wsgi(environ, start_response)

    def close(self) -> None:
        """Close the store (gunicorn's worker_exit hook); only in the process that opened it."""
        if os.getpid() == self.pid:
            self.node.close()


def create_app(config_path: str, *, database: str = "", data_dir: str = "") -> Application:
    """The node's WSGI application, built in the calling (worker) process with its own store connections.

    No embedded delivery worker: deliveries are made by ``gateway worker`` processes.
    """
    cfg = load(config_path, database=database, data_dir=data_dir)
    logs.setup(cfg.log_format)   # the node's own lines, text or JSON ([logging] format), beside gunicorn's
    require_postgres(cfg)
    node = wiring.build(cfg)
    log.info("gateway node %s serving %s in process %s", node.config.node_id, node.config.agency_url(None),
             os.getpid())
    return Application(node)

