"""Mutation testing of the guarantees (make mutants): each mutation breaks one promise; the suite must notice.

Each mutation is a targeted patch of the source: a snippet that must occur
exactly once, and what it becomes. The runner applies one at a time, runs the
tests named for that guarantee, and counts the mutation killed when they fail.
The source is restored after every run, also when the runner is interrupted.
Targeted patches, not a generic tool: mutmut and cosmic-ray mutate operators
and constants at random, and cannot express "drop the compare-and-set from the
SQL of both dialects" or "stop verifying the receipt", which is what these
guarantees are about.

    python tools/mutants.py            every mutation (make mutants)
    python tools/mutants.py --fast     the four the guarantees issue named (make test runs these)
    python tools/mutants.py --list     the table, without running

Exit status 0 only when every mutation that ran was killed. docs/guarantees.md
lists the same guarantees with the tests that prove them.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Patch:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    guarantee: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]
    fast: bool = False


OPS = "tests/operations"
MUTATIONS = (
    Mutation(
        "e2e-signature-unchecked", "a letter's end-to-end signature is verified at every hop that can read it (a sealed one: at its receiver)",
        (Patch("gateway/pipeline/node.py",
               "    verified = signing.verify_letter(document, trusted=ctx.keyring.trusted_for(message.sender_org),\n"
               "                                     policy=ctx.verify, now=now)\n",
               "    try:\n"
               "        verified = signing.verify_letter(document, trusted=ctx.keyring.trusted_for(message.sender_org),\n"
               "                                         policy=ctx.verify, now=now)\n"
               "    except RemoteError:\n"
               "        verified = signing.Verified(signer='', signer_org='', certificate_sha256='', signature_method='',\n"
               "                                    digest_method='', c14n_method='', policy='', signature_digest='',\n"
               "                                    verified_at=now)\n"),),
        (f"{OPS}/test_node_port_hardening.py", f"{OPS}/test_relay_operations.py"), fast=True),
    Mutation(
        "receipt-unverified", "a delivery counts only with a receipt signed by the next node",
        (Patch("gateway/operations/delivery.py",
               "        signed, _ = signing.verify_document(element, trusted=trusted, now=self.clock.now())\n",
               "        signed = element\n"),),
        (f"{OPS}/test_delivery_operations.py",), fast=True),
    Mutation(
        "refusal-retried", "definite refusals (bad signature, unknown receiver) are not retried",
        (Patch("gateway/operations/delivery.py", "            if not exc.retryable:\n", "            if False:\n"),),
        (f"{OPS}/test_delivery_operations.py", f"{OPS}/test_relay_operations.py"), fast=True),
    Mutation(
        "no-compare-and-set", "a letter's state moves by compare-and-set: of two notifiers at once, one wins",
        (Patch("gateway/store/sql/sqlite/queries.sql", "WHERE id = :id AND state = :expected_state;",
               "WHERE id = :id;"),
         Patch("gateway/store/sql/postgres/queries.sql", "WHERE id = %(id)s AND state = %(expected_state)s;",
               "WHERE id = %(id)s;")),
        ("tests/integration/test_concurrency.py",), fast=True),
    Mutation(
        "duplicate-gets-new-receipt", "a repeated message is answered with the original receipt, byte for byte",
        (Patch("gateway/operations/relay.py", "                self.duplicates += 1\n                return seen.receipt\n",
               "                self.duplicates += 1\n"),),
        (f"{OPS}/test_relay_operations.py",)),
    Mutation(
        "message-id-forgotten", "(sender node, MessageId) is remembered: a retry is never stored twice",
        (Patch("gateway/operations/relay.py",
               "            seen = tx.received_message(sender_node=message.sender_node, message_id=message.message_id)\n",
               "            seen = None\n"),),
        (f"{OPS}/test_relay_operations.py",)),
    Mutation(
        "hop-signature-unchecked", "every node message is signed by the node it claims, pinned to the directory",
        (Patch("gateway/pipeline/node.py",
               "    signed, _ = signing.verify_document(document, trusted=trusted, now=now)\n",
               "    signed = document\n"),),
        ("tests/integration/test_network.py", f"{OPS}/test_node_port_hardening.py")),
    Mutation(
        "timestamp-window-open", "node messages signed outside the clock-skew window are refused",
        (Patch("gateway/pipeline/node.py", "    nodemsg.check_timestamp(message, now, ctx.clock_skew)\n", ""),),
        ("tests/integration/test_network.py",)),
    Mutation(
        "any-node-speaks-for-anyone", "a node may send only for the organisations it hosts or routes",
        (Patch("gateway/pipeline/node.py", "    _check_sender_node(message, ctx.directory)\n", ""),),
        (f"{OPS}/test_node_port_hardening.py",)),
    Mutation(
        "retry-window-ignored", "after the retry window an item is FAILED, not retried forever",
        (Patch("gateway/operations/delivery.py", "        failed = self.expire()\n", "        failed = 0\n"),),
        (f"{OPS}/test_delivery_operations.py",)),
    Mutation(
        "no-visibility-timeout", "a pulled, undeleted item is served again only after the visibility timeout",
        (Patch("gateway/operations/agency.py", "until=now + self.policy.visibility_timeout)", "until=now)"),),
        (f"{OPS}/test_agency_operations.py",)),
    Mutation(
        "tenant-leak", "an organisation can never delete another's queue item",
        (Patch("gateway/store/sql/sqlite/queries.sql",
               "SELECT * FROM queue WHERE org = :org AND process_id = :process_id;",
               "SELECT * FROM queue WHERE process_id = :process_id;"),),
        ("tests/integration/test_agency.py", "tests/integration/test_attacks.py")),
    Mutation(
        "letter-identity-raw", "one letter per normalised number: Thai digits or invisible characters make no new letter",
        (Patch("gateway/core/letters/fields.py", '    return " ".join(text.split())\n', "    return letter_no\n"),),
        ("tests/integration/test_hardening.py",)),
    Mutation(
        "decoy-in-key-info", "a signature's unsigned KeyInfo holds key material only",
        (Patch("gateway/core/trust/signing.py", "    _check_key_info(sig)\n", ""),),
        ("tests/integration/test_hardening.py",)),
)


def apply(mutation: Mutation) -> dict[Path, str]:
    originals: dict[Path, str] = {}
    for patch in mutation.patches:
        path = ROOT / patch.path
        text = originals.get(path) or path.read_text(encoding="utf-8")
        originals.setdefault(path, text)
        current = path.read_text(encoding="utf-8")
        count = current.count(patch.old)
        if count != 1:
            raise SystemExit(f"mutation {mutation.name}: {patch.path} holds the snippet {count} times (want 1); "
                             "update tools/mutants.py with the code")
        path.write_text(current.replace(patch.old, patch.new), encoding="utf-8")
    return originals


def run(mutation: Mutation) -> tuple[bool, list[str], float]:
    originals = apply(mutation)
    started = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                 "-k", "not postgres or concurrency", *mutation.tests],
                                cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
    killers = [line.split(" ", 1)[1].split(" - ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    if result.returncode not in (0, 1):  # 2+ is an error of the run (collection, usage), not a kill
        killers = killers or [f"(pytest exited {result.returncode}: {result.stdout.strip().splitlines()[-1:]})"]
        return False, killers, time.perf_counter() - started
    return result.returncode == 1, killers, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="only the mutations marked fast (CI)")
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if m.fast or not args.fast]
    if args.list:
        for m in chosen:
            print(f"{m.name:28} {m.guarantee}")
        return 0
    survivors = 0
    print(f"{'mutation':28} {'result':8} {'s':>5}  guarantee / killed by")
    for mutation in chosen:
        killed, killers, seconds = run(mutation)
        survivors += not killed
        print(f"{mutation.name:28} {'killed' if killed else 'SURVIVED':8} {seconds:5.1f}  {mutation.guarantee}")
        for killer in killers[:3]:
            print(f"{'':44}killed by {killer}")
    print(f"{len(chosen) - survivors} of {len(chosen)} mutations killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
