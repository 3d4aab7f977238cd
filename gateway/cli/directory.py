"""The directory authority's operator: add a joining node and its organisations (docs/joining.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gateway.adapters.clock import SystemClock
from gateway.cli.env import env


def _config_path(args: argparse.Namespace) -> Path:
    path = args.config or env("GATEWAY_CONFIG")
    if not path:
        raise SystemExit("gateway: name the authority's configuration file (--config FILE or GATEWAY_CONFIG): "
                         "its [[nodes]] and [[directory]] entries are what it publishes")
    return Path(path)


def _certificate(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SystemExit(f"gateway: cannot read the certificate {path}: {exc}") from exc


def _report(added, config: Path) -> None:
    from gateway.core.time import thai_date

    newest = added.certificates[0]
    kind = "organisation" if added.kind == "organization" else added.kind
    if added.rotated:
        print(f"{kind} {added.id}: {added.certificate_file} now holds {len(added.certificates)} certificates "
              f"(rotation); the newest is valid until {thai_date(newest.not_valid_after_utc)}")
    else:
        print(f"added {kind} {added.id} to {config} (certificate {added.certificate_file}, valid until "
              f"{thai_date(newest.not_valid_after_utc)}):")
        print("\n".join(f"    {line}" for line in added.entry.strip().splitlines()))
    print("restart the authority node to publish it (its snapshot lists the new entries from its next start); "
          "then every node runs `gateway directory sync` and restarts")


def cmd_directory_add_node(args: argparse.Namespace) -> int:
    from gateway.runtime import directory_sync

    config = _config_path(args)
    if not args.rotate and not args.url:
        raise SystemExit("gateway: --url (the node port, http(s)://HOST:PORT/ecms-ws01/node) is needed")
    added = directory_sync.add_node(config, node_id=args.id, url=args.url or "", certificate=_certificate(args.cert),
                                    clock=SystemClock(), rotate=args.rotate, certs_dir=args.certs_dir)
    _report(added, config)
    return 0


def cmd_directory_add_org(args: argparse.Namespace) -> int:
    from gateway.runtime import directory_sync

    config = _config_path(args)
    if not args.rotate and not args.node:
        raise SystemExit("gateway: --node (the node that hosts the organisation) is needed")
    added = directory_sync.add_organization(
        config, org_id=args.id, node=args.node or "", certificate=_certificate(args.cert), clock=SystemClock(),
        th_name=args.th_name or "", en_name=args.en_name or "", via=args.via or "", ecms_url=args.ecms_url or "",
        rotate=args.rotate, certs_dir=args.certs_dir)
    _report(added, config)
    return 0


def register(directory_sub) -> None:
    """``gateway directory add-node`` and ``add-org``."""
    node = directory_sub.add_parser("add-node", help="add a node to the directory this authority publishes "
                                                     "(or, with --rotate, its next certificate)")
    node.add_argument("--config", help="the authority's configuration file (default GATEWAY_CONFIG)")
    node.add_argument("--id", required=True, help="the node's id (as in its certificate request)")
    node.add_argument("--url", help="its node port: http(s)://HOST:PORT/ecms-ws01/node")
    node.add_argument("--cert", required=True, help="its certificate, signed by the network CA (gateway pki sign)")
    node.add_argument("--rotate", action="store_true",
                      help="the node is listed: add this certificate beside its current one (both trusted until "
                           "the old one ends)")
    node.add_argument("--certs-dir", default="pki", help="folder for certificates, relative to the configuration "
                                                         "(default pki; the file is <dir>/nodes/<id>.pem)")
    node.set_defaults(func=cmd_directory_add_node)
    org = directory_sub.add_parser("add-org", help="add an organisation hosted on another node to the directory "
                                                   "this authority publishes (or, with --rotate, its next "
                                                   "certificate)")
    org.add_argument("--config", help="the authority's configuration file (default GATEWAY_CONFIG)")
    org.add_argument("--id", required=True, metavar="ORGANIZATION_ID")
    org.add_argument("--node", help="the node that hosts it (already added with add-node)")
    org.add_argument("--cert", required=True, help="its certificate, signed by the network CA (gateway pki sign)")
    org.add_argument("--th-name", help="its Thai name (default: the certificate's O)")
    org.add_argument("--en-name", help="its English name")
    org.add_argument("--via", help="the neighbour to push its letters through, when not --node itself")
    org.add_argument("--ecms-url", help="its agency endpoint (default: from the node's URL)")
    org.add_argument("--rotate", action="store_true",
                     help="the organisation is listed: add this certificate beside its current one")
    org.add_argument("--certs-dir", default="pki", help="folder for certificates, relative to the configuration "
                                                        "(default pki; the file is <dir>/orgs/<id>.pem)")
    org.set_defaults(func=cmd_directory_add_org)
