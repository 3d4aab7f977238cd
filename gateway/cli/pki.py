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



# ------------------------------------------------------------------ joining a network (docs/joining.md)

def _request_fingerprint(data: bytes) -> str:
    from gateway.core.trust import csr
    return csr.fingerprint(csr.load_request(data))


def cmd_pki_request(args: argparse.Namespace) -> int:
    """A new key and a certificate request (PKCS#10), for this node or one of its organisations."""
    from gateway.core.trust import csr, pki

    out = Path(args.out)
    if args.node_id:
        key, request = csr.request_node(args.node_id, args.host or [], algorithm=args.algorithm)
        stem, what = "node", f"node {args.node_id}"
    else:
        if not args.th_name:
            raise SystemExit("gateway: --org needs --th-name (the organisation's Thai name)")
        key, request = csr.request_organization(args.org, args.th_name, algorithm=args.algorithm)
        stem, what = f"orgs/{args.org}", f"organisation {args.org} {args.th_name}"
    key_file, request_file = out / f"{stem}.key", out / f"{stem}.csr"
    if key_file.exists() and not args.force:
        raise SystemExit(f"gateway: {key_file} exists; a key is never replaced silently (use another --out, "
                         "or --force)")
    data = csr.pem_request(request)
    _write(out, {f"{stem}.key": pki.pem_private_key(key), f"{stem}.csr": data})
    read = csr.read_request(request)
    print(f"คำขอใบรับรองของ {what} / certificate request of {what} ({args.algorithm})")
    if read.hosts:
        print(f"  host names:   {', '.join(read.hosts)}")
    print(f"  request:      {request_file}   <- ส่งแฟ้มนี้ให้ผู้ดูแล CA ของเครือข่าย (send it to the network CA's "
          "operator)")
    print(f"  private key:  {key_file}   <- เก็บไว้ที่เครื่องนี้เท่านั้น (it never leaves this machine)")
    print(f"  request sha256 {_request_fingerprint(data)}  (read it out to the CA's operator, who checks it "
          "before signing)")
    return 0


def cmd_pki_sign(args: argparse.Namespace) -> int:
    """Sign a certificate request with the network CA, in the node or organisation profile."""
    import datetime as dt

    from gateway.core.time import BANGKOK, thai_date
    from gateway.core.trust import csr, pki

    ca_dir, out = Path(args.ca_dir), Path(args.out)
    try:
        ca = pki.Issued(key=pki.load_private_key((ca_dir / "ca.key").read_bytes()),
                        certificate=pki.load_certificate((ca_dir / "ca.pem").read_bytes()))
    except OSError as exc:
        raise SystemExit(f"gateway: no CA in {ca_dir} (ca.pem and ca.key; `gateway pki init` makes one): "
                         f"{exc}") from exc
    try:
        data = Path(args.csr).read_bytes()
    except OSError as exc:
        raise SystemExit(f"gateway: cannot read the request {args.csr}: {exc}") from exc
    if out.exists() and not args.force:
        raise SystemExit(f"gateway: {out} exists; use another --out, or --force")
    request = csr.read_request(csr.load_request(data))
    cert = csr.sign_request(ca, request, now=SystemClock().now(), validity=dt.timedelta(days=args.days))
    _write(out.parent, {out.name: pki.pem_certificate(cert)})
    print(f"ลงนามใบรับรองของ {request.describe()} แล้ว / signed the certificate of {request.describe()}")
    print(f"  certificate:  {out}")
    print(f"  valid:        {thai_date(cert.not_valid_before_utc)} - {thai_date(cert.not_valid_after_utc)} "
          f"(until {cert.not_valid_after_utc.astimezone(BANGKOK):%Y-%m-%d})")
    print(f"  serial:       {cert.serial_number:x}")
    print(f"  request sha256 {_request_fingerprint(data)}  (the same as the requester read out?)")
    print(f"give the node {out} and the network CA certificate {ca_dir / 'ca.pem'} (its trust.anchors)")
    if request.kind == csr.NODE:
        print(f"then: gateway directory add-node --config AUTHORITY.toml --id {request.id} "
              f"--url http(s)://HOST:PORT/ecms-ws01/node --cert {out}")
    else:
        print(f"then: gateway directory add-org --config AUTHORITY.toml --id {request.id} --node NODE --cert {out}")
    return 0


def cmd_pki_expiries(args: argparse.Namespace) -> int:
    """Every configured certificate's end (the trust anchors, the nodes, the organisations, HTTPS)."""
    import datetime as dt

    from gateway.runtime import certificates

    cfg = load_config(args)
    clock = SystemClock()
    within = dt.timedelta(days=args.within) if args.within is not None else cfg.expiry_warning
    expiries = certificates.certificate_expiries(cfg, clock)
    now = clock.now()
    soon = 0
    for expiry in expiries:
        mark = "!" if expiry.not_after - now <= within else " "
        soon += mark == "!"
        print(f"{mark} {expiry.kind:<12} {expiry.subject:<24} {certificates.describe(expiry, now)}")
    print(f"{len(expiries)} certificates; {soon} end within {within.days} days (marked !)")
    return 0


