"""Deployment as shipped in deploy/ (docs/deployment.md), with real processes.

* **The production stack.** gunicorn, started as the unit ``gateway-serve.service`` starts it, with
  ``deploy/gunicorn.conf.py`` and two sync workers on PostgreSQL, behind nginx with
  ``deploy/nginx/gateway.conf`` (TLS at nginx, HTTP Basic credentials, ``security.tls_proxy``):
  ``/healthz`` and ``/readyz``, a letter sent and pulled with the ``gateway`` commands, concurrent
  senders served by both workers, each with its own database connection, their counters added up
  in one scrape (``[metrics] multiprocess_dir``), a worker killed with SIGKILL replaced by one that
  serves; a body over the proxy's limit answered with the node's own fault 1003; ``/metrics`` and
  ``/readyz`` not passed by the proxy; Basic credentials refused when they did not come through the
  proxy's TLS; a preloaded application refused, and a node built before a fork refusing to serve in
  the child; SQLite refused.
* **Backup and restore** with ``deploy/backup.sh`` and ``deploy/restore.sh``: an SQLite node backed up
  online while another organisation's letters are being written, and a PostgreSQL node. The restored
  node serves the letter sent before the backup and not the one sent after; a restore over a running
  or a non-empty node is refused and changes nothing; ``--force`` keeps what it replaces; a damaged
  backup is refused.
* **The files themselves**: ``nginx -t`` on the site file, its limits against the node's, and
  ``systemd-analyze verify`` and ``security`` on the units.
"""
from __future__ import annotations

import concurrent.futures
import io
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.trust.tenants import hash_password
from gateway.core.xml import envelope
from gateway.core.xml.safe import MAX_BODY_BYTES
from gateway.runtime.wiring import NODE_BODY_FACTOR
from gateway.store import migrations
from gateway.testing import wire
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, PDF, unique_letter_id
from gateway.testing.live import free_port

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
VENV_BIN = Path(sys.executable).parent
GATEWAY = [sys.executable, "-m", "gateway"]
PASSWORDS = {CENTRAL: "รหัสผ่านส่วนกลาง 2569", CHIANGMAI: "รหัสผ่านเชียงใหม่ 2569"}
SUBJECT = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"
LATEST = max(version for version, _, _ in migrations("postgres"))
PROXY_LIMIT = 1024 * 1024   # the stack's limits.max_body_bytes and client_max_body_size (the shipped one is 50m)
METRICS_SECTION = '[metrics]\nmultiprocess_dir = "metrics"\n'


# ---------------------------------------------------------------------------------------------- processes
class Service:
    """One long-running process with its log file, started in its own session."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, *, env: dict | None = None,
                 cwd: Path | None = None) -> None:
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, health_url: str = "", verify: str | bool = True) -> Service:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1", **(self.env or {})),
                                         start_new_session=True)
        if health_url:
            self.wait_healthy(health_url, verify)
        return self

    def wait_healthy(self, url: str, verify: str | bool = True, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(url, timeout=2, verify=verify).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer {url}:\n{self.tail()}")

    def stop(self) -> int:
        """SIGTERM and wait: the exit status of a clean stop."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.tail()}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


