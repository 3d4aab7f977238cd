"""Observability over real HTTP (docs/observability.md): /metrics after traffic, /readyz when the database
stops and returns, JSON logs whose correlation id follows a letter across two nodes, and the metrics of a
`gateway serve` and a `gateway worker` process added up in prometheus_client's multi-process mode.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from gateway import telemetry
from gateway.core.errors import ErrorCode
from gateway.core.trust import pki
from gateway.runtime import directory_sync, logs, wiring
from gateway.testing import pgcluster
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.live import LiveServer, free_port, live_config
from gateway.testing.network import make_pki, node_config, toml_for
from gateway.testing.wire import PULL, Reply, delete_request, send_request, soap

CORRELATION = "X-Correlation-ID"


# ---------------------------------------------------------------- helpers

def post(url: str, body: bytes, *, content_type: str = "text/xml; charset=utf-8", **headers: str) -> Reply:
    response = requests.post(url, data=body, headers={"Content-Type": content_type, **headers}, timeout=30)
    reply = Reply(status=response.status_code, body=response.content, root=etree.fromstring(response.content))
    reply.correlation = response.headers.get(CORRELATION, "")  # type: ignore[attr-defined]
    return reply


def scrape(base: str) -> str:
    response = requests.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return response.text


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def value(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in samples(text, name) if s.labels == labels]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def ready(base: str) -> tuple[int, dict]:
    response = requests.get(f"{base}/readyz", timeout=10)
    return response.status_code, response.json()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------- /metrics after traffic

def test_metrics_count_exactly_the_traffic_sent(live):
    sender, receiver = live.endpoint(CENTRAL), live.endpoint(CHIANGMAI)
    letters = 4
    sent = [post(sender, send_request(letter_id=unique_letter_id(), sender=CENTRAL, receiver=CHIANGMAI)).ok()
            for _ in range(letters)]
    assert all(r.correlation == r.process_id for r in sent), "the answer names the letter's ProcessID"
    pulled = [post(receiver, PULL).ok() for _ in range(2)]
    assert {p.process_id for p in pulled} <= {r.process_id for r in sent}
    for item in pulled:
        assert post(receiver, delete_request(item.process_id)).ok().correlation == item.process_id
    # refusals with known codes
    assert post(sender, soap("<NoSuchOperationRequest/>")).error_code == "1005"
    assert post(sender, soap("<AnotherUnknownRequest/>")).error_code == "1005"
    assert post(sender, b"<SOAP-ENV:Envelope>&</SOAP-ENV:Envelope>").error_code == "1001"
    assert post(sender, soap("<TimeCheckRequest/>"), content_type="application/json").error_code == "1008"
    assert post(f"{live.base}/ecms-ws01/service2/9999999999", soap("<TimeCheckRequest/>")).error_code == "3005"
    refused = {"1005": 2, "1001": 1, "1008": 1, "3005": 1}

    text = scrape(live.base)
    ok = {"CorrespondenceLetterOutbound": letters, "CorrespondenceLetterInbound": 2, "CorrespondenceLetterDelete": 2}
    for operation, count in ok.items():
        assert value(text, "gateway_requests_total", port="agency", operation=operation, code="ok") == count
    assert value(text, "gateway_requests_total", port="agency", operation="?", code="1005") == 2
    for code in ErrorCode:
        assert value(text, "gateway_refusals_total", port="agency", code=code.code) == refused.get(code.code, 0)
        assert value(text, "gateway_refusals_total", port="node", code=code.code) == 0
    assert sum(s.value for s in samples(text, "gateway_requests_total")) == sum(ok.values()) + sum(refused.values())

    # the request histogram: every Outbound answer in the +Inf bucket, the buckets never decrease
    buckets = [s for s in samples(text, "gateway_request_duration_seconds_bucket")
               if s.labels["operation"] == "CorrespondenceLetterOutbound"]
    assert len(buckets) == len(telemetry.REQUEST_BUCKETS) + 1 and buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == letters
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)
    assert value(text, "gateway_request_duration_seconds_count", port="agency",
                 operation="CorrespondenceLetterOutbound") == letters

    # what the store knows, read at scrape time
    assert value(text, "gateway_store_up") == 1
    assert value(text, "gateway_queue_items", organization=CHIANGMAI) == letters - 2
    assert value(text, "gateway_queue_items", organization=CENTRAL) == 0
    assert all(value(text, "gateway_outbox_items", state=s) == 0 for s in ("pending", "delivered", "failed"))

    for name, kind in (("gateway_requests_total", "counter"), ("gateway_refusals_total", "counter"),
                       ("gateway_request_duration_seconds", "histogram"),
                       ("gateway_delivery_latency_seconds", "histogram"), ("gateway_queue_items", "gauge"),
                       ("gateway_certificate_expiry_timestamp_seconds", "gauge")):
        assert f"\n# TYPE {name} {kind}\n" in "\n" + text and f"\n# HELP {name} " in "\n" + text, name

    # certificate expiry: the node's, every hosted organisation's and the anchor's, from the files configured
    config = live.node.config
    node_cert = pki.load_certificate(open(config.node_certificate, "rb").read())
    expiry = [s for s in samples(text, "gateway_certificate_expiry_timestamp_seconds")]
    assert [s.value for s in expiry if s.labels["kind"] == "node" and s.labels["id"] == config.node_id] == \
        [node_cert.not_valid_after_utc.timestamp()]
    assert {s.labels["id"] for s in expiry if s.labels["kind"] == "organization"} == \
        {o.id for o in config.directory.hosted()}
    assert len([s for s in expiry if s.labels["kind"] == "anchor"]) == len(config.trust_anchors)
    chiangmai = next(s for s in expiry if s.labels["id"] == CHIANGMAI)
    assert "O=สำนักงานศึกษาธิการจังหวัดเชียงใหม่" in chiangmai.labels["subject"]


# ---------------------------------------------------------------- /readyz

def test_readyz_turns_503_while_postgresql_is_stopped_and_200_when_it_returns(data_dir):
    cluster = pgcluster.Cluster().start()   # its own small cluster: the session's keeps serving the others
    try:
        store = wiring.open_store(cluster.create_database("readyz"))
        store.migrate()
        port = free_port()
        server = LiveServer(wiring.build(live_config(port, data_dir), store=store, clock=FakeClock(), migrate=False),
                            port)
        try:
            status, body = ready(server.base)
            assert (status, body["ready"]) == (200, True), body
            assert body["checks"] == {"database": "ok", "workers": "ok", "directory": "ok"}

            cluster.stop()
            started = time.monotonic()
            status, body = ready(server.base)
            assert status == 503 and body["ready"] is False and body["not_ready"] == ["database"], body
            assert body["checks"]["database"].startswith(("the database is unavailable", "the database gave no answer"))
            assert time.monotonic() - started < 10, "readiness does not wait for the pool's 30 s timeout"
            assert requests.get(f"{server.base}/healthz", timeout=5).status_code == 200   # the process is up
            assert value(scrape(server.base), "gateway_store_up") == 0

            cluster.restart()   # (it is stopped already) start it again
            wait_for(lambda: ready(server.base)[0] == 200, 60, "ready again after PostgreSQL returned")
            assert post(server.endpoint(CENTRAL), send_request(letter_id=unique_letter_id(), sender=CENTRAL,
                                                               receiver=CHIANGMAI)).ok()
            assert value(scrape(server.base), "gateway_store_up") == 1
        finally:
            server.stop()
            store.close()
    finally:
        cluster.destroy()


def test_readyz_on_sqlite_when_the_database_file_is_gone_or_replaced(data_dir, tmp_path):
    path = tmp_path / "gateway.sqlite3"
    store = wiring.open_store(f"sqlite:{path}")
    store.migrate()
    port = free_port()
    server = LiveServer(wiring.build(live_config(port, data_dir), store=store, clock=FakeClock(), migrate=False), port)
    try:
        assert ready(server.base)[0] == 200
        moved = path.rename(tmp_path / "moved-away.sqlite3")
        status, body = ready(server.base)
        assert status == 503 and body["not_ready"] == ["database"] and "is gone" in body["checks"]["database"], body
        assert requests.get(f"{server.base}/healthz", timeout=5).status_code == 200
        moved.rename(path)
        assert ready(server.base)[0] == 200

        shutil.copy(path, tmp_path / "copy.sqlite3")
        path.rename(tmp_path / "original.sqlite3")
        (tmp_path / "copy.sqlite3").rename(path)   # same name, another file: not the database the node has open
        status, body = ready(server.base)
        assert status == 503 and "replaced" in body["checks"]["database"], body
        (tmp_path / "original.sqlite3").replace(path)
        assert ready(server.base)[0] == 200
    finally:
        server.stop()
        store.close()


def readyz(node, path: str = "/readyz", remote: str = "127.0.0.1") -> tuple[int, dict]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "REMOTE_ADDR": remote,
               "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http"}
    status = {}
    body = b"".join(node.wsgi(environ, lambda line, headers: status.setdefault("code", int(line.split()[0]))))
    return status["code"], json.loads(body)


def test_readyz_details_are_for_the_monitoring_networks_and_healthz_only_says_up(cfg):
    # an authority whose snapshot was never synced (its certificate file is read only once there is one)
    node = wiring.build(dataclasses.replace(cfg, authority_node="moe-hub", authority_url="http://127.0.0.1:9/node",
                                            authority_certificate="never-read.pem"),
                        store=wiring.open_store("memory:"), clock=FakeClock())
    status, body = readyz(node, remote="192.0.2.10")
    assert (status, body) == (503, {"ready": False, "not_ready": ["directory"]})
    status, body = readyz(node, remote="127.0.0.1")   # security.metrics_networks: loopback
    assert status == 503 and "gateway directory sync" in body["checks"]["directory"]
    assert readyz(node, "/healthz", remote="192.0.2.10") == (200, {"status": "up"})


def test_readyz_watches_the_delivery_threads_of_this_process(cfg):
    node = wiring.build(cfg, store=wiring.open_store("memory:"), clock=FakeClock())
    assert readyz(node)[0] == 200                       # no workers here: nothing to watch
    threads, stop = node.start_worker()
    assert readyz(node) == (200, {"ready": True, "not_ready": [], "checks": {
        "database": "ok", "workers": "ok", "directory": "ok"}})
    stop.set()
    status, body = readyz(node)
    assert status == 503 and body["not_ready"] == ["workers"] and "stopping" in body["checks"]["workers"]
    dead = threading.Thread(target=lambda: None, name="delivery-9")
    dead.start()
    dead.join()
    node.readiness.watch_workers([*threads, dead], threading.Event())   # one died without being told to stop
    status, body = readyz(node)
    assert status == 503 and body["not_ready"] == ["workers"], body
    assert body["checks"]["workers"] == f"1 of {len(threads) + 1} delivery threads stopped: delivery-9"


@pytest.fixture(scope="module")
def net_pki(tmp_path_factory):
    issued = min(dt.datetime.now(dt.timezone.utc), FakeClock().now()) - dt.timedelta(days=1)
    return make_pki(tmp_path_factory.mktemp("observability-pki"), issued)


def test_readyz_reports_a_directory_snapshot_never_synced_or_stale(net_pki, tmp_path):
    clock = FakeClock()
    ports = {n: free_port() for n in ("moe-hub", "moe-r15", "ocsc")}
    hub_cfg = dataclasses.replace(node_config("moe-hub", net_pki, ports, tmp_path / "hub"), publish_directory=True)
    hub = LiveServer(wiring.build(hub_cfg, store=wiring.open_store("memory:"), clock=clock), ports["moe-hub"])
    try:
        agency_cfg = dataclasses.replace(
            node_config("ocsc", net_pki, ports, tmp_path / "ocsc"), authority_node="moe-hub",
            authority_url=hub_cfg.node_url, authority_certificate=net_pki.path("nodes/moe-hub.pem"),
            directory_sync_interval=dt.timedelta(hours=1))
        agency = wiring.build(agency_cfg, store=wiring.open_store("memory:"), clock=clock)
        status, body = readyz(agency)
        assert status == 503 and body["not_ready"] == ["directory"]
        assert "gateway directory sync" in body["checks"]["directory"]

        directory_sync.sync_directory(agency_cfg, clock)
        assert readyz(agency)[0] == 200
        clock.advance(dt.timedelta(hours=3) - dt.timedelta(seconds=1))
        assert readyz(agency)[0] == 200, "within 3 x directory_authority.sync_interval_seconds"
        clock.advance(dt.timedelta(seconds=2))
        status, body = readyz(agency)
        assert status == 503 and body["not_ready"] == ["directory"] and "stale" in body["checks"]["directory"]
        assert str(clock.now().year + 543) in body["checks"]["directory"], "people read Buddhist-Era dates"
        directory_sync.sync_directory(agency_cfg, clock)   # the hub publishes a newer snapshot
        assert readyz(agency)[0] == 200
    finally:
        hub.stop()


# ---------------------------------------------------------------- two nodes: correlation id, JSON logs, delivery

class HeaderRecorder:
    """The receiving node's WSGI application, noting the X-Correlation-ID of every request."""

    def __init__(self, app) -> None:
        self.app, self.seen = app, []

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").endswith("/node"):
            self.seen.append(environ.get("HTTP_X_CORRELATION_ID", ""))
        return self.app(environ, start_response)


