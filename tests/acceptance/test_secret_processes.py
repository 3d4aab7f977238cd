"""A ลับมาก letter through a hub, with real processes (docs/secret-letters.md).

The three nodes of the test network run as `gateway serve` processes on loopback, each with SQLite
and a log file in its own folder: สำนักงาน ก.พ. (at ``ocsc``) reaches Chiang Mai (at ``moe-r15``, an
RSA certificate) and ศธภ.15 (also at ``moe-r15``, an ECDSA certificate) only through the hub
``moe-hub``. The agency sends ลับมาก letters with `gateway send --secret 003`; then

* every file of the hub's folder (its SQLite database with WAL and SHM, its log) is searched for the
  subject and for the enclosure, raw and in base64: neither is there;
* the receiver's node stores the ciphertext: xmlsec1 opens it with Chiang Mai's key, and xmlsec1
  verifies the sender's signature in what comes out;
* Chiang Mai's e-Saraban pulls the letter in clear, with the same enclosure and a signature
  xmlsec1 verifies, and the origin hears PULLED;
* the receive number Chiang Mai sends back reaches the origin, and its subject does not cross.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from lxml import etree
from procs import Proc, migrate, until

from gateway.core import ns
from gateway.core.trust import sealing
from gateway.testing.live import free_port
from gateway.testing.network import CHIANGMAI, OCSC, REGION15, make_pki, toml_for
from gateway.testing.wire import PULL

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]
FAST = ("[delivery]\nretry_first_seconds = 0.2\nretry_max_seconds = 1\ntimeout_seconds = 3\n"
        "worker_poll_seconds = 0.5\n")
NODES = ("moe-hub", "moe-r15", "ocsc")
LETTER_DATE = "2026-11-26"
REPORT = ("นร 1008/ลับ 4601", "ลับมาก รายงานผลการสอบสวนข้อเท็จจริงกรณีร้องเรียนการบรรจุแต่งตั้ง จังหวัดเชียงใหม่")
REGIONAL = ("นร 1008/ลับ 4602", "ลับ ขอข้อมูลประกอบการพิจารณาความดีความชอบกรณีพิเศษ ภาค ๑๕")
ID_ATTR = ["--id-attr:ID", f"{ns.RAM}:CorrespondenceLetter"]


class Network:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = make_pki(root / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1),
                            rsa_orgs=frozenset({CHIANGMAI}))
        self.ports = {node: free_port() for node in NODES}
        self.configs: dict[str, Path] = {}
        for node in NODES:
            folder = root / node
            folder.mkdir(parents=True, exist_ok=True)
            self.configs[node] = folder / "gateway.toml"
            self.configs[node].write_text(toml_for(node, self.pki, self.ports, folder, extra=FAST), encoding="utf-8")
        self.procs = {node: Proc(node, ["serve"], self.configs[node], self.configs[node].parent,
                                 health_url=f"{self.url(node)}/healthz") for node in NODES}
        # a scanned enclosure: random bytes, so neither they nor their base64 can appear anywhere by chance
        self.enclosure = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + os.urandom(300_000) + b"\n%%EOF\n"
        (root / "scan.pdf").write_bytes(self.enclosure)

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def gw(self, *args: str) -> str:
        done = subprocess.run([*GATEWAY, *args], cwd=self.root, capture_output=True, text=True, timeout=60)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"gateway {' '.join(args)} exited {done.returncode}:\n{output}"
        return output

    def send(self, letter: tuple[str, str], receiver: str) -> str:
        out = self.gw("send", "--url", self.url("ocsc"), "--as", OCSC, "--to", receiver, "--subject", letter[1],
                      "--file", "scan.pdf", "--letter-id", letter[0], "--date", LETTER_DATE, "--secret", "003")
        return out.split("ProcessID ")[1].split()[0]

    def status(self, process_id: str) -> str:
        out = self.gw("status", "--url", self.url("ocsc"), "--as", OCSC)
        return next((line.split()[1] for line in out.splitlines() if line.startswith(process_id)), "")

    def pull_raw(self, org: str) -> bytes:
        """The pull answer's bytes as the e-Saraban of ``org`` gets them from its node (moe-r15)."""
        answer = requests.post(f"{self.url('moe-r15')}/ecms-ws01/service2/{org}", data=PULL, timeout=20,
                               headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
        assert answer.status_code == 200, answer.text
        return answer.content

    def logs(self) -> str:
        return "\n".join(f"--- {node}.log\n{proc.tail(25)}" for node, proc in self.procs.items())


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    network = Network(tmp_path_factory.mktemp("secret-processes"))
    try:
        for node in NODES:
            migrate(network.configs[node])
            network.procs[node].start()
        yield network
    finally:
        for proc in network.procs.values():
            proc.stop()


def xmlsec1(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["xmlsec1", *map(str, args)], capture_output=True, text=True, timeout=60)


def stored_document(net: Network, process_id: str) -> tuple[str, bytes]:
    with sqlite3.connect(f"file:{net.root / 'moe-r15' / 'gateway.sqlite3'}?mode=ro", uri=True) as db:
        subject, document = db.execute("SELECT l.subject, b.document FROM letters l JOIN letter_blobs b "
                                       "ON b.letter_id = l.id WHERE l.process_id = ?", (process_id,)).fetchone()
    db.close()
    return subject, bytes(document)


def secrets_in_hub_files(net: Network, subject: str) -> list[str]:
    """Every file of the hub's folder (database, WAL, SHM, log) that holds the subject or the enclosure."""
    needles = {"subject": subject.encode(), "enclosure": net.enclosure[100:200],
               "enclosure in base64": base64.b64encode(net.enclosure)[400:480]}
    found = []
    for path in sorted((net.root / "moe-hub").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {what}" for what, needle in needles.items() if needle in data]
    return found


def test_a_secret_letter_crosses_the_hub_and_the_hub_holds_nothing_readable(net, tmp_path):
    sent = net.send(REPORT, CHIANGMAI)
    until(lambda: net.status(sent) == "DELIVERED", 30, "DELIVERED at the origin")
    hub_files = [p.name for p in (net.root / "moe-hub").rglob("*") if p.is_file()]
    assert "gateway.sqlite3" in hub_files and "moe-hub.log" in hub_files, hub_files
    assert secrets_in_hub_files(net, REPORT[1]) == [], net.logs()
    origin_files = b"".join(p.read_bytes() for p in (net.root / "ocsc").rglob("gateway.sqlite3*"))
    assert REPORT[1].encode() in origin_files, "the check can fail: the origin keeps the letter in clear"

    subject, document = stored_document(net, sent)
    assert subject == sealing.SEALED_SUBJECT and sealing.is_sealed(document)
    assert REPORT[1].encode() not in document
    (tmp_path / "sealed.xml").write_bytes(document)
    opened = xmlsec1("--decrypt", "--privkey-pem", net.pki.path(f"orgs/{CHIANGMAI}.key"),
                     "--output", tmp_path / "opened.xml", tmp_path / "sealed.xml")
    assert opened.returncode == 0, opened.stderr
    opened_letter = etree.parse(str(tmp_path / "opened.xml")).getroot()   # xmlsec1 writes Thai as &#x...;
    assert opened_letter.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}") == REPORT[1]
    verified = xmlsec1("--verify", "--trusted-pem", net.pki.path("ca.pem"), *ID_ATTR, tmp_path / "opened.xml")
    assert verified.returncode == 0 and "OK" in verified.stderr.splitlines(), verified.stderr

    answer = net.pull_raw(CHIANGMAI)
    root = etree.fromstring(answer)
    letter = root.find(f".//{ns.rsm('GovernmentDocument')}")
    assert letter.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}") == REPORT[1]
    main = letter.find(f".//{ns.ram('MainLetterBinaryObject')}")
    assert base64.b64decode(main.text) == net.enclosure
    (tmp_path / "pulled.xml").write_bytes(etree.tostring(letter))
    verified = xmlsec1("--verify", "--trusted-pem", net.pki.path("ca.pem"), *ID_ATTR, tmp_path / "pulled.xml")
    assert verified.returncode == 0 and "OK" in verified.stderr.splitlines(), verified.stderr
    until(lambda: net.status(sent) == "PULLED", 30, "PULLED at the origin")
    assert secrets_in_hub_files(net, REPORT[1]) == []


