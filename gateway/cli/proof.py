"""``gateway proof``: one letter's proof bundle (docs/proof.md).

    gateway proof export PROCESSID [--out FILE] [--config FILE]     the bundle of one letter (proof-<ProcessID>.asice)
    gateway proof verify FILE [--ca PEM]... [--tsa-certificate PEM]  offline: no configuration, no database;
                                                                     exit status 0 when it verifies, 1 otherwise
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway.adapters.clock import SystemClock
from gateway.cli.env import _epilog, load_config


def register(sub: argparse._SubParsersAction) -> None:
    top = sub.add_parser("proof", help="a letter's proof bundle: export it, verify one offline")
    commands = top.add_subparsers(dest="proof_command", required=True)
    export = commands.add_parser("export", help="write the proof bundle of one letter (ASiC-E style ZIP)",
                                 epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("process_id", metavar="PROCESSID")
    export.add_argument("--out", help="the file to write (default proof-<ProcessID>.asice)")
    export.add_argument("--config", help="configuration file (TOML); default: built-in demo node, data in ./var")
    export.set_defaults(func=cmd_export)
    verify = commands.add_parser("verify", help="check a proof bundle on its own (reads no configuration, opens "
                                                "no database); exit status 1 on any problem")
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("--ca", action="append", default=[], metavar="PEM",
                        help="a CA certificate you trust (repeatable); then the bundle's own CAs are not trusted")
    verify.add_argument("--tsa-certificate", metavar="PEM",
                        help="the time-stamping authority's certificate (and its CA), to check the time stamp")
    verify.set_defaults(func=cmd_verify)


def cmd_export(args: argparse.Namespace) -> int:
    from gateway.cli.registers import _store
    from gateway.operations import proof
    from gateway.runtime import files

    cfg = load_config(args)
    clock = SystemClock()
    cfg = files.ensure_development_pki(cfg, clock)
    keyring = files.load_keyring(cfg, clock)
    store = _store(cfg)
    try:
        bundle = proof.export(store, keyring, node_id=cfg.node_id, process_id=args.process_id, now=clock.now())
    finally:
        store.close()
    out = Path(args.out or f"proof-{args.process_id}.asice")
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_bytes(bundle)
        os.replace(partial, out)
    except OSError as exc:
        raise SystemExit(f"gateway: cannot write {out}: {exc}") from exc
    print(f"wrote {out} ({len(bundle)} bytes); check it with: gateway proof verify {out} --ca <your CA>")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.adapters.tsa import verify_token
    from gateway.core import proof
    from gateway.core.errors import ConfigError
    from gateway.core.trust import pki

    def read(path: str, what: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise SystemExit(f"gateway: cannot read {what} {path}: {exc}") from exc

    anchors = []
    for path in args.ca:
        try:
            anchors += pki.load_certificates(read(path, "CA certificate"))
        except ConfigError as exc:
            raise SystemExit(f"gateway: {path}: {exc}") from exc
    tsa = args.tsa_certificate
    check_token = (lambda token, data: verify_token(token, data, tsa)) if tsa else None
    report = proof.verify(read(args.file, "proof bundle"), anchors=anchors or None, now=SystemClock().now(),
                          check_token=check_token)
    if report.process_id:
        print(f"ProcessID {report.process_id}")
    for finding in report.findings:
        print(f"ok: {finding}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print("verified: the bundle proves what is listed above" if report.ok else
          f"{len(report.problems)} problem(s): the bundle does not prove what it claims")
    return 0 if report.ok else 1
