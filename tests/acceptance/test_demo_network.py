"""`make demo-network` (tools/demo_network.py): three nodes joined with the CLI, letters across them; Ctrl-C."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.acceptance
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_network_exchanges_letters_prints_where_to_look_and_stops_on_ctrl_c(tmp_path):
    demo = subprocess.Popen([sys.executable, str(ROOT / "tools/demo_network.py"), "--base-port", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in demo.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        shown = "".join(lines)
        assert "press Ctrl-C to stop" in shown, shown
        # the nodes joined with the commands of docs/joining.md, shown as they ran
        for command in ("gateway pki init", "gateway pki request --node-id moe-r12", "gateway pki sign --csr",
                        "gateway directory add-node", "gateway directory add-org", "gateway directory sync"):
            assert command in shown, command
        # three letters with Thai subjects, each pulled by its receiver and answered with a notifier
        assert len(re.findall(r"ReceiveLetterNotifier กลับถึง", shown)) == 3, shown
        assert "ที่ ศธ 1500/1002: ถึง 2000212000 ที่ moe-r12 แล้ว (pulled)" in shown     # region to region, via the hub
        urls = dict(re.findall(r"^  (moe-\w+)  (http://127\.0\.0\.1:\d+)$", shown, re.M))
        assert set(urls) == {"moe-hub", "moe-r12", "moe-r15"}
        for node, url in urls.items():
            assert f"{url}/ecms-ws01/service2?wsdl" in shown
            wsdl = requests.get(f"{url}/ecms-ws01/service2?wsdl", timeout=10)
            assert wsdl.status_code == 200 and b"definitions" in wsdl.content
            log = tmp_path / "var/demo-network" / node / "gateway.log"
            assert f"log var/demo-network/{node}/gateway.log" in shown and log.exists()
        hub_toml = (tmp_path / "var/demo-network/moe-hub/gateway.toml").read_text(encoding="utf-8")
        assert hub_toml.count("[[nodes]]") == 2 and hub_toml.count("[[directory]]") == 4
        assert len(list((tmp_path / "var/demo-network/letters").glob("*.xml"))) == 3

        demo.send_signal(signal.SIGINT)          # what Ctrl-C sends
        rest = demo.stdout.read()
        assert demo.wait(timeout=60) == 0, rest
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "every node of the demo stopped" in rest and "Traceback" not in rest
    for url in urls.values():
        host, port = url.removeprefix("http://").split(":")
        with socket.socket() as probe:
            assert probe.connect_ex((host, int(port))) != 0, f"{url} still answers after the demo stopped"
