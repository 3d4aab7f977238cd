"""The memory store answers every named query as SQLite does, row for row, and keeps SQLite's constraints.

The tests speak the query level (``name`` and parameters), which is what the
fake implements; the Store contract through :class:`Tx` is covered by the
integration tests, which run on every backend.
"""
from __future__ import annotations

import pytest

from gateway.core.errors import ConflictError, LocalError, StoreError
from gateway.store import load_queries, migrations
from gateway.store.memory import MemoryStore
from gateway.store.memory_tables import SCHEMA
from gateway.store.sqlite import SqliteStore

T0 = 1_795_000_000_000_000  # microseconds since the epoch, as the store keeps times
MINUTE = 60_000_000
LETTER = {"sender_org": "2000100000", "receiver_org": "2000350000", "letter_no": "ศธ 0210/1", "letter_key": "ศธ 0210/1",
          "corr_date": "2026-11-26", "subject": "ขอเชิญประชุม", "secret_code": "001", "speed_code": "001",
          "digest": "d", "signed": True, "state": "sent", "delivery": "delivered", "now": T0}
OUTBOX = {"kind": "letter", "process_id": "p", "sender_org": "2000100000", "receiver_org": "2000350000",
          "next_node": "moe-r15", "path": "[]", "payload": b"<x/>", "attestation": b"<a/>", "now": T0, "deadline": T0 + 60 * MINUTE}


def run(store, name: str, **params):
    """One query in its own transaction: (rows as dicts, rowcount), or the exception class it raised."""
    try:
        with store.transaction() as tx:
            cursor = tx._execute(tx._q[name], params)
            rows = [dict(row) for row in cursor.fetchall()]
            return rows, cursor.rowcount
    except ConflictError:
        return ConflictError


def letter(store, n: int, **changes) -> int:
    rows, _ = run(store, "insert_letter", **{**LETTER, "process_id": f"p{n}", "letter_no": f"ศธ 0210/{n}",
                                              "letter_key": f"ศธ 0210/{n}",
                                              **changes})
    run(store, "insert_letter_blob", letter_id=rows[0]["id"], raw=b"raw", document=bytearray(b"<doc/>"))
    return rows[0]["id"]


@pytest.fixture
def memory():
    store = MemoryStore()
    store.migrate()
    yield store
    store.close()


def test_every_query_has_one_handler_and_every_handler_a_query():
    handlers = {name[2:] for name in dir(MemoryStore) if name.startswith("q_")}
    assert handlers == set(load_queries("sqlite"))


def test_an_unknown_query_is_our_mistake_and_a_query_before_migrate_has_no_table():
    store = MemoryStore()
    with pytest.raises(StoreError, match="before migrate"):
        run(store, "table_counts")
    store.migrate()
    with store.transaction() as tx, pytest.raises(LocalError, match="no handler"):
        tx._execute("drop_everything", {})


def test_migrate_reports_every_migration_once(memory):
    names = [name for _, name, _ in migrations("sqlite")]
    assert MemoryStore().schema_version() == 0 and MemoryStore().migrate() == names
    assert memory.migrate() == [] and memory.schema_version() == len(names)


def test_a_rolled_back_transaction_leaves_nothing_not_even_an_id(memory):
    first = letter(memory, 1)
    with pytest.raises(RuntimeError):
        with memory.transaction() as tx:
            tx._execute("insert_letter", {**LETTER, "process_id": "p2", "letter_no": "2", "letter_key": "2"})
            tx._execute("set_letter_state", {"id": first, "expected_state": "sent", "new_state": "received",
                                             "accept_id": "", "now": T0})
            tx._execute("insert_outbox", {**OUTBOX, "message_id": "m", "letter_process_id": "p1"})
            raise RuntimeError("crash between two writes")
    counts, _ = run(memory, "table_counts")
    assert counts == [{"letters": 1, "letter_blobs": 1, "notices": 0, "queue": 0, "outbox": 0, "received": 0}]
    assert run(memory, "get_letter", id=first)[0][0]["state"] == "sent"
    assert letter(memory, 3) == first + 1  # AUTOINCREMENT rolls back with the rows, as in SQLite


