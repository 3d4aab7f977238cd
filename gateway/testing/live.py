"""A node served by cheroot on a loopback port, in a thread of the calling process (tests and the bench)."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

from gateway import config
from gateway.adapters.clock import SystemClock
from gateway.runtime.serve import make_server, tls_adapter
from gateway.runtime.wiring import Node


class LiveServer:
    """A node served by cheroot on a loopback port, in a thread of the test process."""

    def __init__(self, node_: Node, port: int, *, tls: bool = False) -> None:
        self.node = node_
        self.port = port
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        # The server's own deadlines run on real time even when the node's clock is a fake.
        self.server = make_server(node_.wsgi, "127.0.0.1", port, threads=8, clock=SystemClock(),
                                  tls=tls_adapter(node_.config) if tls else None)
        self.server.prepare()
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    def endpoint(self, org: str | None = None) -> str:
        return f"{self.base}{config.AGENCY_PATH}" + (f"/{org}" if org else "")

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_config(port: int, data_dir: Path, **overrides) -> config.Config:
    """The demo node's configuration with URLs that name the real port."""
    url = f"http://127.0.0.1:{port}"
    return config.Config(port=port, public_url=url, directory=config.demo_directory(url), data_dir=data_dir,
                         **overrides)


