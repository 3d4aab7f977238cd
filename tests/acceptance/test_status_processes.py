"""Status travels back to a letter's origin (docs/node-exchange.md, "Status travels back"), with real processes.

The three nodes of the test network (gateway/testing/network.py) run as `gateway serve` processes on
loopback, each with SQLite in its own folder and a TOML configuration: the agency's node ``ocsc``
reaches Chiang Mai (hosted on ``moe-r15``) only through the hub ``moe-hub``. Everything is done as
people would do it: the agency's e-Saraban with the client commands (`gateway send`, `status`,
`pull`), the hub's operator with `gateway console add-user` and the web console.

* A letter from สำนักงาน ก.พ. is DELIVERED at its origin once the hub holds it, and PULLED once Chiang
  Mai pulls it two nodes away (the region's "pulled" report, signed with Chiang Mai's key, crosses
  the hub).
* With the region stopped, the hub gives up on the next letter after its 4 s retry window and tells
  the origin: FAILED there. The region comes back, the hub's operator retries the item in the
  console, and the origin hears DELIVERED, then PULLED.
* Chiang Mai's AcceptLetterNotifier (receive number "รับ 1234") is signed end to end: a dishonest hub
  posting its own "รับ 9999" to the origin's node port, unattested (4003) or attested with the hub's
  key (4004), is refused; the origin's e-Saraban gets only the genuine notifier, and the letter is ACCEPTED.
* Every process is alive at the end, stops cleanly, and logged no traceback.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from lxml import etree, html
from procs import Proc, migrate, until

from gateway.core import ns
from gateway.core.letters.letter import notifier_element
from gateway.core.network import attestation as attest
from gateway.core.network.nodemsg import Hop, NodeMessage
from gateway.core.state import Event
from gateway.core.time import wire_time
from gateway.core.trust import pki
from gateway.core.trust.signing import Signer
from gateway.core.xml import envelope
from gateway.pipeline import outbound
from gateway.testing.fixtures import PDF
from gateway.testing.live import free_port
from gateway.testing.network import CHIANGMAI, OCSC, make_pki, toml_for

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]
FAST = ("[delivery]\nretry_first_seconds = 0.2\nretry_max_seconds = 1\ntimeout_seconds = 3\n"
        "worker_poll_seconds = 0.5\n")
HUB_DELIVERY = FAST + "retry_window_seconds = 4\n"   # the hub gives up on a stopped region within seconds
NODES = ("moe-hub", "moe-r15", "ocsc")
LETTER_DATE = "2026-11-26"
INVITATION = ("นร 1008/ว 4501", "ขอเชิญประชุมชี้แจงหลักเกณฑ์การประเมินผลการปฏิบัติราชการ ประจำปี ๒๕๗๐")
OUTAGE = ("นร 1008/ว 4502", "ขอความร่วมมือสำรวจข้อมูลอัตรากำลังข้าราชการพลเรือน รอบที่ ๒")
NOMINATION = ("นร 1008/ว 4503", "ขอให้เสนอรายชื่อผู้เข้ารับการอบรมหลักสูตรนักบริหารระดับสูง รุ่นที่ ๑๒")
GENUINE, FORGED = "รับ 1234", "รับ 9999"   # Chiang Mai's receive number, and the one a dishonest hub makes up
ALICE = ("alice", "รหัสผ่าน-ผู้ดูแลศูนย์กลาง-2569")



class Network:
    """The three nodes' folders, configurations and processes, and the `gateway` commands run against them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = make_pki(root / "pki", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        self.ports = {node: free_port() for node in NODES}
        self.configs: dict[str, Path] = {}
        for node in NODES:
            folder = root / node
            folder.mkdir(parents=True, exist_ok=True)
            self.configs[node] = folder / "gateway.toml"
            self.configs[node].write_text(toml_for(node, self.pki, self.ports, folder,
                                                   extra=HUB_DELIVERY if node == "moe-hub" else FAST),
                                          encoding="utf-8")
        self.sent: list[str] = []   # the ProcessIDs of the letters sent, in order
        self.ends: dict[str, str] = {}   # ProcessID -> the status the letter ends in
        self.procs = {node: Proc(node, ["serve"], self.configs[node], self.configs[node].parent,
                                 health_url=f"{self.url(node)}/healthz") for node in NODES}
        (root / "letter.pdf").write_bytes(PDF)

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def gw(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*GATEWAY, *args], cwd=self.root, input=stdin, capture_output=True, text=True,
                              timeout=60)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"gateway {' '.join(args)} exited {done.returncode}:\n{output}"
        return output

    def send(self, letter: tuple[str, str]) -> str:
        """A letter from สำนักงาน ก.พ. (at ocsc) to Chiang Mai (at moe-r15, through the hub); its ProcessID."""
        letter_no, subject = letter
        out = self.gw("send", "--url", self.url("ocsc"), "--as", OCSC, "--to", CHIANGMAI, "--subject", subject,
                      "--file", "letter.pdf", "--letter-id", letter_no, "--date", LETTER_DATE)
        self.sent.append(out.split("ProcessID ")[1].split()[0])
        self.ends[self.sent[-1]] = "PULLED"
        return self.sent[-1]

    def status(self, process_id: str) -> str:
        """The letter's ProcessStatus as the agency's e-Saraban sees it (`gateway status`: OutboundStatusRequest)."""
        out = self.gw("status", "--url", self.url("ocsc"), "--as", OCSC)
        return next((line.split()[1] for line in out.splitlines() if line.startswith(process_id)), "")

    def status_becomes(self, process_id: str, wanted: str, timeout: float = 20) -> None:
        seen: list[str] = []

        def reached() -> bool:
            now = self.status(process_id)
            if not seen or seen[-1] != now:
                seen.append(now)
            return now == wanted
        try:
            until(reached, timeout, f"{wanted} at the origin")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the origin said {' -> '.join(seen)}\n{self.logs()}") from None

    def pull_at_chiangmai(self) -> str:
        """Chiang Mai's next queue item at the region (saved in ./inbox, deleted); '' while the queue is empty."""
        out = self.gw("pull", "--url", self.url("moe-r15"), "--as", CHIANGMAI, "--out", "inbox")
        return "" if "queue is empty" in out else out

    def pulled(self, process_id: str, subject: str) -> None:
        out = until(self.pull_at_chiangmai, 20, f"the letter {process_id} at Chiang Mai")
        assert f"ProcessID {process_id}" in out and f"เรื่อง {subject}" in out, out
        assert (self.root / "inbox" / f"{process_id}-main.pdf").read_bytes() == PDF

    def logs(self) -> str:
        return "\n".join(f"--- {node}.log\n{proc.tail(25)}" for node, proc in self.procs.items())


