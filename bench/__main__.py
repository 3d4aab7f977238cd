"""`make bench`: the bars of DESIGN section 8 that this code can measure, as figures and ratios.

1. Bare Spyne echo rate of the same server setup (cheroot, same thread count, separate process),
   echoing a body the size of the letter used below: the baseline.
2. Accepting letters from a legacy client (durable, signed for the wire), SQLite and PostgreSQL.
3. A letter delivered node A -> node B with a signed receipt: throughput, and submit-to-inbox
   latency (p50/p99) at half of that load.
4. Large letters (bench/large.py): 10 MB and 100 MB enclosures sent and pulled as streams, with the
   growth of the server's peak RSS as a ratio to the enclosure (bar: < 1.5x).
5. The conformance kit's agency-interface plan (the same case objects `gateway conformance node`
   and the tests run) with the sender on node A and the receiver on node B: each case's time,
   and which cases a two-node path does not pass yet.

Load comes from separate client processes. The machine is shared and noisy: read the ratios,
not the absolute numbers. Usage: python -m bench [--seconds 10] [--clients 8] [--skip-postgres]
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench import large

ROOT = Path(__file__).resolve().parent.parent

CENTRAL, CHIANGMAI = "2000100000", "2000350000"
PDF_BYTES = b"%PDF-1.4\n" + os.urandom(15_000) + b"\n%%EOF\n"   # a one-page scan is about this size


def letter_body(letter_id: str) -> bytes:
    from gateway.testing.wire import send_request
    return send_request(letter_id=letter_id, main=base64.b64encode(PDF_BYTES).decode(), sender=CENTRAL,
                        receiver=CHIANGMAI)


def echo_body() -> bytes:
    payload = base64.b64encode(PDF_BYTES).decode()
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            f'"http://schemas.xmlsoap.org/soap/envelope/" xmlns:e="urn:bench:echo"><soapenv:Body>'
            f"<e:echo><e:s>{payload}</e:s></e:echo></soapenv:Body></soapenv:Envelope>").encode()


# ------------------------------------------------------------------ servers

ECHO_SERVER = r'''
import sys
from cheroot import wsgi
from spyne import Application, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
class Echo(ServiceBase):
    @rpc(Unicode, _returns=Unicode)
    def echo(ctx, s):
        return s
app = WsgiApplication(Application([Echo], "urn:bench:echo", in_protocol=Soap11(), out_protocol=Soap11()))
app.max_content_length = 64 * 1024 * 1024
server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=int(sys.argv[2]))
server.safe_start()
'''


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_gateway(config: Path, log: Path) -> subprocess.Popen:
    subprocess.run([sys.executable, "-m", "gateway", "migrate", "--config", str(config)], check=True,
                   capture_output=True)
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)


# ------------------------------------------------------------------ load

def _client(url: str, kind: str, seconds: float, threads: int, rate: float, out: mp.Queue) -> None:
    import threading
    session_local = threading.local()
    done, latencies, errors = [0], [], [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds
    interval = threads / rate if rate else 0.0
    echo = echo_body()

    def run() -> None:
        session = session_local.s = requests.Session()
        next_at = time.monotonic()
        while time.monotonic() < end:
            if interval:
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            letter_id = f"ศธ 0210/{uuid.uuid4().hex[:12]}"
            body = echo if kind == "echo" else letter_body(letter_id)
            started = time.time()
            try:
                r = session.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
                ok = r.status_code == 200 and b"ErrorDetail" not in r.content
            except requests.RequestException:
                ok = False
            with lock:
                if ok:
                    done[0] += 1
                    latencies.append((letter_id, started))
                else:
                    errors[0] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((done[0], errors[0], latencies))


def load(url: str, kind: str, *, seconds: float, clients: int, rate: float = 0.0) -> tuple[float, int, list]:
    """Requests per second over ``seconds`` from ``clients`` threads in two processes."""
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(url, kind, seconds, clients // 2, rate / 2, out)) for _ in range(2)]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    done = sum(r[0] for r in results)
    return done / seconds, sum(r[1] for r in results), [t for r in results for t in r[2]]


# ------------------------------------------------------------------ phases

def phase_echo(args) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port), str(args.threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/", proc)
        rate, errors, _ = load(f"http://127.0.0.1:{port}/", "echo", seconds=args.seconds, clients=args.clients)
    finally:
        proc.terminate()
        proc.wait()
    print(f"  bare Spyne echo ({len(echo_body()) // 1024} KiB body): {rate:8.1f} req/s  ({errors} errors)")
    return rate


def node_pair(work: Path, database_a: str, database_b: str, threads: int):
    from gateway.testing.network import make_pki, toml_for
    net = make_pki(work / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    ports = {"moe-hub": free_port(), "moe-r15": free_port(), "ocsc": free_port()}
    procs = []
    for node, db in (("moe-hub", database_a), ("moe-r15", database_b)):
        folder = work / node
        folder.mkdir(parents=True)
        cfg = folder / "gateway.toml"
        extra = (f"[delivery]\nretry_first_seconds = 0.2\nretry_max_seconds = 2\nworker_poll_seconds = 1\n")
        cfg.write_text(toml_for(node, net, ports, folder, database=db, extra=extra).replace(
            "[server]\n", f"[server]\nthreads = {threads}\n"), encoding="utf-8")
        procs.append(start_gateway(cfg, folder / "serve.log"))
    for node, proc in zip(("moe-hub", "moe-r15"), procs):
        wait_up(f"http://127.0.0.1:{ports[node]}/healthz", proc)
    return ports, procs


def phase_accept(args, label: str, db_a: str, db_b: str, work: Path) -> float:
    ports, procs = node_pair(work, db_a, db_b, args.threads)
    try:
        url = f"http://127.0.0.1:{ports['moe-hub']}/ecms-ws01/service2/{CENTRAL}"
        rate, errors, _ = load(url, "letter", seconds=args.seconds, clients=args.clients)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    print(f"  accept a letter, {label:10}: {rate:8.1f} letters/s  ({errors} errors)")
    return rate


def _inbox_times(db_url: str) -> dict[str, float]:
    if db_url.startswith("postgresql"):
        import psycopg
        with psycopg.connect(db_url) as conn:
            rows = conn.execute("SELECT letter_no, created_at FROM letters").fetchall()
    else:
        import sqlite3
        conn = sqlite3.connect(db_url[len("sqlite:"):])
        rows = conn.execute("SELECT letter_no, created_at FROM letters").fetchall()
        conn.close()
    return {no: created / 1e6 for no, created in rows}


def phase_delivery(args, label: str, db_a: str, db_b: str, work: Path, accept_rate: float) -> tuple[float, float, float]:
    ports, procs = node_pair(work, db_a, db_b, args.threads)
    try:
        url = f"http://127.0.0.1:{ports['moe-hub']}/ecms-ws01/service2/{CENTRAL}"
        # throughput: send flat out, then measure until the receiving node has them all
        started = time.time()
        rate, _, _ = load(url, "letter", seconds=args.seconds, clients=args.clients)
        sent = int(rate * args.seconds)
        deadline = time.time() + 300
        while len(_inbox_times(db_b)) < sent and time.time() < deadline:
            time.sleep(0.5)
        arrived = _inbox_times(db_b)
        throughput = len(arrived) / (max(arrived.values()) - started) if arrived else 0.0
        # latency at half load: from the client's submit to the letter stored in B's inbox
        _, _, submits = load(url, "letter", seconds=args.seconds, clients=args.clients, rate=throughput / 2)
        time.sleep(5)
        after = _inbox_times(db_b)
        latencies = sorted((after[letter_id] - started) * 1000 for letter_id, started in submits if letter_id in after)
        missing = sum(1 for letter_id, _ in submits if letter_id not in after)
        if missing:
            print(f"    ({missing} letters not yet in the inbox after 5 s are left out)")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] if len(latencies) >= 100 else float("nan")
    print(f"  deliver A->B, {label:10}: {throughput:8.1f} letters/s; at half load submit-to-inbox "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(latencies)} letters)")
    return throughput, p50, p99


def phase_conformance(args, work: Path) -> None:
    """The A-plan across two nodes (SQLite): the cases are data shared with the CLI and the tests."""
    from gateway.adapters.clock import SystemClock
    from gateway.conformance import node_edges, node_plan, plan  # noqa: F401 - node_edges registers cases
    from gateway.conformance.agent import Agent
    ports, procs = node_pair(work, f"sqlite:{work / 'a.sqlite3'}", f"sqlite:{work / 'b.sqlite3'}", args.threads)
    clock = SystemClock()
    try:
        base = "http://127.0.0.1:{}/ecms-ws01/service2/{}"
        ctx = node_plan.NodeContext(
            sender=Agent(endpoint=base.format(ports["moe-hub"], CENTRAL), org=CENTRAL, clock=clock, timeout=30),
            receiver=Agent(endpoint=base.format(ports["moe-r15"], CHIANGMAI), org=CHIANGMAI, clock=clock, timeout=30),
            clock=clock, delivery_wait=30.0, large_bytes=2 * 1024 * 1024)
        report = plan.Report(plan="node", target={}, started="")
        started = time.time()
        plan.run(report, plan.PLANS["node"], ctx, clock=clock)
        took = time.time() - started
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    counts = report.counts()
    slowest = sorted(report.outcomes, key=lambda o: -o.seconds)[:3]
    print(f"  conformance plan A across two nodes: {counts['passed']}/{len(report.outcomes)} passed in {took:.1f} s; "
          "slowest " + ", ".join(f"{o.case.id} {o.seconds:.1f} s" for o in slowest))
    for outcome in report.outcomes:
        if outcome.status not in (plan.Status.PASSED, plan.Status.NOT_CHECKABLE):
            print(f"    {outcome.case.id} {outcome.status}: {outcome.message.splitlines()[0][:150]}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="server threads (both servers)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only-conformance", action="store_true", help="run phase 4 only")
    parser.add_argument("--large-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[10, 100],
                        help="enclosure sizes in MB for the large-letter row (default 10,100)")
    args = parser.parse_args()
    if args.only_conformance:
        with tempfile.TemporaryDirectory() as tmp:
            phase_conformance(args, Path(tmp))
        return 0
    print(f"machine: {os.cpu_count()} cores; {args.clients} client threads in 2 processes; "
          f"{args.seconds:.0f} s per measurement")
    echo = phase_echo(args)
    backends = [("SQLite", lambda w, n: f"sqlite:{w / n / 'gateway.sqlite3'}")]
    cluster = None
    if not args.skip_postgres:
        from gateway.testing import pgcluster
        cluster = pgcluster.Cluster().start()
        backends.append(("PostgreSQL", lambda w, n: cluster.create_database(f"bench_{n.replace('-', '_')}_{uuid.uuid4().hex[:6]}")))
    try:
        for label, db in backends:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                accept = phase_accept(args, label, db(work, "a1"), db(work, "b1"), work / "accept")
                print(f"    ratio to echo: {accept / echo:.0%} (bar: >= 40%)")
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                throughput, p50, p99 = phase_delivery(args, label, db(work, "a2"), db(work, "b2"), work / "deliver",
                                                      accept)
                print(f"    ratio to echo: {throughput / echo:.0%} (bar: >= 25%); p99 {p99:.0f} ms (bar: < 250 ms)")
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                print(f"large letters, {label}: one process, the enclosure sent and pulled as streams")
                large.report(large.run(args.large_sizes, db(work, "large") if label != "SQLite" else "", work),
                             label)
    finally:
        if cluster:
            cluster.destroy()
    with tempfile.TemporaryDirectory() as tmp:
        phase_conformance(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
