"""`gateway conformance node` against a `gateway serve` process, as a vendor or operator runs it.

Real processes on the real clock: the node is configured with a two-second visibility timeout so
A19 can wait it out; the kit signs A21's letter with the sender's development key, and its JSON
result with the node's. Every case passes, the exit status is 0, the reports are written and the
signed result verifies.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.testing.live import free_port
from procs import wait_until_healthy

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]
SENDER, RECEIVER = "2000100000", "2000350000"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance-node")
    port = free_port()
    (folder / "node.toml").write_text(
        f'[server]\nport = {port}\n[storage]\ndata_dir = "var"\n[policy]\nvisibility_timeout_seconds = 2\n',
        encoding="utf-8")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    subprocess.run([*GATEWAY, "migrate", "--config", "node.toml"], cwd=folder, check=True, capture_output=True,
                   timeout=120)
    proc = subprocess.Popen([*GATEWAY, "serve", "--config", "node.toml"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, proc)
    yield base, folder
    proc.terminate()
    proc.communicate(timeout=20)


def conformance(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GATEWAY, "conformance", *args], cwd=folder, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONIOENCODING="utf-8"))


def test_every_case_passes_and_the_reports_are_written(node):
    base, folder = node
    pki = folder / "var" / "pki"
    done = conformance(folder, "node", "--endpoint", f"{base}/ecms-ws01/service2/{SENDER}", "--sender", SENDER,
                       "--receiver", RECEIVER, "--visibility-timeout", "2", "--max-wait", "10", "--large-mb", "2",
                       "--signer-key", str(pki / "orgs" / f"{SENDER}.key"),
                       "--signer-cert", str(pki / "orgs" / f"{SENDER}.pem"),
                       "--junit", "report.xml", "--html", "report.html", "--json", "report.json",
                       "--sign-key", str(pki / "node.key"), "--sign-cert", str(pki / "node.pem"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 26 and all(" PASS " in line for line in progress), done.stdout
    assert any("A19" in line for line in progress)
    for name in ("report.xml", "report.html", "report.json"):
        assert (folder / name).stat().st_size > 1000, name
    verified = conformance(folder, "verify", "report.json", "--ca", str(pki / "ca.pem"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "26" in verified.stdout and "gateway" in verified.stdout
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert {o["status"] for o in report["report"]["outcomes"]} == {"passed"}


def test_a_tampered_report_does_not_verify(node):
    base, folder = node
    pki = folder / "var" / "pki"
    done = conformance(folder, "node", "--endpoint", f"{base}/ecms-ws01/service2/{SENDER}", "--sender", SENDER,
                       "--receiver", RECEIVER, "--only", "A1,A12", "--json", "small.json",
                       "--sign-key", str(pki / "node.key"), "--sign-cert", str(pki / "node.pem"))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((folder / "small.json").read_text(encoding="utf-8"))
    data["report"]["outcomes"][0]["status"] = "failed"
    (folder / "tampered.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    refused = conformance(folder, "verify", "tampered.json")
    assert refused.returncode == 1 and "does not verify" in (refused.stdout + refused.stderr).lower()


def test_a_failing_case_gives_exit_status_1_and_usage_errors_2(node):
    base, folder = node
    wrong = conformance(folder, "node", "--endpoint", f"{base}/ecms-ws01/service2/{SENDER}", "--sender", SENDER,
                        "--receiver", "2000999999", "--only", "A1")
    assert wrong.returncode == 1 and "FAIL" in wrong.stdout and "2000999999" in wrong.stdout
    unknown = conformance(folder, "node", "--endpoint", f"{base}/ecms-ws01/service2/{SENDER}", "--sender", SENDER,
                          "--receiver", RECEIVER, "--only", "Z9")
    assert unknown.returncode == 2 and "Z9" in unknown.stderr
    listed = conformance(folder, "node", "--endpoint", base, "--sender", SENDER, "--receiver", RECEIVER, "--list")
    assert listed.returncode == 0 and "A26" in listed.stdout and "คิวว่าง" in listed.stdout


def test_the_peer_plan_through_the_cli_against_a_hub_process(tmp_path):
    """`gateway conformance peer` as the regional node moe-r15, against the hub's node port."""
    import datetime as dt
    from gateway.testing.network import CENTRAL, CHIANGMAI, make_pki, toml_for
    net = make_pki(tmp_path / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    ports = {"moe-hub": free_port(), "moe-r15": free_port(), "ocsc": free_port()}
    folder = tmp_path / "moe-hub"
    folder.mkdir()
    (folder / "gateway.toml").write_text(toml_for("moe-hub", net, ports, folder), encoding="utf-8")
    subprocess.run([*GATEWAY, "migrate", "--config", "gateway.toml"], cwd=folder, check=True, capture_output=True,
                   timeout=120)
    hub = subprocess.Popen([*GATEWAY, "serve", "--no-worker", "--config", "gateway.toml"], cwd=folder,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{ports['moe-hub']}"
    try:
        wait_until_healthy(base, hub)
        done = conformance(tmp_path, "peer", "--endpoint", f"{base}/ecms-ws01/node", "--peer-node", "moe-hub",
                           "--peer-cert", net.path("nodes/moe-hub.pem"), "--node-id", "moe-r15",
                           "--key", net.path("nodes/moe-r15.key"), "--cert", net.path("nodes/moe-r15.pem"),
                           "--receiver", CENTRAL, "--sender", CHIANGMAI,
                           "--org-key", net.path(f"orgs/{CHIANGMAI}.key"), "--org-cert", net.path(f"orgs/{CHIANGMAI}.pem"),
                           "--receiver-endpoint", f"{base}/ecms-ws01/service2/{CENTRAL}", "--junit", "peer.xml")
    finally:
        hub.terminate()
        hub.wait(timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 16 and all(" PASS " in line for line in progress), done.stdout
    assert (tmp_path / "peer.xml").read_text(encoding="utf-8").count("<testcase") == len(progress)


def test_the_client_plan_lists_its_cases_and_wants_a_new_data_folder(tmp_path):
    listed = conformance(tmp_path, "client", "--data-dir", str(tmp_path / "session"), "--list")
    assert listed.returncode == 0 and "C9" in listed.stdout and "OutboundStatus" in listed.stdout
    used = tmp_path / "used"
    used.mkdir()
    (used / "gateway.sqlite3").write_bytes(b"")
    refused = conformance(tmp_path, "client", "--data-dir", str(used), "--port", "0", "--step-timeout", "1")
    assert refused.returncode == 2 and "not empty" in refused.stderr
