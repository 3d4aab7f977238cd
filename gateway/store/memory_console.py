"""The memory store's handlers for the web console's queries (issue 13, ``store/console.py``).

A mixin of :class:`gateway.store.memory.MemoryStore`, like ``memory_registers.py``:
each ``q_<name>`` mirrors its block in ``sql/sqlite/queries.sql`` clause by
clause (the same filters, ORDER BY and LIMIT, SQLite's column names and value
types, the rowcount of each UPDATE and DELETE).

Two SQLite behaviours are mirrored by hand. ``LIKE ... ESCAPE '\\'`` folds the
case of ASCII letters only (:func:`like`). ``letters_fts MATCH '"phrase"'``
(FTS5, trigram tokenizer, kept by triggers on letters) finds the letters whose
subject contains the phrase, in any case, and nothing for a phrase shorter than
three characters (:func:`contains_phrase`).
"""
from __future__ import annotations

import re
from operator import itemgetter
from typing import Any, Callable, Mapping

from gateway.store.memory_tables import Cursor, Row, Tables, limited

Params = Mapping[str, Any]
PENDING, FAILED, DELIVERED = "pending", "failed", "delivered"
TRIGRAM = 3


def _changed(rows: list[Row]) -> Cursor:
    """An UPDATE's or DELETE's answer: how many rows it touched."""
    return Cursor(rowcount=len(rows))


def _id_of(row: Row) -> Cursor:
    """``INSERT ... RETURNING id``."""
    return Cursor([{"id": row["id"]}], rowcount=1)


def like(value: str, pattern: str) -> bool:
    """SQLite's ``value LIKE pattern ESCAPE '\\'``: ``%`` any run, ``_`` one character, ``\\`` takes the next
    literally; ASCII letters match either case, other characters only themselves."""
    regex, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            regex.append(re.escape(next(chars)))
        elif ch == "%":
            regex.append(".*")
        elif ch == "_":
            regex.append(".")
        else:
            regex.append(re.escape(ch))
    return re.fullmatch("".join(regex), value, re.ASCII | re.IGNORECASE | re.DOTALL) is not None


def contains_phrase(subject: str, phrase: str) -> bool:
    """``letters_fts MATCH phrase`` for one letter: ``phrase`` is one FTS5 string (``"..."``, ``""`` for ``"``)."""
    if len(phrase) < 2 or phrase[0] != '"' or phrase[-1] != '"':
        raise ValueError(f"memory store: not one FTS5 phrase: {phrase!r}")
    text = phrase[1:-1].replace('""', '"')
    return len(text) >= TRIGRAM and text.lower() in subject.lower()


