"""`make demo-network`: a hub and two regional nodes on loopback, joined with the CLI, exchanging letters.

The Ministry of Education's demo organisations on three nodes, each a
`gateway serve` process with its configuration, data and log under
./var/demo-network/:

* moe-hub  สำนักงานปลัดกระทรวงศึกษาธิการ, ศธภ.1 and ศธจ.นนทบุรี; the directory authority and the network CA;
* moe-r12  ศธภ.12 and ศธจ.ขอนแก่น;
* moe-r15  ศธภ.15 and ศธจ.เชียงใหม่.

The regional nodes join the hub exactly as docs/joining.md tells a ministry's
IT staff: each makes its keys and certificate requests (`gateway pki request`),
the hub's operator signs them (`gateway pki sign`) and adds the nodes and
organisations to the directory it publishes (`gateway directory add-node`,
`add-org`), and each node syncs the directory (`gateway directory sync`). The
demo prints every command it runs. Then letters with Thai subjects cross the
network (one of them region to region, through the hub), are pulled, and their
notifiers come back. The demo prints where to look and waits; Ctrl-C stops
every process it started and exits.

    python tools/demo_network.py [--dir var/demo-network] [--base-port 8180] [--once]

``--once`` stops after the letters (a smoke run). ``--base-port 0`` takes any
free ports. Each run starts a fresh network: the folder is emptied first (only
a folder this demo made, marked by its ``.demo-network`` file).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.esaraban import AgencyClient, Attachment, ClientError, OutgoingLetter  # noqa: E402
from gateway.core.network.directory import DEMO_ORGANIZATIONS  # noqa: E402
from gateway.core.time import BANGKOK, thai_date  # noqa: E402

GATEWAY = [sys.executable, "-m", "gateway"]
MARKER = ".demo-network"
NAMES = {org: (th, en) for org, th, en in DEMO_ORGANIZATIONS}
HUB = "moe-hub"
NODES = {HUB: ["2000100000", "2000201000", "2000312000"],
         "moe-r12": ["2000212000", "2000340000"],
         "moe-r15": ["2000215000", "2000350000"]}
FAST = ("[delivery]\n# the demo retries quickly; production keeps the defaults\nretry_first_seconds = 0.5\n"
        "retry_max_seconds = 5\nworker_poll_seconds = 1\n")
# A tiny but real PDF, so the files the receivers save open.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
LETTERS = [  # (node, sender, receiver, letter number, subject)
    (HUB, "2000100000", "2000340000", "ศธ 0210/1001", "ขอเชิญประชุมผู้บริหารสถานศึกษา ภาคตะวันออกเฉียงเหนือ"),
    ("moe-r15", "2000350000", "2000212000", "ศธ 1500/1002", "รายงานผลการจัดการศึกษาจังหวัดเชียงใหม่ ปีการศึกษา 2569"),
    ("moe-r12", "2000340000", "2000100000", "ศธ 1200/1003", "ขอรับการสนับสนุนงบประมาณโครงการพัฒนาครู"),
]


class Demo:
    def __init__(self, folder: Path, ports: dict[str, int]) -> None:
        self.folder, self.ports = folder, ports
        self.procs: dict[str, subprocess.Popen] = {}
        self.mailbox: dict[str, list[Pulled]] = {}
        self.setup_log = folder / "setup.log"

    # ---------------------------------------------------------------- helpers

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def node_dir(self, node: str) -> Path:
        return self.folder / node

    def gateway(self, cwd: Path, *args: str) -> str:
        """Run one `gateway` command, show it, keep its output in setup.log."""
        shown = shlex.join(args)
        print(f"  [{cwd.name}] $ gateway {shown}", flush=True)
        done = subprocess.run([*GATEWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
        with self.setup_log.open("a", encoding="utf-8") as log:
            log.write(f"[{cwd.name}] $ gateway {shown}\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise SystemExit(f"demo-network: `gateway {shown}` failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def write_config(self, node: str) -> Path:
        authority = (["publish = true"] if node == HUB else
                     [f'node = "{HUB}"', f'url = "{self.url(HUB)}/ecms-ws01/node"', f'certificate = "pki/{HUB}.pem"'])
        lines = [f"# {node}: written by tools/demo_network.py (make demo-network)", "[node]", f'id = "{node}"',
                 f'public_url = "{self.url(node)}"', f'default_organization = "{NODES[node][0]}"',
                 'certificate = "pki/node.pem"', 'key = "pki/node.key"', "[server]", 'host = "127.0.0.1"',
                 f"port = {self.ports[node]}", "[storage]", 'data_dir = "data"', "[trust]", 'anchors = ["pki/ca.pem"]',
                 FAST, "[directory_authority]", *authority]
        for org in NODES[node]:
            th, en = NAMES[org]
            lines += ["", "[[organizations]]", f'id = "{org}"', f'th_name = "{th}"', f'en_name = "{en}"',
                      f'certificate = "pki/orgs/{org}.pem"', f'key = "pki/orgs/{org}.key"']
        path = self.node_dir(node) / "gateway.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def start(self, node: str) -> None:
        old = self.procs.pop(node, None)
        if old is not None:
            stop_process(old)
        log = (self.node_dir(node) / "gateway.log").open("ab")
        self.procs[node] = subprocess.Popen([*GATEWAY, "serve", "--config", "gateway.toml"], cwd=self.node_dir(node),
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        log.close()
        deadline = time.monotonic() + 60
        import requests
        while time.monotonic() < deadline:
            if self.procs[node].poll() is not None:
                raise SystemExit(f"demo-network: {node} stopped; see {self.node_dir(node) / 'gateway.log'}")
            try:
                if requests.get(f"{self.url(node)}/healthz", timeout=1).status_code == 200:
                    print(f"  {node} is up at {self.url(node)}", flush=True)
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"demo-network: {node} did not start; see {self.node_dir(node) / 'gateway.log'}")

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)
        self.procs.clear()

    def client(self, node: str, org: str) -> AgencyClient:
        return AgencyClient(f"{self.url(node)}/ecms-ws01/service2/{org}", timeout=30)

    # ---------------------------------------------------------------- the network

    def build(self) -> None:
        hub = self.node_dir(HUB)
        print("1. the hub: its network CA, its keys and its organisations' (gateway pki init)", flush=True)
        self.write_config(HUB)
        self.gateway(hub, "pki", "init", "--config", "gateway.toml", "--out", "pki")
        for node in NODES:
            if node == HUB:
                continue
            here = self.node_dir(node)
            here.mkdir(parents=True, exist_ok=True)
            print(f"2. {node} joins: keys and certificate requests on the node, signed at the hub, added to the "
                  "directory", flush=True)
            self.gateway(here, "pki", "request", "--node-id", node, "--host", "127.0.0.1", "--host", "localhost",
                         "--out", "pki")
            for org in NODES[node]:
                self.gateway(here, "pki", "request", "--org", org, "--th-name", NAMES[org][0], "--out", "pki")
            self.gateway(hub, "pki", "sign", "--csr", f"../{node}/pki/node.csr", "--ca-dir", "pki",
                         "--out", f"../{node}/pki/node.pem")
            for org in NODES[node]:
                self.gateway(hub, "pki", "sign", "--csr", f"../{node}/pki/orgs/{org}.csr", "--ca-dir", "pki",
                             "--out", f"../{node}/pki/orgs/{org}.pem")
            # what the hub's operator hands back with the certificates: the CA and the hub's own certificate
            shutil.copy(hub / "pki/ca.pem", here / "pki/ca.pem")
            shutil.copy(hub / "pki/node.pem", here / f"pki/{HUB}.pem")
            self.gateway(hub, "directory", "add-node", "--config", "gateway.toml", "--id", node,
                         "--url", f"{self.url(node)}/ecms-ws01/node", "--cert", f"../{node}/pki/node.pem")
            for org in NODES[node]:
                self.gateway(hub, "directory", "add-org", "--config", "gateway.toml", "--id", org, "--node", node,
                             "--en-name", NAMES[org][1], "--cert", f"../{node}/pki/orgs/{org}.pem")
            self.write_config(node)
        print("3. the hub starts and publishes the signed directory; the regional nodes sync it and start",
              flush=True)
        self.start(HUB)
        for node in NODES:
            if node != HUB:
                self.gateway(self.node_dir(node), "directory", "sync", "--config", "gateway.toml")
                self.start(node)

    def exchange(self) -> list[str]:
        """Send the letters, pull them, send the notifiers back; lines saying what happened."""
        print("4. letters cross the network", flush=True)
        today = dt.datetime.now(BANGKOK).date().isoformat()
        letters_dir = self.folder / "letters"
        letters_dir.mkdir(exist_ok=True)
        (letters_dir / "letter.pdf").write_bytes(PDF)
        sent = []
        for node, sender, receiver, number, subject in LETTERS:
            answer = self.client(node, sender).send_letter(OutgoingLetter(
                letter_id=number, correspondence_date=today, subject=subject, sender=sender, receiver=receiver,
                main_letter=Attachment(mime_code="pdf", content=PDF)))
            print(f"  {NAMES[sender][0]} -> {NAMES[receiver][0]}: ที่ {number} เรื่อง {subject}  "
                  f"(ProcessID {answer.process_id})", flush=True)
            sent.append((node, sender, receiver, number, subject, answer.process_id))
        report = []
        for node, sender, receiver, number, _subject, process_id in sent:
            home = self.home(receiver)
            item = self.wait_item(receiver, lambda p, pid=process_id: p.process_id == pid, f"the letter at {receiver}")
            (letters_dir / f"{process_id}.xml").write_bytes(item.raw)
            self.client(home, receiver).notify("ReceiveLetterNotifier", letter_id=number, correspondence_date=today)
            back = self.wait_item(sender, lambda p, n=number: p.item.tag == "ReceiveLetterNotifier"
                                  and p.item.findtext(".//LetterID") == n, f"the notifier at {sender}")
            report.append(f"  ที่ {number}: ถึง {receiver} ที่ {home} แล้ว (pulled); {back.item.tag} กลับถึง "
                          f"{sender} ที่ {node}")
        for line in report:
            print(line, flush=True)
        return report

    def home(self, org: str) -> str:
        return next(n for n, orgs in NODES.items() if org in orgs)

    def wait_item(self, org: str, wanted, what: str) -> Pulled:
        """Pull ``org``'s queue until an item ``wanted`` accepts; the others wait in a mailbox for their turn."""
        box = self.mailbox.setdefault(org, [])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for item in box:
                if wanted(item):
                    box.remove(item)
                    return item
            item = pull(self.client(self.home(org), org))
            if item is None:
                time.sleep(0.3)
            else:
                box.append(item)
        raise SystemExit(f"demo-network: timed out waiting for {what}")

    def where_to_look(self) -> None:
        print("\n5. where to look / ดูได้ที่", flush=True)
        for node, orgs in NODES.items():
            here = self.node_dir(node)
            print(f"  {node}  {self.url(node)}")
            print(f"      WSDL     {self.url(node)}/ecms-ws01/service2?wsdl   "
                  f"node port {self.url(node)}/ecms-ws01/node")
            print(f"      health   {self.url(node)}/healthz   metrics {self.url(node)}/metrics")
            for org in orgs:
                print(f"      {org} {NAMES[org][0]}: {self.url(node)}/ecms-ws01/service2/{org}")
            print(f"      config {rel(here / 'gateway.toml')}   log {rel(here / 'gateway.log')}   "
                  f"data {rel(here / 'data')}")
        print(f"  set-up commands and their output: {rel(self.setup_log)}; the letters as pulled: "
              f"{rel(self.folder / 'letters')}")
        r12 = self.url("moe-r12")
        print("  try (another terminal):")
        print(f"      .venv/bin/gateway send --url {r12} --as 2000340000 --to 2000350000 --subject \"ทดสอบส่งหนังสือ\" "
              f"--file {rel(self.folder / 'letters/letter.pdf')}")
        print(f"      .venv/bin/gateway pull --url {self.url('moe-r15')} --as 2000350000")
        print(f"      .venv/bin/gateway letters --config {rel(self.node_dir('moe-r12') / 'gateway.toml')} "
              "--as 2000340000")
        print("  join a fourth node the same way: docs/joining.md")
        print("\nกด Ctrl-C เพื่อหยุด / press Ctrl-C to stop every node of the demo", flush=True)