def gateway(*args: str, password: str = "", cwd: Path | None = None, check: bool = True) -> str:
    env = dict(os.environ, GATEWAY_PASSWORD=password)
    done = subprocess.run([*GATEWAY, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
                          check=False)
    if check:
        assert done.returncode == 0, f"gateway {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """deploy/backup.sh or deploy/restore.sh with the test's Python."""
    return subprocess.run(["bash", str(DEPLOY / name), *args, "--python", sys.executable], capture_output=True,
                          text=True, timeout=180, env=dict(os.environ, **(env or {})), check=False)


def unit_command(unit: str, key: str = "ExecStart") -> list[str]:
    """A unit's command line with the production paths replaced by this checkout's."""
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{key}="):
            argv = shlex.split(line[len(key) + 1:])
            break
    else:
        raise AssertionError(f"{unit} has no {key}=")
    return [_local_path(arg) for arg in argv]


def _local_path(text: str) -> str:
    return (text.replace("/opt/gateway/.venv/bin/", f"{VENV_BIN}/")
                .replace("/etc/gateway/gunicorn.conf.py", str(DEPLOY / "gunicorn.conf.py"))
                .replace("/opt/gateway/deploy/", f"{DEPLOY}/"))


def database(request, name: str) -> str:
    """A new, empty database in the suite's cluster (or the TEST_DATABASE_URL one, emptied)."""
    cluster = request.getfixturevalue("pg_cluster")
    if cluster is None:
        url = os.environ["TEST_DATABASE_URL"]
        _drop_tables(url)
        return url
    return cluster.create_database(name)


def _drop_tables(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


def _sql(url: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def gunicorn(name: str, config: Path, log_dir: Path, *extra: str, workers: int = 2) -> Service:
    """gunicorn as gateway-serve.service runs it: its ExecStart, with EnvironmentFile's GATEWAY_CONFIG."""
    return Service(name, [*unit_command("gateway-serve.service"), *extra], log_dir,
                   env={"GATEWAY_CONFIG": str(config), "WEB_CONCURRENCY": str(workers)}, cwd=config.parent)


def worker_pids(service: Service) -> list[int]:
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", service.text())]


# ---------------------------------------------------------------------------------------------- the stack
def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    assert found, "nginx not found: install the Debian package nginx (make system-deps)"
    return found


def nginx_site(*, port: int, upstream: int, pki: Path, limit: str = "") -> str:
    """The shipped site file with this machine's port, upstream and certificate; every replaced text must be there."""
    site = (DEPLOY / "nginx" / "gateway.conf").read_text(encoding="utf-8")
    swaps = {"listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;", "listen [::]:443 ssl;": "",
             "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
             "/etc/gateway/tls/fullchain.pem": str(pki / "node.pem"),
             "/etc/gateway/tls/privkey.pem": str(pki / "node.key")}
    if limit:
        swaps["client_max_body_size 50m;"] = f"client_max_body_size {limit};"
    for old, new in swaps.items():
        assert site.count(old) == 1, f"deploy/nginx/gateway.conf no longer has {old!r} once"
        site = site.replace(old, new)
    return site


def nginx_main(prefix: Path, site: str) -> Path:
    """A main nginx.conf in ``prefix`` that includes the site, as Debian's includes sites-enabled/."""
    (prefix / "site.conf").write_text(site, encoding="utf-8")
    user = "user root;\n" if os.geteuid() == 0 else ""   # its workers read the test's private folders
    temp = "".join(f"  {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "nginx.conf"
    main.write_text(f"daemon off;\n{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
                    f"error_log {prefix / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
                    f"http {{\n  access_log {prefix / 'access.log'};\n{temp}  include {prefix / 'site.conf'};\n}}\n",
                    encoding="utf-8")
    return main


def stack_config(path: Path, *, pki: Path, url: str, port: int, public_port: int) -> Path:
    orgs = "".join(
        f'[[organizations]]\nid = "{org}"\nth_name = "{th}"\ncertificate = "{pki}/orgs/{org}.pem"\n'
        f'key = "{pki}/orgs/{org}.key"\npassword_hash = "{hash_password(PASSWORDS[org])}"\n\n'
        for org, th in ((CENTRAL, "สำนักงานปลัดกระทรวงศึกษาธิการ"), (CHIANGMAI, "สำนักงานศึกษาธิการจังหวัดเชียงใหม่")))
    path.write_text(f"""[node]
id = "deploy-stack"
public_url = "https://127.0.0.1:{public_port}"
certificate = "{pki}/node.pem"
key = "{pki}/node.key"

[server]
host = "127.0.0.1"
port = {port}

[storage]
data_dir = "data"
database = "{url}"

[limits]
max_body_bytes = {PROXY_LIMIT}

[trust]
anchors = ["{pki}/ca.pem"]

[security]
agency_auth = "credentials"
tls_proxy = true

[delivery]
embedded_worker = false

{METRICS_SECTION}
{orgs}""", encoding="utf-8")
    return path


@pytest.fixture(scope="class")
def stack(request, tmp_path_factory, data_dir):
    """gunicorn (2 sync workers, PostgreSQL) behind nginx (TLS), as deploy/ ships them."""
    nginx = _nginx()
    folder = tmp_path_factory.mktemp("stack")
    pki = data_dir / "pki"
    url = database(request, "deploy_stack")
    upstream, public = free_port(), free_port()
    config = stack_config(folder / "gateway.toml", pki=pki, url=url, port=upstream, public_port=public)
    server = gunicorn("gunicorn", config, folder).start(f"http://127.0.0.1:{upstream}/healthz")
    prefix = folder / "nginx"
    prefix.mkdir()
    main = nginx_main(prefix, nginx_site(port=public, upstream=upstream, pki=pki, limit="1m"))
    proxy = Service("nginx", [nginx, "-c", str(main), "-p", str(prefix), "-e", str(prefix / "error.log")], folder)
    base = f"https://127.0.0.1:{public}"
    try:
        proxy.start(f"{base}/healthz", verify=str(pki / "ca.pem"))
        yield {"base": base, "direct": f"http://127.0.0.1:{upstream}", "ca": str(pki / "ca.pem"), "url": url,
               "server": server, "folder": folder, "config": config}
    finally:
        proxy.stop()
        assert server.stop() == 0, server.tail()


def basic(org: str) -> tuple[bytes, bytes]:
    """HTTP Basic credentials in UTF-8 (requests would encode a str password as Latin-1)."""
    return org.encode(), PASSWORDS[org].encode("utf-8")


def send_through(stack: dict, letter_id: str, subject: str, *, sender: str = CENTRAL,
                 receiver: str = CHIANGMAI) -> str:
    """One e-Saraban send through nginx, over TLS with HTTP Basic: the new ProcessID."""
    answer = requests.post(f"{stack['base']}/ecms-ws01/service2/{sender}",
                           data=wire.send_request(letter_id=letter_id, subject=subject, sender=sender,
                                                  receiver=receiver),
                           headers={"Content-Type": "text/xml; charset=utf-8"}, auth=basic(sender),
                           verify=stack["ca"], timeout=60)
    reply = wire.Reply(status=answer.status_code, body=answer.content, root=etree.fromstring(answer.content))
    return reply.ok().process_id


class TestProductionStack:
    """One stack for these tests, stopped before the backup tests (with TEST_DATABASE_URL they share a database)."""

    def test_the_production_server_serves_letters_through_the_proxy(self, stack, tmp_path):
        assert requests.get(f"{stack['base']}/healthz", verify=stack["ca"], timeout=5).status_code == 200
        ready = requests.get(f"{stack['direct']}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
        letter_id = unique_letter_id()
        (tmp_path / "letter.pdf").write_bytes(PDF)
        sent = gateway("send", "--url", stack["base"], "--ca", stack["ca"], "--as", CENTRAL, "--to", CHIANGMAI,
                       "--subject", SUBJECT, "--file", "letter.pdf", "--letter-id", letter_id, "--date", "2026-11-26",
                       password=PASSWORDS[CENTRAL], cwd=tmp_path)
        process_id = re.search(r"ProcessID (\S+)", sent).group(1)
        pulled = gateway("pull", "--url", stack["base"], "--ca", stack["ca"], "--as", CHIANGMAI, "--out", "inbox",
                         password=PASSWORDS[CHIANGMAI], cwd=tmp_path)
        assert f"ProcessID {process_id}" in pulled
        assert f"เรื่อง {SUBJECT}" in pulled and f"ที่ {letter_id}  ลงวันที่ 26 พ.ย. 2569" in pulled
        assert [p.read_bytes() for p in (tmp_path / "inbox").glob("*-main.pdf")] == [PDF]
        # /metrics and the reasons of /readyz are for loopback at the node, and through the proxy everyone is
        # loopback: nginx does not pass them. The node itself answers them on its own address.
        for path in ("/metrics", "/readyz"):
            assert requests.get(f"{stack['base']}{path}", verify=stack["ca"], timeout=5).status_code == 403
        metrics = requests.get(f"{stack['direct']}/metrics", timeout=5)
        assert metrics.status_code == 200 and "# TYPE gateway_" in metrics.text, metrics.text[:500]


    def test_both_workers_serve_each_with_its_own_database_connection(self, stack):
        server = stack["server"]
        booted = worker_pids(server)
        assert len(booted) == 2, server.tail()
        master = server.text().split("Booting worker")[0]   # before the fork: checked and migrated, in the master
        assert f"gateway node deploy-stack: configuration checked, schema version {LATEST}" in master, master
        subjects = [f"หนังสือเวียนฉบับที่ {n} ถึงสถานศึกษาในสังกัด" for n in range(16)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda s: send_through(stack, unique_letter_id(), s), subjects))
        assert len(set(ids)) == 16
        served = {int(p) for p in re.findall(r'<(\d+)> "POST /ecms-ws01/service2/', server.text())}
        assert served == set(booted), f"POSTs served by {served}, workers {booted}"
        # Each worker built its own node after the fork: its own pool, so at least one connection each.
        connections = _sql(stack["url"], "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")[0][0]
        assert connections >= 2, connections
        # [metrics] multiprocess_dir: one scrape of one worker adds up the counters of both.
        scraped = text_string_to_metric_families(requests.get(f"{stack['direct']}/metrics", timeout=5).text)
        sends = sum(sample.value for family in scraped for sample in family.samples
                    if sample.name == "gateway_requests_total" and sample.labels.get("code") == "ok"
                    and sample.labels.get("operation") == "CorrespondenceLetterOutbound")
        assert sends >= 16, sends
        for subject in subjects:   # every letter is in the receiver's queue, whole
            pulled = requests.post(f"{stack['base']}/ecms-ws01/service2/{CHIANGMAI}", data=wire.PULL,
                                   headers={"Content-Type": "text/xml"}, auth=basic(CHIANGMAI),
                                   verify=stack["ca"], timeout=30)
            reply = wire.Reply(status=pulled.status_code, body=pulled.content, root=etree.fromstring(pulled.content)).ok()
            assert reply.root.findtext(".//{*}Subject") in subjects
            deleted = requests.post(f"{stack['base']}/ecms-ws01/service2/{CHIANGMAI}",
                                    data=wire.delete_request(reply.process_id), headers={"Content-Type": "text/xml"},
                                    auth=basic(CHIANGMAI), verify=stack["ca"], timeout=30)
            assert deleted.status_code == 200 and b"ErrorCode" not in deleted.content


    def test_a_killed_worker_is_replaced_by_one_that_builds_its_own_node(self, stack):
        server = stack["server"]
        victim = worker_pids(server)[-1]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(worker_pids(server)) < 3:
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.1)
        replacement = worker_pids(server)[-1]
        deadline = time.monotonic() + 60
        while f"serving {stack['base']}/ecms-ws01/service2 in process {replacement}" not in server.text():
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.1)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda n: send_through(stack, unique_letter_id(), f"หลังเปลี่ยนกระบวนการ {n}"), range(8)))
        assert len(set(ids)) == 8
        assert f"<{replacement}> \"POST" in server.text(), server.tail()


    def test_basic_credentials_count_only_through_the_proxy(self, stack):
        """security.tls_proxy: the node believes X-Forwarded-Proto, which nginx always sets; gunicorn adds nothing."""
        request = wire.send_request(letter_id=unique_letter_id(), subject="ไม่ผ่านพร็อกซี")
        direct = requests.post(f"{stack['direct']}/ecms-ws01/service2/{CENTRAL}", data=request,
                               headers={"Content-Type": "text/xml"}, auth=basic(CENTRAL), timeout=30)
        reply = wire.Reply(status=direct.status_code, body=direct.content, root=etree.fromstring(direct.content))
        assert reply.error_code == ErrorCode.UNAUTHORIZED.code
        assert "accepted over HTTPS only" in reply.error_text
        spoofed = requests.post(f"{stack['base']}/ecms-ws01/service2/{CENTRAL}", data=request,
                                headers={"Content-Type": "text/xml", "X-Forwarded-Proto": "http"},
                                auth=basic(CENTRAL), verify=stack["ca"], timeout=30)
        assert b"<ProcessID>" in spoofed.content, spoofed.text   # nginx sets the header from its own TLS


    @pytest.mark.parametrize("content_type,version", [("text/xml; charset=utf-8", envelope.SOAP11),
                                                      ("application/soap+xml; charset=utf-8", envelope.SOAP12)])
    def test_a_body_over_the_limit_gets_the_nodes_own_fault_from_the_proxy(self, stack, content_type, version):
        body = wire.send_request(letter_id=unique_letter_id(), main="A" * (PROXY_LIMIT + 1024))
        by_proxy = requests.post(f"{stack['base']}/ecms-ws01/service2/{CENTRAL}", data=body,
                                 headers={"Content-Type": content_type}, auth=basic(CENTRAL),
                                 verify=stack["ca"], timeout=30)
        by_node = requests.post(f"{stack['direct']}/ecms-ws01/service2/{CENTRAL}", data=body,
                                headers={"Content-Type": content_type, "X-Forwarded-Proto": "https"},
                                auth=basic(CENTRAL), timeout=30)
        assert by_proxy.headers["Server"].startswith("nginx") and "nginx" not in by_node.headers.get("Server", "")
        assert by_proxy.status_code == by_node.status_code == envelope.fault_http_status(
            version, [RemoteError(ErrorCode.TOO_LARGE, "")])
        assert by_proxy.headers["Content-Type"] == by_node.headers["Content-Type"] == envelope.CONTENT_TYPE[version]
        # Byte for byte what the node writes for this refusal, with "refused by the proxy" as its detail.
        assert by_proxy.content == envelope.fault(version, [RemoteError(ErrorCode.TOO_LARGE, "refused by the proxy")])
        node_reply = wire.Reply(status=by_node.status_code, body=by_node.content, root=etree.fromstring(by_node.content))
        assert node_reply.error_code == "1003"


    def test_the_server_refuses_to_preload_the_application(self, stack, tmp_path):
        """A preloaded node would hand its database pool to every worker: the configuration stops the start."""
        preload = gunicorn("preload", stack["config"], tmp_path, "--preload", "-b", f"127.0.0.1:{free_port()}")
        preload.start()
        assert preload.proc.wait(timeout=60) != 0
        assert "preload_app must stay off" in preload.text(), preload.tail()

    def test_a_node_built_before_a_fork_refuses_to_serve_in_the_child(self, stack):
        """Another server that forks after building the application gets a loud 500, never a shared socket."""
        from gateway.runtime.app import create_app

        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        # The same node without [metrics] multiprocess_dir: that needs PROMETHEUS_MULTIPROC_DIR set before the
        # process starts, which gunicorn.conf.py does and this test process did not.
        config = stack["config"].with_name("gateway-in-process.toml")
        config.write_text(stack["config"].read_text(encoding="utf-8").replace(METRICS_SECTION, ""), encoding="utf-8")
        application = create_app(str(config))   # it sets up the process's log: put pytest's back after

        def readyz() -> tuple[str, str]:
            status = []
            body = b"".join(application({"REQUEST_METHOD": "GET", "PATH_INFO": "/readyz", "QUERY_STRING": "",
                                         "wsgi.input": io.BytesIO(), "REMOTE_ADDR": "127.0.0.1",
                                         "wsgi.url_scheme": "http"}, lambda line, headers: status.append(line)))
            return status[0], body.decode()

        try:
            status, body = readyz()   # /readyz asks the database
            assert status == "200 OK" and '"ready": true' in body, body
            read, write = os.pipe()
            child = os.fork()
            if child == 0:   # the child answers through the pipe and leaves without running any cleanup
                try:
                    os.write(write, "|".join(readyz()).encode())
                finally:
                    os._exit(0)
            os.close(write)
            os.waitpid(child, 0)
            answer = os.read(read, 4096).decode()
            os.close(read)
            assert answer.startswith("500 Internal Server Error|") and "preload_app off" in answer, answer
            status, body = readyz()   # the parent's connections were not touched
            assert status == "200 OK" and '"ready": true' in body, body
        finally:
            application.close()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in handlers:
                root.addHandler(handler)
            root.setLevel(level)


