"""The ``gateway`` command line: run a node, and act as an e-Saraban against one.

This is the only module that reads the environment (GATEWAY_* variables,
each named in --help).
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from gateway import __version__, clock
from gateway import config as configmod
from gateway.client import AgencyClient, Attachment, ClientError, OutgoingLetter, read_file
from gateway.errors import GatewayError
from gateway.letter import ELEMENT_OF_EVENT
from gateway.state import Event

ENVIRONMENT = {
    "GATEWAY_CONFIG": "configuration file (TOML); see gateway.example.toml",
    "GATEWAY_HOST": "address to listen on (overrides server.host)",
    "GATEWAY_PORT": "port to listen on (overrides server.port)",
    "GATEWAY_DATABASE": "database URL (overrides storage.database)",
    "GATEWAY_DATA_DIR": "data folder (overrides storage.data_dir)",
    "GATEWAY_URL": "base URL of the node the client commands talk to (default http://127.0.0.1:8080)",
    "GATEWAY_ORG": "OrganizationID the client commands act as",
    "GATEWAY_PASSWORD": "HTTP Basic password the client commands send (user = the OrganizationID)",
    "GATEWAY_P12_PASSWORD": "password protecting the PKCS#12 files `gateway pki` writes (default: none)",
}

NOTIFIER_KINDS = {
    "receive": Event.RECEIVE, "accept": Event.ACCEPT, "reject": Event.REJECT,
    "invalid": Event.INVALID, "invalid-accept-id": Event.DISPUTE,
}


def _epilog() -> str:
    lines = ["environment variables:"]
    lines += [f"  {name:<18} {text}" for name, text in ENVIRONMENT.items()]
    return "\n".join(lines)


def load_config(args: argparse.Namespace) -> configmod.Config:
    """The configuration: file (--config or GATEWAY_CONFIG), then environment, then flags."""
    path = getattr(args, "config", None) or os.environ.get("GATEWAY_CONFIG")
    if path:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"gateway: cannot read configuration {file}: {exc}") from exc
        cfg = configmod.from_toml(text, base_dir=file.resolve().parent)
    else:
        cfg = configmod.Config()
    overrides: dict = {}
    host = getattr(args, "host", None) or os.environ.get("GATEWAY_HOST")
    port = getattr(args, "port", None) or os.environ.get("GATEWAY_PORT")
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = int(port)
    if os.environ.get("GATEWAY_DATABASE"):
        overrides["database"] = os.environ["GATEWAY_DATABASE"]
    if os.environ.get("GATEWAY_DATA_DIR"):
        overrides["data_dir"] = Path(os.environ["GATEWAY_DATA_DIR"])
    if overrides:
        cfg = replace(cfg, **overrides)
        if not path and ("host" in overrides or "port" in overrides):
            # With no file the demo directory's URLs follow the listening address.
            url = f"http://{cfg.host}:{cfg.port}"
            cfg = replace(cfg, public_url=url, directory=configmod.demo_directory(url))
    return cfg


# ------------------------------------------------------------------ node commands

def cmd_serve(args: argparse.Namespace) -> int:
    from cheroot import wsgi

    from gateway import app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args)
    node = app.build(cfg)
    cfg = node.config  # with the development PKI filled in when none was configured
    server = wsgi.Server((cfg.host, cfg.port), node.wsgi, numthreads=cfg.threads,
                         server_name="gateway", request_queue_size=64)
    scheme = "http"
    if cfg.tls_certificate:
        server.ssl_adapter = tls_adapter(cfg)
        scheme = "https"
    server.prepare()
    host, port = server.bind_addr[:2]
    print(f"gateway {__version__} listening on {scheme}://{host}:{port}", flush=True)
    print(f"  agency interface: {cfg.agency_url(None)}  (default organisation "
          f"{cfg.directory.default_id})", flush=True)
    print(f"  WSDL:             {cfg.agency_url(None)}?wsdl", flush=True)
    print(f"  data:             {cfg.database_url}", flush=True)
    print(f"  keys:             node {cfg.node_certificate}; trust anchors {', '.join(cfg.trust_anchors)}", flush=True)
    print(f"  agency access:    {cfg.agency_auth}"
          + (f" from {', '.join(cfg.open_networks)}" if cfg.agency_auth == "open" else ""), flush=True)
    for org in cfg.directory.hosted():
        print(f"  hosts {org.id} {org.th_name}: {org.ecms_url}", flush=True)

    worker = None
    if cfg.embedded_worker and not getattr(args, "no_worker", False):
        worker = node.start_worker()
        print("  delivery worker:  running in this process", flush=True)

    # The server runs in a thread; the main thread waits for SIGTERM/SIGINT and
    # then stops it (cheroot's stop() must not run inside its own serve loop).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    thread = threading.Thread(target=server.serve, name="http", daemon=True)
    thread.start()
    try:
        while not stop.wait(1.0):
            if not thread.is_alive():
                print("gateway: the HTTP server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
        thread.join(timeout=10)
        if worker is not None:
            worker[1].set()
            for delivery_thread in worker[0]:
                delivery_thread.join(timeout=10)
        node.close()
    return 0


def tls_adapter(cfg: configmod.Config):
    """cheroot's TLS adapter for tls.certificate/key; asks for client certificates when tls.client_ca is set."""
    import ssl

    from cheroot.ssl.builtin import BuiltinSSLAdapter

    adapter = BuiltinSSLAdapter(cfg.tls_certificate, cfg.tls_key)
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.tls_client_ca:
        adapter.context.load_verify_locations(cfg.tls_client_ca)
        adapter.context.verify_mode = ssl.CERT_OPTIONAL  # Basic credentials remain possible
    return adapter


