"""``gateway evidence``: the tamper-evident evidence log (docs/evidence.md).

    gateway evidence verify [--config FILE]        every chain, checkpoint, time stamp and row; exit 1 on any problem
    gateway evidence checkpoint [--config FILE]    sign (and time-stamp) a checkpoint now
    gateway evidence show PROCESSID [--config FILE]  one letter's entries
"""
from __future__ import annotations

import argparse
import json

from gateway.adapters.clock import SystemClock
from gateway.cli.env import _epilog, load_config
from gateway.core.time import thai_datetime


def register(sub: argparse._SubParsersAction) -> None:
    top = sub.add_parser("evidence", help="the tamper-evident evidence log: verify, checkpoint, show")
    commands = top.add_subparsers(dest="evidence_command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text, epilog=_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", help="configuration file (TOML); default: built-in demo node, data in ./var")
        return p

    command("verify", "check every entry, checkpoint, time stamp and stored row; exit status 1 on any "
                      "problem").set_defaults(func=cmd_verify)
    command("checkpoint", "sign (and time-stamp) a checkpoint over the log now").set_defaults(func=cmd_checkpoint)
    show = command("show", "one letter's entries, oldest first")
    show.add_argument("process_id", metavar="PROCESSID")
    show.set_defaults(func=cmd_show)


def _open(args: argparse.Namespace):
    from gateway.cli.registers import _store
    from gateway.runtime import files

    cfg = load_config(args)
    clock = SystemClock()
    cfg = files.ensure_development_pki(cfg, clock)
    return cfg, _store(cfg), files.load_keyring(cfg, clock), clock


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.runtime import evidence

    cfg, store, keyring, clock = _open(args)
    try:
        result = evidence.verify(cfg, store, keyring, clock)
    finally:
        store.close()
    print(f"entries {result.entries}, letters {result.letters}, checkpoints {result.checkpoints} "
          f"(time-stamped {result.stamped}), entries after the last checkpoint {result.uncovered}")
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    print("ok: nothing was changed" if result.ok else f"{len(result.problems)} problem(s): the log or the rows "
                                                      "were changed")
    return 0 if result.ok else 1


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from gateway.runtime import evidence

    cfg, store, keyring, clock = _open(args)
    try:
        made = evidence.checkpoint(cfg, store, keyring, clock)
    finally:
        store.close()
    if made is None:
        print("nothing new since the last checkpoint")
    else:
        stamped = "time-stamped" if made.timestamp_token else "signed (no TSA configured)"
        print(f"checkpoint {made.id}: {made.entries} entries up to {made.upto_id}, root {made.root[:16]}…, {stamped}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    cfg, store, _, _ = _open(args)
    try:
        with store.transaction() as tx:
            entries = tx.evidence_of(args.process_id)
    finally:
        store.close()
    if not entries:
        raise SystemExit(f"gateway: no evidence of {args.process_id}")
    for e in entries:
        detail = json.loads(e.detail or "{}")
        print(f"{e.id}\t{thai_datetime(e.at)}\t{e.event}\t{e.item}\t{json.dumps(detail, ensure_ascii=False)}"
              f"\t{e.hash[:16]}")
    return 0
