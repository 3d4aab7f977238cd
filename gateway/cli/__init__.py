"""The ``gateway`` command line: run a node, and act as an e-Saraban against one.

Only this package reads the environment (GATEWAY_* variables, each named in
--help; see ``env.py``). The commands live by concern: ``node.py`` (serve,
worker, migrate, directory sync), ``operator.py`` (letters), ``client.py``
(send, pull, ack, status, orgs), ``pki.py`` (pki, passwd), ``registers.py`` (register,
stats, purge), ``console.py`` (the web console's accounts) and ``conformance.py`` (the conformance kit).
"""
from __future__ import annotations

import argparse
import sys

from gateway import __version__
from gateway import config as configmod
from gateway.adapters.esaraban import ClientError
from gateway.cli import conformance, console, evidence, proof, registers
from gateway.cli.client import NOTIFIER_KINDS, cmd_ack, cmd_orgs, cmd_pull, cmd_send, cmd_status
from gateway.cli.env import _epilog
from gateway.cli.node import cmd_directory_sync, cmd_migrate, cmd_serve, cmd_worker
from gateway.cli.operator import cmd_letters
from gateway.cli.pki import cmd_passwd, cmd_pki_init, cmd_pki_issue
from gateway.core.errors import GatewayError


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

    pki_parser = sub.add_parser("pki", help="keys and certificates: development PKI, joining a network, rotation")
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
    from gateway.cli.pki import register_joining
    register_joining(pki_sub)  # request, sign, expiries, rotate (docs/joining.md)

    directory = sub.add_parser("directory", help="the directory authority's signed snapshot")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    sync = directory_sub.add_parser("sync", help="fetch, verify and keep the authority's snapshot")
    sync.add_argument("--config", help="configuration naming [directory_authority]")
    sync.set_defaults(func=cmd_directory_sync)
    from gateway.cli.directory import register as register_directory
    register_directory(directory_sub)  # add-node, add-org (docs/joining.md)

    conformance.register(sub)
    registers.register(sub)   # register receive|send, stats, purge
    console.register(sub)     # console add-user|users|disable-user|enable-user|set-password
    evidence.register(sub)    # evidence verify|checkpoint|show
    proof.register(sub)       # proof export|verify (docs/proof.md)
    conformance.register_reference_peer(sub)

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