@pytest.fixture
def pair(net_pki, tmp_path):
    """moe-hub and moe-r15 on loopback HTTP (SQLite, one fake clock); the test drives the hub's worker."""
    clock = FakeClock()
    ports = {n: free_port() for n in ("moe-hub", "moe-r15", "ocsc")}
    nodes = {}
    for name in ("moe-hub", "moe-r15"):
        store = wiring.open_store(f"sqlite:{tmp_path / name / 'gateway.sqlite3'}")
        store.migrate()
        nodes[name] = wiring.build(node_config(name, net_pki, ports, tmp_path / name), store=store, clock=clock,
                                   migrate=False)
    recorder = HeaderRecorder(nodes["moe-r15"].wsgi)
    region = dataclasses.replace(nodes["moe-r15"], wsgi=recorder)
    servers = {"moe-hub": LiveServer(nodes["moe-hub"], ports["moe-hub"]),
               "moe-r15": LiveServer(region, ports["moe-r15"])}
    yield nodes, servers, recorder, clock, region
    for server in servers.values():
        server.stop()
    for node in nodes.values():
        node.close()


@pytest.fixture
def json_log():
    """Every log line of the test process as the JSON format writes it."""
    stream = io.StringIO()
    handler = logs.handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_the_correlation_id_follows_a_letter_across_two_nodes_in_json_logs(pair, json_log):
    nodes, servers, recorder, clock, _ = pair
    hub, region = servers["moe-hub"], servers["moe-r15"]
    first = post(hub.endpoint(CENTRAL), send_request(letter_id="ศธ 0210/7001", sender=CENTRAL, receiver=CHIANGMAI)).ok()
    assert first.correlation == first.process_id
    second = post(hub.endpoint(CENTRAL), send_request(letter_id="ศธ 0210/7002", sender=CENTRAL, receiver=CHIANGMAI),
                  **{CORRELATION: "esaraban-req-0002"}).ok()
    assert second.correlation == "esaraban-req-0002", "a client's own id is answered back"
    assert nodes["moe-hub"].worker.run_once().delivered == 2
    assert sorted(recorder.seen) == sorted([first.process_id, second.process_id]), "the push carries the id"
    pulls = [post(region.endpoint(CHIANGMAI), PULL).ok() for _ in range(2)]
    assert {(p.process_id, p.correlation) for p in pulls} == {(first.process_id, first.process_id),
                                                              (second.process_id, second.process_id)}

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["time"].endswith("+07:00") and dt.datetime.fromisoformat(line["time"]) for line in lines)

    def trail(correlation: str) -> set:
        return {(line.get("node"), line["logger"], line.get("port", ""), line.get("operation", ""),
                 line.get("org", ""), line.get("code", "")) for line in lines if line.get("correlation_id") == correlation}

    assert trail(first.process_id) >= {
        ("moe-hub", "gateway.http", "agency", "CorrespondenceLetterOutbound", CENTRAL, "ok"),
        ("moe-hub", "gateway.operations.delivery", "", "", CHIANGMAI, ""),
        ("moe-r15", "gateway.http", "node", "Deliver", CHIANGMAI, "ok"),
        ("moe-r15", "gateway.http", "agency", "CorrespondenceLetterInbound", CHIANGMAI, "ok")}
    delivered = [line for line in lines if line["logger"] == "gateway.operations.delivery"
                 and line.get("correlation_id") == first.process_id]
    assert delivered[0]["message"].startswith("delivered") and delivered[0]["next_node"] == "moe-r15"
    assert delivered[0]["process_id"] == first.process_id
    # the client's id marks its own request, beside the ProcessID every node uses
    own = [line for line in lines if line.get("correlation_id") == "esaraban-req-0002"]
    assert [(line["operation"], line["process_id"]) for line in own] == \
        [("CorrespondenceLetterOutbound", second.process_id)]
    assert ("moe-r15", "gateway.http", "node", "Deliver", CHIANGMAI, "ok") in trail(second.process_id)


