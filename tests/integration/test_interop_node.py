"""A foreign SOAP stack: the npm `soap` package (node-soap) on Node.js, against a live node.

tests/interop/node/client.js runs the flow of tests/interop/README.md. node-soap has no generator:
the program reads the WSDL the live node serves at ``?wsdl`` (and the XSDs it includes) when it
starts, uses it exactly as served, and writes every request, the letter included, from that
schema. Its one dependency is pinned in tests/interop/node/package-lock.json and installed by
`make interop-deps` (part of `make test`); the fixture only checks that node_modules holds the
pinned version, so nothing is generated or cached here. Runs on SQLite and PostgreSQL (``live``).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from gateway.testing.fixtures import CENTRAL, KHONKAEN, unique_letter_id
from interop_flow import FLOW_PDF, Flow, check_flow, run_flow

NODE_DIR = Path(__file__).resolve().parents[1] / "interop" / "node"
CLIENT = NODE_DIR / "client.js"
STACK = "npm-soap"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
ENVELOPES = {False: "http://schemas.xmlsoap.org/soap/envelope/", True: "http://www.w3.org/2003/05/soap-envelope"}


def pinned_soap_version() -> str:
    return json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]["soap"]


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    """``node client.js`` (BUILD.md's second line), once node and the pinned node_modules are there."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH; the npm soap interop test needs Node.js 20 and npm "
                    "(`make system-deps`)")
    major = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(major.lstrip("v").split(".")[0]) < 20:
        pytest.fail(f"Node.js {major} is too old; the npm soap interop test needs Node.js 20")
    installed = NODE_DIR / "node_modules" / "soap" / "package.json"
    if not installed.is_file():
        pytest.fail(f"{installed.parent} is missing: run `make interop-deps` (npm ci in {NODE_DIR})")
    pinned = pinned_soap_version()
    locked = json.loads((NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))["packages"]["node_modules/soap"]
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    assert locked["version"] == pinned, "package.json and package-lock.json pin different soap versions"
    if version != pinned:
        pytest.fail(f"stale node_modules: soap {version} is installed, {pinned} is pinned; run `make interop-deps`")
    return [node, str(CLIENT)]


def served_operations(live) -> set[str]:
    """The operations of the portType in the WSDL the live node serves."""
    import requests
    root = etree.fromstring(requests.get(live.endpoint(CENTRAL) + "?wsdl", timeout=10).content)
    return {op.get("name") for op in root.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation")}


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_whole_flow_of_the_interop_clients(live, tmp_path, node_client, soap12):
    """tests/interop/node/client.js: the program docs/connect.md quotes, run as a vendor would run it."""
    flow, out = run_flow(live, node_client, tmp_path, soap12=soap12, cwd=NODE_DIR)
    check_flow(out, live, flow, stack=STACK, soap12=soap12)
    assert out["stackVersion"] == pinned_soap_version()
    assert out["wsdl"]["envelope"] == ENVELOPES[soap12]


def test_node_soap_uses_the_served_wsdl_for_another_sender(live, tmp_path, node_client):
    """The WSDL came from 2000100000's endpoint; 2000340000 sends with it, to 2000100000.

    node-soap read the served WSDL (its port lists the served operations) and the program neither
    rewrites the WSDL nor names the letter's namespaces: the node accepted what node-soap wrote
    from the XSDs (a letter in the wrong namespace is refused with 1006).
    """
    source = CLIENT.read_text(encoding="utf-8")
    assert source.count("// BEGIN connect.md") == source.count("// END connect.md") == 1
    for workaround in ("HttpClient", "targetNamespace", "'rsm:", "'ram:", "'xmlns:"):
        assert workaround not in source, f"client.js has a workaround: {workaround}"
    flow = Flow(letter_id=unique_letter_id("ขก ๐๐๓๔"), sender=KHONKAEN, receiver=CENTRAL,
                subject="รายงานผลการดำเนินงานไตรมาสที่ ๔ จังหวัดขอนแก่น")
    pdf = tmp_path / "หนังสือ.pdf"
    pdf.write_bytes(FLOW_PDF)
    wsdl = live.endpoint(CENTRAL) + "?wsdl"
    done = subprocess.run([*node_client, *flow.args(wsdl, pdf, soap12=False)], cwd=NODE_DIR, capture_output=True,
                          timeout=60, encoding="utf-8")
    assert done.returncode == 0, f"client.js failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    out = json.loads(done.stdout)
    check_flow(out, live, flow, stack=STACK, soap12=False)
    assert out["wsdl"]["url"] == wsdl and out["wsdl"]["port"] == "ECMSAgencySoap11"
    assert set(out["wsdl"]["operations"]) == served_operations(live)
