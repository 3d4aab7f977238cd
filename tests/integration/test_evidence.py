"""The tamper-evident evidence log (docs/evidence.md): what a letter's life leaves in it, and that
`verify` finds every hand edit of a stored row or of the log itself, on every store.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from gateway.operations import evidence
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.wire import PULL, call, delete_request, notifier_request, send_request

MEETING = "ขอเชิญประชุมผู้บริหารสถานศึกษา ครั้งที่ ๑/๒๕๖๙"


def life(node) -> str:
    """A letter sent, pulled, deleted and registered with a Thai receive number; its ProcessID."""
    letter_id = unique_letter_id()
    sent = call(node, CENTRAL, send_request(letter_id=letter_id, subject=MEETING, receiver=CHIANGMAI)).ok()
    pulled = call(node, CHIANGMAI, PULL).ok()
    call(node, CHIANGMAI, delete_request(pulled.process_id)).ok()
    call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", letter_id, accept_id="รับ ๑๒๓๔")).ok()
    return sent.process_id


def check(node, clock) -> evidence.Verification:
    return evidence.verify(node.store, node.keyring, node_id=node.config.node_id, now=clock.now())


def checkpoint(node, clock):
    return evidence.checkpoint(node.store, node_id=node.config.node_id, signer=node.keyring.node_signer,
                               now=clock.now())


def test_a_letters_life_is_in_the_log_and_verifies(node, clock):
    process_id = life(node)
    with node.store.transaction() as tx:
        entries = tx.evidence_of(process_id)
    assert [e.event for e in entries] == ["received", "stored", "pulled", "deleted", "notice"]
    assert json.loads(entries[-1].detail)["accept_id"] == "รับ ๑๒๓๔" and json.loads(entries[-1].detail)["state"] == \
        "accepted"
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]] and entries[0].prev_hash == ""
    made = checkpoint(node, clock)
    assert made.entries == 5 and checkpoint(node, clock) is None, "nothing new, no second checkpoint"
    with node.store.transaction() as tx:   # a second process that raced this one: its checkpoint is refused
        with pytest.raises(Exception, match="(?i)unique|conflict"):
            tx.insert_checkpoint(at=clock.now(), upto_id=made.upto_id, entries=5, root=made.root,
                                 prev_root=made.prev_root, document=made.document, timestamp_token=b"")
    result = check(node, clock)
    assert result.ok, result.problems
    assert (result.entries, result.letters, result.checkpoints, result.uncovered) == (5, 1, 1, 0)


# ------------------------------------------------------------- hand edits, each detected

def _sql(store, backend: str, statement: str, params: tuple = ()) -> None:
    """An edit by hand, outside the gateway, as someone with the database's password could make it."""
    if backend == "sqlite":
        import sqlite3
        conn = sqlite3.connect(store.path)
        conn.execute(statement, params)
        conn.commit()
        conn.close()
    else:
        import psycopg
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(statement.replace("?", "%s"), params)


