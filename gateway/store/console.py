"""The store's vocabulary for the web console (issue 13): accounts, sessions, the audit log, and what
the console shows of letters and outbox items or does to them.

:class:`ConsoleTx` is a mixin of :class:`gateway.store.Tx` (kept apart so each file stays one
concern); its SQL is in ``sql/<dialect>/queries.sql`` like the rest, and the memory store's
handlers are in ``memory_console.py``.

Subject search: the trigram indexes (SQLite FTS5 ``letters_fts``, PostgreSQL pg_trgm) find any
substring of three or more characters; shorter text is matched with LIKE / ILIKE over the
subjects (``search_letters_like``). What the user typed is matched literally: LIKE's ``%`` and
``_`` (and the escape character ``\\``) are escaped, and FTS5 gets it as one quoted phrase.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from gateway.core.letters.fields import letter_key
from gateway.core.records import AccountRow, AuditRow, LetterRow, NoticeRow, OutboxRow, QueueRow, ReceivedRow, \
    SessionRow
# gateway.store imports this module after defining these (the package's __init__ is the Tx this extends)
from gateway.store import _letter, _notice, _outbox, _queue, from_us, to_us

TRIGRAM = 3                  # the shortest text a trigram index can find
OPEN_BEFORE = -(2 ** 63)     # created_at bounds of an open date range (BIGINT's limits)
OPEN_AFTER = 2 ** 63 - 1


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'``, the user's ``%``, ``_`` and ``\\`` taken literally; '' for ''."""
    if not text:
        return ""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: in double quotes, a double quote doubled (nothing else is special)."""
    return '"' + text.replace('"', '""') + '"'


def _account(row: Mapping[str, Any]) -> AccountRow:
    return AccountRow(id=row["id"], username=row["username"], display_name=row["display_name"],
                      password_hash=row["password_hash"], role=row["role"], disabled=bool(row["disabled"]),
                      created_at=from_us(row["created_at"]))


def _session(row: Mapping[str, Any]) -> SessionRow:
    return SessionRow(token_hash=row["token_hash"], account_id=row["account_id"], username=row["username"],
                      display_name=row["display_name"], role=row["role"], csrf_token=row["csrf_token"],
                      created_at=from_us(row["created_at"]), expires_at=from_us(row["expires_at"]))


def _audit(row: Mapping[str, Any]) -> AuditRow:
    return AuditRow(id=row["id"], at=from_us(row["at"]), username=row["username"], action=row["action"],
                    target=row["target"], detail=row["detail"], remote_addr=row["remote_addr"])


def _received(row: Mapping[str, Any]) -> ReceivedRow:
    return ReceivedRow(sender_node=row["sender_node"], message_id=row["message_id"], process_id=row["process_id"],
                       payload_digest=row["payload_digest"], receipt=bytes(row["receipt"]),
                       received_at=from_us(row["received_at"]))


class ConsoleTx:
    """The console's methods of :class:`gateway.store.Tx`, which provides these:"""

    _rows: Callable[..., list[Mapping[str, Any]]]
    _row: Callable[..., Mapping[str, Any] | None]
    _count: Callable[..., int]
    outbox_written: bool

    # ---------------------------------------------------------- accounts
    def insert_account(self, *, username: str, display_name: str, password_hash: str, role: str,
                       now: dt.datetime) -> int:
        """A new account's id; a username already taken is a ConflictError (when the transaction ends)."""
        return self._row("insert_account", username=username, display_name=display_name,
                         password_hash=password_hash, role=role, now=to_us(now))["id"]

    def account(self, username: str) -> AccountRow | None:
        row = self._row("account", username=username)
        return _account(row) if row else None

    def accounts(self) -> list[AccountRow]:
        """Every account, by username."""
        return [_account(r) for r in self._rows("accounts")]

    def set_account_password(self, *, username: str, password_hash: str) -> bool:
        """False: no such account."""
        return self._count("set_account_password", username=username, password_hash=password_hash) == 1

    def set_account_disabled(self, *, username: str, disabled: bool) -> bool:
        """False: no such account. Disabling also ends the account's sessions."""
        found = self._count("set_account_disabled", username=username, disabled=bool(disabled)) == 1
        if found and disabled:
            self._count("delete_account_sessions", username=username)
        return found

    # ---------------------------------------------------------- sessions
    def insert_session(self, *, token_hash: str, account_id: int, csrf_token: str, now: dt.datetime,
                       expires: dt.datetime) -> None:
        self._count("insert_session", token_hash=token_hash, account_id=account_id, csrf_token=csrf_token,
                    now=to_us(now), expires=to_us(expires))

    def session(self, token_hash: str, *, now: dt.datetime) -> SessionRow | None:
        """The session with this token hash, unless it expired (expires_at <= now) or its account is disabled."""
        row = self._row("session", token_hash=token_hash, now=to_us(now))
        return _session(row) if row else None

    def delete_session(self, token_hash: str) -> bool:
        return self._count("delete_session", token_hash=token_hash) == 1

    def delete_expired_sessions(self, now: dt.datetime) -> int:
        return self._count("delete_expired_sessions", now=to_us(now))

    # ---------------------------------------------------------- audit log
    def insert_audit(self, *, now: dt.datetime, username: str, action: str, target: str, detail: str,
                     remote_addr: str) -> int:
        return self._row("insert_audit", now=to_us(now), username=username, action=action, target=target,
                         detail=detail, remote_addr=remote_addr)["id"]

    def audit_log(self, *, limit: int, before_id: int | None = None) -> list[AuditRow]:
        """Newest first; ``before_id``: only entries older than that one (the next page)."""
        before = OPEN_AFTER if before_id is None else before_id
        return [_audit(r) for r in self._rows("audit_log", before_id=before, limit=limit)]

    def audit_of_target(self, target: str) -> list[AuditRow]:
        """The audit entries naming ``target`` (a letter's ProcessID), oldest first."""
        return [_audit(r) for r in self._rows("audit_of_target", target=target)]

    # ---------------------------------------------------------- deliveries
    def failed_outbox(self, *, limit: int) -> list[OutboxRow]:
        """Failed items nobody abandoned, newest first."""
        return [_outbox(r) for r in self._rows("failed_outbox", limit=limit)]

    def retrying_outbox(self, *, limit: int) -> list[OutboxRow]:
        """Pending items that failed at least once (last_error set), the next due first."""
        return [_outbox(r) for r in self._rows("retrying_outbox", limit=limit)]

    def delivery_latencies(self, *, since: dt.datetime) -> list[tuple[dt.datetime, float]]:
        """(receipt time, seconds from the item's creation to its receipt) of items delivered since ``since``,
        by receipt time."""
        return [(from_us(r["receipt_at"]), (r["receipt_at"] - r["created_at"]) / 1_000_000)
                for r in self._rows("delivery_latencies", since=to_us(since))]

    def outbox_retry_now(self, outbox_id: int, *, now: dt.datetime, deadline: dt.datetime) -> bool:
        """A failed item, or a pending one no worker holds, becomes pending and due now with a new deadline
        (no longer abandoned). False: no such item, delivered, or leased."""
        done = self._count("outbox_retry_now", id=outbox_id, now=to_us(now), deadline=to_us(deadline)) == 1
        if done:
            self._row("notify_outbox")
            self.outbox_written = True   # wake the workers after the commit
        return done

    def outbox_abandon(self, outbox_id: int, *, now: dt.datetime, by: str) -> bool:
        """A failed item not yet abandoned, or a pending one no worker holds, is given up: failed, marked
        abandoned by ``by``. False: no such item, delivered, leased or abandoned already."""
        return self._count("outbox_abandon", id=outbox_id, now=to_us(now), by=by) == 1

    # ---------------------------------------------------------- letters
    def unregistered_letters(self, *, before: dt.datetime, limit: int) -> list[LetterRow]:
        """Letters delivered to the receiver's queue before ``before`` that it never registered (still sent or
        received), oldest first."""
        return [_letter(r) for r in self._rows("unregistered_letters", before=to_us(before), limit=limit)]

    def search_letters(self, *, text: str, letter_no: str, org: str, since: dt.datetime | None,
                       until: dt.datetime | None, limit: int) -> list[LetterRow]:
        """Letters whose subject contains ``text`` (any case), whose number contains ``letter_no`` (as written,
        or normalised: Thai digits find ASCII ones), sent or received by ``org``, stored in [since, until);
        '' and None match anything. Newest first."""
        number_key = letter_key(letter_no)
        params = dict(
            subject_pattern=like_pattern(text), phrase=fts_phrase(text), no_pattern=like_pattern(letter_no),
            key_pattern=like_pattern(number_key) if number_key else like_pattern(letter_no), org=org,
            since=OPEN_BEFORE if since is None else to_us(since), until=OPEN_AFTER if until is None else to_us(until),
            limit=limit)
        name = "search_letters" if len(text) >= TRIGRAM else "search_letters_like"
        return [_letter(r) for r in self._rows(name, **params)]

    def notices_of_letter(self, letter_id: int) -> list[NoticeRow]:
        return [_notice(r) for r in self._rows("notices_of_letter", letter_id=letter_id)]

    def queue_items_of_letter(self, letter_id: int) -> list[QueueRow]:
        """The letter's queue items and those of its notices, by id."""
        return [_queue(r) for r in self._rows("queue_items_of_letter", letter_id=letter_id)]

    def received_by_process_id(self, process_id: str) -> list[ReceivedRow]:
        """The messages peers pushed with this ProcessID, in the order they arrived."""
        return [_received(r) for r in self._rows("received_by_process_id", process_id=process_id)]