class Console:
    """The hub's web console, as an operator's browser uses it (requests keeps the cookies)."""

    def __init__(self, base: str) -> None:
        self.base = f"{base}/console"
        self.session = requests.Session()

    @staticmethod
    def csrf(page: requests.Response) -> str:
        return html.fromstring(page.text).xpath("string(//input[@name='csrf']/@value)")

    def login(self, username: str, password: str) -> None:
        page = self.session.get(f"{self.base}/login", timeout=10)
        assert page.status_code == 200
        home = self.session.post(f"{self.base}/login", timeout=10,
                                 data={"username": username, "password": password, "csrf": self.csrf(page)})
        assert home.status_code == 200 and home.url == f"{self.base}/", (home.status_code, home.url)

    def deliveries(self) -> requests.Response:
        page = self.session.get(f"{self.base}/deliveries", timeout=10)
        assert page.status_code == 200
        return page

    def failed_row(self, page: requests.Response, process_id: str):
        rows = html.fromstring(page.text).xpath(
            "//table[@id='failed']//tr[@class='outbox'][@data-process-id=$pid]", pid=process_id)
        return rows[0] if rows else None

    def retry(self, process_id: str) -> None:
        page = self.deliveries()
        row = self.failed_row(page, process_id)
        assert row is not None, f"no FAILED item of {process_id} at the hub:\n{page.text}"
        done = self.session.post(f"{self.base}/deliveries/{row.get('data-id')}/retry", data={"csrf": self.csrf(page)},
                                 timeout=10, allow_redirects=False)
        assert done.status_code == 303, (done.status_code, done.text)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    network = Network(tmp_path_factory.mktemp("status-processes"))
    # the operator's account before the hub's first start: the command creates the schema itself
    made = network.gw("console", "add-user", ALICE[0], "--role", "operator", "--name", "สมชาย ศูนย์กลาง",
                      "--password-stdin", "--config", str(network.configs["moe-hub"]), stdin=ALICE[1] + "\n")
    assert ALICE[0] in made, made
    try:
        for node in NODES:
            if node != "moe-hub":
                migrate(network.configs[node])
            network.procs[node].start()
        yield network
    finally:
        for proc in network.procs.values():
            proc.stop()