def test_delivery_attempts_latency_retries_and_duplicates_are_counted(pair):
    nodes, servers, recorder, clock, region_node = pair
    hub = servers["moe-hub"]
    for number in ("ศธ 0210/7101", "ศธ 0210/7102"):
        post(hub.endpoint(CENTRAL), send_request(letter_id=number, sender=CENTRAL, receiver=CHIANGMAI)).ok()
    clock.advance(dt.timedelta(seconds=42))
    assert nodes["moe-hub"].worker.run_once().delivered == 2
    text = scrape(hub.base)
    assert value(text, "gateway_delivery_attempts_total", outcome="delivered") == 2
    assert value(text, "gateway_delivery_latency_seconds_count") == 2
    assert value(text, "gateway_delivery_latency_seconds_sum") == 84.0
    assert value(text, "gateway_delivery_latency_seconds_bucket", le="30.0") == 0
    assert value(text, "gateway_delivery_latency_seconds_bucket", le="60.0") == 2
    assert value(text, "gateway_outbox_items", state="delivered") == 2
    assert value(scrape(servers["moe-r15"].base), "gateway_requests_total", port="node", operation="Deliver",
                 code="ok") == 2

    # the region is down: the next letter is retried, then delivered on its second push
    port = servers["moe-r15"].port
    servers["moe-r15"].stop()
    post(hub.endpoint(CENTRAL), send_request(letter_id="ศธ 0210/7103", sender=CENTRAL, receiver=CHIANGMAI)).ok()
    assert nodes["moe-hub"].worker.run_once().retried == 1
    text = scrape(hub.base)
    assert value(text, "gateway_delivery_attempts_total", outcome="retry") == 1
    assert value(text, "gateway_delivery_retries_total") == 0, "a first push is no retry"
    servers["moe-r15"] = LiveServer(region_node, port)
    clock.advance(dt.timedelta(seconds=60))
    assert nodes["moe-hub"].worker.run_once().delivered == 1
    text = scrape(hub.base)
    assert value(text, "gateway_delivery_attempts_total", outcome="delivered") == 3
    assert value(text, "gateway_delivery_retries_total") == 1
    assert value(text, "gateway_delivery_latency_seconds_sum") == 84.0 + 60.0
    assert value(text, "gateway_delivery_failures_total", reason="refused") == 0

    # the same message pushed again (a worker that lost its receipt): answered with the first receipt
    with nodes["moe-hub"].store.transaction() as tx:
        first_item = tx.outbox_item(1)
    assert nodes["moe-hub"].worker.deliver(first_item, "again").value == "delivered"
    region_text = scrape(servers["moe-r15"].base)
    assert value(region_text, "gateway_duplicate_messages_total") == 1 == nodes["moe-r15"].relay.duplicates
    assert value(region_text, "gateway_requests_total", port="node", operation="Deliver", code="ok") == 4


