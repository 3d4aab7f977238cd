"""The evidence log (docs/evidence.md): append in the operation's transaction, checkpoint, verify.

:func:`record` appends one entry in the caller's transaction, so an event and
its evidence commit together or not at all. :func:`checkpoint` signs (and
time-stamps) a root over every entry so far. :func:`verify` walks the whole log
and the rows it vouches for and lists every discrepancy.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from lxml import etree

from gateway.core import evidence as chain, ns
from gateway.core.errors import ConflictError, GatewayError, RemoteError
from gateway.core.records import CheckpointRow, EvidenceRow
from gateway.core.trust import signing
from gateway.core.trust.keyring import Keyring
from gateway.core.trust.signing import Signer
from gateway.core.xml import contract, safe
from gateway.store import Store, Tx

PAGE = 5000
# Events that set a letter's state: their detail carries it, and verify compares the letter's row.
STATE = "state"


class Event:
    """What the entries say (the ``event`` column)."""

    RECEIVED = "received"                        # from the sending e-Saraban: the request's digest
    RECEIVED_FROM_NODE = "received-from-node"    # a node message: sender node, message id, payload digest
    STORED = "stored"                            # the letter row: its facts and exact bytes (letter_digest)
    FORWARDED = "forwarded"                      # a hub put it in its outbox for the next node
    DELIVERED = "delivered"                      # the next node's signed receipt (its digest), message id
    FAILED = "failed"                            # a push FAILED: reason
    PULLED = "pulled"                            # the receiving e-Saraban pulled it
    DELETED = "deleted"                          # an e-Saraban deleted its queue item
    NOTICE = "notice"                            # a notifier stored here (item: its ProcessID; digest: notice_digest)
    WITHDRAWN = "withdrawn"
    STATUS = "status"                            # a DeliveryStatus from further on (pulled, failed, delivered)
    OPERATOR = "operator"                        # an operator's retry or abandonment (console)
    PURGED = "purged"                            # removed by the retention purge


def record(tx: Tx, *, process_id: str, event: str, now: dt.datetime, item: str = "", digest: str = "",
           **detail: Any) -> None:
    """Append one entry to the letter's chain, in the caller's transaction."""
    prev = tx.evidence_head(process_id)
    text = chain.canonical(detail)
    tx.insert_evidence(at=now, process_id=process_id, event=event, item=item, detail=text, digest=digest,
                       prev_hash=prev, hash=chain.entry_hash(prev_hash=prev, at=now, process_id=process_id,
                                                             event=event, item=item, detail=text, digest=digest))


def letter_stored(tx: Tx, letter_id: int, document: bytes, *, now: dt.datetime) -> None:
    """The entry of a letter row just written (after its verification was recorded), with the stored bytes
    the caller holds (not read back: they may be tens of megabytes)."""
    letter = tx.get_letter(letter_id)
    record(tx, process_id=letter.process_id, event=Event.STORED, now=now,
           digest=chain.letter_digest(letter, document), state=letter.state.value,
           sender=letter.sender_org, receiver=letter.receiver_org, signed_by=letter.signed_by,
           signer=letter.signer_org, certificate_sha256=letter.certificate_sha256)


def notice_stored(tx: Tx, notice_id: int, *, letter_process_id: str, state: str, now: dt.datetime) -> None:
    notice = tx.get_notice(notice_id)
    record(tx, process_id=letter_process_id, event=Event.NOTICE, now=now, item=notice.process_id,
           digest=chain.notice_digest(notice), kind=notice.kind.value, accept_id=notice.accept_id,
           **{"from": notice.from_org, "to": notice.to_org, STATE: state})


# ---------------------------------------------------------------- checkpoints

def checkpoint_document(*, node_id: str, at: dt.datetime, upto_id: int, entries: int, root: str,
                        prev_root: str) -> etree._Element:
    root_el = etree.Element(ns.node("EvidenceCheckpoint"), nsmap={"n": ns.NODE})
    for local, text in (("Node", node_id), ("At", at.isoformat(timespec="microseconds")), ("UptoID", str(upto_id)),
                        ("Entries", str(entries)), ("Root", root), ("PrevRoot", prev_root)):
        etree.SubElement(root_el, ns.node(local)).text = text
    return root_el


def checkpoint(store: Store, *, node_id: str, signer: Signer, now: dt.datetime,
               stamp: Callable[[bytes], bytes] | None = None) -> CheckpointRow | None:
    """Sign (and with ``stamp``, time-stamp) a root over every entry since the last checkpoint; None if none."""
    with store.transaction() as tx:
        last = tx.last_checkpoint()
    after, prev_root = (last.upto_id, last.root) if last else (0, "")
    builder, upto = chain.RootBuilder(prev_root), after
    while True:
        with store.transaction() as tx:
            page = tx.evidence_after(after_id=upto, limit=PAGE)
        for entry in page:
            builder.add(entry.hash)
            upto = entry.id
        if len(page) < PAGE:
            break
    if builder.entries == 0:
        return None
    element = checkpoint_document(node_id=node_id, at=now, upto_id=upto, entries=builder.entries,
                                  root=builder.root, prev_root=prev_root)
    contract.check_before_signing(element, contract.node_schema())
    document = etree.tostring(signing.sign_document(element, signer), encoding="utf-8")
    token = stamp(document) if stamp is not None else b""
    try:
        with store.transaction() as tx:
            tx.insert_checkpoint(at=now, upto_id=upto, entries=builder.entries, root=builder.root,
                                 prev_root=prev_root, document=document, timestamp_token=token)
            return tx.last_checkpoint()
    except ConflictError:   # another process checkpointed from the same predecessor at the same moment
        return None


# ---------------------------------------------------------------- verify

@dataclass
class Verification:
    entries: int = 0
    letters: int = 0
    checkpoints: int = 0
    stamped: int = 0
    uncovered: int = 0                  # entries after the last checkpoint (a truncation there is not detectable)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: Store, keyring: Keyring, *, node_id: str, now: dt.datetime,
           check_token: Callable[[bytes, bytes], dt.datetime] | None = None) -> Verification:
    """Every chain, every checkpoint (signature, root, time stamp) and every row the log vouches for."""
    result = Verification()
    with store.transaction() as tx:
        checkpoints = tx.checkpoints()
    result.checkpoints = len(checkpoints)
    heads: dict[str, str] = {}
    last_of: dict[str, EvidenceRow] = {}
    stateful: dict[str, EvidenceRow] = {}
    pending = list(checkpoints)
    builder = chain.RootBuilder("")
    after = 0
    while True:
        with store.transaction() as tx:
            page = tx.evidence_after(after_id=after, limit=PAGE)
        for entry in page:
            _check_entry(entry, heads, result)
            last_of[entry.process_id] = entry
            if STATE in json.loads(entry.detail or "{}"):
                stateful[entry.process_id] = entry
            builder.add(entry.hash)
            while pending and pending[0].upto_id == entry.id:
                builder = _close(pending.pop(0), builder, keyring, node_id, now, check_token, result)
            after = entry.id
            result.entries += 1
        if len(page) < PAGE:
            break
    result.uncovered = builder.entries
    for cp in pending:   # a checkpoint past the last entry: entries were removed
        result.problems.append(f"checkpoint {cp.id} covers entries up to {cp.upto_id}, which are not in the log")
    _check_rows(store, last_of, stateful, result)
    _unlogged_letters(store, last_of, result)
    return result


def _unlogged_letters(store: Store, logged: dict[str, EvidenceRow], result: Verification) -> None:
    """Letter rows the log has never heard of, stored since the log began: inserted by hand."""
    if not logged:
        return
    with store.transaction() as tx:
        first = tx.evidence_after(after_id=0, limit=1)
    since = first[0].at if first else None
    after = 0
    while since is not None:
        with store.transaction() as tx:
            page = tx.letters_after(after_id=after, limit=PAGE)
        for letter in page:
            if letter.process_id not in logged and letter.created_at >= since:
                result.problems.append(f"letter {letter.process_id} is in the store but not in the log")
            after = letter.id
        if len(page) < PAGE:
            break


def _check_entry(entry: EvidenceRow, heads: dict[str, str], result: Verification) -> None:
    expected_prev = heads.get(entry.process_id, "")
    if entry.prev_hash != expected_prev:
        result.problems.append(f"entry {entry.id} ({entry.process_id} {entry.event}): its chain is broken "
                               f"(an entry before it was changed or removed)")
    again = chain.entry_hash(prev_hash=entry.prev_hash, at=entry.at, process_id=entry.process_id,
                             event=entry.event, item=entry.item, detail=entry.detail, digest=entry.digest)
    if again != entry.hash:
        result.problems.append(f"entry {entry.id} ({entry.process_id} {entry.event}) was changed")
    heads[entry.process_id] = entry.hash


def _close(cp: CheckpointRow, builder: chain.RootBuilder, keyring: Keyring, node_id: str, now: dt.datetime,
           check_token, result: Verification) -> chain.RootBuilder:
    """Compare one checkpoint with the entries it covers; the next segment starts from its root."""
    if cp.prev_root != builder.prev_root:
        result.problems.append(f"checkpoint {cp.id} does not follow the one before it")
    if (cp.root, cp.entries) != (builder.root, builder.entries):
        result.problems.append(f"checkpoint {cp.id}: the entries up to {cp.upto_id} are not the ones it signed "
                               f"({builder.entries} entries now, {cp.entries} then)")
    try:
        document = safe.parse(cp.document)
        signed, _ = signing.verify_document(document, trusted=keyring.node_trusted(node_id), now=now)
        said = {etree.QName(c).localname: (c.text or "") for c in signed if isinstance(c.tag, str)}
        if (said.get("Root"), said.get("UptoID"), said.get("Entries"), said.get("PrevRoot")) != \
                (cp.root, str(cp.upto_id), str(cp.entries), cp.prev_root):
            result.problems.append(f"checkpoint {cp.id}: its row differs from what the node signed")
    except (GatewayError, RemoteError) as exc:
        result.problems.append(f"checkpoint {cp.id}: the node's signature does not verify ({exc})")
    if cp.timestamp_token:
        if check_token is None:
            result.problems.append(f"checkpoint {cp.id} is time-stamped but no TSA certificate is configured")
        else:
            try:
                check_token(cp.timestamp_token, cp.document)
                result.stamped += 1
            except GatewayError as exc:
                result.problems.append(f"checkpoint {cp.id}: its time stamp does not verify ({exc})")
    return chain.RootBuilder(cp.root)


def _check_rows(store: Store, last_of: dict[str, EvidenceRow], stateful: dict[str, EvidenceRow],
                result: Verification) -> None:
    """Letters, notifiers and receipts against what the log says of them."""
    for process_id in sorted(last_of):
        with store.transaction() as tx:
            entries = tx.evidence_of(process_id)
            letter = tx.letter_by_process_id(process_id)
            stored = [e for e in entries if e.event == Event.STORED]
            purged = any(e.event == Event.PURGED for e in entries)
            if letter is None:
                if stored and not purged:
                    result.problems.append(f"letter {process_id} is in the log but not in the store")
                continue
            result.letters += 1
            if not stored:
                result.problems.append(f"letter {process_id} has no 'stored' entry")
                continue
            if chain.letter_digest(letter, tx.letter_document(letter.id)) != stored[-1].digest:
                result.problems.append(f"letter {process_id}: its row or bytes differ from what was stored")
            state = json.loads(stateful[process_id].detail).get(STATE) if process_id in stateful else None
            if state is not None and letter.state.value != state:
                result.problems.append(f"letter {process_id} is {letter.state.value}; the log says {state}")
            noticed = {e.item: e.digest for e in entries if e.event == Event.NOTICE}
            for notice in tx.notices_of_letter(letter.id):
                if noticed.get(notice.process_id) != chain.notice_digest(notice):
                    result.problems.append(f"notifier {notice.process_id} of letter {process_id} differs from the "
                                           "log (or is not in it)")
            receipts = {e.item: e.digest for e in entries if e.event == Event.DELIVERED}
            for item in tx.outbox_of_letter(process_id):
                if item.receipt is not None and item.message_id in receipts and \
                        receipts[item.message_id] != chain.sha256(item.receipt):
                    result.problems.append(f"the receipt of {item.message_id} differs from the log")
