"""The store's vocabulary for the tamper-evident evidence log (issue 14): its entries and checkpoints.

:class:`EvidenceTx` is a mixin of :class:`gateway.store.Tx`, like :class:`gateway.store.console.ConsoleTx`;
its SQL is in ``sql/<dialect>/queries.sql`` like the rest, and the memory store's handlers are in
``memory_evidence.py``.

Every event of a letter is an entry of ``evidence``, chained per letter (ProcessID) by hash: an entry
names the hash of the letter's newest entry before it (:meth:`EvidenceTx.evidence_head`). The table's
UNIQUE (process_id, prev_hash) makes two concurrent appends to one letter's chain clash: the second is a
:class:`ConflictError` and :func:`gateway.store.run` retries its whole transaction, which then reads the
new head. A clash of ``hash`` is a ConflictError too. Checkpoints, signed by the node, cover every entry
up to an id. Rows are only ever added here; the retention purge leaves both tables alone.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from gateway.core.records import CheckpointRow, EvidenceRow, LetterRow
# gateway.store imports this module after defining these (the package's __init__ is the Tx this extends)
from gateway.store import _letter, from_us, to_us


def _evidence(row: Mapping[str, Any]) -> EvidenceRow:
    return EvidenceRow(id=row["id"], at=from_us(row["at"]), process_id=row["process_id"], event=row["event"],
                       item=row["item"], detail=row["detail"], digest=row["digest"], prev_hash=row["prev_hash"],
                       hash=row["hash"])


def _checkpoint(row: Mapping[str, Any]) -> CheckpointRow:
    return CheckpointRow(id=row["id"], at=from_us(row["at"]), upto_id=row["upto_id"], entries=row["entries"],
                         root=row["root"], prev_root=row["prev_root"], document=bytes(row["document"]),
                         timestamp_token=bytes(row["timestamp_token"]))


class EvidenceTx:
    """The evidence log's methods of :class:`gateway.store.Tx`, which provides these:"""

    _rows: Callable[..., list[Mapping[str, Any]]]
    _row: Callable[..., Mapping[str, Any] | None]

    # ---------------------------------------------------------- entries
    def evidence_head(self, process_id: str) -> str:
        """The hash of the letter's newest entry; '' when it has none."""
        row = self._row("evidence_head", process_id=process_id)
        return row["hash"] if row else ""

    def insert_evidence(self, *, at: dt.datetime, process_id: str, event: str, item: str, detail: str,
                        digest: str, prev_hash: str, hash: str) -> int:
        """A new entry's id; ``detail`` (a JSON string) is stored as given. Another entry of the letter with
        the same ``prev_hash``, or any entry with the same ``hash``, is a ConflictError."""
        return self._row("insert_evidence", at=to_us(at), process_id=process_id, event=event, item=item,
                         detail=detail, digest=digest, prev_hash=prev_hash, hash=hash)["id"]

    def evidence_of(self, process_id: str) -> list[EvidenceRow]:
        """The letter's entries, by id (its chain in order)."""
        return [_evidence(r) for r in self._rows("evidence_of", process_id=process_id)]

    def evidence_after(self, *, after_id: int, limit: int) -> list[EvidenceRow]:
        """At most ``limit`` entries with ids above ``after_id``, by id: the log a page at a time."""
        return [_evidence(r) for r in self._rows("evidence_after", after_id=after_id, limit=limit)]

    def evidence_max_id(self) -> int:
        """The newest entry's id; 0 when the log is empty."""
        return int(self._row("evidence_max_id")["max_id"])

    def letters_after(self, *, after_id: int, limit: int) -> list[LetterRow]:
        """Letters with ids above ``after_id``, in id order (verify finds rows the log does not know)."""
        return [_letter(r) for r in self._rows("letters_after", after_id=after_id, limit=limit)]

    # ---------------------------------------------------------- checkpoints
    def insert_checkpoint(self, *, at: dt.datetime, upto_id: int, entries: int, root: str, prev_root: str,
                          document: bytes, timestamp_token: bytes) -> int:
        """A new checkpoint's id."""
        return self._row("insert_checkpoint", at=to_us(at), upto_id=upto_id, entries=entries, root=root,
                         prev_root=prev_root, document=document, timestamp_token=timestamp_token)["id"]

    def last_checkpoint(self) -> CheckpointRow | None:
        """The newest checkpoint (the highest id); None when there is none."""
        row = self._row("last_checkpoint")
        return _checkpoint(row) if row else None

    def checkpoints(self) -> list[CheckpointRow]:
        """Every checkpoint, by id."""
        return [_checkpoint(r) for r in self._rows("checkpoints")]