def test_only_a_committed_outbox_write_wakes_the_workers_and_transactions_do_not_nest(memory):
    with pytest.raises(RuntimeError):
        with memory.transaction() as tx:
            tx.outbox_written = True
            raise RuntimeError("rolled back")
    assert not memory._work.is_set()
    with memory.transaction() as tx:
        tx.outbox_written = True
        with pytest.raises(StoreError, match="within a transaction"):
            with memory.transaction():
                pass
    assert memory._work.is_set()
    memory.wait_for_work(0)
    assert not memory._work.is_set()


def test_uniqueness_and_references_clash_as_conflicts(memory):
    letter(memory, 1)
    assert run(memory, "insert_letter", **{**LETTER, "process_id": "other"}) is ConflictError  # live identity
    assert run(memory, "insert_letter", **{**LETTER, "letter_no": "x", "process_id": "p1"}) is ConflictError
    assert run(memory, "insert_letter_blob", letter_id=1, raw=b"", document=b"") is ConflictError  # primary key
    assert run(memory, "insert_letter_blob", letter_id=99, raw=b"", document=b"") is ConflictError  # no letter
    assert run(memory, "set_letter_path", id=1, path=None) is ConflictError  # NOT NULL
    run(memory, "set_letter_state", id=1, expected_state="sent", new_state="withdrawn", accept_id="", now=T0)
    assert run(memory, "insert_letter", **{**LETTER, "process_id": "again"})[1] == 1  # withdrawn frees it
    assert run(memory, "set_letter_state", id=1, expected_state="withdrawn", new_state="sent", accept_id="",
               now=T0) is ConflictError  # back to live would make two
    run(memory, "insert_received", sender_node="n", message_id="m", process_id="p", payload_digest="d",
        receipt=b"r", now=T0)
    assert run(memory, "insert_received", sender_node="n", message_id="m", process_id="q", payload_digest="e",
               receipt=b"s", now=T0) is ConflictError


def test_compare_and_set_changes_no_row_on_a_wrong_expected_state(memory):
    lid = letter(memory, 1)
    assert run(memory, "set_letter_state", id=lid, expected_state="received", new_state="accepted",
               accept_id="1", now=T0) == ([], 0)
    run(memory, "insert_outbox", **OUTBOX, message_id="m", letter_process_id="p1")
    [leased], _ = run(memory, "claim_outbox", now=T0, until=T0 + MINUTE, token="mine", limit=10)
    assert run(memory, "outbox_retry", id=leased["id"], token="theirs", next_at=T0, error="x") == ([], 0)
    assert run(memory, "outbox_retry", id=leased["id"], token="mine", next_at=T0, error="x") == ([], 1)
    assert run(memory, "set_letter_pulled", id=lid, now=T0)[1] == 1
    assert run(memory, "set_letter_pulled", id=lid, now=T0 + 1)[1] == 0


def test_claim_outbox_holds_later_items_of_a_letter_behind_the_first(memory):
    for n, letter_pid in enumerate(("A", "A", "B")):
        run(memory, "insert_outbox", **{**OUTBOX, "now": T0 + n}, message_id=f"m{n}", letter_process_id=letter_pid)
    rows, count = run(memory, "claim_outbox", now=T0 + 10, until=T0 + MINUTE, token="t", limit=-1)
    assert [r["message_id"] for r in rows] == ["m0", "m2"] and count == 2 and rows[0]["attempts"] == 1
    assert run(memory, "claim_outbox", now=T0 + 10, until=T0 + MINUTE, token="u", limit=10) == ([], 0)  # leased
    run(memory, "outbox_failed", id=rows[0]["id"], error="gone", now=T0 + 20)
    [second], _ = run(memory, "claim_outbox", now=T0 + 30, until=T0 + MINUTE, token="u", limit=10)
    assert second["message_id"] == "m1"