def test_a_pull_two_nodes_away_reaches_the_origin_as_pulled(net):
    started = time.monotonic()
    sent = net.send(INVITATION)
    net.status_becomes(sent, "DELIVERED")      # the hub holds it and signed a receipt
    net.pulled(sent, INVITATION[1])
    net.status_becomes(sent, "PULLED")         # Chiang Mai's report, through the hub
    assert time.monotonic() - started < 30
    hub_log = net.procs["moe-hub"].log_path.read_text(errors="replace")
    assert "Traceback" not in hub_log and net.pull_at_chiangmai() == "", "one letter, pulled once"


def test_a_failure_at_the_hub_reaches_the_origin_and_so_does_the_operators_retry(net):
    region, hub = net.procs["moe-r15"], net.procs["moe-hub"]
    region.stop()
    assert not region.alive
    sent = net.send(OUTAGE)
    started = time.monotonic()
    net.status_becomes(sent, "FAILED", timeout=25)   # the hub's 4 s window ran out; it told the origin
    failed_after = time.monotonic() - started
    assert failed_after < 20, f"FAILED reached the origin after {failed_after:.1f} s"
    assert f"FAILED letter {sent} to moe-r15" in hub.log_path.read_text(errors="replace")

    console = Console(net.url("moe-hub"))
    console.login(*ALICE)
    row = console.failed_row(console.deliveries(), sent)
    assert row is not None and row.xpath("string(td[@class='state'])") == "failed"
    assert row.xpath("string(td[@class='error'])"), "the last error is shown"

    region.start()                                   # the region is back, and stays FAILED until someone acts
    time.sleep(1.5)
    assert net.status(sent) == "FAILED", "nothing retries a FAILED item by itself"
    console.retry(sent)
    net.status_becomes(sent, "DELIVERED")            # the hub's "delivered" report after the retry
    until(lambda: console.failed_row(console.deliveries(), sent) is None, 10, "the item to leave the failed list")
    net.pulled(sent, OUTAGE[1])
    net.status_becomes(sent, "PULLED")


class DishonestHub:
    """The hub's node key, taken from its PKI files, signing node messages it posts to the origin itself."""

    def __init__(self, net: Network) -> None:
        self.origin = f"{net.url('ocsc')}/ecms-ws01/node"
        self.signer = Signer(org_id="", key=pki.load_private_key(Path(net.pki.path("nodes/moe-hub.key")).read_bytes()),
                             certificate=pki.load_certificate(Path(net.pki.path("nodes/moe-hub.pem")).read_bytes()))

    def notifier(self, accept_id: str, letter: tuple[str, str]) -> bytes:
        """An AcceptLetterNotifier as Chiang Mai's node would make it (operations/agency.py), with this number."""
        return notifier_element(event=Event.ACCEPT, letter_id=letter[0], correspondence_date=LETTER_DATE,
                                subject=letter[1], accept_id=accept_id,
                                accept_date=wire_time(dt.datetime.now(dt.timezone.utc)), accept_department=CHIANGMAI)

    def attestation(self, process_id: str, letter_process_id: str, payload: bytes) -> bytes:
        """An ItemAttestation naming the item and its bytes, in Chiang Mai's name but signed with the hub's key."""
        return outbound.attestation(attest.Attestation(
            organization=CHIANGMAI, kind="notifier", process_id=process_id, letter_process_id=letter_process_id,
            payload_digest=attest.payload_digest(payload)), self.signer)

    def post(self, process_id: str, letter_process_id: str, payload: bytes, attestation: bytes) -> requests.Response:
        """The notifier from Chiang Mai to สำนักงาน ก.พ. as the hub forwards one, posted to ocsc's node port."""
        now = dt.datetime.now(dt.timezone.utc)
        hops = tuple(Hop(node=node, at=(now - dt.timedelta(seconds=1)).isoformat(timespec="seconds"))
                     for node in ("moe-r15", "moe-hub"))
        message = outbound.node_message(NodeMessage(
            message_id=str(uuid.uuid4()), sender_node="moe-hub", receiver_node="ocsc", sender_org=CHIANGMAI,
            receiver_org=OCSC, timestamp=now, kind="notifier", process_id=process_id,
            letter_process_id=letter_process_id, path=hops, payload=payload, attestation=attestation), self.signer)
        carrier = etree.Element(f"{{{ns.NODE_CARRIER}}}DeliverRequest", nsmap={"c": ns.NODE_CARRIER})
        carrier.append(message)
        return requests.post(self.origin, data=envelope.wrap("1.1", etree.tostring(carrier, encoding="utf-8")),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)


