"""PKI commands: development keys and certificates, password hashes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.adapters.clock import SystemClock
from gateway.cli.env import env, load_config


def cmd_pki_init(args: argparse.Namespace) -> int:
    from gateway.core.trust import pki

    cfg = load_config(args)
    out = Path(args.out)
    if (out / "ca.pem").exists() and not args.force:
        raise SystemExit(f"gateway: {out}/ca.pem exists; use --force to replace the whole set")
    hosted = cfg.directory.hosted()
    files = pki.development_set(node_id=cfg.node_id, hosts=[cfg.host, "localhost", "127.0.0.1"],
                                organizations=[(o.id, o.th_name) for o in hosted], algorithm=args.algorithm,
                                now=SystemClock().now(), p12_password=_p12_password(args))
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
    from gateway.core.trust import pki

    out = Path(args.out)
    try:
        ca_cert, ca_key = (out / "ca.pem").read_bytes(), (out / "ca.key").read_bytes()
    except OSError as exc:
        raise SystemExit(f"gateway: no development CA in {out} (run `gateway pki init` first): {exc}") from exc
    files = pki.issue_files(ca_cert, ca_key, args.org, args.th_name, algorithm=args.algorithm,
                            now=SystemClock().now(), p12_password=_p12_password(args))
    _write(out, files)
    print(f"issued {', '.join(sorted(files))} in {out}/")
    return 0


def _p12_password(args: argparse.Namespace) -> bytes | None:
    value = env("GATEWAY_P12_PASSWORD")
    return value.encode() if value else None


def _write(folder: Path, files: dict[str, bytes]) -> None:
    from gateway.runtime.files import write_files
    write_files(folder, files)


def cmd_passwd(args: argparse.Namespace) -> int:
    import getpass

    from gateway.core.trust.tenants import hash_password

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