def script(store) -> list:
    """A run through every query, with the edge cases of their SQL; its answers must not depend on the backend."""
    seen = []

    def q(name, **params):
        seen.append((name, run(store, name, **params)))
        return seen[-1][1]

    for n in (1, 2, 3):
        letter(store, n, receiver_org=("2000350000", "2000340000", "2000350000")[n - 1], now=T0 + n * MINUTE)
    q("insert_letter", **{**LETTER, "process_id": "dup", "letter_no": "ศธ 0210/1"})
    q("record_verification", id=1, **dict.fromkeys(("signed_by", "signer", "signer_org", "certificate_sha256",
      "signature_method", "digest_method", "c14n_method", "signature_policy"), "v"), signature_digest="sd",
      verified_at=T0)
    q("record_verification", id=99, **dict.fromkeys(("signed_by", "signer", "signer_org", "certificate_sha256",
      "signature_method", "digest_method", "c14n_method", "signature_policy", "signature_digest"), ""),
      verified_at=T0)
    q("letters_by_signature", sender_org="2000100000", signature_digest="sd")
    q("letters_by_signature", sender_org="2000100000", signature_digest="")
    identity = {k: LETTER[k] for k in ("sender_org", "receiver_org", "letter_key", "corr_date")}
    q("set_letter_state", id=1, expected_state="sent", new_state="withdrawn", accept_id="", now=T0)
    letter(store, 1, process_id="resent")
    q("find_live_letter", **identity)
    q("find_withdrawn_letter", **identity)
    q("letters_to_receiver", receiver_org="2000350000", letter_key="ศธ 0210/1", corr_date="2026-11-26")
    q("letters_from_sender", sender_org="2000100000", letter_key="ศธ 0210/3", corr_date="2026-11-26")
    for query in ("get_letter", "outbox_item", "get_notice"):
        q(query, id=99)
    q("get_letter", id=2)
    q("letter_by_process_id", process_id="p3")
    q("letter_document", letter_id=2)
    q("letter_raw", letter_id=99)
    q("set_letter_pulled", id=2, now=T0)
    q("set_letter_pulled", id=2, now=T0 + 1)
    q("outbound_status", sender_org="2000100000", since=T0 + 2 * MINUTE, limit=-1)
    q("outbound_status", sender_org="2000100000", since=0, limit=2)
    q("recent_letters", org="2000340000", limit=5)
    q("recent_letters", org="2000100000", limit=0)
    for kind, accept_id in (("accept", "1"), ("accept", "2"), ("accept", "1"), ("reject", "")):
        q("insert_notice", process_id=f"n-{kind}-{accept_id}-{len(seen)}", letter_id=2, kind=kind,
          accept_id=accept_id, from_org="a", to_org="b", payload=b"<n/>", raw=memoryview(b"raw"), now=T0)
    q("insert_notice", process_id="orphan", letter_id=99, kind="accept", accept_id="", from_org="a", to_org="b",
      payload=b"", raw=b"", now=T0)
    q("find_notice", letter_id=2, kind="accept", accept_id="2")
    q("latest_notice", letter_id=2, kind="accept")
    q("notice_by_process_id", process_id="orphan")
    q("set_notice_path", id=1, path='["moe-hub"]')
    q("get_notice", id=1)
    for n, (org, letter_id) in enumerate((("x", 2), ("x", 3), ("y", 2), ("x", 2))):
        q("enqueue", org=org, process_id=f"q{n % 3}", item_kind="letter" if n != 1 else "notice",
          letter_id=letter_id, notice_id=None if n != 1 else 1, now=T0 + n)
    q("enqueue", org="x", process_id="q9", item_kind="letter", letter_id=2, notice_id=42, now=T0)
    q("claim_next", org="x", now=T0, until=T0 + MINUTE)
    q("claim_next", org="x", now=T0 + 5, until=T0 + MINUTE)
    q("claim_next", org="x", now=T0 + 5, until=T0 + MINUTE)
    q("claim_next", org="x", now=T0 + MINUTE, until=T0 + 2 * MINUTE)
    q("queue_item", org="x", process_id="q1")
    q("delete_queue_item", org="x", process_id="q1", now=T0)
    q("delete_queue_item", org="x", process_id="q1", now=T0)
    q("queue_depth")
    q("delete_letter_items", org="y", letter_id=2, now=T0)
    q("delete_letter_items", org="x", letter_id=3, now=T0)
    q("queue_depth")
    for n, letter_pid in enumerate(("A", "A", "B", "C", "A")):
        q("insert_outbox", **{**OUTBOX, "now": T0 + (5 - n) * MINUTE}, message_id=f"m{n}",
          letter_process_id=letter_pid)
    q("insert_outbox", **OUTBOX, message_id="m0", letter_process_id="D")
    q("notify_outbox")
    q("next_due_at")
    q("claim_outbox", now=T0 + 4 * MINUTE, until=T0 + 9 * MINUTE, token="t1", limit=-1)
    q("claim_outbox", now=T0 + 9 * MINUTE, until=T0 + 20 * MINUTE, token="t2", limit=1)
    q("outbox_retry", id=1, token="t1", next_at=T0 + 30 * MINUTE, error="timeout")
    q("outbox_retry", id=3, token="t1", next_at=T0 + 30 * MINUTE, error="timeout")
    q("outbox_failed", id=4, error="refused", now=T0)
    q("outbox_failed", id=4, error="again", now=T0)
    q("outbox_delivered", id=4, receipt=bytearray(b"late"), now=T0 + 1)
    q("outbox_delivered", id=3, receipt=b"ok", now=T0 + 2)
    q("outbox_delivered", id=3, receipt=b"twice", now=T0 + 3)
    q("expired_outbox", now=T0 + 61 * MINUTE, limit=-1)
    q("expired_outbox", now=T0 + 120 * MINUTE, limit=1)
    q("outbox_by_message_id", message_id="m2")
    q("outbox_of_letter", letter_process_id="A")
    q("outbox_counts")
    q("next_due_at")
    q("insert_received", sender_node="hub", message_id="m", process_id="p", payload_digest="d", receipt=b"r",
      now=T0)
    q("insert_received", sender_node="hub", message_id="m", process_id="p", payload_digest="d", receipt=b"r",
      now=T0)
    q("received_message", sender_node="hub", message_id="m")
    q("received_message", sender_node="other", message_id="m")
    q("set_letter_delivery", process_id="p2", delivery="delivered", now=T0)
    q("set_letter_delivery", process_id="p2", delivery="pending", now=T0 + 7)
    q("set_letter_path", id=2, path='["moe-hub","moe-r15"]')
    console_outbox(q)
    # registers, statistics and retention (issue 13)
    q("insert_notice", process_id="n-invalid", letter_id=2, kind="invalid", accept_id="", from_org="2000340000",
      to_org="2000100000", payload=b"<n/>", raw=b"", now=T0 + 3 * MINUTE)
    q("register_received", org="2000350000", since=0, until=T0 + 10 * MINUTE)
    q("register_received", org="2000340000", since=0, until=T0 + 10 * MINUTE)
    q("register_received", org="2000340000", since=T0 + MINUTE, until=T0 + 10 * MINUTE)
    q("register_sent", org="2000100000", since=T0 + 2 * MINUTE, until=T0 + 4 * MINUTE)
    q("letter_counts", org="2000350000", since=0, until=T0 + 10 * MINUTE)
    q("letter_counts", org="2000100000", since=T0 + 2 * MINUTE, until=T0 + 3 * MINUTE)
    q("letter_counts", org="nobody", since=0, until=T0)
    q("notice_counts", org="2000340000", since=0, until=T0 + 10 * MINUTE)
    q("notice_counts", org="a", since=0, until=T0 + 10 * MINUTE)
    q("purge_candidates", before=T0 + 100 * MINUTE, after=0, limit=-1)
    q("purge_candidates", before=T0, after=0, limit=-1)
    q("transit_purge_candidates", before=T0 + 100 * MINUTE, after=0, limit=-1)
    q("transit_purge_candidates", before=T0 + 100 * MINUTE, after=3, limit=1)
    q("purge_outbox_item", id=3)
    q("purge_outbox_item", id=1)                        # pending: never deleted
    q("purge_letter", letter_id=2)                      # still referenced by notices and queue items
    for query in ("purge_letter_queue", "purge_letter_notices", "purge_letter_blob", "purge_letter"):
        q(query, letter_id=1)
    q("purge_letter_outbox", letter_process_id="A")
    q("purge_letter_blob", letter_id=4)
    q("purge_letter", letter_id=4)                      # the highest id: AUTOINCREMENT never hands it out again
    letter(store, 9)
    q("get_letter", id=5)
    console_letters(store, q)
    evidence_log(q)
    blob_store(q)
    q("table_counts")
    return seen