def refused(answer: requests.Response, code: str) -> bool:
    return answer.status_code == 400 and f"<ErrorCode>{code}</ErrorCode>".encode() in answer.content


def test_a_hub_cannot_alter_or_invent_the_regions_accept_notifier(net):
    sent = net.send(NOMINATION)
    net.pulled(sent, NOMINATION[1])
    acked = net.gw("ack", "accept", "--url", net.url("moe-r15"), "--as", CHIANGMAI, "--letter-id", NOMINATION[0],
                   "--date", LETTER_DATE, "--accept-id", GENUINE)
    assert "AcceptLetterNotifier" in acked, acked
    genuine = acked.split("ProcessID ")[1].split()[0]

    hub = DishonestHub(net)
    forged = hub.notifier(FORGED, NOMINATION)
    assert FORGED.encode() in forged and GENUINE.encode() not in forged
    unattested = hub.post(genuine, sent, forged, b"")
    assert refused(unattested, "4003"), (unattested.status_code, unattested.text)
    own_key = hub.post(genuine, sent, forged, hub.attestation(genuine, sent, forged))
    assert refused(own_key, "4004"), (own_key.status_code, own_key.text)
    invented = str(uuid.uuid4())        # a notifier of the hub's own making, not one it forwards
    made_up = hub.post(invented, sent, forged, hub.attestation(invented, sent, forged))
    assert refused(made_up, "4004"), (made_up.status_code, made_up.text)

    net.status_becomes(sent, "ACCEPTED")
    net.ends[sent] = "ACCEPTED"
    pulled = net.gw("pull", "--url", net.url("ocsc"), "--as", OCSC, "--out", "origin-inbox")
    assert f"ProcessID {genuine}" in pulled and "AcceptLetterNotifier" in pulled, pulled
    assert f"AcceptID: {GENUINE}" in pulled and FORGED not in pulled, pulled
    assert "queue is empty" in net.gw("pull", "--url", net.url("ocsc"), "--as", OCSC), "one notifier, the genuine"
    database = net.root / "ocsc" / "gateway.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        stored = db.execute("SELECT n.process_id, n.kind, n.accept_id, n.from_org, n.payload FROM notices n "
                            "JOIN letters l ON l.id = n.letter_id WHERE l.process_id = ?", (sent,)).fetchall()
        everywhere = db.execute("SELECT count(*) FROM notices").fetchone()[0]
    db.close()
    assert [row[:4] for row in stored] == [(genuine, "accept", GENUINE, CHIANGMAI)] and everywhere == 1, stored
    assert GENUINE.encode() in stored[0][4] and FORGED.encode() not in stored[0][4]
    assert "Traceback" not in net.procs["ocsc"].log_path.read_text(errors="replace"), net.logs()


def test_every_process_is_alive_and_logged_no_traceback(net):
    assert [node for node, proc in net.procs.items() if not proc.alive] == [], net.logs()
    texts = {node: proc.log_path.read_text(errors="replace") for node, proc in net.procs.items()}
    assert all("Traceback" not in text for text in texts.values()), net.logs()
    assert {pid: net.status(pid) for pid in net.sent} == net.ends, "and they stay PULLED (or ACCEPTED)"
    for node, proc in net.procs.items():
        proc.stop()
        assert proc.proc.returncode == 0, f"{node} exited {proc.proc.returncode}:\n{proc.tail()}"
        assert "Traceback" not in proc.log_path.read_text(errors="replace"), proc.tail()

