# gunicorn configuration of an e-CMS gateway node (docs/deployment.md).
#
#   GATEWAY_CONFIG=/etc/gateway/gateway.toml gunicorn --config /etc/gateway/gunicorn.conf.py
#
# Several sync worker processes on one PostgreSQL database, behind nginx (deploy/nginx/gateway.conf).
# Deliveries to other nodes are made by separate `gateway worker` processes
# (deploy/systemd/gateway-worker@.service), never by these workers.
#
# This file is read by gunicorn, not by the gateway package, so it may read the environment:
#   GATEWAY_CONFIG     the node's TOML configuration (required)
#   GATEWAY_DATABASE   overrides storage.database, as for the `gateway` command
#   GATEWAY_DATA_DIR   overrides storage.data_dir
#   WEB_CONCURRENCY    number of worker processes (gunicorn's own variable; default 2 x cores + 1)
# and sets PROMETHEUS_MULTIPROC_DIR from the node's [metrics] multiprocess_dir.
# Command-line flags (-b, -w, ...) override what is set here.
import multiprocessing
import os
import sys

from gateway.core.errors import ConfigError, StoreError
from gateway.runtime import app as gateway_app

_CONFIG = os.environ.get("GATEWAY_CONFIG", "")
_OVERRIDES = {"database": os.environ.get("GATEWAY_DATABASE", ""), "data_dir": os.environ.get("GATEWAY_DATA_DIR", "")}
if not _CONFIG:
    sys.exit("gunicorn.conf.py: set GATEWAY_CONFIG to the node's configuration file (EnvironmentFile of the unit)")
try:
    _NODE = gateway_app.load(_CONFIG, **_OVERRIDES)
except ConfigError as exc:
    sys.exit(f"gunicorn.conf.py: {exc}")

# prometheus_client's multi-process mode ([metrics] multiprocess_dir, docs/observability.md): the library
# finds its folder in PROMETHEUS_MULTIPROC_DIR, which the `gateway` command sets from the setting. Here it
# is set before any worker is forked, so every worker counts into the same folder as `gateway worker`s.
if _NODE.metrics_multiprocess_dir:
    os.makedirs(_NODE.metrics_multiprocess_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _NODE.metrics_multiprocess_dir

# The application: built by each worker after the fork (see preload_app below). gunicorn calls the
# factory with literal arguments only, so the path and the overrides are written into the expression.
wsgi_app = f"gateway.runtime.app:create_app({_CONFIG!r}, database={_OVERRIDES['database']!r}, " \
           f"data_dir={_OVERRIDES['data_dir']!r})"

# The node's own listener settings (server.host, server.port): nginx proxies to this address. Keep it on
# loopback or a private interface; only nginx may reach it (security.tls_proxy trusts what nginx says).
bind = [f"[{_NODE.host}]:{_NODE.port}" if ":" in _NODE.host else f"{_NODE.host}:{_NODE.port}"]

# Sync workers: one request at a time per process, the simplest model for a node whose requests are
# CPU-bound (XML schema validation, XML-DSig) and short. A sync worker is held for as long as its client
# takes to send the request and read the answer, so it must sit behind a proxy that buffers both
# (nginx: proxy_request_buffering on, proxy_buffering on). That is what protects it from slow clients.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or multiprocessing.cpu_count() * 2 + 1

# Never load the application in the master: its PostgreSQL pool (connections and threads) would be
# inherited by every worker after the fork. Each worker builds its own node (gateway.runtime.app);
# the master only builds one to check it, and closes it before forking (on_starting below).
preload_app = False

# A worker silent for this long is killed and replaced. Verifying and storing a 50 MiB letter takes
# seconds; 120 s leaves room and matches nginx's proxy_read_timeout. Its open transaction rolls back.
timeout = 120
# SIGTERM: workers finish the request they are serving, for up to this long.
graceful_timeout = 30
# Replace each worker after about this many requests (a guard against slow memory growth in XML
# libraries); the jitter keeps the workers from restarting together.
max_requests = 5000
max_requests_jitter = 500

# gunicorn may turn X-Forwarded-Proto into wsgi.url_scheme = "https". The node decides that itself, from
# security.tls_proxy (docs/deployment.md), so gunicorn must not: no secure-scheme headers.
secure_scheme_headers = {}
forwarded_allow_ips = "127.0.0.1,::1"

# Request limits before the node sees anything (the node limits the body: limits.max_body_bytes).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 16384

# Logs to standard error and standard output: journald keeps them. The access log names the client as
# nginx saw it (X-Forwarded-For; the connection itself is always nginx's) and the worker's process id.
errorlog = "-"
accesslog = "-"
loglevel = "info"
access_log_format = '%({x-forwarded-for}i)s %(p)s "%(r)s" %(s)s %(B)s %(M)sms'
proc_name = f"gateway-{_NODE.node_id}"

# gunicorn's control socket (gunicornc): in the unit's RuntimeDirectory (/run/gateway), never in a home
# folder; off when there is none (a second server on the machine would collide on the default path).
if os.environ.get("RUNTIME_DIRECTORY"):
    control_socket = os.path.join(os.environ["RUNTIME_DIRECTORY"].split(":")[0], "gunicorn.ctl")
else:
    control_socket_disable = True


def on_starting(server):
    """In the master, before any worker: check the configuration, make the development PKI, migrate."""
    if server.cfg.preload_app:
        sys.exit("gunicorn.conf.py: preload_app must stay off: the node's database connections must not "
                 "cross a fork")
    try:
        server.log.info(gateway_app.prepare(_CONFIG, **_OVERRIDES))
    except (ConfigError, StoreError) as exc:
        sys.exit(f"gateway: {exc}")


def worker_exit(server, worker):
    """A worker stops: close its node's store (the connections it opened)."""
    close = getattr(getattr(worker, "wsgi", None), "close", None)
    if close is not None:
        close()
