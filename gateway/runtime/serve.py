"""The processes a node runs: the HTTP server (cheroot, TLS, signals, shutdown) and delivery workers.

Slow clients cannot exhaust the server's threads: a connection's request line,
headers and (small) body are read without blocking, a little at a time, while
the connection waits in cheroot's selector like an idle keep-alive connection;
only a complete request is handed to a worker thread. Headers are bounded in
size and in time; larger bodies are read by the worker, which the HTTP adapter
bounds in time too. In production a reverse proxy that buffers whole requests
sits in front as well (docs/operations.md).
"""
from __future__ import annotations

import datetime as dt
import re
import signal
import socket
import ssl
import sys
import threading

from cheroot import server as cheroot_server, wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from gateway import __version__
from gateway.config import Config
from gateway.ports import Clock
from gateway.runtime import certificates, evidence, logs, wiring

REQUEST_QUEUE = 64
MAX_HEADER_BYTES = 64 * 1024                  # request line and every header together
HEADER_TIMEOUT = dt.timedelta(seconds=10)     # from a request's first byte to the end of its headers
PREREAD_BODY_BYTES = 1024 * 1024              # bodies up to this size are read before a thread is used
SOCKET_TIMEOUT_S = 10                         # any single read or write
KEEP_ALIVE_CONNECTIONS = 256
_RECV = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,12})[ \t]*\r\n", re.I)


class _Buffered:
    """The connection's input: bytes read ahead without blocking come first, then the socket itself.

    It never reads beyond what cheroot asks for from the socket, so a
    keep-alive connection's next request stays in the kernel (or in this
    buffer) for the next non-blocking read-ahead.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data, self.buffer = bytes(self.buffer), bytearray()
            return data + self._drain()
        data = bytearray(self.buffer[:size])
        del self.buffer[:size]
        while len(data) < size:  # like a buffered file: all ``size`` bytes, or fewer only at the end
            chunk = self.sock.recv(min(size - len(data), _RECV))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def readline(self, size: int = -1) -> bytes:
        """One line (at most ``size`` bytes): from the read-ahead, then the socket for a long body line."""
        limit = size if size is not None and size >= 0 else None
        while b"\n" not in self.buffer and (limit is None or len(self.buffer) < limit):
            chunk = self.sock.recv(_RECV)
            if not chunk:
                break
            self.buffer += chunk
        end = self.buffer.find(b"\n")
        take = len(self.buffer) if end < 0 else end + 1
        if limit is not None:
            take = min(take, limit)
        line = bytes(self.buffer[:take])
        del self.buffer[:take]
        return line

    def _drain(self) -> bytes:
        chunks = []
        while chunk := self.sock.recv(_RECV):
            chunks.append(chunk)
        return b"".join(chunks)

    def has_data(self) -> bool:
        """cheroot asks before it parks a connection in its selector: a complete request head read ahead
        (a pipelined next request) is served at once; a partial one waits for more from the socket."""
        return b"\r\n\r\n" in self.buffer

    def close(self) -> None:
        self.closed = True


class BufferingConnection(cheroot_server.HTTPConnection):
    """A connection that holds no worker thread until its request (headers, small body) has arrived."""

    clock: Clock   # set per server by make_server (the node's clock)

    def __init__(self, server, sock, makefile=cheroot_server.MakeFile) -> None:
        super().__init__(server, sock, makefile)
        self.rfile = _Buffered(sock)
        self._started: dt.datetime | None = None

    def communicate(self) -> bool:
        ready = self._read_ahead()
        if ready is None:
            return True      # not complete yet: back to the selector, the thread is free again
        if not ready:
            return False     # refused or gone: close
        self._started = None
        return super().communicate()

    def _read_ahead(self) -> bool | None:
        """True when a whole request head (and a small body) is buffered, None to wait, False to close."""
        buffer = self.rfile.buffer
        if self._started is None:
            self._started = self.clock.now()
        eof = False
        try:
            self.socket.setblocking(False)
            while len(buffer) <= MAX_HEADER_BYTES + PREREAD_BODY_BYTES:
                chunk = self.socket.recv(_RECV)
                if not chunk:
                    eof = True
                    break
                buffer += chunk
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError:
            return False
        finally:
            try:
                self.socket.settimeout(self.server.timeout)
            except OSError:
                return False
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                return self._refuse(b"431 Request Header Fields Too Large", b"the request headers are too large")
            if eof:
                return False
            if self.clock.now() - self._started > HEADER_TIMEOUT:
                return self._refuse(b"408 Request Timeout", b"the request headers arrived too slowly")
            return None
        if end > MAX_HEADER_BYTES:
            return self._refuse(b"431 Request Header Fields Too Large", b"the request headers are too large")
        length = _CONTENT_LENGTH.search(buffer, 0, end + 2)
        if length is not None and not eof:
            wanted = end + 4 + int(length.group(1))
            if int(length.group(1)) <= PREREAD_BODY_BYTES and len(buffer) < wanted:
                if self.clock.now() - self._started > HEADER_TIMEOUT * 3:
                    return self._refuse(b"408 Request Timeout", b"the request body arrived too slowly")
                return None
        return True

    def _refuse(self, status: bytes, text: bytes) -> bool:
        try:
            self.socket.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                b"Content-Length: " + str(len(text) + 1).encode() + b"\r\nConnection: close\r\n\r\n"
                                + text + b"\n")
        except OSError:
            pass
        return False


def make_server(app, host: str, port: int, *, threads: int, clock: Clock,
                tls: BuiltinSSLAdapter | None = None) -> wsgi.Server:
    """The node's HTTP server: cheroot with request read-ahead, bounded headers and timeouts."""
    server = wsgi.Server((host, port), app, numthreads=threads, server_name="gateway",
                         request_queue_size=REQUEST_QUEUE, timeout=SOCKET_TIMEOUT_S)
    server.ConnectionClass = type("NodeConnection", (BufferingConnection,), {"clock": clock})
    server.max_request_header_size = MAX_HEADER_BYTES
    server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
    if tls is not None:
        server.ssl_adapter = tls
    return server


def serve(cfg: Config, *, with_worker: bool = True) -> int:
    """Run a node until SIGTERM or SIGINT; 0 on a clean stop, 1 when the server died."""
    logs.setup(cfg.log_format)
    node = wiring.build(cfg)
    cfg = node.config  # with the development PKI filled in when none was configured
    expiry = certificates.watch(cfg, node.keyring, node.agency.clock)  # warns at start-up, then daily
    checkpoints = evidence.watch(cfg, node.store, node.keyring, node.agency.clock)
    server = make_server(node.wsgi, cfg.host, cfg.port, threads=cfg.threads, clock=node.agency.clock,
                         tls=tls_adapter(cfg) if cfg.tls_certificate else None)
    scheme = "https" if cfg.tls_certificate else "http"
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
        expiry.stop()
        checkpoints.set()
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
    logs.setup(cfg.log_format)
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