class ConsoleQueries:
    """``q_`` handlers over ``self._tables``."""

    _tables: Tables

    # ---------------------------------------------------------- accounts
    def q_insert_account(self, p: Params) -> Cursor:
        return _id_of(self._tables.insert("console_accounts", {
            "username": p["username"], "display_name": p["display_name"], "password_hash": p["password_hash"],
            "role": p["role"], "disabled": 0, "created_at": p["now"]}))

    def q_account(self, p: Params) -> Cursor:
        return Cursor(self._tables.select("console_accounts", lambda a: a["username"] == p["username"]))

    def q_accounts(self, p: Params) -> Cursor:
        return Cursor(sorted(self._tables.select("console_accounts", lambda a: True), key=itemgetter("username")))

    def q_set_account_password(self, p: Params) -> Cursor:
        return _changed(self._tables.update("console_accounts", lambda a: a["username"] == p["username"],
                                            {"password_hash": p["password_hash"]}))

    def q_set_account_disabled(self, p: Params) -> Cursor:
        return _changed(self._tables.update("console_accounts", lambda a: a["username"] == p["username"],
                                            {"disabled": p["disabled"]}))

    def q_delete_account_sessions(self, p: Params) -> Cursor:
        ids = {a["id"] for a in self._tables.select("console_accounts", lambda a: a["username"] == p["username"])}
        return _changed(self._tables.delete("console_sessions", lambda s: s["account_id"] in ids))

    # ---------------------------------------------------------- sessions
    def q_insert_session(self, p: Params) -> Cursor:
        self._tables.insert("console_sessions", {
            "token_hash": p["token_hash"], "account_id": p["account_id"], "csrf_token": p["csrf_token"],
            "created_at": p["now"], "expires_at": p["expires"]})
        return Cursor(rowcount=1)

    def q_session(self, p: Params) -> Cursor:
        """``SELECT s.*, a.username, a.display_name, a.role ... JOIN console_accounts a ...``."""
        rows = []
        for s in self._tables.select("console_sessions", lambda s: s["token_hash"] == p["token_hash"]
                                     and s["expires_at"] > p["now"]):
            a = self._tables.get("console_accounts", s["account_id"])
            if a is not None and a["disabled"] == 0:
                rows.append({**s, "username": a["username"], "display_name": a["display_name"], "role": a["role"]})
        return Cursor(rows)

    def q_delete_session(self, p: Params) -> Cursor:
        return _changed(self._tables.delete("console_sessions", lambda s: s["token_hash"] == p["token_hash"]))

    def q_delete_expired_sessions(self, p: Params) -> Cursor:
        return _changed(self._tables.delete("console_sessions", lambda s: s["expires_at"] <= p["now"]))

    # ---------------------------------------------------------- audit log
    def q_insert_audit(self, p: Params) -> Cursor:
        return _id_of(self._tables.insert("console_audit", {
            "at": p["now"], **{c: p[c] for c in ("username", "action", "target", "detail", "remote_addr")}}))

    def q_audit_log(self, p: Params) -> Cursor:
        rows = self._tables.select("console_audit", lambda e: e["id"] < p["before_id"])
        return Cursor(limited(sorted(rows, key=itemgetter("id"), reverse=True), p["limit"]))

    def q_audit_of_target(self, p: Params) -> Cursor:
        rows = self._tables.select("console_audit", lambda e: e["target"] == p["target"])
        return Cursor(sorted(rows, key=itemgetter("id")))

    # ---------------------------------------------------------- deliveries
    def q_failed_outbox(self, p: Params) -> Cursor:
        rows = self._tables.select("outbox", lambda o: o["state"] == FAILED and o["abandoned_at"] is None)
        return Cursor(limited(sorted(rows, key=itemgetter("id"), reverse=True), p["limit"]))

    def q_retrying_outbox(self, p: Params) -> Cursor:
        rows = self._tables.select("outbox", lambda o: o["state"] == PENDING and o["last_error"] != "")
        return Cursor(limited(sorted(rows, key=itemgetter("next_attempt_at", "id")), p["limit"]))

    def q_delivery_latencies(self, p: Params) -> Cursor:
        rows = self._tables.select("outbox", lambda o: o["state"] == DELIVERED and o["receipt_at"] is not None
                                   and o["receipt_at"] >= p["since"])
        return Cursor([{"receipt_at": o["receipt_at"], "created_at": o["created_at"]}
                       for o in sorted(rows, key=itemgetter("receipt_at", "id"))])

    def q_outbox_retry_now(self, p: Params) -> Cursor:
        def free(o: Row) -> bool:
            return o["id"] == p["id"] and o["state"] in (FAILED, PENDING) and (
                o["state"] == FAILED or o["lease_until"] <= p["now"])

        return _changed(self._tables.update("outbox", free, {
            "state": PENDING, "next_attempt_at": p["now"], "deadline_at": p["deadline"], "lease_until": 0,
            "finished_at": None, "abandoned_at": None, "abandoned_by": ""}))

    def q_outbox_abandon(self, p: Params) -> Cursor:
        def free(o: Row) -> bool:
            return o["id"] == p["id"] and o["state"] in (PENDING, FAILED) and o["abandoned_at"] is None and (
                o["state"] == FAILED or o["lease_until"] <= p["now"])

        return _changed(self._tables.update("outbox", free, lambda o: {
            "state": FAILED, "finished_at": o["finished_at"] if o["finished_at"] is not None else p["now"],
            "abandoned_at": p["now"], "abandoned_by": p["by"], "lease_until": 0,
            "last_error": "abandoned by " + p["by"] if o["last_error"] == "" else o["last_error"]}))

    # ---------------------------------------------------------- letters
    def q_unregistered_letters(self, p: Params) -> Cursor:
        rows = self._tables.select("letters", lambda r: r["delivery"] == DELIVERED
                                   and r["state"] in ("sent", "received") and r["created_at"] < p["before"])
        return Cursor(limited(sorted(rows, key=itemgetter("created_at", "id")), p["limit"]))

    def _search(self, p: Params, subject: Callable[[str], bool]) -> Cursor:
        """The filters both searches share, then newest first."""
        def chosen(r: Row) -> bool:
            return (subject(r["subject"])
                    and (p["no_pattern"] == "" or like(r["letter_no"], p["no_pattern"])
                         or like(r["letter_key"], p["key_pattern"]))
                    and (p["org"] == "" or r["sender_org"] == p["org"] or r["receiver_org"] == p["org"])
                    and p["since"] <= r["created_at"] < p["until"])

        rows = self._tables.select("letters", chosen)
        return Cursor(limited(sorted(rows, key=itemgetter("created_at", "id"), reverse=True), p["limit"]))

    def q_search_letters(self, p: Params) -> Cursor:
        return self._search(p, lambda subject: contains_phrase(subject, p["phrase"]))

    def q_search_letters_like(self, p: Params) -> Cursor:
        pattern = p["subject_pattern"]
        return self._search(p, lambda subject: pattern == "" or like(subject, pattern))

    def q_notices_of_letter(self, p: Params) -> Cursor:
        return Cursor(self._tables.select("notices", lambda n: n["letter_id"] == p["letter_id"]))

    def q_queue_items_of_letter(self, p: Params) -> Cursor:
        return Cursor(self._tables.select("queue", lambda q: q["letter_id"] == p["letter_id"]))

    def q_received_by_process_id(self, p: Params) -> Cursor:
        rows = self._tables.select("received", lambda r: r["process_id"] == p["process_id"])
        return Cursor(sorted(rows, key=itemgetter("received_at", "sender_node", "message_id")))
