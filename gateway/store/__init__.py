"""The Store port: what the node keeps, as typed rows and one transaction object.

Theory of operation
-------------------
Every agency operation runs as one :meth:`Store.transaction`: it reads what
it needs, the core decides, and the writes commit together or not at all
(nothing half-stored). Lifecycle moves are compare-and-set on the expected
state; a lost race or a uniqueness clash raises :class:`ConflictError` and the
caller retries the whole transaction.

SQL lives in ``sql/<dialect>/queries.sql`` as named blocks with the same names
in both dialects, and ``sql/<dialect>/migrations/NNNN_*.sql`` is append-only.
Both backends share :class:`Tx`; they differ in connections, locking and the
translation of driver errors, which happens in each adapter and nowhere else.
``store/memory.py`` (MemoryStore) is the in-package fake for fast tests.
"""
from __future__ import annotations

import abc
import datetime as dt
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

from gateway.core.errors import ConflictError, LocalError
from gateway.core.letters.fields import letter_key
from gateway.core.letters.letter import LetterIdentity
from gateway.core.records import LetterRow, NoticeRow, OutboxRow, QueueRow, ReceivedRow, SignedBy
from gateway.core.state import Delivery, Event, ItemKind, LetterState, OutboxState, QueueKind
from gateway.core.trust.signing import Verified

SQL_DIR = Path(__file__).resolve().parent / "sql"
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)


