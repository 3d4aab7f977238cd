"""Slow and oversized clients cannot stop the node (the hardening issue, class 4).

A real server on loopback with the production settings (8 threads). 64
connections trickle their headers, a byte at a time; 8 more send complete
headers and then trickle a small body. Legitimate requests are answered while
all of them are open. Oversized headers (16 MiB, or 20,000 header lines) are
refused at once and the connection closed. Every loop here is bounded.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from gateway.runtime import serve, wiring
from gateway.store.memory import MemoryStore
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.live import LiveServer, free_port, live_config
from gateway.testing.wire import send_request, soap

SLOW_HEADERS = 64
SLOW_BODIES = 8


@pytest.fixture
def server(data_dir):
    port = free_port()
    live = LiveServer(wiring.build(live_config(port, data_dir), store=MemoryStore(), clock=FakeClock()), port)
    yield live
    live.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def test_legitimate_requests_are_answered_while_slow_clients_hold_connections(server):
    stop = threading.Event()
    socks = []
    head = (f"POST /ecms-ws01/service2/{CENTRAL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: 5000\r\n").encode()
    for _ in range(SLOW_HEADERS):
        s = _connect(server.port)
        s.sendall(head[:10])
        socks.append((s, head[10:]))
    for _ in range(SLOW_BODIES):
        s = _connect(server.port)
        s.sendall(head + b"\r\n<")
        socks.append((s, b"x" * 100))

    def trickle() -> None:
        rounds = 0
        while not stop.is_set() and rounds < 60:  # bounded: at most 60 rounds of one byte each
            for s, rest in socks:
                try:
                    if rest:
                        s.sendall(rest[rounds % len(rest):rounds % len(rest) + 1])
                except OSError:
                    pass
            rounds += 1
            stop.wait(0.2)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(0.5)  # let every slow connection reach the server
        session = requests.Session()
        answered = []
        for i in range(10):
            started = time.perf_counter()
            r = session.post(server.endpoint(CENTRAL), data=soap("<TimeCheckRequest/>"),
                             headers={"Content-Type": "text/xml"}, timeout=5)
            answered.append((r.status_code, time.perf_counter() - started, b"ECMSTime" in r.content))
        sent = session.post(server.endpoint(CENTRAL), data=send_request(letter_id=unique_letter_id()),
                            headers={"Content-Type": "text/xml"}, timeout=5)
        pulled = session.post(server.endpoint(CHIANGMAI), data=soap("<CorrespondenceLetterInboundRequest/>"),
                              headers={"Content-Type": "text/xml"}, timeout=5)
        still_open = sum(1 for s, _ in socks if _is_open(s))
    finally:
        stop.set()
        trickler.join(timeout=5)
        for s, _ in socks:
            s.close()
    assert all(status == 200 and ok for status, _, ok in answered), answered
    assert max(seconds for _, seconds, _ in answered) < 2, answered
    assert b"ProcessID" in sent.content and b"ram:CorrespondenceLetter" in pulled.content
    assert still_open >= SLOW_HEADERS, "the slow clients were still connected while the others were served"


def _is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        data = sock.recv(1, socket.MSG_PEEK)
        return data != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _answer(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``seconds`` pass)."""
    answer = b""
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(4096):
            answer += chunk
    except OSError:
        pass  # a reset after the answer, or the time is up
    return answer


@pytest.mark.parametrize("headers,answered", [
    # 16 MiB: the server closes while the client is still writing, so the 431 may be lost in the reset.
    (b"X-Big: " + b"a" * (16 * 1024 * 1024) + b"\r\n", False),
    (b"".join(f"X-H{i}: v\r\n".encode() for i in range(20_000)), True),
])
def test_oversized_headers_are_refused_and_the_connection_closed(server, headers, answered):
    s = _connect(server.port)
    closed = False
    try:
        s.sendall(b"POST /ecms-ws01/service2 HTTP/1.1\r\nHost: x\r\n")
        try:
            s.sendall(headers + b"\r\n")
        except OSError:
            closed = True  # the server closed before the attacker finished writing
        answer = _answer(s, 5)
    finally:
        s.close()
    if answered:
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    else:
        assert closed or answer.startswith(b"HTTP/1.1 431") or answer == b"", answer[:100]
    r = requests.post(server.endpoint(CENTRAL), data=soap("<TimeCheckRequest/>"),
                      headers={"Content-Type": "text/xml"}, timeout=5)
    assert r.status_code == 200 and b"ECMSTime" in r.content


def test_headers_that_never_end_are_cut_off(monkeypatch, server):
    monkeypatch.setattr(serve, "HEADER_TIMEOUT", serve.dt.timedelta(seconds=1))
    s = _connect(server.port)
    try:
        s.sendall(b"POST /ecms-ws01/service2 HTTP/1.1\r\n")
        for _ in range(10):  # bounded: ten bytes over about three seconds
            time.sleep(0.3)
            try:
                s.sendall(b"X")
            except OSError:
                break
        answer = _answer(s, 3)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