def console_outbox(q) -> None:
    """The web console's accounts, sessions, audit log and outbox queries (issue 13)."""
    q("insert_account", username="somchai", display_name="สมชาย ใจดี", password_hash="h1", role="operator", now=T0)
    q("insert_account", username="somsri", display_name="สมศรี", password_hash="h2", role="auditor", now=T0 + 1)
    q("insert_account", username="somchai", display_name="ซ้ำ", password_hash="h3", role="operator", now=T0)
    q("insert_account", username="manee", display_name="มานี", password_hash="h4", role="admin", now=T0)  # CHECK
    q("account", username="somsri")
    q("account", username="nobody")
    q("accounts")
    q("set_account_password", username="somsri", password_hash="h5")
    q("set_account_password", username="nobody", password_hash="h5")
    for n, (account_id, expires) in enumerate(((1, T0 + MINUTE), (1, T0 + 9 * MINUTE), (2, T0 + 9 * MINUTE))):
        q("insert_session", token_hash=f"t{n}", account_id=account_id, csrf_token=f"c{n}", now=T0, expires=expires)
    q("insert_session", token_hash="t0", account_id=2, csrf_token="c", now=T0, expires=T0 + MINUTE)  # its key
    q("insert_session", token_hash="t9", account_id=99, csrf_token="c", now=T0, expires=T0 + MINUTE)  # no account
    q("session", token_hash="t0", now=T0 + MINUTE - 1)
    q("session", token_hash="t0", now=T0 + MINUTE)                    # expired at its expiry
    q("set_account_disabled", username="somchai", disabled=True)
    q("set_account_disabled", username="nobody", disabled=True)
    q("session", token_hash="t1", now=T0)                             # a disabled account's
    q("delete_account_sessions", username="somchai")
    q("set_account_disabled", username="somchai", disabled=False)
    q("delete_session", token_hash="t2")
    q("delete_session", token_hash="t2")
    q("insert_session", token_hash="t3", account_id=2, csrf_token="c3", now=T0, expires=T0 + 60 * MINUTE)
    q("insert_session", token_hash="t4", account_id=1, csrf_token="c4", now=T0, expires=T0 + MINUTE)
    q("delete_expired_sessions", now=T0 + MINUTE)
    q("session", token_hash="t3", now=T0)
    for n, action in enumerate(("login", "retry", "abandon")):
        q("insert_audit", now=T0 + n, username="somchai", action=action, target=f"outbox/{n}", detail="ทดสอบ",
          remote_addr="127.0.0.1")
    q("audit_log", before_id=2 ** 63 - 1, limit=2)
    q("audit_log", before_id=2, limit=-1)
    q("audit_of_target", target="outbox/1")
    q("failed_outbox", limit=-1)
    q("retrying_outbox", limit=-1)
    q("delivery_latencies", since=T0 + 2)
    q("delivery_latencies", since=0)
    later = T0 + 10 * MINUTE   # the lease of t2 (until T0 + 20 minutes) still holds
    for outbox_id in (1, 2, 3, 4, 5, 99):
        q("outbox_abandon", id=outbox_id, now=later, by="somchai")
    q("failed_outbox", limit=1)
    for outbox_id in (1, 2, 3, 4, 5, 99):
        q("outbox_retry_now", id=outbox_id, now=later, deadline=later + 60 * MINUTE)
    q("outbox_abandon", id=2, now=later + 1, by="somsri")
    q("outbox_abandon", id=2, now=later + 2, by="somsri")               # abandoned already
    q("outbox_failed", id=5, error="ปฏิเสธ", now=later + 3)
    q("outbox_failed", id=1, error="ปฏิเสธ", now=later + 4)
    q("retrying_outbox", limit=-1)
    q("failed_outbox", limit=-1)
    q("failed_outbox", limit=1)


