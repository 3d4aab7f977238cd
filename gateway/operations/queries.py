"""Read models for operators: what the CLI and the metrics endpoint (and the coming console) show.

Each function is one read-only store transaction and returns values; the
views format them. No view reads the store's tables on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.records import LetterRow
from gateway.store import Store


@dataclass(frozen=True, kw_only=True)
class StoreGauges:
    """What the store knows right now: queue depth per organisation, outbox items per state."""

    queue_items: Mapping[str, int]
    outbox_items: Mapping[str, int]


def letter(store: Store, process_id: str) -> LetterRow:
    """One letter by its ProcessID, with what verifying its signature established; LETTER_NOT_FOUND otherwise."""
    with store.transaction() as tx:
        row = tx.letter_by_process_id(process_id)
    if row is None:
        raise RemoteError(ErrorCode.LETTER_NOT_FOUND, f"no letter with ProcessID {process_id}")
    return row


def recent_letters(store: Store, *, org: str, limit: int) -> list[LetterRow]:
    """The newest letters an organisation sent or received, newest first."""
    with store.transaction() as tx:
        return tx.recent_letters(org=org, limit=limit)


def gauges(store: Store) -> StoreGauges:
    """Queue depth and outbox counts (StoreError when the store is away)."""
    with store.transaction() as tx:
        return StoreGauges(queue_items=MappingProxyType(tx.queue_depth()),
                           outbox_items=MappingProxyType(tx.outbox_counts()))
