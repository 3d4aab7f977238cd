"""A 100 MB enclosure through a `gateway serve` process, on SQLite and PostgreSQL (docs/large-letters.md).

ศธภ.15's e-Saraban sends a letter with a 100 MB scan to Chiang Mai on the same node, as a stream (the
client generates the base64 as it sends it); Chiang Mai's pulls it, reading the answer as a stream.
The decoded enclosure's SHA-256 equals the sent one, xmlsec1 verifies the letter's signature (made by
the node on the sender's behalf over the whole enclosure), and the server's peak RSS grew by less than
1.5 times the enclosure. Letters to another node are not streamed yet (the node port), so this is the
agency path alone.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
from procs import Proc, migrate

from gateway.core import ns
from gateway.testing.large import CHIANGMAI, MB, REGION15, Base64Tail, kib, request_parts, reset_peak, stream
from gateway.testing.live import free_port
from gateway.testing.network import make_pki, toml_for

pytestmark = pytest.mark.acceptance
SIZE = 100 * MB
PULL = (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body><CorrespondenceLetterInboundRequest/></soap:Body></soap:Envelope>")
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


class Saved(Base64Tail):
    """The pulled answer, hashed as it arrives and written to a file for xmlsec1."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file = open(path, "wb")

    def feed(self, chunk: bytes) -> None:
        self.file.write(chunk)
        super().feed(chunk)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_100_mb_enclosure_is_sent_and_pulled_in_bounded_memory(backend, tmp_path, request):
    net = make_pki(tmp_path / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    ports = {"moe-hub": free_port(), "moe-r15": free_port(), "ocsc": free_port()}
    database = request.getfixturevalue("pg_cluster").create_database(f"large_{uuid.uuid4().hex[:8]}") \
        if backend == "postgres" else ""
    folder = tmp_path / "moe-r15"
    folder.mkdir()
    config = folder / "gateway.toml"
    config.write_text(toml_for("moe-r15", net, ports, folder, database=database,
                               extra=f"[limits]\nmax_body_bytes = {SIZE * 4 // 3 + 4 * MB}\n"), encoding="utf-8")
    migrate(config)
    url = f"http://127.0.0.1:{ports['moe-r15']}"
    proc = Proc("moe-r15", ["serve"], config, folder, health_url=f"{url}/healthz").start()
    try:
        pid = proc.proc.pid
        reset_peak(pid)
        before = kib(pid, "VmRSS")
        sent = hashlib.sha256()
        head, tail = request_parts("ศธ 1515/ภาพสแกน 100")
        answer = requests.post(f"{url}/ecms-ws01/service2/{REGION15}", headers=HEADERS, timeout=600,
                               data=(piece for part in ([head], stream(SIZE, sent), [tail]) for piece in part))
        assert answer.status_code == 200 and b"<ProcessID>" in answer.content, answer.text[:1000]
        saved = Saved(tmp_path / "pulled.xml")
        with requests.post(f"{url}/ecms-ws01/service2/{CHIANGMAI}", data=PULL, headers=HEADERS, stream=True,
                           timeout=600) as reply:
            assert reply.status_code == 200
            for chunk in reply.iter_content(256 * 1024):
                saved.feed(chunk)
        saved.file.close()
        growth = kib(pid, "VmHWM") - before
        assert saved.size == SIZE and saved.digest.hexdigest() == sent.hexdigest(), "the enclosure, intact"
        assert growth < 1.5 * SIZE, f"peak RSS grew by {growth / MB:.0f} MB for a {SIZE / MB:.0f} MB enclosure"
        checked = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", net.path("ca.pem"), "--id-attr:ID",
                                  f"{ns.RAM}:CorrespondenceLetter", "--node-xpath",
                                  "//*[local-name()='GovernmentDocument']//*[local-name()='Signature']",
                                  str(tmp_path / "pulled.xml")], capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0 and "OK" in checked.stderr.splitlines(), checked.stderr[-2000:]
        assert proc.alive and "Traceback" not in proc.log_path.read_text(errors="replace"), proc.tail()
    finally:
        proc.stop()