def console_letters(store, q) -> None:
    """The web console's letter queries (issue 13), after the purge: its letters are gone from the index too."""
    letter(store, 10, subject="Budget MEETING 100% done_x", now=T0 + 4 * MINUTE)
    q("unregistered_letters", before=T0 + 3 * MINUTE, limit=-1)
    q("unregistered_letters", before=T0 + 10 * MINUTE, limit=1)
    anything = dict(subject_pattern="", phrase='""', no_pattern="", key_pattern="", org="", since=-(2 ** 63),
                    until=2 ** 63 - 1, limit=-1)
    q("search_letters", **{**anything, "phrase": '"เชิญประ"', "subject_pattern": "%เชิญประ%"})
    q("search_letters", **{**anything, "phrase": '"meeting 1"'})        # any case
    q("search_letters", **{**anything, "phrase": '"0% d"', "org": "2000340000"})
    q("search_letters", **{**anything, "phrase": '"ชุม"', "org": "2000340000", "limit": 1})
    q("search_letters", **{**anything, "phrase": '"ขอ"'})               # too short for trigrams: nothing
    q("search_letters_like", **{**anything, "subject_pattern": "%ปร%", "no_pattern": "%0210/2%",
                                "key_pattern": "%0210/2%"})
    q("search_letters_like", **{**anything, "subject_pattern": "%e\\_%"})
    q("search_letters_like", **{**anything, "subject_pattern": "%E\\_X%"})    # ASCII letters in any case
    q("search_letters_like", **{**anything, "subject_pattern": "%\\%%"})
    q("search_letters_like", **{**anything, "subject_pattern": "%_ชุม%", "since": T0 + 2 * MINUTE,
                                "until": T0 + 4 * MINUTE})
    q("search_letters_like", **{**anything, "no_pattern": "%๐๒๑๐/๓%", "key_pattern": "%0210/3%"})
    q("search_letters_like", **anything)
    q("notices_of_letter", letter_id=2)
    q("notices_of_letter", letter_id=99)
    q("queue_items_of_letter", letter_id=2)
    q("received_by_process_id", process_id="p")
    q("received_by_process_id", process_id="nobody")