# ---------------------------------------------------------------- two processes, one set of metrics

def _process(args: list[str], config, log_path):
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "gateway", *args, "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                start_new_session=True)


@pytest.mark.acceptance
def test_a_serve_and_a_worker_process_report_together(pg_cluster, net_pki, tmp_path):
    ports = {n: free_port() for n in ("moe-hub", "moe-r15", "ocsc")}
    region_store = wiring.open_store(f"sqlite:{tmp_path / 'r15' / 'gateway.sqlite3'}")
    region_store.migrate()
    region = LiveServer(wiring.build(node_config("moe-r15", net_pki, ports, tmp_path / "r15"), store=region_store,
                                     migrate=False), ports["moe-r15"])   # the real clock, as the processes have
    folder, metrics_dir = tmp_path / "hub", tmp_path / "hub" / "metrics"
    folder.mkdir()
    database = pg_cluster.create_database(f"obs_{uuid.uuid4().hex[:8]}")
    extra = ("[delivery]\nembedded_worker = false\nretry_first_seconds = 0.2\nworker_poll_seconds = 1\n"
             f'[logging]\nformat = "json"\n[metrics]\nmultiprocess_dir = "{metrics_dir}"\n')
    config = folder / "gateway.toml"
    config.write_text(toml_for("moe-hub", net_pki, ports, folder, database=database, extra=extra), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "gateway", "migrate", "--config", str(config)], check=True,
                   capture_output=True, timeout=120)
    serve = _process(["serve", "--no-worker"], config, folder / "serve.log")
    worker = _process(["worker"], config, folder / "worker.log")
    base = f"http://127.0.0.1:{ports['moe-hub']}"
    try:
        def up():
            assert serve.poll() is None and worker.poll() is None, (folder / "serve.log").read_text() + \
                (folder / "worker.log").read_text()
            try:
                return requests.get(f"{base}/readyz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(up, 60, "gateway serve to be ready")
        sent = [post(f"{base}/ecms-ws01/service2/{CENTRAL}", send_request(
            letter_id=unique_letter_id(), sender=CENTRAL, receiver=CHIANGMAI)).ok().process_id for _ in range(3)]

        def delivered():
            with region_store.transaction() as tx:
                return tx.queue_depth().get(CHIANGMAI, 0) == 3

        wait_for(delivered, 60, "the worker process to deliver the letters")
        text = wait_for(lambda: (t := scrape(base)) and value(
            t, "gateway_delivery_attempts_total", outcome="delivered") == 3 and t, 10, "the worker's counts")
        # one scrape of the serve process shows its own requests and the worker process's pushes
        assert value(text, "gateway_requests_total", port="agency", operation="CorrespondenceLetterOutbound",
                     code="ok") == 3
        assert value(text, "gateway_delivery_latency_seconds_count") == 3
        assert value(text, "gateway_delivery_latency_seconds_bucket", le="+Inf") == 3
        assert value(text, "gateway_duplicate_messages_total") == 0
        assert "# TYPE gateway_delivery_latency_seconds histogram" in text
        assert {f"counter_{serve.pid}.db", f"counter_{worker.pid}.db"} <= set(os.listdir(metrics_dir))

        # both processes wrote JSON lines; the worker's deliveries carry each letter's correlation id
        worker_lines = [json.loads(line) for line in (folder / "worker.log").read_text().splitlines()
                        if line.startswith("{")]
        assert {line["correlation_id"] for line in worker_lines if line["message"].startswith("delivered")} == \
            set(sent)
        serve_lines = [json.loads(line) for line in (folder / "serve.log").read_text().splitlines()
                       if line.startswith("{")]
        assert {line["correlation_id"] for line in serve_lines
                if line.get("operation") == "CorrespondenceLetterOutbound"} == set(sent)
    finally:
        for proc in (serve, worker):
            proc.terminate()
        for proc in (serve, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        region.stop()
        region_store.close()