EDITS = {
    "letter subject": ("UPDATE letters SET subject = ?", ("ขอเชิญประชุม (แก้ไข)",), "differ from what was stored"),
    "letter bytes": ("UPDATE letter_blobs SET document = ?", (b"<rsm:GovernmentDocument/>",),
                     "differ from what was stored"),
    "letter state": ("UPDATE letters SET state = 'rejected'", (), "the log says accepted"),
    "receive number": ("UPDATE notices SET accept_id = ?", ("รับ 9999",), "differs from the log"),
    "an entry's detail": ("UPDATE evidence SET detail = '{}' WHERE event = 'pulled'", (), "was changed"),
    "an entry removed": ("DELETE FROM evidence WHERE event = 'pulled'", (), "chain is broken"),
    "the newest entry removed": ("DELETE FROM evidence WHERE event = 'notice'", (), "which are not in the log"),
    "a checkpoint's root": ("UPDATE evidence_checkpoints SET root = ?", ("00" * 32,), "not the ones it signed"),
    "the letter row removed": ("DELETE FROM letters", (), "not in the store"),
    "a letter added by hand": ("INSERT INTO letters (process_id, sender_org, receiver_org, letter_no, letter_key, "
                               "corr_date, subject, secret_code, speed_code, digest, signed, state, delivery, "
                               "created_at, updated_at) SELECT 'P-forged', sender_org, receiver_org, 'ศธ 9999/1', "
                               "'forged-1', corr_date, 'ปลอม', secret_code, speed_code, 'x', signed, 'accepted', "
                               "delivery, created_at + 1, updated_at FROM letters", (), "not in the log"),
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_every_hand_edit_is_detected(node, clock, backend, edit):
    life(node)
    checkpoint(node, clock)
    assert check(node, clock).ok
    statement, params, said = EDITS[edit]
    if edit == "the letter row removed":
        for table in ("queue", "notices", "letter_blobs"):
            _sql(node.store, backend, f"DELETE FROM {table}")
    _sql(node.store, backend, statement, params)
    result = check(node, clock)
    assert not result.ok, f"{edit} went unnoticed"
    assert any(said in problem for problem in result.problems), result.problems


def test_the_purge_is_in_the_log_and_still_verifies(node, clock):
    from gateway.operations import retention
    process_id = life(node)
    note = call(node, CENTRAL, PULL).ok()                  # the sender takes its accept notifier: nothing in flight
    call(node, CENTRAL, delete_request(note.process_id)).ok()
    clock.advance(dt.timedelta(days=366 * 11))
    report = retention.purge(node.store, now=clock.now(), keep_years=10)
    assert report.letters == 1
    with node.store.transaction() as tx:
        assert tx.letter_by_process_id(process_id) is None
        assert tx.evidence_of(process_id)[-1].event == "purged"
    result = check(node, clock)
    assert result.ok, result.problems
    with node.store.transaction() as tx:
        events = [e.event for e in tx.evidence_of(process_id)]
    assert result.letters == 0 and events[-2:] == ["deleted", "purged"], events


def test_checkpoints_are_time_stamped_and_a_changed_stamp_is_detected(node, clock, tmp_path):
    """RFC 3161 with a local authority (openssl ts): the stamp covers the signed checkpoint document."""
    from gateway.adapters.tsa import TimestampClient, verify_token
    from gateway.testing.tsa import LocalTSA
    life(node)
    with LocalTSA(tmp_path / "tsa") as tsa:
        client = TimestampClient(tsa.url, certificate=tsa.certificate)
        made = evidence.checkpoint(node.store, node_id=node.config.node_id, signer=node.keyring.node_signer,
                                   now=clock.now(), stamp=client.stamp)
    assert made.timestamp_token
    checker = lambda token, data: verify_token(token, data, tsa.certificate)  # noqa: E731
    result = evidence.verify(node.store, node.keyring, node_id=node.config.node_id, now=clock.now(),
                             check_token=checker)
    assert result.ok and result.stamped == 1, result.problems
    unchecked = check(node, clock)
    assert not unchecked.ok and "no TSA certificate" in unchecked.problems[0]
    # checked against another authority's certificate, the stamp does not verify: reported, not ok
    with LocalTSA(tmp_path / "other-tsa", name="another authority") as other:
        elsewhere = evidence.verify(node.store, node.keyring, node_id=node.config.node_id, now=clock.now(),
                                    check_token=lambda token, data: verify_token(token, data, other.certificate))
    assert not elsewhere.ok and any("time stamp does not verify" in p for p in elsewhere.problems), elsewhere.problems


def test_the_command_line_verifies_checkpoints_and_shows(tmp_path, data_dir):
    """`gateway evidence checkpoint|verify|show` on a node's SQLite database: 0 when intact, 1 after an edit."""
    import os
    import shutil
    import sqlite3
    import subprocess
    import sys
    from gateway import config
    from gateway.runtime import wiring
    from gateway.testing.clock import FakeClock
    folder = tmp_path / "node"
    shutil.copytree(data_dir / "pki", folder / "pki")       # the session's development PKI
    node = wiring.build(config.Config(data_dir=folder), clock=FakeClock())
    process_id = life(node)
    node.close()
    env = dict(os.environ, GATEWAY_DATA_DIR=str(folder))

    def gateway(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway", "evidence", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    made = gateway("checkpoint")
    assert made.returncode == 0 and "5 entries" in made.stdout, made.stdout + made.stderr
    shown = gateway("show", process_id)
    assert shown.returncode == 0 and "notice" in shown.stdout and "รับ ๑๒๓๔" in shown.stdout
    year_be = FakeClock().now().astimezone(dt.timezone(dt.timedelta(hours=7))).year + 543
    assert f" {year_be} " in shown.stdout.splitlines()[0], shown.stdout      # Buddhist-Era times
    intact = gateway("verify")
    assert intact.returncode == 0 and "ok: nothing was changed" in intact.stdout, intact.stdout + intact.stderr
    conn = sqlite3.connect(folder / "gateway.sqlite3")
    conn.execute("UPDATE notices SET accept_id = 'รับ 9999'")
    conn.commit()
    conn.close()
    edited = gateway("verify")
    assert edited.returncode == 1 and "PROBLEM: notifier" in edited.stdout, edited.stdout + edited.stderr