def blob_store(q) -> None:
    """Large enclosures beside the letters (issue 10): one blob per digest, chunks, parts, the sweep."""
    q("insert_blob", digest="d1", size=5, now=T0)
    q("insert_blob", digest="d1", size=5, now=T0 + 1)          # the same text again: no row back
    q("insert_blob", digest="d2", size=3, now=T0 + 2)
    for seq, data in enumerate((b"ab", b"cde")):
        q("insert_blob_chunk", digest="d1", seq=seq, data=data)
    q("insert_blob_chunk", digest="d1", seq=0, data=b"x")     # the key: a clash
    q("insert_blob_chunk", digest="d2", seq=0, data=memoryview(b"xyz"))
    q("link_part", letter_id=5, seq=1, digest="d2")
    q("link_part", letter_id=5, seq=0, digest="d1")
    q("link_part", letter_id=5, seq=0, digest="d2")           # the key: a clash
    q("link_part", letter_id=999, seq=0, digest="d1")         # no such letter
    q("letter_parts", letter_id=5)
    q("letter_parts", letter_id=6)
    q("blob_size", digest="d1")
    q("blob_size", digest="nothing")
    q("blob_chunk", digest="d1", seq=1)
    q("blob_chunk", digest="d1", seq=2)
    q("unreferenced_blobs", before=T0 + 10, limit=10)
    q("delete_blob", digest="d1")                              # still named by letter 5: stays
    q("purge_letter_parts", letter_id=5)
    q("unreferenced_blobs", before=T0 + 2, limit=10)           # d2 is not older than that
    q("unreferenced_blobs", before=T0 + 10, limit=1)
    q("delete_blob_chunks", digest="d1")
    q("delete_blob", digest="d1")
    q("blob_size", digest="d1")
    q("link_part", letter_id=5, seq=0, digest="d2")


