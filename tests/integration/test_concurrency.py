"""State moves under concurrency (PostgreSQL: real concurrent transactions).

SQLite and the in-memory store serialise whole transactions in one process, so
the compare-and-set on a letter's state only ever decides a race on PostgreSQL,
where several gateway processes share one database. The race is forced, not
hoped for: both requests read the letter, then wait for each other, then write.
"""
from __future__ import annotations

import threading

import pytest

from gateway.core.letters import decide
from gateway.runtime import wiring
from gateway.store.postgres import PostgresStore
from gateway.testing.clock import FakeClock
from gateway.testing import pgcluster
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.wire import call, notifier_request, send_request



@pytest.fixture
def pg_node(pg_url, cfg):
    pgcluster.truncate(pg_url, ("queue", "notices", "letter_blobs", "letters", "outbox", "received"))
    store = PostgresStore(pg_url)
    node = wiring.build(cfg, store=store, clock=FakeClock(), migrate=False)
    yield node
    node.close()


def both_read_then_both_write(monkeypatch) -> threading.Barrier:
    """Make each request's first look-up of the letter wait until the other has made its own."""
    barrier = threading.Barrier(2, timeout=20)
    waited = set()
    original = decide.pick_letter

    def pick_after_both_read(*args, **kwargs):
        letter = original(*args, **kwargs)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()
        return letter

    monkeypatch.setattr(decide, "pick_letter", pick_after_both_read)
    return barrier


def test_two_notifiers_at_once_exactly_one_wins(pg_node, monkeypatch):
    letter_id = unique_letter_id()
    sent = call(pg_node, CENTRAL, send_request(letter_id=letter_id)).ok()
    both_read_then_both_write(monkeypatch)
    replies = {}

    def send(name: str, body: bytes) -> None:
        replies[name] = call(pg_node, CHIANGMAI, body)

    threads = [threading.Thread(target=send, args=("accept", notifier_request("AcceptLetterNotifier", letter_id,
                                                                               accept_id="รับ 1234"))),
               threading.Thread(target=send, args=("reject", notifier_request("RejectLetterNotifier", letter_id)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    codes = sorted(reply.error_code or "ok" for reply in replies.values())
    assert codes == ["3002", "ok"], {name: (r.error_code, r.error_text) for name, r in replies.items()}
    winner = next(name for name, reply in replies.items() if reply.error_code is None)
    with pg_node.store.transaction() as tx:
        letter = tx.letter_by_process_id(sent.process_id)
        notices = tx.table_counts()["notices"]
    assert letter.state.value == {"accept": "accepted", "reject": "rejected"}[winner]
    assert notices == 1, "the loser left nothing behind"


def test_the_same_notifier_twice_at_once_is_stored_once(pg_node, monkeypatch):
    letter_id = unique_letter_id()
    call(pg_node, CENTRAL, send_request(letter_id=letter_id)).ok()
    both_read_then_both_write(monkeypatch)
    body = notifier_request("ReceiveLetterNotifier", letter_id)
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(call(pg_node, CHIANGMAI, body))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.error_code for r in replies] == [None, None]
    assert replies[0].process_id == replies[1].process_id, "the retry is answered with the first notice"
    with pg_node.store.transaction() as tx:
        assert tx.table_counts()["notices"] == 1