def load_queries(dialect: str) -> dict[str, str]:
    """Named SQL blocks of one dialect."""
    text = (SQL_DIR / dialect / "queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration, in order."""
    found = []
    for path in sorted((SQL_DIR / dialect / "migrations").glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.name, path.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise LocalError(f"{dialect} migrations must be numbered 1..n without gaps: {versions}")
    return found


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_us(value: dt.datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch."""
    if value.tzinfo is None:
        raise LocalError("naive datetime given to the store")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int | None) -> dt.datetime | None:
    if value is None:
        return None
    return EPOCH + dt.timedelta(microseconds=value)


def _letter(row: Mapping[str, Any]) -> LetterRow:
    return LetterRow(
        id=row["id"], process_id=row["process_id"], sender_org=row["sender_org"],
        receiver_org=row["receiver_org"], letter_no=row["letter_no"], corr_date=row["corr_date"],
        subject=row["subject"], secret_code=row["secret_code"], speed_code=row["speed_code"],
        digest=row["digest"], signed=bool(row["signed"]), state=LetterState(row["state"]),
        delivery=Delivery(row["delivery"]), accept_id=row["accept_id"],
        created_at=from_us(row["created_at"]), updated_at=from_us(row["updated_at"]),
        pulled_at=from_us(row["pulled_at"]),
        signed_by=row["signed_by"], signer=row["signer"], signer_org=row["signer_org"],
        certificate_sha256=row["certificate_sha256"], signature_method=row["signature_method"],
        digest_method=row["digest_method"], c14n_method=row["c14n_method"],
        signature_policy=row["signature_policy"], signature_digest=row["signature_digest"],
        verified_at=from_us(row["verified_at"]), path=row["path"],
    )


def _notice(row: Mapping[str, Any]) -> NoticeRow:
    return NoticeRow(
        id=row["id"], process_id=row["process_id"], letter_id=row["letter_id"], kind=Event(row["kind"]),
        accept_id=row["accept_id"], from_org=row["from_org"], to_org=row["to_org"],
        payload=bytes(row["payload"]), created_at=from_us(row["created_at"]),
    )


def _outbox(row: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"], message_id=row["message_id"], kind=ItemKind(row["kind"]), process_id=row["process_id"],
        letter_process_id=row["letter_process_id"], sender_org=row["sender_org"],
        receiver_org=row["receiver_org"], next_node=row["next_node"], path=row["path"],
        payload=bytes(row["payload"]), state=OutboxState(row["state"]), attempts=row["attempts"],
        created_at=from_us(row["created_at"]), next_attempt_at=from_us(row["next_attempt_at"]),
        deadline_at=from_us(row["deadline_at"]), lease_until=from_us(row["lease_until"]),
        lease_token=row["lease_token"], last_error=row["last_error"],
        receipt=bytes(row["receipt"]) if row["receipt"] is not None else None,
        receipt_at=from_us(row["receipt_at"]), delivered_late=bool(row["delivered_late"]),
        finished_at=from_us(row["finished_at"]),
        abandoned_at=from_us(row["abandoned_at"]), abandoned_by=row["abandoned_by"],
        attestation=bytes(row["attestation"]),
    )


def _queue(row: Mapping[str, Any]) -> QueueRow:
    return QueueRow(
        id=row["id"], org=row["org"], process_id=row["process_id"], item_kind=QueueKind(row["item_kind"]),
        letter_id=row["letter_id"], notice_id=row["notice_id"], created_at=from_us(row["created_at"]),
        visible_at=from_us(row["visible_at"]), pulled_at=from_us(row["pulled_at"]),
        pull_count=row["pull_count"], deleted_at=from_us(row["deleted_at"]),
    )


def _identity(identity: LetterIdentity) -> dict[str, str]:
    return {"sender_org": identity.sender, "receiver_org": identity.receiver, "letter_key": letter_key(identity.letter_id),
            "corr_date": identity.correspondence_date}


Execute = Callable[[str, Mapping[str, Any]], Any]


class TransitItem(NamedTuple):
    """An outbox item of a letter this node only forwarded, as the purge lists it."""

    id: int
    kind: str
    letter_process_id: str
    next_node: str
    state: str


from gateway.store.console import ConsoleTx  # noqa: E402 (it uses the row readers above)
from gateway.store.evidence import EvidenceTx  # noqa: E402 (it uses to_us and from_us above)
from gateway.store.blobs import BlobTx  # noqa: E402


class Tx(ConsoleTx, EvidenceTx, BlobTx):
    """One open transaction. Methods are the store's vocabulary; SQL stays in the files (console: ConsoleTx)."""

    def __init__(self, execute: Execute, queries: Mapping[str, str]) -> None:
        self._execute = execute
        self._q = queries
        self.outbox_written = False  # the store wakes idle workers after such a transaction commits

    def _rows(self, name: str, **params: Any) -> list[Mapping[str, Any]]:
        return list(self._execute(self._q[name], params).fetchall())

    def _row(self, name: str, **params: Any) -> Mapping[str, Any] | None:
        return self._execute(self._q[name], params).fetchone()

    def _count(self, name: str, **params: Any) -> int:
        return self._execute(self._q[name], params).rowcount

    # ---------------------------------------------------------- letters
    def insert_letter(self, *, process_id: str, sender_org: str, receiver_org: str, letter_no: str,
                      corr_date: str, subject: str, secret_code: str, speed_code: str, digest: str,
                      signed: bool, state: LetterState, delivery: Delivery, raw: bytes, document: bytes,
                      now: dt.datetime) -> int:
        row = self._row("insert_letter", process_id=process_id, sender_org=sender_org,
                        receiver_org=receiver_org, letter_no=letter_no, letter_key=letter_key(letter_no),
                        corr_date=corr_date, subject=subject,
                        secret_code=secret_code, speed_code=speed_code, digest=digest, signed=signed,
                        state=state.value, delivery=delivery.value, now=to_us(now))
        letter_id = row["id"]
        self._execute(self._q["insert_letter_blob"], {"letter_id": letter_id, "raw": raw, "document": document})
        return letter_id

    def record_verification(self, letter_id: int, verified: Verified, *, signed_by: SignedBy,
                            signature_digest: str) -> None:
        """Keep what verifying the letter's signature established; ``signature_digest`` guards replays."""
        self._count("record_verification", id=letter_id, signed_by=signed_by.value, signer=verified.signer,
                    signer_org=verified.signer_org, certificate_sha256=verified.certificate_sha256,
                    signature_method=verified.signature_method, digest_method=verified.digest_method,
                    c14n_method=verified.c14n_method, signature_policy=verified.policy,
                    signature_digest=signature_digest, verified_at=to_us(verified.verified_at))

    def letters_by_signature(self, *, sender_org: str, signature_digest: str) -> list[LetterRow]:
        return [_letter(r) for r in self._rows("letters_by_signature", sender_org=sender_org,
                                               signature_digest=signature_digest)]

    def find_live_letter(self, identity: LetterIdentity) -> LetterRow | None:
        row = self._row("find_live_letter", **_identity(identity))
        return _letter(row) if row else None

    def find_withdrawn_letter(self, identity: LetterIdentity) -> LetterRow | None:
        row = self._row("find_withdrawn_letter", **_identity(identity))
        return _letter(row) if row else None

    def letters_to_receiver(self, *, receiver_org: str, letter_no: str, corr_date: str) -> list[LetterRow]:
        return [_letter(r) for r in self._rows("letters_to_receiver", receiver_org=receiver_org,
                                               letter_key=letter_key(letter_no), corr_date=corr_date)]

    def letters_from_sender(self, *, sender_org: str, letter_no: str, corr_date: str) -> list[LetterRow]:
        return [_letter(r) for r in self._rows("letters_from_sender", sender_org=sender_org,
                                               letter_key=letter_key(letter_no), corr_date=corr_date)]

    def get_letter(self, letter_id: int) -> LetterRow:
        row = self._row("get_letter", id=letter_id)
        if row is None:
            raise LocalError(f"letter {letter_id} vanished")
        return _letter(row)

    def letter_by_process_id(self, process_id: str) -> LetterRow | None:
        row = self._row("letter_by_process_id", process_id=process_id)
        return _letter(row) if row else None

    def letter_document(self, letter_id: int) -> bytes:
        return bytes(self._row("letter_document", letter_id=letter_id)["document"])

    def letter_raw(self, letter_id: int) -> bytes:
        return bytes(self._row("letter_raw", letter_id=letter_id)["raw"])

    def set_letter_state(self, *, letter_id: int, expected: LetterState, new: LetterState, accept_id: str,
                         now: dt.datetime) -> None:
        """Compare-and-set; ConflictError when the letter is no longer in ``expected``."""
        if self._count("set_letter_state", id=letter_id, expected_state=expected.value,
                       new_state=new.value, accept_id=accept_id, now=to_us(now)) != 1:
            raise ConflictError(f"letter {letter_id} left state {expected.value}")

    def set_letter_pulled(self, letter_id: int, now: dt.datetime) -> None:
        self._count("set_letter_pulled", id=letter_id, now=to_us(now))

    def outbound_status(self, *, sender_org: str, since: dt.datetime, limit: int) -> list[LetterRow]:
        return [_letter(r) for r in self._rows("outbound_status", sender_org=sender_org, since=to_us(since),
                                               limit=limit)]

    def recent_letters(self, *, org: str, limit: int) -> list[LetterRow]:
        return [_letter(r) for r in self._rows("recent_letters", org=org, limit=limit)]

    # ---------------------------------------------------------- notices
    def insert_notice(self, *, process_id: str, letter_id: int, kind: Event, accept_id: str, from_org: str,
                      to_org: str, payload: bytes, raw: bytes, now: dt.datetime) -> int:
        return self._row("insert_notice", process_id=process_id, letter_id=letter_id, kind=kind.value,
                         accept_id=accept_id, from_org=from_org, to_org=to_org, payload=payload, raw=raw,
                         now=to_us(now))["id"]

    def find_notice(self, *, letter_id: int, kind: Event, accept_id: str) -> NoticeRow | None:
        row = self._row("find_notice", letter_id=letter_id, kind=kind.value, accept_id=accept_id)
        return _notice(row) if row else None

    def latest_notice(self, *, letter_id: int, kind: Event) -> NoticeRow | None:
        row = self._row("latest_notice", letter_id=letter_id, kind=kind.value)
        return _notice(row) if row else None

    def get_notice(self, notice_id: int) -> NoticeRow:
        return _notice(self._row("get_notice", id=notice_id))

    # ------------------------------------------------------------ queue
    def enqueue(self, *, org: str, process_id: str, item_kind: str, letter_id: int, notice_id: int | None,
                now: dt.datetime) -> None:
        self._execute(self._q["enqueue"], {"org": org, "process_id": process_id, "item_kind": item_kind,
                                           "letter_id": letter_id, "notice_id": notice_id, "now": to_us(now)})

    def claim_next(self, *, org: str, now: dt.datetime, until: dt.datetime) -> QueueRow | None:
        row = self._row("claim_next", org=org, now=to_us(now), until=to_us(until))
        return _queue(row) if row else None

    def queue_item(self, *, org: str, process_id: str) -> QueueRow | None:
        row = self._row("queue_item", org=org, process_id=process_id)
        return _queue(row) if row else None

    def delete_queue_item(self, *, org: str, process_id: str, now: dt.datetime) -> bool:
        return self._count("delete_queue_item", org=org, process_id=process_id, now=to_us(now)) == 1

    def delete_letter_items(self, *, org: str, letter_id: int, now: dt.datetime) -> int:
        return self._count("delete_letter_items", org=org, letter_id=letter_id, now=to_us(now))

    def table_counts(self) -> dict[str, int]:
        """Rows per table: what "nothing was stored" is checked against."""
        return {k: int(v) for k, v in dict(self._row("table_counts")).items()}

    # ------------------------------------------------------------ outbox
    def insert_outbox(self, *, message_id: str, kind: str, process_id: str, letter_process_id: str,
                      sender_org: str, receiver_org: str, next_node: str, path: str, payload: bytes,
                      now: dt.datetime, deadline: dt.datetime, attestation: bytes = b"") -> None:
        self._execute(self._q["insert_outbox"], {
            "message_id": message_id, "kind": kind, "process_id": process_id,
            "letter_process_id": letter_process_id, "sender_org": sender_org, "receiver_org": receiver_org,
            "next_node": next_node, "path": path, "payload": payload, "attestation": attestation,
            "now": to_us(now), "deadline": to_us(deadline)})
        self._row("notify_outbox")
        self.outbox_written = True

    def claim_outbox(self, *, now: dt.datetime, until: dt.datetime, token: str, limit: int) -> list[OutboxRow]:
        rows = [_outbox(r) for r in self._rows("claim_outbox", now=to_us(now), until=to_us(until), token=token,
                                                limit=limit)]
        return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))

    def outbox_delivered(self, outbox_id: int, *, receipt: bytes, now: dt.datetime) -> bool:
        return self._count("outbox_delivered", id=outbox_id, receipt=receipt, now=to_us(now)) == 1

    def outbox_retry(self, outbox_id: int, *, token: str, next_at: dt.datetime, error: str) -> bool:
        return self._count("outbox_retry", id=outbox_id, token=token, next_at=to_us(next_at), error=error) == 1

    def outbox_failed(self, outbox_id: int, *, error: str, now: dt.datetime) -> bool:
        return self._count("outbox_failed", id=outbox_id, error=error, now=to_us(now)) == 1

    def expired_outbox(self, *, now: dt.datetime, limit: int) -> list[OutboxRow]:
        return [_outbox(r) for r in self._rows("expired_outbox", now=to_us(now), limit=limit)]

    def outbox_item(self, outbox_id: int) -> OutboxRow:
        return _outbox(self._row("outbox_item", id=outbox_id))

    def outbox_by_message_id(self, message_id: str) -> OutboxRow | None:
        row = self._row("outbox_by_message_id", message_id=message_id)
        return _outbox(row) if row else None

    def outbox_of_letter(self, letter_process_id: str) -> list[OutboxRow]:
        return [_outbox(r) for r in self._rows("outbox_of_letter", letter_process_id=letter_process_id)]

    def outbox_counts(self) -> dict[str, int]:
        return {r["state"]: int(r["items"]) for r in self._rows("outbox_counts")}

    def next_due_at(self) -> dt.datetime | None:
        row = self._row("next_due_at")
        return from_us(row["due"]) if row and row["due"] is not None else None

    # ---------------------------------------------------------- received
    def insert_received(self, *, sender_node: str, message_id: str, process_id: str, payload_digest: str,
                        receipt: bytes, now: dt.datetime) -> None:
        self._execute(self._q["insert_received"], {
            "sender_node": sender_node, "message_id": message_id, "process_id": process_id,
            "payload_digest": payload_digest, "receipt": receipt, "now": to_us(now)})

    def received_message(self, *, sender_node: str, message_id: str) -> ReceivedRow | None:
        row = self._row("received_message", sender_node=sender_node, message_id=message_id)
        if row is None:
            return None
        return ReceivedRow(sender_node=row["sender_node"], message_id=row["message_id"],
                           process_id=row["process_id"], payload_digest=row["payload_digest"],
                           receipt=bytes(row["receipt"]), received_at=from_us(row["received_at"]))

    def set_letter_delivery(self, *, process_id: str, delivery: Delivery, now: dt.datetime) -> None:
        self._count("set_letter_delivery", process_id=process_id, delivery=delivery.value, now=to_us(now))

    def set_letter_path(self, letter_id: int, path: str) -> None:
        self._count("set_letter_path", id=letter_id, path=path)

    def set_notice_path(self, notice_id: int, path: str) -> None:
        self._count("set_notice_path", id=notice_id, path=path)

    def notice_by_process_id(self, process_id: str) -> NoticeRow | None:
        row = self._row("notice_by_process_id", process_id=process_id)
        return _notice(row) if row else None

    def queue_depth(self) -> dict[str, int]:
        return {r["org"]: r["items"] for r in self._rows("queue_depth")}

    # ------------------------------------------- registers, statistics, retention (issue 13)
    def register_received(self, *, org: str, since: dt.datetime,
                          until: dt.datetime) -> list[tuple[LetterRow, dt.datetime | None]]:
        """Letters to ``org`` registered in [since, until), or arrived then and not registered; with the
        time of their latest AcceptLetterNotifier (None: not registered). In register order."""
        return [(_letter(r), from_us(r["accepted_at"])) for r in self._rows(
            "register_received", org=org, since=to_us(since), until=to_us(until))]

    def register_sent(self, *, org: str, since: dt.datetime,
                      until: dt.datetime) -> list[tuple[LetterRow, dt.datetime | None]]:
        """Letters ``org`` sent in [since, until), oldest first, with the time of their latest acceptance."""
        return [(_letter(r), from_us(r["accepted_at"])) for r in self._rows(
            "register_sent", org=org, since=to_us(since), until=to_us(until))]

    def letter_counts(self, *, org: str, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
        """sent, sent_delivered, sent_bytes, received, received_bytes of ``org`` in [since, until)."""
        row = self._row("letter_counts", org=org, since=to_us(since), until=to_us(until))
        return {k: int(v) for k, v in dict(row).items()}

    def notice_counts(self, *, org: str, since: dt.datetime, until: dt.datetime) -> dict[Event, int]:
        """Letters ``org`` received and answered in [since, until), per kind of notifier it sent."""
        return {Event(r["kind"]): int(r["letters"]) for r in self._rows(
            "notice_counts", org=org, since=to_us(since), until=to_us(until))}

    def purge_candidates(self, *, before: dt.datetime, after: int, limit: int) -> list[LetterRow]:
        """Letters done with and untouched since ``before`` (final, nothing in flight), ids above ``after``."""
        return [_letter(r) for r in self._rows("purge_candidates", before=to_us(before), after=after, limit=limit)]

    def purge_letter(self, letter: LetterRow) -> dict[str, int]:
        """Delete one letter with its queue items, notices, outbox items and bytes: rows removed per table."""
        ids = {"letter_id": letter.id}
        self._count("purge_letter_parts", **ids)   # its enclosures' links (the blobs go with blobs.sweep)
        return {"queue": self._count("purge_letter_queue", **ids),
                "notices": self._count("purge_letter_notices", **ids),
                "outbox": self._count("purge_letter_outbox", letter_process_id=letter.process_id),
                "letter_blobs": self._count("purge_letter_blob", **ids),
                "letters": self._count("purge_letter", **ids)}

    def transit_purge_candidates(self, *, before: dt.datetime, after: int, limit: int) -> list[TransitItem]:
        """Finished outbox items of letters not stored here (forwarded only), done before ``before``."""
        return [TransitItem(**r) for r in self._rows("transit_purge_candidates", before=to_us(before),
                                                      after=after, limit=limit)]

    def purge_outbox_item(self, item_id: int) -> bool:
        """Delete one finished outbox item (a pending one is never deleted)."""
        return self._count("purge_outbox_item", id=item_id) == 1


class Store(abc.ABC):
    """A database holding the node's letters, notices and queues."""

    dialect: str
    migrations_dialect: str = ""   # whose migrations/ this store applies; its own dialect when empty

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """One transaction: commits when the block ends, rolls back on any exception."""

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; return the names applied.

        The one migrate loop of every backend: the backend provides the lock
        (``_migrating``: concurrent starts apply each file once), the version
        already applied and the application of one file.
        """
        applied = []
        with self._migrating() as current:
            for version, name, sql in migrations(self.migrations_dialect or self.dialect):
                if version > current:
                    self._apply_migration(version, name, list(iter_statements(sql)))
                    applied.append(name)
        return applied

    @abc.abstractmethod
    def _migrating(self) -> AbstractContextManager[int]:
        """Hold the migration lock, make sure schema_migrations exists, and yield the version applied."""

    @abc.abstractmethod
    def _apply_migration(self, version: int, name: str, statements: list[str]) -> None:
        """Run one migration file's statements and record it, in one transaction."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The highest migration applied."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    def wait_for_work(self, timeout: float) -> None:
        """Return when an outbox item was committed (by any process sharing the store) or after ``timeout``."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(store: Store, work: Callable[[Tx], Any], *, attempts: int = 5) -> Any:
    """``work`` in a transaction, again when it lost a race (nothing of a lost try is kept)."""
    for attempt in range(attempts):
        try:
            with store.transaction() as tx:
                return work(tx)
        except ConflictError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


_TRIGGER = re.compile(r"CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.I)
_BLOCK = re.compile(r"'[^']*'|\b(BEGIN|CASE)\b|\b(END)\b", re.I)


def iter_statements(sql: str) -> Iterator[str]:
    """Split a migration file into statements.

    Comment lines go first (they may contain ';'); our files never put ';'
    inside string literals. A CREATE TRIGGER stays whole: its body's statements
    end in ';' too, so it ends where its BEGIN is closed (CASE ... END counted).
    """
    code = "\n".join(ln for ln in sql.splitlines() if not ln.strip().startswith("--"))
    statement = ""
    for part in code.split(";"):
        statement = f"{statement};{part}" if statement else part
        if _TRIGGER.match(statement.strip()) and sum(
                1 if m[1] else -1 if m[2] else 0 for m in _BLOCK.finditer(statement)) > 0:
            continue  # inside the trigger's BEGIN ... END
        if statement.strip():
            yield statement.strip()
        statement = ""
    if statement.strip():
        yield statement.strip()  # an unfinished trigger: the database says what is wrong with it
