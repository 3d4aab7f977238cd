"""Joining a network with the command line alone (issue 13, item 4; docs/joining.md).

A hub (the directory authority and the network CA) and a regional node run as
`gateway serve` processes. A third node joins: it makes its keys and
certificate requests (`gateway pki request`), the hub's operator signs them
(`gateway pki sign`) and adds the node and its organisation to the directory it
publishes (`gateway directory add-node`, `add-org`), the new node syncs the
directory (`gateway directory sync`) and starts. Letters then reach it from the
hub and, through the hub, from the regional node, and the receive notifiers
come back. Finally the new node rotates its key (`--rotate`, `gateway pki rotate`)
and keeps exchanging letters. Every step is a `gateway` process; the files
that would travel by e-mail (requests, certificates, the CA certificate) are
copied.
"""
from __future__ import annotations

import base64
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from procs import Proc, until

from gateway.core.trust import pki
from gateway.testing.fixtures import PDF
from gateway.testing.live import free_port

pytestmark = pytest.mark.acceptance
GATEWAY = [sys.executable, "-m", "gateway"]
FAST = ("[delivery]\nretry_first_seconds = 0.2\nretry_max_seconds = 2\ntimeout_seconds = 5\n"
        "worker_poll_seconds = 1\n")
CENTRAL, REGION15, CHIANGMAI, KHONKAEN = "2000100000", "2000215000", "2000350000", "2000340000"
NAMES = {CENTRAL: "สำนักงานปลัดกระทรวงศึกษาธิการ", REGION15: "สำนักงานศึกษาธิการภาค 15",
         CHIANGMAI: "สำนักงานศึกษาธิการจังหวัดเชียงใหม่", KHONKAEN: "สำนักงานศึกษาธิการจังหวัดขอนแก่น"}
LETTER_DATE = "2026-11-26"