def test_the_server_refuses_sqlite(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(f'[server]\nport = {free_port()}\n[storage]\ndata_dir = "data"\n', encoding="utf-8")
    server = gunicorn("sqlite", config, tmp_path).start()
    assert server.proc.wait(timeout=60) != 0
    assert "needs storage.database = 'postgresql://...'" in server.text() and "gateway serve" in server.text()


# ---------------------------------------------------------------------------------------------- backups
def node_config(path: Path, *, port: int, database: str = "") -> Path:
    """The demo node (open to loopback, development PKI in its data folder) on ``port``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[node]\nid = "deploy-backup"\npublic_url = "http://127.0.0.1:{port}"\n'
                    f'[server]\nport = {port}\n[storage]\ndata_dir = "data"\n'
                    + (f'database = "{database}"\n' if database else "")
                    + "[delivery]\nembedded_worker = " + ("false" if database else "true") + "\n"
                    + "worker_poll_seconds = 0.5\n", encoding="utf-8")   # an idle worker stops within 0.5 s
    return path


def send(base: str, cwd: Path, letter_id: str, subject: str) -> str:
    (cwd / "letter.pdf").write_bytes(PDF)
    out = gateway("send", "--url", base, "--as", CENTRAL, "--to", CHIANGMAI, "--subject", subject,
                  "--file", "letter.pdf", "--letter-id", letter_id, "--date", "2026-11-26", cwd=cwd)
    return re.search(r"ProcessID (\S+)", out).group(1)


def pull_all(base: str, cwd: Path) -> list[tuple[str, str]]:
    """Every queue item of the Chiang Mai office: (ProcessID, subject), pulled and deleted."""
    items = []
    for _ in range(10):
        out = gateway("pull", "--url", base, "--as", CHIANGMAI, cwd=cwd)
        if "ไม่มีหนังสือในคิว" in out:
            return items
        items.append((re.search(r"ProcessID (\S+)", out).group(1), re.search(r"เรื่อง (.+)", out).group(1)))
    raise AssertionError(f"more than 10 items: {items}")


def backup(config: Path, out: Path) -> Path:
    done = script("backup.sh", "--config", str(config), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "สำรองข้อมูลแล้ว" in done.stdout
    return Path(done.stdout.strip().splitlines()[-1])


def manifest(folder: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (folder / "manifest.txt").read_text(encoding="utf-8").splitlines())


def test_sqlite_online_backup_and_restore(tmp_path):
    port = free_port()
    src = node_config(tmp_path / "src" / "gateway.toml", port=port)
    base = f"http://127.0.0.1:{port}"
    node = Service("serve-src", [*GATEWAY, "serve", "--config", str(src)], tmp_path).start(f"{base}/healthz")
    before, after = unique_letter_id(), unique_letter_id()
    kept = send(base, tmp_path, before, "ส่งก่อนสำรองข้อมูล")
    db = tmp_path / "src" / "data" / "gateway.sqlite3"
    assert Path(f"{db}-wal").stat().st_size > 0   # the letter is (also) in the WAL: a file copy would miss it

    # Backed up online, while the node writes other letters (to another office).
    stop = False

    def writer() -> int:
        n = 0
        while not stop and n < 200:
            answer = requests.post(f"{base}/ecms-ws01/service2/{CENTRAL}", headers={"Content-Type": "text/xml"},
                                   data=wire.send_request(letter_id=unique_letter_id(), receiver=KHONKAEN,
                                                          subject=f"เขียนระหว่างสำรอง {n}"), timeout=30)
            assert b"<ProcessID>" in answer.content, answer.text
            n += 1
        return n

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        writing = pool.submit(writer)
        time.sleep(0.3)
        folder = backup(src, tmp_path / "backups")
        stop = True
        assert writing.result() > 0
    send(base, tmp_path, after, "ส่งหลังสำรองข้อมูล")

    facts = manifest(folder)
    assert facts["store"] == "sqlite" and facts["node"] == "deploy-backup"
    assert int(facts["schema_version"]) == max(v for v, _, _ in migrations("sqlite"))
    assert re.fullmatch(r"\d{1,2} \S+ 25\d\d \d\d:\d\d น\.", facts["created_th"]), facts["created_th"]
    assert (folder / "data" / "pki" / "node.key").stat().st_mode & 0o777 == 0o600
    assert not list((folder / "data").glob("gateway.sqlite3*"))   # the database is database.sqlite3
    assert (folder / "files" / str(src).lstrip("/")).read_text(encoding="utf-8") == src.read_text(encoding="utf-8")
    checked = script("restore.sh", "--check", str(folder))
    assert checked.returncode == 0 and "ตรวจแล้ว" in checked.stdout, checked.stderr

    # Over the running node: refused, even with --force.
    busy = script("restore.sh", "--config", str(src), "--force", str(folder))
    assert busy.returncode == 1 and "is open (is the node running? stop it first)" in busy.stderr, busy.stderr
    assert node.stop() == 0

    # Over the stopped node without --force: refused, listing what it would replace, nothing changed.
    letters_before = _sqlite_count(db)
    refused = script("restore.sh", "--config", str(src), str(folder))
    assert refused.returncode == 1 and "nothing was changed" in refused.stderr and f"database file {db}" in refused.stderr
    assert _sqlite_count(db) == letters_before and not list((tmp_path / "src" / "data").glob("before-restore-*"))

    # On a new machine: another folder, an empty data folder. The restored node has the letter and its keys.
    new_port = free_port()
    dst = node_config(tmp_path / "dst" / "gateway.toml", port=new_port)
    restored = script("restore.sh", "--config", str(dst), str(folder))
    assert restored.returncode == 0 and "กู้คืนแล้ว" in restored.stdout, restored.stdout + restored.stderr
    assert (tmp_path / "dst" / "data" / "pki" / "ca.pem").read_bytes() == (tmp_path / "src" / "data" / "pki" / "ca.pem").read_bytes()
    new_base = f"http://127.0.0.1:{new_port}"
    again = Service("serve-dst", [*GATEWAY, "serve", "--config", str(dst)], tmp_path).start(f"{new_base}/healthz")
    assert pull_all(new_base, tmp_path) == [(kept, "ส่งก่อนสำรองข้อมูล")]
    assert again.stop() == 0

    # In place, with --force: the replaced database is kept, and the database is the backup's.
    forced = script("restore.sh", "--config", str(src), "--force", str(folder))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    [keep] = (tmp_path / "src" / "data").glob("before-restore-*")
    assert _sqlite_count(keep / "files" / str(db).lstrip("/")) == letters_before
    assert _sqlite_rows(db, f"SELECT process_id FROM letters WHERE receiver_org = '{CHIANGMAI}'") == [(kept,)]


def _sqlite_rows(path: Path, query: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def _sqlite_count(path: Path) -> int:
    return _sqlite_rows(path, "SELECT count(*) FROM letters")[0][0]


def test_a_damaged_backup_is_refused(tmp_path):
    port = free_port()
    config = node_config(tmp_path / "node" / "gateway.toml", port=port)
    gateway("migrate", "--config", str(config))
    folder = backup(config, tmp_path / "backups")
    damaged = folder / "database.sqlite3"
    data = bytearray(damaged.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    for args in (["--check", str(folder)], ["--config", str(config), "--force", str(folder)]):
        done = script("restore.sh", *args)
        assert done.returncode == 1 and "does not match its SHA256SUMS" in done.stderr, done.stderr
    inside = script("backup.sh", "--config", str(config), "--out", str(tmp_path / "node" / "data" / "backups"))
    assert inside.returncode == 1 and "is inside data_dir" in inside.stderr
    missing = script("backup.sh", "--config", str(config))
    assert missing.returncode == 1 and "--out DIR is required" in missing.stderr and "usage: backup.sh" in missing.stderr


def test_postgresql_backup_and_restore(request, tmp_path):
    url = database(request, "deploy_backup_src")
    port = free_port()
    src = node_config(tmp_path / "src" / "gateway.toml", port=port, database=url)
    base = f"http://127.0.0.1:{port}"
    server = gunicorn("gunicorn-src", src, tmp_path).start(f"{base}/healthz")
    kept = send(base, tmp_path, unique_letter_id(), "ส่งก่อนสำรองข้อมูล")
    folder = backup(src, tmp_path / "backups")
    send(base, tmp_path, unique_letter_id(), "ส่งหลังสำรองข้อมูล")
    facts = manifest(folder)
    assert facts["store"] == "postgres" and facts["database"] == "database.pgdump"
    assert int(facts["schema_version"]) == max(v for v, _, _ in migrations("postgres"))
    assert (folder / "data" / "pki" / "node.key").is_file()

    busy = script("restore.sh", "--config", str(src), "--force", str(folder))
    assert busy.returncode == 1 and "other sessions are connected to the target database" in busy.stderr, busy.stderr
    assert server.stop() == 0
    refused = script("restore.sh", "--config", str(src), str(folder))
    assert refused.returncode == 1 and "the PostgreSQL database has" in refused.stderr, refused.stderr
    assert _sql(url, "SELECT count(*) FROM letters")[0][0] == 2

    own_cluster = request.getfixturevalue("pg_cluster") is not None
    if own_cluster:   # a new, empty database on a "new machine": the restored node serves the letter
        new_url = database(request, "deploy_backup_dst")
        new_port = free_port()
        dst = node_config(tmp_path / "dst" / "gateway.toml", port=new_port, database=new_url)
        restored = script("restore.sh", "--config", str(dst), str(folder))
        assert restored.returncode == 0 and "กู้คืนแล้ว" in restored.stdout, restored.stdout + restored.stderr
        new_base = f"http://127.0.0.1:{new_port}"
        again = gunicorn("gunicorn-dst", dst, tmp_path).start(f"{new_base}/healthz")
        assert pull_all(new_base, tmp_path) == [(kept, "ส่งก่อนสำรองข้อมูล")]
        assert again.stop() == 0

    # In place, with --force: the replaced database is kept as a dump, and the database is the backup's.
    forced = script("restore.sh", "--config", str(src), "--force", str(folder))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    [keep] = (tmp_path / "src" / "data").glob("before-restore-*")
    listed = subprocess.run(["pg_restore", "--list", str(keep / "database.pgdump")], capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0 and "TABLE public letters" in listed.stdout
    assert _sql(url, "SELECT process_id FROM letters") == [(kept,)]
    if not own_cluster:   # TEST_DATABASE_URL: the one database is where the restored node serves
        server = gunicorn("gunicorn-src-2", src, tmp_path).start(f"{base}/healthz")
        assert pull_all(base, tmp_path) == [(kept, "ส่งก่อนสำรองข้อมูล")]
        assert server.stop() == 0


# ---------------------------------------------------------------------------------------------- the files
def test_nginx_accepts_the_site_file(tmp_path, data_dir):
    """`nginx -t` on the shipped file, unchanged but for the listening port, the upstream and the certificate."""
    main = nginx_main(tmp_path, nginx_site(port=free_port(), upstream=free_port(), pki=data_dir / "pki"))
    done = subprocess.run([_nginx(), "-t", "-c", str(main), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr
    assert "[warn]" not in done.stderr, done.stderr


def test_the_proxy_limits_match_the_node():
    site = (DEPLOY / "nginx" / "gateway.conf").read_text(encoding="utf-8")
    sizes = re.findall(r"^\s*client_max_body_size (\d+)m;", site, re.MULTILINE)
    assert [int(s) * 1024 * 1024 for s in sizes] == [MAX_BODY_BYTES, MAX_BODY_BYTES * NODE_BODY_FACTOR]
    assert re.search(r"^\s*proxy_request_buffering on;", site, re.MULTILINE)
    assert re.search(r"^\s*proxy_set_header X-Forwarded-Proto \$scheme;", site, re.MULTILINE)
    conf = (DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8")
    timeout = int(re.search(r"^timeout = (\d+)$", conf, re.MULTILINE).group(1))
    assert re.search(rf"^\s*proxy_read_timeout {timeout}s;", site, re.MULTILINE)
    assert re.search(r"^\s*client_body_timeout \d+s;", site, re.MULTILINE) and re.search(r"^\s*client_header_timeout \d+s;", site, re.MULTILINE)


SERVICES = ("gateway-serve.service", "gateway-worker@.service", "gateway-backup.service")


def _units(folder: Path) -> list[Path]:
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = folder / unit.name
        copy.write_text(_local_path(unit.read_text(encoding="utf-8")), encoding="utf-8")
        copies.append(copy)
    return copies


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    units = _units(tmp_path)
    assert {u.name for u in units} == {*SERVICES, "gateway-backup.timer"}
    if analyze:
        done = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=60,
                              check=False)
        ours = [line for line in (done.stdout + done.stderr).splitlines() if "gateway-" in line]
        assert done.returncode == 0 and not ours, done.stdout + done.stderr
        for unit in SERVICES:
            exposure = subprocess.run([analyze, "security", "--offline=yes", "--threshold=30", str(tmp_path / unit)],
                                      capture_output=True, text=True, timeout=60, check=False)
            assert exposure.returncode == 0, exposure.stdout[-2000:] + exposure.stderr
    for unit in SERVICES:   # the essentials, read as systemd reads them (last assignment wins)
        keys = _unit_keys(UNITS / unit)
        assert keys["User"] == "gateway" and keys["NoNewPrivileges"] == "yes" and keys["ProtectSystem"] == "strict"
        assert keys["EnvironmentFile"] == "/etc/gateway/gateway.env" and keys["PrivateTmp"] == "yes"
        assert keys["CapabilityBoundingSet"] == ""
        if unit != "gateway-backup.service":
            assert keys["Restart"] == "on-failure" and keys["StateDirectory"] == "gateway"
    assert unit_command("gateway-serve.service")[1:] == ["--config", str(DEPLOY / "gunicorn.conf.py")]
    assert unit_command("gateway-worker@.service")[1:] == ["worker"]
    assert "GATEWAY_CONFIG=/etc/gateway/gateway.toml" in (DEPLOY / "gateway.env").read_text(encoding="utf-8")


def _unit_keys(path: Path) -> dict[str, str]:
    keys = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys
