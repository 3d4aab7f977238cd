"""The whole flow every generated client runs (tests/interop/README.md), and the checks of what it printed.

Each ``test_interop_<stack>.py`` builds its stack's client (cached), then calls :func:`run_flow`
with the command that runs the client's program; :func:`check_flow` then holds the printed
result against the live node and against what the node stored.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.core.letters import codelists
from gateway.core.network.directory import DEMO_ORGANIZATIONS
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, PDF, unique_letter_id

UNKNOWN_RECEIVER = "9999999999"
SUBJECT = 'ขอเชิญประชุมผู้บริหารสถานศึกษา & "ผู้เกี่ยวข้อง" <ด่วนที่สุด> ครั้งที่ ๓/๒๕๖๙'
ACCEPT_ID = "รับ ๑๒๓๔/๒๕๖๙"
DATE = "2026-11-26"
# A scanned letter is binary through and through: bytes that are not UTF-8 must survive.
FLOW_PDF = PDF + bytes(range(256)) + "ลายมือชื่อ".encode("utf-8") + b"\n%%EOF\n"


@dataclass(frozen=True)
class Flow:
    """What one run asks for: the letter's facts and the organisations."""

    letter_id: str
    sender: str = CENTRAL
    receiver: str = CHIANGMAI
    subject: str = SUBJECT
    accept_id: str = ACCEPT_ID
    date: str = DATE

    def args(self, wsdl: str, pdf: Path, *, soap12: bool) -> list[str]:
        return ["--wsdl", wsdl, "--sender", self.sender, "--receiver", self.receiver, "--letter-id", self.letter_id,
                "--subject", self.subject, "--date", self.date, "--pdf", str(pdf), "--accept-id", self.accept_id,
                *(["--soap12"] if soap12 else [])]


def run_flow(live, command: list[str], tmp_path: Path, *, soap12: bool, cwd: Path | None = None,
             env: dict | None = None, timeout: float = 120) -> tuple[Flow, dict]:
    """Run one client program through the whole flow against ``live``; its one JSON line, parsed."""
    flow = Flow(letter_id=unique_letter_id("ศธ ๐๒๑๐/ว"))
    pdf = tmp_path / "หนังสือ.pdf"
    pdf.write_bytes(FLOW_PDF)
    wsdl = live.endpoint(CENTRAL) + "?wsdl"
    done = subprocess.run([*command, *flow.args(wsdl, pdf, soap12=soap12)], cwd=cwd, env=env,
                          capture_output=True, timeout=timeout, encoding="utf-8")
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"the client must print one JSON line, got:\n{done.stdout}\n{done.stderr}"
    return flow, json.loads(lines[0])


def check_flow(out: dict, live, flow: Flow, *, stack: str, soap12: bool) -> None:
    """Every step of the flow, as the client saw it and as the node stored it."""
    assert out["stack"] == stack and out["stackVersion"]
    assert out["soapVersion"] == ("1.2" if soap12 else "1.1")
    # Directory and code lists.
    assert set(out["organizations"]) == {org_id for org_id, _, _ in DEMO_ORGANIZATIONS}
    assert out["endpoints"] == {"sender": live.endpoint(flow.sender), "receiver": live.endpoint(flow.receiver)}
    assert out["secretCodes"] == dict(codelists.SECRET_CODES)
    assert out["speedCodes"] == dict(codelists.SPEED_CODES)
    assert set(out["mimeCodes"]) == set(codelists.MIME_CODES)
    assert out["ministries"] == len(codelists.MINISTRIES)
    assert out["time"].endswith("+07:00")
    # Sent, then refused for an unknown receiver through the stack's own fault mechanism.
    sent = out["sent"]
    assert sent["ProcessID"] and sent["ProcessTime"]
    refused = out["unknownReceiver"]
    assert refused["mechanism"]
    assert refused["ErrorCode"] == "2001", refused
    assert UNKNOWN_RECEIVER in refused["ErrorDescription"] and "ไม่พบหน่วยงานผู้รับ" in refused["ErrorDescription"]
    # Pulled at the receiver: the Thai subject and the PDF's bytes intact.
    pulled = out["pulled"]
    assert pulled["ProcessID"] == sent["ProcessID"]
    assert (pulled["LetterID"], pulled["CorrespondenceDate"]) == (flow.letter_id, flow.date)
    assert pulled["Subject"] == flow.subject
    assert (pulled["Sender"], pulled["Receiver"]) == (flow.sender, flow.receiver)
    assert pulled["MainLetterMimeCode"] == "pdf"
    assert (pulled["MainLetterSize"], pulled["MainLetterSha256"]) == (len(FLOW_PDF), hashlib.sha256(FLOW_PDF).hexdigest())
    assert out["deleted"]["ProcessID"] == sent["ProcessID"] and out["deleted"]["ProcessTime"]
    assert out["emptyAfterDelete"] is True
    # The receiver's notifiers, pulled at the sender.
    assert out["receiveNotifier"]["ProcessID"] and out["acceptNotifier"]["ProcessID"]
    kinds = [(n["kind"], n["LetterID"], n["AcceptID"] or "") for n in out["senderPulled"]]
    assert kinds == [("ReceiveLetterNotifier", flow.letter_id, ""),
                     ("AcceptLetterNotifier", flow.letter_id, flow.accept_id)]
    # OutboundStatus at the sender.
    status = out["status"]
    assert (status["ProcessID"], status["LetterID"], status["ProcessStatus"], status["AcceptID"]) == (
        sent["ProcessID"], flow.letter_id, "ACCEPTED", flow.accept_id)
    # What the node stored agrees.
    agency = live.node.agency
    stored = {s.process_id: s for s in agency.outbound_status(agency.directory.require_hosted(flow.sender))}
    assert stored[sent["ProcessID"]].status.value == "ACCEPTED"
    assert stored[sent["ProcessID"]].accept_id == flow.accept_id
    assert agency.pull(agency.directory.require_hosted(flow.receiver)) is None
    assert agency.pull(agency.directory.require_hosted(flow.sender)) is None


def cache_key(*paths: Path) -> str:
    """A digest of the contract and a client's sources: a generated client is rebuilt when either changes."""
    from gateway.core.xml import contract
    digest = hashlib.sha256()
    inputs = sorted(contract.ROOT.rglob("*.wsdl")) + sorted(contract.ROOT.rglob("*.xsd")) + list(paths)
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
