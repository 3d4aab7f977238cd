"""The processes a node runs: the HTTP server (cheroot, TLS, signals, shutdown) and delivery workers."""
from __future__ import annotations

import logging
import signal
import ssl
import sys
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from gateway import __version__
from gateway.config import Config
from gateway.runtime import wiring

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_QUEUE = 64


def serve(cfg: Config, *, with_worker: bool = True) -> int:
    """Run a node until SIGTERM or SIGINT; 0 on a clean stop, 1 when the server died."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    node = wiring.build(cfg)
    cfg = node.config  # with the development PKI filled in when none was configured
    server = wsgi.Server((cfg.host, cfg.port), node.wsgi, numthreads=cfg.threads,
                         server_name="gateway", request_queue_size=REQUEST_QUEUE)
    scheme = "http"
    if cfg.tls_certificate:
        server.ssl_adapter = tls_adapter(cfg)
        scheme = "https"
    server.prepare()
    host, port = server.bind_addr[:2]
    print(f"gateway {__version__} listening on {scheme}://{host}:{port}", flush=True)
    print(f"  agency interface: {cfg.agency_url(None)}  (default organisation "
          f"{cfg.directory.default_id})", flush=True)
    print(f"  WSDL:             {cfg.agency_url(None)}?wsdl", flush=True)
    print(f"  data:             {cfg.database_url}", flush=True)
    print(f"  keys:             node {cfg.node_certificate}; trust anchors {', '.join(cfg.trust_anchors)}", flush=True)
    print(f"  agency access:    {cfg.agency_auth}"
          + (f" from {', '.join(cfg.open_networks)}" if cfg.agency_auth == "open" else ""), flush=True)
    for org in cfg.directory.hosted():
        print(f"  hosts {org.id} {org.th_name}: {org.ecms_url}", flush=True)

    worker = None
    if cfg.embedded_worker and with_worker:
        worker = node.start_worker()
        print("  delivery worker:  running in this process", flush=True)

    # The server runs in a thread; the main thread waits for SIGTERM/SIGINT and
    # then stops it (cheroot's stop() must not run inside its own serve loop).
    stop = _stop_on_signals()
    thread = threading.Thread(target=server.serve, name="http", daemon=True)
    thread.start()
    try:
        while not stop.wait(1.0):
            if not thread.is_alive():
                print("gateway: the HTTP server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
        thread.join(timeout=10)
        if worker is not None:
            worker[1].set()
            for delivery_thread in worker[0]:
                delivery_thread.join(timeout=10)
        node.close()
    return 0


def tls_adapter(cfg: Config) -> BuiltinSSLAdapter:
    """cheroot's TLS adapter for tls.certificate/key; asks for client certificates when tls.client_ca is set."""
    adapter = BuiltinSSLAdapter(cfg.tls_certificate, cfg.tls_key)
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.tls_client_ca:
        adapter.context.load_verify_locations(cfg.tls_client_ca)
        adapter.context.verify_mode = ssl.CERT_OPTIONAL  # Basic credentials remain possible
    return adapter


def run_worker(cfg: Config) -> int:
    """A delivery worker process: several may run on one PostgreSQL database."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    node = wiring.build(cfg)
    stop = _stop_on_signals()
    print(f"gateway worker for node {node.config.node_id} on {node.config.database_url}", flush=True)

    threads, worker_stop = node.start_worker()
    try:
        while not stop.wait(1.0):
            if not any(t.is_alive() for t in threads):
                return 1
    finally:
        worker_stop.set()
        for thread in threads:
            thread.join(timeout=10)
        node.close()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    return stop
