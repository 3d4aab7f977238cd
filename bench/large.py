"""The large-letter row of `make bench` (issue 10): 10 MB and 100 MB enclosures, and each process's memory.

One `gateway serve` process (the test network's moe-r15, which hosts ศธภ.15 and Chiang Mai). ศธภ.15's
e-Saraban sends a letter whose main file is N MB of random bytes, as a stream (chunked transfer, the
base64 generated as it is sent, so the client holds no copy either); Chiang Mai's pulls it, reading the
answer as a stream and hashing the decoded enclosure as it arrives. The figures: the time to accept and
to pull, whether the SHA-256 matches, and the growth of the server's peak RSS (VmHWM) over its RSS before
the letter, as a ratio to the enclosure's size (target: under 1.5x). The peak is reset before each
letter (``/proc/PID/clear_refs``), and a first letter warms every path up and is not reported.

Usage: python -m bench.large [--sizes 10,100] [--database URL]
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path

import requests

MB = 1000 * 1000
CHUNK = 3 * 65536            # raw bytes per generated chunk (a multiple of 3: base64 without padding inside)
REGION15, CHIANGMAI = "2000215000", "2000350000"
WARM_UP = 6 * MB            # a letter sent first, not reported
MARK = "QkVOQ0hNQUlO"       # where the streamed base64 goes in the request


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def _reset_peak(pid: int) -> None:
    """Set the process's VmHWM back to its current RSS (Linux: 5 > /proc/PID/clear_refs), so each letter's
    peak is its own, not that of an earlier one."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _request_parts(letter_id: str) -> tuple[bytes, bytes]:
    from gateway.testing.wire import send_request
    body = send_request(letter_id=letter_id, sender=REGION15, receiver=CHIANGMAI, main=MARK,
                        subject="ภาพสแกนแผนที่ทางอากาศ ความละเอียดสูง (ทดสอบหนังสือขนาดใหญ่)")
    head, _, tail = body.partition(MARK.encode())
    return head, tail


def _stream(size: int, digest: "hashlib._Hash"):
    """The request body's enclosure, generated as it is sent; ``digest`` takes the raw bytes."""
    left = size
    while left > 0:
        raw = os.urandom(min(CHUNK, left))
        left -= len(raw)
        digest.update(raw)
        yield base64.b64encode(raw)


class _Base64Tail:
    """Decodes the text of MainLetterBinaryObject out of an answer read in chunks, hashing the bytes."""

    def __init__(self) -> None:
        self.state, self.carry, self.pending = "before", b"", b""
        self.digest = hashlib.sha256()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        self.carry = b""
        if self.state == "before":
            at = data.find(b"MainLetterBinaryObject")
            if at < 0:
                self.carry = data[-64:]
                return
            end = data.find(b">", at)
            if end < 0:
                self.carry = data[at - 1:]
                return
            self.state, data = "inside", data[end + 1:]
        if self.state == "inside":
            stop = data.find(b"<")
            text = data if stop < 0 else data[:stop]
            text = b"".join(text.split()).replace(b"&#13;", b"")
            self.pending += text
            usable = len(self.pending) // 4 * 4
            raw = base64.b64decode(self.pending[:usable])
            self.pending = self.pending[usable:]
            self.digest.update(raw)
            self.size += len(raw)
            if stop >= 0:
                self.state = "after"


def measure(url: str, pid: int, size: int) -> dict:
    sent = hashlib.sha256()
    head, tail = _request_parts(f"ศธ 1515/{uuid.uuid4().hex[:8]}")
    _reset_peak(pid)
    before = _kib(pid, "VmRSS")
    started = time.monotonic()
    answer = requests.post(f"{url}/ecms-ws01/service2/{REGION15}", timeout=1800,
                           data=(piece for part in ([head], _stream(size, sent), [tail]) for piece in part),
                           headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    accepted = time.monotonic() - started
    if answer.status_code != 200 or b"ProcessID" not in answer.content:
        raise SystemExit(f"the {size // MB} MB letter was refused: {answer.status_code} {answer.text[:500]}")
    after_accept = _kib(pid, "VmHWM")
    started = time.monotonic()
    pulled = _Base64Tail()
    with requests.post(f"{url}/ecms-ws01/service2/{CHIANGMAI}", stream=True, timeout=1800,
                       data=b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
                            b'"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                            b"<CorrespondenceLetterInboundRequest/></soap:Body></soap:Envelope>",
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}) as reply:
        for chunk in reply.iter_content(256 * 1024):
            pulled.feed(chunk)
    pull_seconds = time.monotonic() - started
    peak = _kib(pid, "VmHWM")
    return {"size_mb": size // MB, "accept_s": accepted, "pull_s": pull_seconds,
            "intact": pulled.digest.hexdigest() == sent.hexdigest() and pulled.size == size,
            "rss_before_mb": before / MB, "accept_growth_ratio": max(0, after_accept - before) / size,
            "peak_growth_ratio": max(0, peak - before) / size}


def run(sizes: list[int], database: str = "", work: Path | None = None) -> list[dict]:
    from bench.__main__ import free_port, start_gateway, wait_up
    from gateway.testing.network import make_pki, toml_for
    with tempfile.TemporaryDirectory() as tmp:
        root = work or Path(tmp)
        net = make_pki(root / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        ports = {"moe-hub": free_port(), "moe-r15": free_port(), "ocsc": free_port()}
        folder = root / "moe-r15"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "gateway.toml"
        limit = max(sizes) * MB * 4 // 3 + 4 * MB
        config.write_text(toml_for("moe-r15", net, ports, folder, database=database,
                                   extra=f"[limits]\nmax_body_bytes = {limit}\n"), encoding="utf-8")
        proc = start_gateway(config, folder / "serve.log")
        try:
            wait_up(f"http://127.0.0.1:{ports['moe-r15']}/healthz", proc)
            url = f"http://127.0.0.1:{ports['moe-r15']}"
            measure(url, proc.pid, WARM_UP)      # first use of every path (imports, caches, prepared SQL)
            rows = [measure(url, proc.pid, size * MB) for size in sizes]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return rows


def report(rows: list[dict], label: str) -> None:
    for row in rows:
        print(f"  {label} {row['size_mb']:>4} MB enclosure: accepted in {row['accept_s']:.1f} s, pulled in "
              f"{row['pull_s']:.1f} s, intact {row['intact']}; peak RSS growth "
              f"{row['peak_growth_ratio']:.2f}x the enclosure (accept {row['accept_growth_ratio']:.2f}x; "
              f"RSS before {row['rss_before_mb']:.0f} MB) (bar: < 1.5x)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.large")
    parser.add_argument("--sizes", default="10,100", help="enclosure sizes in MB, comma-separated")
    parser.add_argument("--database", default="", help="a postgresql:// URL (default: SQLite)")
    args = parser.parse_args()
    rows = run([int(s) for s in args.sizes.split(",")], args.database)
    report(rows, "PostgreSQL" if args.database else "SQLite")
    return 0 if all(r["intact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
