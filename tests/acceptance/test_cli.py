"""The README's walk-through with real processes: `gateway serve`, then the client commands."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.testing.fixtures import PDF

from gateway.testing.live import free_port

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*GATEWAY, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"gateway serve did not start:\n{proc.stdout.read()}")
        time.sleep(0.1)
    yield base, tmp_path
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out


def run(base: str, cwd: Path, *args: str) -> str:
    done = subprocess.run([*GATEWAY, *args, "--url", base], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_send_a_pdf_with_a_thai_subject_and_pull_it_as_the_receiver(served):
    base, cwd = served
    (cwd / "letter.pdf").write_bytes(PDF)
    sent = run(base, cwd, "send", "--as", "2000100000", "--to", "2000350000", "--subject",
               "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙", "--file", "letter.pdf",
               "--letter-id", "ศธ 0210/1234", "--date", "2026-11-26")
    assert "ProcessID" in sent and "26 พ.ย. 2569" in sent
    pulled = run(base, cwd, "pull", "--as", "2000350000", "--out", "inbox")
    assert "เรื่อง ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙" in pulled
    assert "ที่ ศธ 0210/1234  ลงวันที่ 26 พ.ย. 2569" in pulled
    saved = list((cwd / "inbox").glob("*-main.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes() == PDF
    assert "ไม่มีหนังสือในคิว" in run(base, cwd, "pull", "--as", "2000350000")

    run(base, cwd, "ack", "accept", "--as", "2000350000", "--letter-id", "ศธ 0210/1234", "--date", "2026-11-26",
        "--accept-id", "1234")
    status = run(base, cwd, "status", "--as", "2000100000")
    assert "ACCEPTED" in status and "เลขรับ 1234" in status
    notified = run(base, cwd, "pull", "--as", "2000100000")
    assert "AcceptLetterNotifier" in notified and "AcceptID: 1234" in notified
    # the data lives in var/ under the folder the node was started in
    assert (cwd / "var" / "gateway.sqlite3").exists()


def test_refusals_are_explained(served):
    base, cwd = served
    (cwd / "letter.pdf").write_bytes(PDF)
    done = subprocess.run([*GATEWAY, "send", "--url", base, "--as", "2000100000", "--to", "2099999999",
                           "--subject", "ทดสอบ", "--file", "letter.pdf"], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 2
    assert "2001" in done.stderr and "2099999999" in done.stderr


def test_wsdl_is_served_with_the_endpoint_address(served):
    base, _ = served
    wsdl = requests.get(f"{base}/ecms-ws01/service2/2000350000?wsdl", timeout=5)
    assert wsdl.status_code == 200
    assert f'location="{base}/ecms-ws01/service2/2000350000"' in wsdl.text
    xsd = requests.get(f"{base}/ecms-ws01/xsd/AgencyInterface.xsd", timeout=5)
    assert xsd.status_code == 200 and "CorrespondenceLetterOutboundRequest" in xsd.text


def test_pki_init_writes_keys_a_node_accepts(tmp_path):
    done = subprocess.run([*GATEWAY, "pki", "init", "--out", "pki", "--algorithm", "rsa"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[trust]  anchors" in done.stdout
    for name in ("ca.pem", "node.pem", "node.key", "node.p12", "orgs/2000350000.pem", "orgs/2000350000.key",
                 "orgs/2000350000.p12"):
        assert (tmp_path / "pki" / name).stat().st_size > 0, name
    assert oct((tmp_path / "pki" / "orgs" / "2000350000.key").stat().st_mode)[-3:] == "600"
    config = tmp_path / "gateway.toml"
    config.write_text('[node]\ncertificate = "pki/node.pem"\nkey = "pki/node.key"\n'
                      '[trust]\nanchors = ["pki/ca.pem"]\n', encoding="utf-8")
    migrated = subprocess.run([*GATEWAY, "migrate", "--config", str(config)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
    assert migrated.returncode == 0 and "schema version" in migrated.stdout
    again = subprocess.run([*GATEWAY, "pki", "init", "--out", "pki"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode != 0 and "--force" in again.stderr


def test_passwd_prints_a_hash_that_verifies():
    from gateway.core.trust.tenants import check_password
    done = subprocess.run([*GATEWAY, "passwd", "2000350000"], input="รหัสผ่านของเชียงใหม่ 2569\n",
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    stored = done.stdout.split('"')[1]
    assert check_password("รหัสผ่านของเชียงใหม่ 2569", stored) and not check_password("wrong", stored)
    short = subprocess.run([*GATEWAY, "passwd", "2000350000"], input="short\n", capture_output=True, text=True)
    assert short.returncode != 0


def test_status_on_the_node_shows_the_signature(served):
    base, cwd = served
    (cwd / "letter.pdf").write_bytes(PDF)
    run(base, cwd, "send", "--as", "2000100000", "--to", "2000350000", "--subject", "ตรวจลายมือชื่อ",
        "--file", "letter.pdf", "--letter-id", "ศธ 0210/77")
    pid = run(base, cwd, "status", "--as", "2000100000").splitlines()[-1].split()[0]
    detail = subprocess.run([*GATEWAY, "status", "--letter", pid], cwd=cwd, capture_output=True, text=True)
    assert detail.returncode == 0, detail.stderr
    assert "node-signed" in detail.stdout and "serialNumber=2000100000" in detail.stdout
    assert "policy modern" in detail.stdout
