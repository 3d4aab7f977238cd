"""Client commands: act as an e-Saraban against a node (send, pull, ack, status, orgs)."""
from __future__ import annotations

import argparse
import base64
from pathlib import Path

from gateway import config as configmod
from gateway.adapters.clock import SystemClock
from gateway.adapters.esaraban import AgencyClient, OutgoingLetter, read_file
from gateway.cli.env import env
from gateway.core import time as clock
from gateway.core.letters.letter import ELEMENT_OF_EVENT
from gateway.core.state import Event

NOTIFIER_KINDS = {
    "receive": Event.RECEIVE, "accept": Event.ACCEPT, "reject": Event.REJECT,
    "invalid": Event.INVALID, "invalid-accept-id": Event.DISPUTE,
}



def _client(args: argparse.Namespace) -> AgencyClient:
    base = (args.url or env("GATEWAY_URL") or "http://127.0.0.1:8080").rstrip("/")
    org = args.as_org or env("GATEWAY_ORG") or ""
    endpoint = f"{base}{configmod.AGENCY_PATH}" + (f"/{org}" if org else "")
    auth = None
    password = env("GATEWAY_PASSWORD")
    if password:
        auth = (org, password)
    cert = (args.cert, args.key) if getattr(args, "cert", None) else None
    return AgencyClient(endpoint, verify=args.ca or True, cert=cert, auth=auth)


def _org(args: argparse.Namespace) -> str:
    org = args.as_org or env("GATEWAY_ORG")
    if not org:
        raise SystemExit("gateway: say which organisation you act as: --as ORGANIZATION_ID (or GATEWAY_ORG)")
    return org


def cmd_send(args: argparse.Namespace) -> int:
    sender = _org(args)
    main = read_file(Path(args.file))
    today = SystemClock().now().astimezone(clock.BANGKOK)
    letter = OutgoingLetter(
        # Dates people choose are Thai local time: "today" is today in Bangkok.
        letter_id=args.letter_id or f"ที่ {sender[:2]} {today:%H%M%S}",
        correspondence_date=args.date or today.date().isoformat(),
        subject=args.subject, sender=sender, receiver=args.to, main_letter=main,
        secret_code=args.secret, speed_code=args.speed, description=args.description or "",
        attachment_text=", ".join(Path(p).name for p in args.attach),
        attachments=tuple(read_file(Path(p)) for p in args.attach),
    )
    answer = _client(args).send_letter(letter)
    print(f"ส่งแล้ว (sent): ProcessID {answer.process_id}")
    print(f"  ที่ {letter.letter_id}  ลงวันที่ {clock.thai_date(letter.correspondence_date)}")
    print(f"  เรื่อง {letter.subject}")
    print(f"  ถึง {letter.receiver}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    client = _client(args)
    _org(args)
    answer = client.pull()
    item = answer.item
    if item is None:
        print("ไม่มีหนังสือในคิว (queue is empty)")
        return 0
    print(f"ProcessID {answer.process_id}  ({answer.process_time})")
    if item.tag.endswith("GovernmentDocument"):
        _show_letter(item, Path(args.out) if args.out else None, answer.process_id)
    else:
        _show_notifier(item)
    if not args.keep:
        client.delete(answer.process_id)
        print("ลบออกจากคิวแล้ว (deleted from the queue)")
    return 0


def _show_letter(doc, out: Path | None, process_id: str) -> None:
    from gateway.core import ns

    body = doc.find(ns.ram("CorrespondenceLetter"))

    def text(*path: str) -> str:
        node = body
        for local in path:
            node = node.find(ns.ram(local)) if node is not None else None
        return (node.text or "").strip() if node is not None else ""

    print("หนังสือ (letter)")
    print(f"  ที่ {text('ID')}  ลงวันที่ {clock.thai_date(text('CorrespondenceDate'))}")
    print(f"  เรื่อง {text('Subject')}")
    print(f"  จาก {text('SenderParty', 'DepartmentOrganization', 'ID')}  "
          f"ถึง {text('ReceiverParty', 'DepartmentOrganization', 'ID')}")
    signature = doc.find(f"{ns.ram('GovernmentSignature')}/{ns.ds('Signature')}")
    print(f"  ลายมือชื่อดิจิทัล (signature): {'มี (present)' if signature is not None else 'ไม่มี (none)'}")
    files = [("main", body.find(ns.ram("MainLetterBinaryObject")))]
    files += [(f"attachment-{i}", el) for i, el in enumerate(body.iterfind(ns.ram("AttachmentBinaryObject")), 1)]
    for label, el in files:
        if el is None or not (el.text or "").strip():
            continue
        data = base64.b64decode(el.text)
        print(f"  {label}: {el.get('mimeCode')} {len(data)} bytes")
        if out:
            out.mkdir(parents=True, exist_ok=True)
            ext = (el.get("mimeCode") or "bin").split("/")[-1]
            target = out / f"{process_id}-{label}.{ext}"
            target.write_bytes(data)
            print(f"    saved {target}")


def _show_notifier(item) -> None:
    print(f"{item.tag}")
    for child in item.iter():
        if child is not item and isinstance(child.tag, str) and (child.text or "").strip():
            print(f"  {child.tag}: {child.text.strip()}")


def cmd_ack(args: argparse.Namespace) -> int:
    _org(args)
    event = NOTIFIER_KINDS[args.kind]
    needs_id = event in (Event.ACCEPT, Event.DISPUTE)
    if needs_id and not args.accept_id:
        raise SystemExit(f"gateway: --accept-id is required for {args.kind}")
    answer = _client(args).notify(ELEMENT_OF_EVENT[event], letter_id=args.letter_id,
                                  correspondence_date=args.date, subject=args.subject or "",
                                  accept_id=args.accept_id if needs_id else None)
    print(f"{ELEMENT_OF_EVENT[event]} ส่งแล้ว (sent): ProcessID {answer.process_id}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.config or args.letter:
        # On the node itself: its database, with signature and path details.
        from gateway.cli.operator import cmd_letters
        return cmd_letters(args)
    _org(args)
    answer = _client(args).outbound_status()
    rows = answer.element.findall("Outbound")
    if not rows:
        print("ยังไม่มีหนังสือส่งออก (no letters sent recently)")
        return 0
    print(f"{'ProcessID':36}  {'สถานะ (status)':18}  {'ลงวันที่':13}  {'ถึง':10}  ที่")
    for row in rows:
        date = row.findtext("CorrespondenceDate") or ""
        print(f"{row.findtext('ProcessID'):36}  {row.findtext('ProcessStatus'):18}  "
              f"{clock.thai_date(date) if date else '':13}  {row.findtext('AcceptDepartment/Code') or '':10}  "
              f"{row.findtext('LetterID')}" + (f"  เลขรับ {row.findtext('AcceptID')}" if row.findtext("AcceptID") else ""))
    return 0


def cmd_orgs(args: argparse.Namespace) -> int:
    answer = _client(args).simple("GetOrganizationList")
    for info in answer.element.findall("OrganizationInfo"):
        print(f"{info.findtext('OrganizationID')}  {info.findtext('Th-Name')}  ({info.findtext('En-Name')})"
              f"  {info.findtext('ECMS-URL')}")
    return 0

