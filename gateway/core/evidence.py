"""The evidence log's hashes, pure (docs/evidence.md): entries chained per letter, checkpoints over all.

Theory of operation
-------------------
Every event of a letter (received from its e-Saraban, verified, stored, forwarded,
delivered with a receipt, pulled, each notifier, withdrawn, failed, purged, an
operator's retry) is one entry. An entry's hash covers its fields and the hash
of the letter's previous entry, so the entries of one letter form a chain: an
entry changed or removed in the middle breaks it. A checkpoint covers every
entry up to an id: its root hashes the previous checkpoint's root and every
entry hash in id order, it is signed with the node's key and, when a
time-stamping authority is configured, time-stamped (RFC 3161), so removing
the newest entries of a chain, or rewriting the whole log, is detected too.

Entries also carry the digest of what they are about (a letter's stored bytes
and its facts, a notifier's bytes, a receipt), so ``gateway evidence verify``
detects a row edited by hand as well as an edited entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Iterable, Mapping

from gateway.core.records import LetterRow, NoticeRow

VERSION = "gateway-evidence/1"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros(at: dt.datetime) -> int:
    """A time as the integer microseconds the store keeps (exact, no float)."""
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def canonical(detail: Mapping[str, Any]) -> str:
    """The detail of an entry as it is stored and hashed: JSON, sorted keys, UTF-8 (Thai as is)."""
    return json.dumps(dict(detail), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(*, prev_hash: str, at: dt.datetime, process_id: str, event: str, item: str, detail: str,
               digest: str) -> str:
    """SHA-256 (hex) of one entry's fields and its predecessor's hash."""
    fields = [VERSION, prev_hash, micros(at), process_id, event, item, detail, digest]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def checkpoint_root(prev_root: str, hashes: Iterable[str]) -> str:
    """The root of a checkpoint: the previous root, then every entry hash since, in id order."""
    h = hashlib.sha256(f"{VERSION}:checkpoint:{prev_root}".encode("ascii"))
    for entry in hashes:
        h.update(bytes.fromhex(entry))
    return h.hexdigest()


class RootBuilder:
    """:func:`checkpoint_root` one entry at a time (a walk over millions of entries holds none of them)."""

    def __init__(self, prev_root: str) -> None:
        self.prev_root = prev_root
        self._h = hashlib.sha256(f"{VERSION}:checkpoint:{prev_root}".encode("ascii"))
        self.entries = 0

    def add(self, entry_hash_hex: str) -> None:
        self._h.update(bytes.fromhex(entry_hash_hex))
        self.entries += 1

    @property
    def root(self) -> str:
        return self._h.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def letter_digest(letter: LetterRow, document: bytes) -> str:
    """What a stored letter is: its facts that never change and its exact bytes."""
    facts = [letter.process_id, letter.sender_org, letter.receiver_org, letter.letter_no, letter.corr_date,
             letter.subject, letter.secret_code, letter.speed_code, letter.digest, bool(letter.signed),
             letter.signer_org, letter.certificate_sha256, sha256(document)]
    return sha256(json.dumps(facts, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def notice_digest(notice: NoticeRow) -> str:
    """What a stored notifier is: its kind, parties, receive number and exact bytes."""
    facts = [notice.process_id, notice.kind.value, notice.accept_id, notice.from_org, notice.to_org,
             sha256(notice.payload)]
    return sha256(json.dumps(facts, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