def gw(cwd: Path, *args: str, ok: bool = True) -> str:
    """One `gateway` command; its output (stdout and stderr)."""
    done = subprocess.run([*GATEWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    if ok:
        assert done.returncode == 0, f"gateway {' '.join(args)}:\n{output}"
    else:
        assert done.returncode != 0, f"gateway {' '.join(args)} should have failed:\n{output}"
    return output



class Network:
    """Folders, configurations and processes: the hub's folder holds the network CA (pki/ca.key)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in ("moe-hub", "moe-r15", "moe-kk")}
        self.procs: dict[str, Proc] = {}

    def folder(self, node: str) -> Path:
        path = self.root / node
        path.mkdir(parents=True, exist_ok=True)
        return path

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def node_url(self, node: str) -> str:
        return f"{self.url(node)}/ecms-ws01/node"

    def write_config(self, node: str, orgs: list[str], *, authority: bool) -> Path:
        lines = ["[node]", f'id = "{node}"', f'public_url = "{self.url(node)}"', 'certificate = "pki/node.pem"',
                 'key = "pki/node.key"', "[server]", 'host = "127.0.0.1"', f"port = {self.ports[node]}",
                 "[storage]", 'data_dir = "data"', "[trust]", 'anchors = ["pki/ca.pem"]', FAST,
                 "[directory_authority]"]
        lines += (["publish = true"] if authority else
                  ['node = "moe-hub"', f'url = "{self.node_url("moe-hub")}"', 'certificate = "pki/moe-hub.pem"'])
        for org in orgs:
            lines += ["[[organizations]]", f'id = "{org}"', f'th_name = "{NAMES[org]}"',
                      f'certificate = "pki/orgs/{org}.pem"', f'key = "pki/orgs/{org}.key"']
        path = self.folder(node) / "gateway.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def serve(self, node: str) -> Proc:
        if node in self.procs:
            self.procs[node].stop()
        proc = Proc(node, ["serve"], self.folder(node) / "gateway.toml", self.folder(node),
                    health_url=f"{self.url(node)}/healthz")
        self.procs[node] = proc.start()
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def hub(self, *args: str, ok: bool = True) -> str:
        return gw(self.folder("moe-hub"), *args, ok=ok)

    def join(self, node: str, orgs: list[str]) -> dict[str, str]:
        """The whole procedure of docs/joining.md for ``node``; the output of each step, by name."""
        here, hub = self.folder(node), self.folder("moe-hub")
        out = {"request node": gw(here, "pki", "request", "--node-id", node, "--host", "127.0.0.1", "--host",
                                  "localhost", "--out", "pki")}
        for org in orgs:
            out[f"request {org}"] = gw(here, "pki", "request", "--org", org, "--th-name", NAMES[org], "--out", "pki")
        # the requests travel to the hub; the certificates, the CA certificate and the hub's own come back
        out["sign node"] = self.hub("pki", "sign", "--csr", str(here / "pki/node.csr"), "--ca-dir", "pki",
                                    "--out", str(here / "pki/node.pem"))
        for org in orgs:
            out[f"sign {org}"] = self.hub("pki", "sign", "--csr", str(here / f"pki/orgs/{org}.csr"), "--ca-dir",
                                          "pki", "--out", str(here / f"pki/orgs/{org}.pem"))
        shutil.copy(hub / "pki/ca.pem", here / "pki/ca.pem")
        shutil.copy(hub / "pki/node.pem", here / "pki/moe-hub.pem")
        out["add-node"] = self.hub("directory", "add-node", "--config", "gateway.toml", "--id", node,
                                   "--url", self.node_url(node), "--cert", str(here / "pki/node.pem"))
        for org in orgs:
            out[f"add-org {org}"] = self.hub("directory", "add-org", "--config", "gateway.toml", "--id", org,
                                             "--node", node, "--cert", str(here / f"pki/orgs/{org}.pem"))
        self.write_config(node, orgs, authority=False)
        return out

    def sync(self, node: str) -> str:
        return gw(self.folder(node), "directory", "sync", "--config", "gateway.toml")


@pytest.fixture
def network(tmp_path):
    net = Network(tmp_path)
    yield net
    net.stop()


def send(net: Network, node: str, sender: str, receiver: str, letter_id: str, subject: str) -> str:
    folder = net.folder(node)
    (folder / "letter.pdf").write_bytes(PDF)
    out = gw(folder, "send", "--url", net.url(node), "--as", sender, "--to", receiver, "--subject", subject,
             "--file", "letter.pdf", "--letter-id", letter_id, "--date", LETTER_DATE)
    return out.split("ProcessID ")[1].split()[0]


def pulled(net: Network, node: str, org: str, expect: str) -> str:
    """Pull ``org``'s queue until an item containing ``expect`` arrives (and is deleted)."""
    def pull() -> str:
        out = gw(net.folder(node), "pull", "--url", net.url(node), "--as", org, "--out", "inbox")
        return out if expect in out else ""
    return until(pull, 40, f"{expect} at {org}")


def test_a_third_node_joins_a_running_network_with_the_cli_alone(network):
    net = network
    # ---- the running two-node network: the hub (authority and network CA) and the region 15 node
    net.write_config("moe-hub", [CENTRAL], authority=True)
    net.hub("pki", "init", "--config", "gateway.toml", "--out", "pki")
    net.join("moe-r15", [REGION15, CHIANGMAI])
    net.serve("moe-hub")
    assert "2 nodes, 3 organisations" in net.sync("moe-r15")  # the region's view comes from the hub's snapshot
    net.serve("moe-r15")

    # ---- the third node joins
    steps = net.join("moe-kk", [KHONKAEN])
    assert "moe-kk" in steps["request node"] and "127.0.0.1" in steps["request node"]
    assert (net.folder("moe-kk") / "pki/node.key").stat().st_mode & 0o077 == 0, "the key is the owner's only"
    # the CA's operator compares the request's fingerprint with the one the requester read out
    fingerprint = steps["request node"].split("request sha256 ")[1].split()[0]
    assert f"request sha256 {fingerprint}" in steps["sign node"]
    assert "signed the certificate of node moe-kk" in steps["sign node"]
    assert f"signed the certificate of organisation {KHONKAEN} {NAMES[KHONKAEN]}" in steps[f"sign {KHONKAEN}"]
    cert = pki.load_certificate((net.folder("moe-kk") / "pki/node.pem").read_bytes())
    ca = pki.load_certificate((net.folder("moe-hub") / "pki/ca.pem").read_bytes())
    assert pki.node_of(cert) == "moe-kk" and pki.signed_by(cert, [ca])
    assert 'id = "moe-kk"' in steps["add-node"] and f'th_name = "{NAMES[KHONKAEN]}"' in steps[f"add-org {KHONKAEN}"]
    hub_toml = (net.folder("moe-hub") / "gateway.toml").read_text(encoding="utf-8")
    assert f'ecms_url = "{net.url("moe-kk")}/ecms-ws01/service2/{KHONKAEN}"' in hub_toml
    net.serve("moe-hub")                     # the authority publishes from its next start
    synced = net.sync("moe-kk")
    assert "3 nodes" in synced and "4 organisations" in synced, synced
    net.serve("moe-kk")
    net.sync("moe-r15")
    net.serve("moe-r15")                     # the region learns the new node too
    orgs = gw(net.root, "orgs", "--url", net.url("moe-kk"), "--as", KHONKAEN)
    assert all(org in orgs for org in NAMES) and NAMES[CHIANGMAI] in orgs

    # ---- a letter from the hub's organisation reaches the new node, and its receive notifier comes back
    first = send(net, "moe-hub", CENTRAL, KHONKAEN, "ศธ 0210/9301",
                 "ขอเชิญประชุมผู้บริหารสถานศึกษา ภาคตะวันออกเฉียงเหนือ")
    got = pulled(net, "moe-kk", KHONKAEN, "ขอเชิญประชุมผู้บริหารสถานศึกษา ภาคตะวันออกเฉียงเหนือ")
    assert f"ProcessID {first}" in got and "ที่ ศธ 0210/9301  ลงวันที่ 26 พ.ย. 2569" in got
    assert (net.folder("moe-kk") / f"inbox/{first}-main.pdf").read_bytes() == PDF
    gw(net.root, "ack", "receive", "--url", net.url("moe-kk"), "--as", KHONKAEN, "--letter-id", "ศธ 0210/9301",
       "--date", LETTER_DATE)
    assert "ReceiveLetterNotifier" in pulled(net, "moe-hub", CENTRAL, "ReceiveLetterNotifier")
    status = gw(net.root, "status", "--url", net.url("moe-hub"), "--as", CENTRAL)
    assert any(first in line and "RECEIVED" in line for line in status.splitlines()), status

    # ---- and from the region, through the hub (the new node is not the region's neighbour)
    second = send(net, "moe-r15", CHIANGMAI, KHONKAEN, "ศธ 1500/9302", "รายงานผลการนิเทศ ติดตาม และประเมินผล")
    got = pulled(net, "moe-kk", KHONKAEN, "รายงานผลการนิเทศ ติดตาม และประเมินผล")
    assert f"ProcessID {second}" in got
    view = gw(net.folder("moe-kk"), "status", "--letter", second, "--config", "gateway.toml")
    assert "moe-r15" in view and "moe-hub" in view, view   # the path: both nodes that stored it
    gw(net.root, "ack", "receive", "--url", net.url("moe-kk"), "--as", KHONKAEN, "--letter-id", "ศธ 1500/9302",
       "--date", LETTER_DATE)
    assert "ReceiveLetterNotifier" in pulled(net, "moe-r15", CHIANGMAI, "ReceiveLetterNotifier")

    # ---- the new node rotates its key: announced at the authority first, then switched on the node
    kk = net.folder("moe-kk")
    gw(kk, "pki", "request", "--node-id", "moe-kk", "--host", "127.0.0.1", "--out", "pki/next")
    net.hub("pki", "sign", "--csr", str(kk / "pki/next/node.csr"), "--ca-dir", "pki", "--out",
            str(kk / "pki/next/node.pem"))
    refused = gw(kk, "pki", "rotate", "--config", "gateway.toml", "--cert", "pki/next/node.pem", "--key",
                 "pki/next/node.key", ok=False)
    assert "does not list the new certificate yet" in refused   # nobody trusts it yet: refused
    rotated = net.hub("directory", "add-node", "--config", "gateway.toml", "--id", "moe-kk", "--rotate",
                      "--cert", str(kk / "pki/next/node.pem"))
    assert "now holds 2 certificates" in rotated
    net.serve("moe-hub")
    net.sync("moe-kk")
    switched = gw(kk, "pki", "rotate", "--config", "gateway.toml", "--cert", "pki/next/node.pem", "--key",
                  "pki/next/node.key")
    assert "signs with the new key" in switched
    assert len(pki.load_certificates((kk / "pki/node.pem").read_bytes())) == 2   # old and new, both trusted
    net.serve("moe-kk")
    third = send(net, "moe-hub", CENTRAL, KHONKAEN, "ศธ 0210/9303", "แจ้งผลการพิจารณางบประมาณ ปีงบประมาณ พ.ศ. 2570")
    assert f"ProcessID {third}" in pulled(net, "moe-kk", KHONKAEN, "แจ้งผลการพิจารณางบประมาณ")
    gw(net.root, "ack", "receive", "--url", net.url("moe-kk"), "--as", KHONKAEN, "--letter-id", "ศธ 0210/9303",
       "--date", LETTER_DATE)
    # the receipt and the notifier are signed with the new key now, and the hub verifies them
    assert "ReceiveLetterNotifier" in pulled(net, "moe-hub", CENTRAL, "ReceiveLetterNotifier")
    new = pki.load_certificate((kk / "pki/next/node.pem").read_bytes())
    assert receipt_signer(net, first) == cert and receipt_signer(net, third) == new
    hub_log = net.procs["moe-hub"].log_path.read_text(errors="replace")
    assert "refused 4004" not in hub_log


def receipt_signer(net: Network, process_id: str) -> x509.Certificate:
    """The certificate the new node signed its receipt for ``process_id`` with, as the hub keeps it."""
    with sqlite3.connect(net.folder("moe-hub") / "data/gateway.sqlite3") as db:
        receipt = db.execute("SELECT receipt FROM outbox WHERE process_id = ? AND state = 'delivered'",
                             (process_id,)).fetchone()[0]
    der = etree.fromstring(bytes(receipt)).findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    return x509.load_der_x509_certificate(base64.b64decode(der))
