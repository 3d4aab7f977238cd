"""Operator commands: the node's own view of its letters, from its database."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from gateway.cli.env import load_config
from gateway.core import time as clock
from gateway.core.errors import RemoteError


def cmd_letters(args: argparse.Namespace) -> int:
    """The node's own view of recent letters, with what verifying each signature established."""
    from gateway.operations import queries
    from gateway.runtime import wiring

    cfg = load_config(args)
    store = wiring.open_store(cfg.database_url)
    try:
        if args.letter:
            try:
                rows = [queries.letter(store, args.letter)]
            except RemoteError:
                raise SystemExit(f"gateway: no letter with ProcessID {args.letter}") from None
        else:
            rows = queries.recent_letters(store, org=args.as_org or cfg.directory.default_id, limit=args.limit)
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

