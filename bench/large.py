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
import datetime as dt
import hashlib
import tempfile
import time
import uuid
from pathlib import Path

import requests

from gateway.testing.large import (CHIANGMAI, MB, REGION15, Base64Tail as _Base64Tail, kib as _kib,
                                   request_parts as _request_parts, reset_peak as _reset_peak, stream as _stream)

WARM_UP = 6 * MB            # a letter sent first, not reported


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