def evidence_log(q) -> None:
    """The evidence log's entries and checkpoints (issue 14): chained per letter, the UNIQUE clashes, paging."""
    q("evidence_max_id")
    q("evidence_head", process_id="p1")
    q("last_checkpoint")
    q("checkpoints")
    entry = {"item": "", "detail": '{"เรื่อง": "ขอเชิญประชุม"}', "digest": "d"}
    for n, (process_id, prev_hash) in enumerate((("p1", ""), ("p2", ""), ("p1", "h0"), ("p1", "h2"))):
        q("insert_evidence", at=T0 + n, process_id=process_id, event="stored", **entry, prev_hash=prev_hash,
          hash=f"h{n}")
    q("insert_evidence", at=T0, process_id="p1", event="again", **entry, prev_hash="h0", hash="h9")  # a fork
    q("insert_evidence", at=T0, process_id="p3", event="again", **entry, prev_hash="", hash="h1")   # its hash
    q("insert_evidence", at=T0, process_id="p3", event="stored", **entry, prev_hash="", hash=None)  # NOT NULL
    q("insert_evidence", at=T0 + 9, process_id="p2", event="purged", item="m", detail="{}", digest="",
      prev_hash="h0", hash="h5")                    # another letter's prev_hash is no clash
    q("evidence_head", process_id="p1")
    q("evidence_head", process_id="nobody")
    q("evidence_of", process_id="p1")
    q("evidence_of", process_id="nobody")
    q("evidence_after", after_id=0, limit=2)
    q("evidence_after", after_id=2, limit=-1)
    q("evidence_after", after_id=99, limit=10)
    q("evidence_max_id")
    q("insert_checkpoint", at=T0, upto_id=3, entries=3, root="r1", prev_root="", document=bytearray(b"<cp/>"),
      timestamp_token=b"")
    q("insert_checkpoint", at=T0 + 1, upto_id=5, entries=2, root="r2", prev_root="r1", document=b"<cp/>",
      timestamp_token=memoryview(b"\x30\x82\x00"))
    q("insert_checkpoint", at=T0, upto_id=5, entries=0, root=None, prev_root="r2", document=b"",
      timestamp_token=b"")                          # NOT NULL
    q("insert_checkpoint", at=T0 + 2, upto_id=6, entries=1, root="r3", prev_root="r1", document=b"<cp/>",
      timestamp_token=b"")                          # a second successor of r1: one checkpoint per predecessor
    q("letters_after", after_id=0, limit=2)
    q("letters_after", after_id=1, limit=-1)
    q("last_checkpoint")
    q("checkpoints")


def dump(rows):
    """Rows with the type of every value, so 1 and True or bytes and memoryview do not compare equal."""
    return [{column: (type(value).__name__, value) for column, value in row.items()} for row in rows]


def test_every_query_answers_as_on_sqlite(memory):
    sqlite = SqliteStore(":memory:")
    sqlite.migrate()
    try:
        on_memory, on_sqlite = script(memory), script(sqlite)
        assert {name for name, _ in on_memory} | {"insert_letter_blob"} == set(load_queries("sqlite"))
        for (name, mine), (_, theirs) in zip(on_memory, on_sqlite):
            if isinstance(mine, tuple) and isinstance(theirs, tuple):
                # RETURNING's order is arbitrary in SQL; Tx sorts the claimed items itself
                order = (lambda rows: sorted(rows, key=lambda r: r["id"])) if name == "claim_outbox" else list
                mine, theirs = (dump(order(mine[0])), mine[1]), (dump(order(theirs[0])), theirs[1])
            assert mine == theirs, name
        for table in SCHEMA:
            stored = [dict(row) for row in sqlite._conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            assert dump(memory._tables.select(table, lambda row: True)) == dump(stored), table
            assert list(memory._tables.select(table, lambda row: True)[0]) == list(stored[0]), table
    finally:
        sqlite.close()