def cmd_worker(args: argparse.Namespace) -> int:
    """A delivery worker process: several may run on one PostgreSQL database."""
    from gateway import app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args)
    node = app.build(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print(f"gateway worker for node {node.config.node_id} on {node.config.database_url}", flush=True)

    threads, worker_stop = node.start_worker()
    try:
        while not stop.wait(1.0):
            if not any(t.is_alive() for t in threads):
                return 1
    finally:
        worker_stop.set()
        for thread in threads:
            thread.join(timeout=10)
        node.close()
    return 0


def cmd_directory_sync(args: argparse.Namespace) -> int:
    from gateway import app

    cfg = load_config(args)
    snap = app.sync_directory(cfg, clock.SystemClock())
    print(f"directory snapshot {snap.serial} of {snap.authority} ({clock.thai_datetime(snap.issued_at)}): "
          f"{len(snap.nodes)} nodes, {len(snap.organizations)} organisations; restart the node to use it")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from gateway import app

    cfg = load_config(args)
    store = app.open_store(cfg.database_url)
    try:
        applied = store.migrate()
        print(f"schema version {store.schema_version()} at {cfg.database_url}"
              + (f" (applied {', '.join(applied)})" if applied else " (up to date)"))
    finally:
        store.close()
    return 0


def cmd_pki_init(args: argparse.Namespace) -> int:
    from gateway import pki

    cfg = load_config(args)
    out = Path(args.out)
    if (out / "ca.pem").exists() and not args.force:
        raise SystemExit(f"gateway: {out}/ca.pem exists; use --force to replace the whole set")
    hosted = cfg.directory.hosted()
    files = pki.development_set(node_id=cfg.node_id, hosts=[cfg.host, "localhost", "127.0.0.1"],
                                organizations=[(o.id, o.th_name) for o in hosted], algorithm=args.algorithm,
                                now=clock.SystemClock().now(), p12_password=_p12_password(args))
    _write(out, files)
    print(f"development PKI ({args.algorithm}) for node {cfg.node_id} and {len(hosted)} organisations in {out}/")
    print("configuration:")
    print(f'  [node]   certificate = "{out}/node.pem"   key = "{out}/node.key"')
    print(f'  [trust]  anchors = ["{out}/ca.pem"]')
    print(f'  [tls]    certificate = "{out}/node.pem"   key = "{out}/node.key"   client_ca = "{out}/ca.pem"')
    for org in hosted:
        print(f'  [[organizations]] id = "{org.id}"  certificate = "{out}/orgs/{org.id}.pem"  '
              f'key = "{out}/orgs/{org.id}.key"')
    print("PKCS#12 bundles (key + certificate + CA) for e-Saraban clients: orgs/<id>.p12")
    return 0


def cmd_pki_issue(args: argparse.Namespace) -> int:
    from gateway import pki

    out = Path(args.out)
    try:
        ca_cert, ca_key = (out / "ca.pem").read_bytes(), (out / "ca.key").read_bytes()
    except OSError as exc:
        raise SystemExit(f"gateway: no development CA in {out} (run `gateway pki init` first): {exc}") from exc
    files = pki.issue_files(ca_cert, ca_key, args.org, args.th_name, algorithm=args.algorithm,
                            now=clock.SystemClock().now(), p12_password=_p12_password(args))
    _write(out, files)
    print(f"issued {', '.join(sorted(files))} in {out}/")
    return 0


def _p12_password(args: argparse.Namespace) -> bytes | None:
    value = os.environ.get("GATEWAY_P12_PASSWORD", "")
    return value.encode() if value else None


def _write(folder: Path, files: dict[str, bytes]) -> None:
    from gateway.app import write_files
    write_files(folder, files)


def cmd_passwd(args: argparse.Namespace) -> int:
    import getpass

    from gateway.trust import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.org}: ")
        if password != getpass.getpass("again: "):
            raise SystemExit("gateway: the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise SystemExit("gateway: use a password of at least 12 characters")
    print(f'password_hash = "{hash_password(password)}"   # [[organizations]] id = "{args.org}"')
    return 0


def cmd_letters(args: argparse.Namespace) -> int:
    """The node's own view of recent letters, with what verifying each signature established."""
    from gateway import app

    cfg = load_config(args)
    store = app.open_store(cfg.database_url)
    try:
        with store.transaction() as tx:
            if args.letter:
                row = tx.letter_by_process_id(args.letter)
                if row is None:
                    raise SystemExit(f"gateway: no letter with ProcessID {args.letter}")
                rows = [row]
            else:
                org = args.as_org or cfg.directory.default_id
                rows = tx.recent_letters(org=org, limit=args.limit)
    finally:
        store.close()
    for row in rows:
        print(f"{row.process_id}  {row.state.value:9}  ที่ {row.letter_no}  ลงวันที่ {clock.thai_date(row.corr_date)}"
              f"  {row.sender_org} -> {row.receiver_org}")
        print(f"    เรื่อง {row.subject}")
        if row.verified_at:
            print(f"    signature: {row.signed_by}-signed, verified {clock.thai_datetime(row.verified_at)}, "
                  f"policy {row.signature_policy}, {row.signature_method.rsplit('#', 1)[-1]}")
            print(f"    signer: {row.signer}  certificate sha256 {row.certificate_sha256[:16]}…")
        else:
            print("    signature: not verified (stored before signatures were introduced)")
        hops = json.loads(row.path or "[]")
        if hops:
            print("    path: " + " -> ".join(f"{h['node']} ({clock.thai_datetime(dt.datetime.fromisoformat(h['at']))})"
                                         for h in hops))
        print(f"    delivery: {row.delivery.value}")
    if not rows:
        print("ไม่มีหนังสือ (no letters)")
    return 0


# ---------------------------------------------------------------- client commands

def _client(args: argparse.Namespace) -> AgencyClient:
    base = (args.url or os.environ.get("GATEWAY_URL") or "http://127.0.0.1:8080").rstrip("/")
    org = args.as_org or os.environ.get("GATEWAY_ORG") or ""
    endpoint = f"{base}{configmod.AGENCY_PATH}" + (f"/{org}" if org else "")
    auth = None
    password = os.environ.get("GATEWAY_PASSWORD")
    if password:
        auth = (org, password)
    cert = (args.cert, args.key) if getattr(args, "cert", None) else None
    return AgencyClient(endpoint, verify=args.ca or True, cert=cert, auth=auth)


def _org(args: argparse.Namespace) -> str:
    org = args.as_org or os.environ.get("GATEWAY_ORG")
    if not org:
        raise SystemExit("gateway: say which organisation you act as: --as ORGANIZATION_ID (or GATEWAY_ORG)")
    return org


def cmd_send(args: argparse.Namespace) -> int:
    sender = _org(args)
    main = read_file(Path(args.file))
    letter = OutgoingLetter(
        letter_id=args.letter_id or f"ที่ {sender[:2]} {dt.datetime.now():%H%M%S}",
        correspondence_date=args.date or dt.date.today().isoformat(),
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
    from gateway import ns

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


# -------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="e-CMS node for Thai government letter exchange (TH e-GIF).",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def node_command(name: str, help_text: str):
        p = sub.add_parser(name, help=help_text, epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", help="configuration file (TOML); default: built-in demo node, data in ./var")
        return p

    serve = node_command("serve", "run a node")
    serve.add_argument("--host", help=f"address to listen on (default {configmod.DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"port to listen on (default {configmod.DEFAULT_PORT})")
    serve.add_argument("--no-worker", action="store_true",
                       help="do not run a delivery worker here (separate `gateway worker` processes do)")
    serve.set_defaults(func=cmd_serve)
    node_command("worker", "deliver outbox items to other nodes (several may share one PostgreSQL)").set_defaults(
        func=cmd_worker)
    node_command("migrate", "create or upgrade the database schema").set_defaults(func=cmd_migrate)

    def client_command(name: str, help_text: str):
        p = sub.add_parser(name, help=help_text, epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--url", help="base URL of the node (default GATEWAY_URL or http://127.0.0.1:8080)")
        p.add_argument("--as", dest="as_org", metavar="ORGANIZATION_ID",
                       help="the hosted organisation you act as (default GATEWAY_ORG)")
        p.add_argument("--ca", help="CA file to verify the node's HTTPS certificate with")
        p.add_argument("--cert", help="client certificate (PEM) for nodes that ask for one")
        p.add_argument("--key", help="its private key (PEM)")
        return p

    send = client_command("send", "send a letter as an e-Saraban would")
    send.add_argument("--to", required=True, metavar="ORGANIZATION_ID", help="receiving organisation")
    send.add_argument("--subject", required=True, help="เรื่อง (Thai is fine)")
    send.add_argument("--file", required=True, help="the main letter file (PDF, ...)")
    send.add_argument("--attach", action="append", default=[], help="an enclosure file (repeatable)")
    send.add_argument("--letter-id", help="ที่ (letter number), e.g. 'ศธ 0210/1234'")
    send.add_argument("--date", help="CorrespondenceDate yyyy-mm-dd (Gregorian; default today)")
    send.add_argument("--speed", default="001", help="speed code 001-004 (default 001 ปกติ)")
    send.add_argument("--secret", default="001", help="secret code 001-005 (default 001 ปกติ)")
    send.add_argument("--description", help="free-text description")
    send.set_defaults(func=cmd_send)

    pull = client_command("pull", "pull the next item of the queue, show it, and delete it from the queue")
    pull.add_argument("--out", help="folder to save the letter's files in")
    pull.add_argument("--keep", action="store_true", help="do not delete the item (it is served again later)")
    pull.set_defaults(func=cmd_pull)

    ack = client_command("ack", "send a notifier about a letter")
    ack.add_argument("kind", choices=sorted(NOTIFIER_KINDS), help="which notifier")
    ack.add_argument("--letter-id", required=True, help="the letter's number (ที่)")
    ack.add_argument("--date", required=True, help="the letter's CorrespondenceDate yyyy-mm-dd")
    ack.add_argument("--accept-id", help="receive number (เลขทะเบียนรับ), for accept and invalid-accept-id")
    ack.add_argument("--subject", help="subject text to send with the notifier")
    ack.set_defaults(func=cmd_ack)

    status = client_command("status", "status of the letters you sent (OutboundStatusRequest); with --config or "
                                      "--letter, the node's own view with signature details and path")
    status.add_argument("--config", help="read this node's database instead of asking over the network")
    status.add_argument("--letter", metavar="PROCESS_ID", help="one letter, in detail (node's view)")
    status.add_argument("--limit", type=int, default=20, help="how many letters (node's view; default 20)")
    status.set_defaults(func=cmd_status)
    client_command("orgs", "the node's directory (GetOrganizationList)").set_defaults(func=cmd_orgs)

    letters = node_command("letters", "the node's recent letters from its own database, with signature details")
    letters.add_argument("--as", dest="as_org", metavar="ORGANIZATION_ID", help="whose letters (default: default org)")
    letters.add_argument("--letter", metavar="PROCESS_ID", help="one letter")
    letters.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    letters.set_defaults(func=cmd_letters)

    pki_parser = sub.add_parser("pki", help="development keys and certificates")
    pki_sub = pki_parser.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="a CA, the node's and every hosted organisation's keys and certificates")
    init.add_argument("--config", help="configuration naming the node and its organisations (default: demo)")
    init.add_argument("--out", default="pki", help="folder to write (default ./pki)")
    init.add_argument("--algorithm", choices=["ecdsa", "rsa"], default="ecdsa", help="ECDSA P-256 or RSA-2048")
    init.add_argument("--force", action="store_true", help="replace an existing set")
    init.set_defaults(func=cmd_pki_init)
    issue = pki_sub.add_parser("issue", help="one more organisation's key and certificate from the same CA")
    issue.add_argument("--org", required=True, metavar="ORGANIZATION_ID")
    issue.add_argument("--th-name", required=True, help="the organisation's Thai name")
    issue.add_argument("--out", default="pki", help="folder of the CA (default ./pki)")
    issue.add_argument("--algorithm", choices=["ecdsa", "rsa"], default="ecdsa")
    issue.set_defaults(func=cmd_pki_issue)

    directory = sub.add_parser("directory", help="the directory authority's signed snapshot")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    sync = directory_sub.add_parser("sync", help="fetch, verify and keep the authority's snapshot")
    sync.add_argument("--config", help="configuration naming [directory_authority]")
    sync.set_defaults(func=cmd_directory_sync)

    passwd = sub.add_parser("passwd", help="make the password_hash of an organisation's e-Saraban (reads stdin)")
    passwd.add_argument("org", metavar="ORGANIZATION_ID")
    passwd.set_defaults(func=cmd_passwd)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ClientError as exc:
        print(f"gateway: the node refused: {exc.code} {exc.description}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