class Pulled:
    def __init__(self, process_id: str, item, raw: bytes) -> None:
        self.process_id, self.item, self.raw = process_id, item, raw


def pull(client: AgencyClient) -> Pulled | None:
    from lxml import etree
    try:
        answer = client.pull()
    except ClientError:
        return None
    if answer.item is None:
        return None
    client.delete(answer.process_id)
    return Pulled(answer.process_id, answer.item, etree.tostring(answer.item, encoding="utf-8"))


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def choose_ports(base: int) -> dict[str, int]:
    ports = {}
    for i, node in enumerate(NODES):
        port = base + i if base else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(f"demo-network: port {port} is in use (another demo, or `make run`?); "
                                 "use --base-port") from None
            ports[node] = s.getsockname()[1]
    return ports


def fresh(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise SystemExit(f"demo-network: {folder} is not empty and was not made by this demo; choose another --dir")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by tools/demo_network.py; emptied at each run\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a hub and two regional nodes on loopback, exchanging letters")
    parser.add_argument("--dir", default="var/demo-network", help="folder of the demo (default var/demo-network)")
    parser.add_argument("--base-port", type=int, default=8180, help="ports base, base+1, base+2 (0: any free)")
    parser.add_argument("--once", action="store_true", help="stop after the letters")
    args = parser.parse_args(argv)
    folder = Path(args.dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fresh(folder)
    demo = Demo(folder, choose_ports(args.base_port))
    print(f"demo network in {rel(folder)} ({thai_date(dt.datetime.now(BANGKOK))})", flush=True)
    try:
        demo.build()
        demo.exchange()
        if args.once:
            print("done (--once): stopping", flush=True)
            return 0
        signal.signal(signal.SIGINT, lambda *_: stop.set())  # from now on Ctrl-C is the way to stop
        demo.where_to_look()
        while not stop.wait(1.0):
            dead = [node for node, proc in demo.procs.items() if proc.poll() is not None]
            if dead:
                print(f"demo-network: {', '.join(dead)} stopped unexpectedly; see their gateway.log", file=sys.stderr)
                return 1
        print("\nstopping / กำลังหยุด ...", flush=True)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted during set-up; stopping / หยุดระหว่างการติดตั้ง", flush=True)
        return 130
    finally:
        demo.stop()
        print("every node of the demo stopped / หยุดทุกเครื่องแล้ว", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