def test_to_an_ecdsa_certificate_too_and_the_receive_number_comes_back_without_the_subject(net):
    sent = net.send(REGIONAL, REGION15)
    until(lambda: net.status(sent) == "DELIVERED", 30, "DELIVERED at the origin")
    out = until(lambda: (lambda o: "" if "queue is empty" in o else o)(
        net.gw("pull", "--url", net.url("moe-r15"), "--as", REGION15, "--out", "inbox")), 20, "the letter at ภาค 15")
    assert f"เรื่อง {REGIONAL[1]}" in out, out
    assert (net.root / "inbox" / f"{sent}-main.pdf").read_bytes() == net.enclosure
    acked = net.gw("ack", "accept", "--url", net.url("moe-r15"), "--as", REGION15, "--letter-id", REGIONAL[0],
                   "--date", LETTER_DATE, "--accept-id", "รับ ลับ 88")
    assert "AcceptLetterNotifier" in acked, acked
    until(lambda: net.status(sent) == "ACCEPTED", 30, "ACCEPTED at the origin")
    assert secrets_in_hub_files(net, REGIONAL[1]) == [], net.logs()
    assert secrets_in_hub_files(net, REPORT[1]) == []


def test_every_process_is_alive_and_logged_no_traceback(net):
    assert [node for node, proc in net.procs.items() if not proc.alive] == [], net.logs()
    for node, proc in net.procs.items():
        proc.stop()
        assert proc.proc.returncode == 0, f"{node} exited {proc.proc.returncode}:\n{proc.tail()}"
        assert "Traceback" not in proc.log_path.read_text(errors="replace"), proc.tail()
