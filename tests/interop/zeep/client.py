#!/usr/bin/env python3
"""The interop flow (tests/interop/README.md) with zeep, driven only by the WSDL a node serves.

    python client.py --wsdl URL --sender ORG --receiver ORG --letter-id TEXT --subject TEXT
                     --date yyyy-MM-dd --pdf FILE --accept-id TEXT [--soap12]

zeep has no generator step: it reads the WSDL and its XSDs at run time and builds every type
from them. Prints one JSON line (see the README); exits 1 on an unexpected error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from importlib.metadata import version

import zeep

UNKNOWN = "9999999999"
NOTIFIERS = ("ReceiveLetterNotifier", "AcceptLetterNotifier", "RejectLetterNotifier", "InvalidLetterNotifier",
             "InvalidAcceptIDNotifier")


# BEGIN connect.md
AGENCY = "urn:th:gov:egif:ecms:agency:1"


def agency_service(wsdl_url: str, endpoint: str, soap12: bool = False):
    """A zeep client of the node's WSDL, bound to one organisation's own endpoint."""
    client = zeep.Client(wsdl_url)
    binding = f"{{urn:th:gov:egif:ecms:agency:wsdl}}ECMSAgencySoap{'12' if soap12 else '11'}Binding"
    return client, client.create_service(binding, endpoint)


def letter(letter_id: str, date: str, subject: str, sender: str, receiver: str, pdf: bytes) -> dict:
    """A rsm:GovernmentDocument, unsigned: the node signs it for the sender."""
    def party(given: str, org: str) -> dict:
        return {"GivenName": given, "MinistryOrganization": {"ID": org[:2]}, "DepartmentOrganization": {"ID": org}}
    return {"CorrespondenceLetter": {
        "ID": letter_id, "CorrespondenceDate": date, "Subject": subject, "SecretCode": "001", "SpeedCode": "001",
        "SenderParty": party("สมชาย", sender), "ReceiverParty": party("สมหญิง", receiver),
        "MainLetterBinaryObject": {"_value_1": pdf, "mimeCode": "pdf"}}}


def send(service, document: dict):
    """Send a letter: (the answer, with its ProcessID, None), or (None, the ErrorCode of the node's fault)."""
    try:
        return service.CorrespondenceLetterOutbound(GovernmentDocument=document), None
    except zeep.exceptions.Fault as fault:
        detail = fault.detail.find(f"{{{AGENCY}}}ErrorDetail")
        return None, detail.findtext(f"{{{AGENCY}}}ErrorCode")
# END connect.md


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("wsdl", "sender", "receiver", "letter-id", "subject", "date", "pdf", "accept-id"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--soap12", action="store_true")
    args = parser.parse_args()
    pdf = open(args.pdf, "rb").read()
    client, home = agency_service(args.wsdl, args.wsdl.partition("?")[0], args.soap12)
    urls = {o.OrganizationID: o["ECMS-URL"] for o in home.GetOrganizationList()}
    _, sender = agency_service(args.wsdl, urls[args.sender], args.soap12)
    _, receiver = agency_service(args.wsdl, urls[args.receiver], args.soap12)
    out: dict = {"stack": "zeep", "stackVersion": version("zeep"), "soapVersion": "1.2" if args.soap12 else "1.1",
                 "organizations": sorted(urls), "endpoints": {"sender": urls[args.sender],
                                                               "receiver": urls[args.receiver]}}
    out["secretCodes"] = {c.Value: c.Description for c in sender.GetSecretCodes()}
    out["speedCodes"] = {c.Value: c.Description for c in sender.GetSpeedCodes()}
    out["mimeCodes"] = [c["File-Extension"] for c in sender.GetMimeCodes()]
    out["ministries"] = len(sender.GetMinistryOrganizationList())
    out["time"] = sender.TimeCheck()

    def document(to: str) -> dict:
        return letter(args.letter_id, args.date, args.subject, args.sender, to, pdf)

    sent, code = send(sender, document(args.receiver))
    if sent is None:
        raise SystemExit(f"the letter was refused with {code}")
    out["sent"] = {"ProcessID": sent.ProcessID, "ProcessTime": sent.ProcessTime}
    accepted, code = send(sender, document(UNKNOWN))
    if accepted is not None:
        raise SystemExit("a letter to an unknown receiver was accepted")
    try:  # the same fault once more, read with the WSDL's own ErrorDetail type
        sender.CorrespondenceLetterOutbound(GovernmentDocument=document(UNKNOWN))
    except zeep.exceptions.Fault as fault:
        detail = client.get_element(f"{{{AGENCY}}}ErrorDetail").parse(
            fault.detail.find(f"{{{AGENCY}}}ErrorDetail"), client.wsdl.types)
        assert detail.ErrorCode == code, (detail.ErrorCode, code)
        out["unknownReceiver"] = {"mechanism": "zeep.exceptions.Fault.detail", "faultCode": fault.code,
                                  "ErrorCode": detail.ErrorCode, "ErrorDescription": detail.ErrorDescription}

    item = receiver.CorrespondenceLetterInbound()
    body = item.GovernmentDocument.CorrespondenceLetter
    main = body.MainLetterBinaryObject
    out["pulled"] = {"ProcessID": item.ProcessID, "LetterID": body.ID, "CorrespondenceDate": body.CorrespondenceDate,
                     "Subject": body.Subject, "Sender": body.SenderParty.DepartmentOrganization.ID,
                     "Receiver": body.ReceiverParty.DepartmentOrganization.ID, "MainLetterMimeCode": main.mimeCode,
                     "MainLetterSha256": hashlib.sha256(main._value_1).hexdigest(), "MainLetterSize": len(main._value_1)}
    deleted = receiver.CorrespondenceLetterDelete(ProcessID=item.ProcessID)
    out["deleted"] = {"ProcessID": deleted.ProcessID, "ProcessTime": deleted.ProcessTime}
    out["emptyAfterDelete"] = receiver.CorrespondenceLetterInbound().ProcessID is None

    facts = {"LetterID": args.letter_id, "CorrespondenceDate": args.date, "Subject": args.subject}
    out["receiveNotifier"] = {"ProcessID": receiver.CorrespondenceLetterOutbound(ReceiveLetterNotifier=facts).ProcessID}
    accept = {"LetterID": args.letter_id, "AcceptID": args.accept_id, "CorrespondenceDate": args.date,
              "Subject": args.subject}
    out["acceptNotifier"] = {"ProcessID": receiver.CorrespondenceLetterOutbound(AcceptLetterNotifier=accept).ProcessID}

    out["senderPulled"] = []
    for _ in range(2):
        item = sender.CorrespondenceLetterInbound()
        kind = next(n for n in NOTIFIERS if item[n] is not None)
        out["senderPulled"].append({"kind": kind, "ProcessID": item.ProcessID, "LetterID": item[kind].LetterID,
                                    "AcceptID": getattr(item[kind], "AcceptID", "") or ""})
        sender.CorrespondenceLetterDelete(ProcessID=item.ProcessID)
    status = next(o for o in sender.OutboundStatus() if o.ProcessID == sent.ProcessID)
    out["status"] = {"ProcessID": status.ProcessID, "LetterID": status.LetterID,
                     "ProcessStatus": status.ProcessStatus, "AcceptID": status.AcceptID or ""}
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the test prints what went wrong
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
