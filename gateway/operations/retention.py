"""Retention: remove what the node no longer needs to keep (`gateway purge`).

Theory of operation
-------------------
The node keeps a transport copy of every letter it stored or forwarded, with
its notices, queue items and outbox items; the record of an agency is its
e-Saraban and its registers. The correspondence regulation
(ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ พ.ศ. 2526, ข้อ 57) keeps ordinary letters
at least 10 years (routine ones 5, some forever), so the default is
``[retention] keep_years = 10`` and a purge never goes below one year.

A letter is purged when its last activity (its own changes, its newest
notice, queue item and outbox item) is older than the cut-off and it is
done: accepted, rejected, invalid, withdrawn, or never delivered and given up
(FAILED). A letter still in flight (SENT and delivered or pending, DISPUTED,
an undeleted queue item, a pending outbox item) is never purged, however
old. Purging it removes its queue items, notices, outbox items, bytes and
row. Outbox items of letters this node only forwarded (a hub) go when they
finished before the cut-off. The ``received`` table (which node message was
taken, and the receipt given for it) stays: it is what answers a resent
message with its first receipt, so a purge never makes a letter twice.

Each batch is one transaction. ``dry_run`` runs the same batches and rolls
each back: the counts are exact and nothing changes.

Hold: the evidence log (issue 14) does not exist yet, so nothing is held for
it today. When it comes, it passes a :class:`Hold` whose methods say, inside
the batch's transaction, which letters and forwarded items it still needs;
those are skipped and counted as held.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

from gateway.config import RETENTION_KEEP_YEARS
from gateway.core.errors import LocalError
from gateway.core.records import LetterRow
from gateway.core.time import BANGKOK
from gateway.operations import evidence
from gateway.store import Store, TransitItem, Tx, blobs, run

KEEP_YEARS = RETENTION_KEEP_YEARS   # the default of `[retention] keep_years` (ระเบียบงานสารบรรณ ข้อ 57)
MIN_KEEP_YEARS = 1
BATCH = 200            # letters (or forwarded items) per transaction


class Hold(Protocol):
    """What must stay whatever its age (the evidence log's needs, issue 14)."""

    def letter(self, tx: Tx, letter: LetterRow) -> bool:
        """True: keep this letter and everything of it."""

    def transit(self, tx: Tx, item: TransitItem) -> bool:
        """True: keep this forwarded outbox item."""


class HoldNothing:
    """Today's hold: there is no evidence log yet, so nothing is kept for it."""

    def letter(self, tx: Tx, letter: LetterRow) -> bool:
        return False

    def transit(self, tx: Tx, item: TransitItem) -> bool:
        return False


@dataclass(kw_only=True)
class PurgeReport:
    cutoff: dt.datetime
    dry_run: bool
    letters: int = 0
    transit: int = 0                   # outbox items of letters only forwarded here
    held: int = 0                      # letters and items the hold kept
    rows: Counter = field(default_factory=Counter)   # rows of purged letters removed, per table

    @property
    def removed_anything(self) -> bool:
        return bool(self.letters or self.transit)


class _RollBack(Exception):
    """Raised at the end of a dry-run batch: the transaction is undone, the counts are kept."""


OnBatch = Callable[[list[LetterRow], list[TransitItem]], None]


def cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """The same Bangkok date and time ``years`` years before ``now`` (29 February becomes 28 February)."""
    if years < MIN_KEEP_YEARS:
        raise LocalError(f"keep letters at least {MIN_KEEP_YEARS} year (got {years}); "
                         f"the regulation keeps ordinary letters {KEEP_YEARS} years")
    local = now.astimezone(BANGKOK)
    try:
        return local.replace(year=local.year - years)
    except ValueError:
        return local.replace(year=local.year - years, day=28)


def purge(store: Store, *, now: dt.datetime, keep_years: int, dry_run: bool = False, batch: int = BATCH,
          hold: Hold | None = None, on_batch: OnBatch | None = None) -> PurgeReport:
    """Remove letters and forwarded items with no activity for ``keep_years``; what was (or would be) removed.

    ``on_batch`` sees each batch's letters and forwarded items once its transaction is done.
    """
    hold = hold or HoldNothing()
    report = PurgeReport(cutoff=cutoff(now, keep_years), dry_run=dry_run)
    _letters(store, report, batch, hold, on_batch, now)
    _transit(store, report, batch, hold, on_batch)
    if not dry_run:   # the enclosures of the letters purged, now that no letter names them (store/blobs.py)
        swept = blobs.sweep(store, now=now)
        if swept:
            report.rows["blobs"] += swept
    return report


def _batches(store: Store, dry_run: bool, work: Callable[[Tx, int], tuple[list, int, Counter, int]]):
    """Run ``work(tx, after)`` batch after batch, each in its own transaction (rolled back in a dry run)."""
    after = 0
    while True:
        outcome: list = []

        def one(tx: Tx) -> None:
            outcome[:] = [work(tx, after)]
            if dry_run:
                raise _RollBack

        try:
            run(store, one)
        except _RollBack:
            pass
        removed, last, rows, held = outcome[0]
        if last is None:
            return
        yield removed, rows, held
        after = last


def _letters(store: Store, report: PurgeReport, batch: int, hold: Hold, on_batch: OnBatch | None,
             now: dt.datetime) -> None:
    def work(tx: Tx, after: int):
        candidates = tx.purge_candidates(before=report.cutoff, after=after, limit=batch)
        removed, rows, held = [], Counter(), 0
        for letter in candidates:
            if hold.letter(tx, letter):
                held += 1
                continue
            rows.update(tx.purge_letter(letter))
            # The evidence log keeps the letter's entries (what it proves outlives the row) and says why it went.
            evidence.record(tx, process_id=letter.process_id, event=evidence.Event.PURGED, now=now,
                            cutoff=report.cutoff.isoformat())
            removed.append(letter)
        return removed, (candidates[-1].id if candidates else None), rows, held

    for removed, rows, held in _batches(store, report.dry_run, work):
        report.letters += len(removed)
        report.rows.update(rows)
        report.held += held
        if on_batch and removed:
            on_batch(removed, [])


def _transit(store: Store, report: PurgeReport, batch: int, hold: Hold, on_batch: OnBatch | None) -> None:
    def work(tx: Tx, after: int):
        candidates = tx.transit_purge_candidates(before=report.cutoff, after=after, limit=batch)
        removed, held = [], 0
        for item in candidates:
            if hold.transit(tx, item):
                held += 1
            elif tx.purge_outbox_item(item.id):
                removed.append(item)
        return removed, (candidates[-1].id if candidates else None), Counter(), held

    for removed, _, held in _batches(store, report.dry_run, work):
        report.transit += len(removed)
        report.held += held
        if on_batch and removed:
            on_batch([], removed)