def cmd_pki_rotate(args: argparse.Namespace) -> int:
    """Switch this node (or a hosted organisation) to its new key; the old certificate stays trusted until it ends."""
    from gateway.runtime import certificates

    cfg = load_config(args)
    if not args.announce and not args.key:
        raise SystemExit("gateway: --key (the new key) is needed, or --announce to add the certificate only")
    try:
        cert = Path(args.cert).read_bytes()
        key = None if args.announce else Path(args.key).read_bytes()
    except OSError as exc:
        raise SystemExit(f"gateway: {exc}") from exc
    done = certificates.rotate_own(cfg, certificate=cert, key=key, clock=SystemClock(), org_id=args.org or "",
                                   force=args.force)
    print(f"  certificates: {done.certificate_file} ({len(done.certificates)}: newest first; each trusted until "
          "it ends)")
    if done.old_key_file is None:
        print(f"{done.subject}: the new certificate is announced, the key is unchanged / ประกาศใบรับรองใหม่แล้ว "
              "ยังใช้กุญแจเดิม")
        print("restart the node so that it publishes the new certificate; switch later with --key")
        return 0
    print(f"  key:          {done.key_file} (the old key is kept as {done.old_key_file})")
    print(f"{done.subject}: signs with the new key from its next start / เริ่มใช้กุญแจใหม่เมื่อเริ่มระบบครั้งถัดไป")
    if done.published is None:
        print("  no directory authority is configured: make sure every other node trusts the new certificate")
    print("restart the node (systemctl restart gateway) to sign with the new key")
    return 0


def register_joining(pki_sub) -> None:
    """``gateway pki request``, ``sign``, ``expiries`` and ``rotate``."""
    request = pki_sub.add_parser("request", help="a new key and a certificate request (CSR) for this node or one "
                                                 "of its organisations; the key stays here")
    who = request.add_mutually_exclusive_group(required=True)
    who.add_argument("--node-id", help="this node's id (its [node] id)")
    who.add_argument("--org", metavar="ORGANIZATION_ID", help="a hosted organisation")
    request.add_argument("--th-name", help="the organisation's Thai name (with --org)")
    request.add_argument("--host", action="append", help="a DNS name or IP address other nodes reach this node at "
                                                         "(repeatable; default localhost and 127.0.0.1)")
    request.add_argument("--out", default="pki", help="folder to write (default ./pki): node.key and node.csr, or "
                                                      "orgs/<id>.key and orgs/<id>.csr")
    request.add_argument("--algorithm", choices=["ecdsa", "rsa"], default="ecdsa", help="ECDSA P-256 or RSA-2048")
    request.add_argument("--force", action="store_true", help="replace an existing key")
    request.set_defaults(func=cmd_pki_request)
    sign = pki_sub.add_parser("sign", help="sign a certificate request with the network CA (the hub's operator)")
    sign.add_argument("--csr", required=True, help="the request (gateway pki request, or openssl req)")
    sign.add_argument("--ca-dir", required=True, help="folder of the CA: ca.pem and ca.key")
    sign.add_argument("--out", required=True, help="the certificate file to write (PEM)")
    sign.add_argument("--days", type=int, default=825, help="validity in days (default 825)")
    sign.add_argument("--force", action="store_true", help="replace an existing --out file")
    sign.set_defaults(func=cmd_pki_sign)
    expiries = pki_sub.add_parser("expiries", help="when every configured certificate ends (Buddhist-Era dates)")
    expiries.add_argument("--config", help="the node's configuration (default: demo)")
    expiries.add_argument("--within", type=int, help="mark those ending within DAYS (default "
                                                     "trust.expiry_warning_days)")
    expiries.set_defaults(func=cmd_pki_expiries)
    rotate = pki_sub.add_parser("rotate", help="switch this node (or a hosted organisation) to its new key and "
                                               "certificate; the old certificate stays trusted until it ends")
    rotate.add_argument("--config", help="the node's configuration")
    rotate.add_argument("--org", metavar="ORGANIZATION_ID", help="a hosted organisation (default: the node)")
    rotate.add_argument("--cert", required=True, help="the new certificate (gateway pki sign)")
    rotate.add_argument("--key", help="the new key (gateway pki request)")
    rotate.add_argument("--announce", action="store_true",
                        help="only add the certificate; keep signing with the current key (the directory "
                             "authority, before it switches)")
    rotate.add_argument("--force", action="store_true",
                        help="even if the authority's kept snapshot does not list the new certificate yet")
    rotate.set_defaults(func=cmd_pki_rotate)
