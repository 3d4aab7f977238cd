"""A foreign SOAP stack: Node.js with the npm `soap` package against a live node.

tests/interop/node/client.js loads the WSDL the node serves, finds both organisations'
endpoints with GetOrganizationList, sends a letter with a Thai subject from one, pulls and
deletes it at the other, and prints what it saw as JSON. Its dependencies are pinned in
tests/interop/node/package-lock.json and installed by `make interop-deps` (part of `make test`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, PDF_B64, unique_letter_id
from gateway.core.network.directory import DEMO_ORGANIZATIONS

NODE_DIR = Path(__file__).resolve().parent.parent / "interop" / "node"
CLIENT = NODE_DIR / "client.js"
TIMEOUT_S = 60


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH; the interop tests need Node.js 20 and npm")
    return node


def pinned_soap_version() -> str:
    return json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]["soap"]


def require_node_modules() -> None:
    installed = NODE_DIR / "node_modules" / "soap" / "package.json"
    if not installed.is_file():
        pytest.fail(f"{installed.parent} is missing: run `make interop-deps` (npm ci in {NODE_DIR})")


def run_client(*args: str) -> dict:
    require_node_modules()
    done = subprocess.run([node_binary(), str(CLIENT), *args], cwd=NODE_DIR, capture_output=True,
                          timeout=TIMEOUT_S, encoding="utf-8")
    assert done.returncode == 0, f"client.js failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"client.js must print one JSON line, got:\n{done.stdout}"
    return json.loads(lines[0])


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_node_soap_client_sends_and_pulls_a_thai_letter(live, soap12):
    letter_id = unique_letter_id("ศธ ๐๒๑๐/ว")
    subject = 'ขอเชิญประชุมผู้บริหารสถานศึกษา & "ผู้เกี่ยวข้อง" <ด่วนที่สุด> ครั้งที่ ๓/๒๕๖๙'
    wsdl = live.endpoint(CENTRAL) + "?wsdl"
    args = ["--wsdl", wsdl, "--sender", CENTRAL, "--receiver", CHIANGMAI, "--letter-id", letter_id,
            "--subject", subject, "--date", "2026-11-26", "--main-base64", PDF_B64, "--main-mime", "pdf"]
    out = run_client(*args, *(["--soap12"] if soap12 else []))

    assert out["soapPackageVersion"] == pinned_soap_version(), "stale node_modules: run `make interop-deps`"
    assert out["soapVersion"] == ("1.2" if soap12 else "1.1")
    # The directory the client used to find the endpoints.
    assert set(out["organizations"]) == {org_id for org_id, _, _ in DEMO_ORGANIZATIONS}
    assert out["endpoints"] == {"sender": live.endpoint(CENTRAL), "receiver": live.endpoint(CHIANGMAI)}

    sent, pulled = out["sent"], out["pulled"]
    assert sent["ProcessID"] and sent["processID"] == sent["ProcessID"]
    assert sent["Subject"] == subject
    assert pulled["ProcessID"] == sent["ProcessID"] and pulled["processID"] == sent["ProcessID"]
    assert pulled["Subject"] == subject
    assert (pulled["LetterID"], pulled["CorrespondenceDate"]) == (letter_id, "2026-11-26")
    assert (pulled["Sender"], pulled["Receiver"]) == (CENTRAL, CHIANGMAI)
    assert (pulled["SecretCode"], pulled["SpeedCode"], pulled["LetterAttributeID"]) == ("001", "002", "Letter")
    assert (pulled["MainLetterMimeCode"], pulled["MainLetterBase64"]) == ("pdf", PDF_B64)
    assert out["deleted"]["ProcessID"] == sent["ProcessID"] and out["deleted"]["ProcessTime"]
    assert out["queueEmptyAfterDelete"] is True
    # The node signed the letter for its sender; node-soap reads what clients read of it.
    signature = out["signature"]
    assert (signature["TypeCode"], signature["SignerDepartmentCode"]) == ("DSIG", CENTRAL)
    assert signature["ReferenceURIs"] == ["#Letter"]
    assert CENTRAL in signature["X509SubjectName"] and signature["HasCertificate"] is True

    # What the node saw: the letter stored once, for the receiver, and now taken.
    statuses = {s.process_id: s for s in live.node.agency.outbound_status(
        live.node.agency.directory.require_hosted(CENTRAL))}
    assert statuses[sent["ProcessID"]].letter_id == letter_id
    assert statuses[sent["ProcessID"]].status.value == "PULLED"
    if not out["wsdl"]["loadedAsServed"]:
        warnings.warn(f"npm soap {out['soapPackageVersion']} could not load the WSDL as served "
                      f"({out['wsdl']['loadError']}); client.js used: {out['wsdl']['workaround']}", stacklevel=1)


def test_node_soap_client_reaches_another_organisation_of_the_directory(live):
    """The sender is not the organisation whose endpoint served the WSDL."""
    letter_id = unique_letter_id("ขก ๐๐๓๔")
    subject = "รายงานผลการดำเนินงานไตรมาสที่ ๔ จังหวัดขอนแก่น"
    out = run_client("--wsdl", live.endpoint(CENTRAL) + "?wsdl", "--sender", KHONKAEN, "--receiver", CENTRAL,
                     "--letter-id", letter_id, "--subject", subject, "--date", "2026-11-26")
    assert out["endpoints"] == {"sender": live.endpoint(KHONKAEN), "receiver": live.endpoint(CENTRAL)}
    assert out["pulled"]["ProcessID"] == out["sent"]["ProcessID"]
    assert out["pulled"]["Subject"] == subject
    assert (out["pulled"]["Sender"], out["pulled"]["Receiver"]) == (KHONKAEN, CENTRAL)
    assert out["pulled"]["MainLetterMimeCode"] == "txt"
    assert out["queueEmptyAfterDelete"] is True
