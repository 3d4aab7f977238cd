"""A letter's proof bundle (docs/proof.md): its offline verification (the format is ``proof_format.py``).

Theory of operation
-------------------
``gateway proof export`` (``operations/proof.py``) packs what a node holds about
one letter into one ZIP in the ASiC-E style: ``mimetype`` first and stored, a
``META-INF/manifest.xml`` naming every member with its SHA-256, the letter's
exact stored bytes, the signed node receipts, the notifiers (with their signed
ItemAttestation when this node made them), the letter's evidence entries, the
signed checkpoint covering the newest of them with the segment it signed, and
the certificates every signature needs.

:func:`verify` needs nothing but the bundle (and, better, the caller's own
trust anchors): no database, no configuration. Each signature is checked with
``signing``, each entry hash and the chain with ``evidence``, the checkpoint's
root is recomputed from the segment, and the rows the log vouches for (the
letter, each notifier, each receipt) are compared with the entries'
digests. The manifest and the summaries are not signed: they are there to be
read, and only what :class:`ProofReport` lists as findings is proven.

Pure: the bundle, the anchors, ``now`` and the time-stamp checker come in as arguments.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import zipfile

from cryptography import x509
from lxml import etree

from gateway.core import evidence as chain
from gateway.core.errors import ErrorCode, GatewayError, RemoteError
from gateway.core.letters.letter import read_letter
from gateway.core.network import attestation as attest, nodemsg
from gateway.core.proof_format import (
    ATTESTATION, CERTIFICATES, CHECKPOINT_NAME, ENTRIES_NAME, LETTER_NAME, MANIFEST_NAME, MAX_BYTES, MAX_MEMBERS,
    MIMETYPE, MIMETYPE_NAME, NOTIFIERS, ODF_MANIFEST, PROOF_NS, RECEIPTS, SEALED_NAME, SEGMENT_NAME, TIMESTAMP_NAME,
    Bundle,
    Checker, ProofReport, embedded_certificate, manifest, node_document, node_text, parse_member, signature_time)
from gateway.core.records import EvidenceRow, LetterRow, NoticeRow
from gateway.core.state import Delivery, Event, LetterState
from gateway.core.time import thai_date, thai_datetime
from gateway.core.trust import pki, sealing, signing
from gateway.core.xml import safe

__all__ = ["ProofReport", "verify"]


def verify(bundle: bytes, *, anchors: list[x509.Certificate] | None = None, now: dt.datetime,
           check_token: Checker | None = None) -> ProofReport:
    """Check a proof bundle on its own; ``anchors`` given: only they are trusted, not the bundle's own CAs.

    ``check_token(token, data) -> genTime`` checks the checkpoint's RFC 3161 time stamp (it needs the
    authority's certificate); without it the stamp is reported as present, not checked.
    """
    b = Bundle(members={}, report=ProofReport(), now=now)
    if not _open(bundle, b):
        return b.report
    steps = [("the manifest", _check_manifest, {}), ("the certificates", _check_certificates, {"anchors": anchors}),
             ("the evidence entries", _read_entries, {}), ("the letter", _check_letter, {}),
             ("the notifiers", _check_notifiers, {}), ("the receipts", _check_receipts, {}),
             ("the chain", _check_chain, {}), ("the checkpoint", _check_checkpoint, {"check_token": check_token})]
    for what, step, extra in steps:
        try:
            step(b, **extra)
        except (LookupError, ValueError, TypeError, AttributeError, GatewayError) as exc:
            # a bundle made by hand can hold anything; whatever it is, it is a problem, never a crash
            b.problem(f"{what} cannot be checked: {type(exc).__name__}: {exc}")
    return b.report


def _open(bundle: bytes, b: Bundle) -> bool:
    try:
        z = zipfile.ZipFile(io.BytesIO(bundle))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        b.problem(f"the file is not a ZIP bundle: {exc}")
        return False
    names = [i.filename for i in infos]
    if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_BYTES:
        b.problem(f"the bundle is too large to check ({len(infos)} members)")
        return False
    if len(set(names)) != len(names):
        b.problem("the bundle holds two members of the same name")
        return False
    if not infos or names[0] != MIMETYPE_NAME or infos[0].compress_type != zipfile.ZIP_STORED:
        b.problem("the first member is not 'mimetype', stored uncompressed (ASiC-E)")
    for info in infos:
        try:
            b.members[info.filename] = z.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            b.problem(f"member {info.filename} cannot be read: {exc}")
    if b.members.get(MIMETYPE_NAME) != MIMETYPE:
        b.problem(f"mimetype is not {MIMETYPE.decode()}")
    return True


def _check_manifest(b: Bundle) -> None:
    listed = [(n, d) for n, d in b.members.items() if n != MANIFEST_NAME]
    given = b.members.get(MANIFEST_NAME)
    if given is None:
        b.problem(f"{MANIFEST_NAME} is missing")
        return
    expected = manifest(listed)
    try:
        root = safe.parse(given) if given != expected else None
    except RemoteError as exc:
        b.problem(f"{MANIFEST_NAME} cannot be read: {exc.detail}")
        return
    if root is None or _content(root) == _content(safe.parse(expected)):   # another writer may indent it
        b.fine(f"bundle: all {len(listed)} members match their SHA-256 in {MANIFEST_NAME}")
        return
    before = len(b.report.problems)
    said = {e.get(f"{{{ODF_MANIFEST}}}full-path"): e.get(f"{{{PROOF_NS}}}sha256") for e in root}
    for name, data in listed:
        if name not in said:
            b.problem(f"member {name} is not in the manifest")
        elif said[name] != hashlib.sha256(data).hexdigest():
            b.problem(f"member {name} was changed: its SHA-256 is not the manifest's")
    for name in sorted(n for n in set(said) - set(b.members) - {"/"} if n is not None):
        b.problem(f"member {name} of the manifest is missing")
    if len(b.report.problems) == before:
        b.problem(f"{MANIFEST_NAME} was changed (it is not the manifest of these members)")


def _content(root: etree._Element) -> list[tuple]:
    """An XML tree as what it says: names, attributes and text, whitespace between elements left out."""
    return [(str(e.tag), sorted(e.attrib.items()), (e.text or "").strip(), (e.tail or "").strip())
            for e in root.iter()]


def _check_certificates(b: Bundle, anchors: list[x509.Certificate] | None) -> None:
    bundled: list[x509.Certificate] = []
    for name in sorted(n for n in b.members if n.startswith(CERTIFICATES)):
        try:
            bundled += x509.load_pem_x509_certificates(b.members[name])
        except ValueError as exc:
            b.problem(f"{name} is not a PEM certificate: {exc}")
    own = [c for c in bundled if _is_ca(c)]
    if anchors:
        b.anchors = list(anchors)
        mine = {pki.fingerprint(a) for a in anchors}
        b.fine("trust: the CA certificates you gave (" + ", ".join(_cn(a) for a in anchors) + "); the bundle's "
               "own CA certificates are not trusted" + ("" if all(pki.fingerprint(c) in mine for c in own) else
                                                        " (it holds others, unused)"))
    else:
        b.anchors = own
        b.fine("trust: the CA certificates inside the bundle (" + (", ".join(_cn(a) for a in own) or "none") +
               "), which anyone making a bundle could choose: give your own (--ca) to check against them")
    for cert in bundled:
        if _is_ca(cert):
            continue
        if pki.signed_by(cert, b.anchors):
            b.certs.append(cert)
        else:
            b.fine(f"certificate {pki.describe(cert)} is not issued by a trusted CA: not used")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and cert.subject == cert.issuer


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else pki.describe(cert)


# ---------------------------------------------------------------- the letter, its notifiers and receipts

def _read_entries(b: Bundle) -> None:
    data = b.members.get(ENTRIES_NAME)
    if data is None:
        b.fine("evidence: the bundle holds no entries of the node's evidence log")
        return
    try:
        doc = json.loads(data.decode("utf-8"))
        b.report.process_id = str(doc["process_id"])
        b.entries = [EvidenceRow(id=int(e["id"]), at=dt.datetime.fromisoformat(e["at"]), process_id=e["process_id"],
                                 event=e["event"], item=e["item"], detail=e["detail"], digest=e["digest"],
                                 prev_hash=e["prev_hash"], hash=e["hash"]) for e in doc["entries"]]
        if any(e.at.tzinfo is None for e in b.entries):
            raise ValueError("a time without its UTC offset")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        b.problem(f"{ENTRIES_NAME} cannot be read: {exc}")
        b.entries = []


def _check_letter(b: Bundle) -> None:
    b.letter = b.members.get(LETTER_NAME, b"")
    if b.letter and sealing.is_sealed(b.letter):
        # Exported at the receiver's node, which keeps a secret letter sealed at rest: its content and
        # signature open only with the receiving organisation's key (docs/secret-letters.md).
        b.fine(f"letter: sealed to its receiver (ลับ/ลับมาก, {len(b.letter)} bytes, SHA-256 "
               f"{hashlib.sha256(b.letter).hexdigest()}); its signature is checked when its receiver opens it, "
               "and the chain below ties these bytes to the letter's events")
        return
    document = parse_member(b, LETTER_NAME) if b.letter else None
    if document is None:
        if not b.letter:
            b.problem(f"{LETTER_NAME} is missing")
        return
    stored = b.entry("stored", "")
    embedded = embedded_certificate(document)
    trusted = list(b.certs) + ([embedded] if embedded is not None and pki.signed_by(embedded, b.anchors) else [])
    at, note = signature_time(b, document, stored.at if stored else None)
    legacy = ""
    try:
        try:
            verified = signing.verify_letter(document, trusted=trusted, policy=signing.VerifyPolicy.modern(), now=at)
        except RemoteError as exc:
            if exc.code is not ErrorCode.SIGNATURE_POLICY:
                raise
            verified = signing.verify_letter(document, trusted=trusted, policy=signing.VerifyPolicy.with_legacy(),
                                             now=at)
            legacy = " with legacy algorithms (SHA-1 or a bare key), accepted only behind the legacy switch"
    except RemoteError as exc:
        b.problem(f"{LETTER_NAME}: its signature does not verify ({exc.detail or exc.code.english})")
        return
    try:
        letter = read_letter(document, allow_top_secret=True)
    except RemoteError as exc:
        b.problem(f"{LETTER_NAME} is not a letter the node could have accepted ({exc.detail or exc.code.english})")
        return
    sender, receiver = letter.sender.department_id, letter.receiver.department_id
    signer = next(c for c in trusted if pki.fingerprint(c) == verified.certificate_sha256)
    if verified.signer_org == sender:
        by = f"the key of organisation {sender}, the sender"
    elif pki.node_of(signer):
        by = f"the key of node {pki.node_of(signer)}, on the sender's behalf"
    else:
        b.problem(f"{LETTER_NAME} is signed by {verified.signer}, not by its sender {sender}")
        return
    b.fine(f"letter ที่ {letter.letter_id} ลงวันที่ {thai_date(letter.correspondence_date)} เรื่อง "
           f"{letter.subject!r}, from {sender} to {receiver}: its signature verifies{legacy}, made with {by} "
           f"({verified.signer}){note}")
    if stored is None:
        b.fine("letter: the bundle holds no 'stored' entry, so nothing ties these bytes to its ProcessID but "
               "the receipts")
        return
    row = LetterRow(id=0, process_id=b.report.process_id, sender_org=sender, receiver_org=receiver,
                    letter_no=letter.letter_id, corr_date=letter.correspondence_date, subject=letter.subject,
                    secret_code=letter.secret_code, speed_code=letter.speed_code, digest=letter.digest, signed=True,
                    state=LetterState.SENT, delivery=Delivery.DELIVERED, accept_id="", created_at=b.now,
                    updated_at=b.now, pulled_at=None, signer_org=verified.signer_org,
                    certificate_sha256=verified.certificate_sha256)
    rows = (row, dataclasses.replace(row, signed=False))
    if stored.digest in {chain.letter_digest(r, b.letter) for r in rows}:
        b.fine(f"letter: these are the very bytes the node stored as ProcessID {b.report.process_id} "
               f"on {thai_datetime(stored.at)} (its 'stored' entry)")
    else:
        b.problem(f"{LETTER_NAME} is not the letter the node's 'stored' entry describes")


def _check_notifiers(b: Bundle) -> None:
    for name in sorted(n for n in b.members if n.startswith(NOTIFIERS) and not n.endswith(ATTESTATION)):
        process_id = name[len(NOTIFIERS):].removesuffix(".xml")
        data = b.members[name]
        b.notifier_digests[process_id] = nodemsg.digest(data)
        element = parse_member(b, name)
        if element is None:
            continue
        kind, number = etree.QName(element).localname, (element.findtext("AcceptID") or "").strip()
        logged = b.entry("notice", process_id)
        said = _detail(logged)
        if logged is None and b.entry("stored", "") is not None:
            # the log was kept when the letter was stored, so every notifier after it has its entry
            b.problem(f"{name} has no 'notice' entry: the letter's entries were cut short")
        elif logged is None:
            b.fine(f"notifier {process_id} ({kind}) is not in the bundle's evidence entries: not tied to the log")
        else:
            try:
                notice = NoticeRow(id=0, process_id=process_id, letter_id=0, kind=Event(said.get("kind", "")),
                                   accept_id=said.get("accept_id", ""), from_org=said.get("from", ""),
                                   to_org=said.get("to", ""), payload=data, created_at=logged.at)
                same = chain.notice_digest(notice) == logged.digest and number == notice.accept_id
            except ValueError:
                same = False
            if not same:
                b.problem(f"{name} is not the notifier the node's log recorded")
                continue
            b.fine(f"notifier {process_id}: {kind} from {notice.from_org} to {notice.to_org}"
                   + (f", receive number (เลขทะเบียนรับ) {number!r}" if number else "")
                   + f", as the node recorded it on {thai_datetime(logged.at)}")
        if name.removesuffix(".xml") + ATTESTATION in b.members:
            _check_attestation(b, name.removesuffix(".xml") + ATTESTATION, process_id, data, said.get("from"),
                               logged.at if logged else None)


def _detail(entry: EvidenceRow | None) -> dict:
    try:
        said = json.loads(entry.detail or "{}") if entry else {}
    except ValueError:
        return {}
    return said if isinstance(said, dict) else {}


def _check_attestation(b: Bundle, name: str, process_id: str, payload: bytes, org: str | None,
                       recorded: dt.datetime | None) -> None:
    root = parse_member(b, name, "ItemAttestation")
    if root is None:
        return
    org = org or node_text(root, "Organization")
    signed, who, note = node_document(b, name, "ItemAttestation", signer_org=org, recorded=recorded)
    if signed is None:
        return
    try:
        attest.check(attest.read(signed), organization=org, kind="notifier", process_id=process_id,
                     letter_process_id=b.report.process_id, payload=payload)
    except RemoteError as exc:
        b.problem(f"{name}: {exc.detail}")
        return
    b.fine(f"notifier {process_id}: attested end to end by {org}, signed by {who}{note}")


def _check_receipts(b: Bundle) -> None:
    for name in sorted(n for n in b.members if n.startswith(RECEIPTS)):
        root = parse_member(b, name, "NodeReceipt")
        if root is None:
            continue
        try:
            claimed = nodemsg.read_receipt(root)
        except RemoteError as exc:
            b.problem(f"{name} cannot be read: {exc.detail}")
            continue
        signed, _, note = node_document(b, name, "NodeReceipt", signer_node=claimed.receiver_node,
                                        recorded=claimed.received_at)
        if signed is None:
            continue
        receipt = nodemsg.read_receipt(signed)
        if name != f"{RECEIPTS}{receipt.message_id}.xml":
            b.problem(f"{name} is the receipt of message {receipt.message_id}")
            continue
        sealed = b.members.get(SEALED_NAME, b"")
        if receipt.process_id == b.report.process_id and sealed and receipt.payload_digest == nodemsg.digest(sealed):
            what, expected = f"the letter sealed to its receiver ({SEALED_NAME})", nodemsg.digest(sealed)
        elif receipt.process_id == b.report.process_id:
            what, expected = "the letter", nodemsg.digest(b.letter)
        elif receipt.process_id in b.notifier_digests:
            what, expected = f"notifier {receipt.process_id}", b.notifier_digests[receipt.process_id]
        else:
            what, expected = f"item {receipt.process_id} of this letter (its bytes are not in the bundle)", None
        if expected is not None and receipt.payload_digest != expected:
            b.problem(f"{name}: node {receipt.receiver_node} acknowledged other bytes than {what}'s")
            continue
        _receipt_logged(b, name, receipt, b.members[name])
        b.receipts.append((name, receipt))
        b.fine(f"receipt {receipt.message_id}: node {receipt.receiver_node} signed{note} that it received {what} "
               f"from node {receipt.sender_node} on {thai_datetime(receipt.received_at)}")


def _receipt_logged(b: Bundle, name: str, receipt: nodemsg.Receipt, data: bytes) -> None:
    delivered = b.entry("delivered", receipt.message_id)
    arrived = b.entry("received-from-node", receipt.message_id)
    if delivered is None and arrived is None and b.entry("stored", "") is not None:
        b.problem(f"{name} has no 'delivered' or 'received-from-node' entry: the letter's entries were cut short")
    elif delivered is not None and delivered.digest != chain.sha256(data):
        b.problem(f"{name} is not the receipt the node's 'delivered' entry recorded")
    elif arrived is not None and arrived.digest != receipt.payload_digest:
        b.problem(f"{name} acknowledges other bytes than the node's 'received-from-node' entry recorded")


# ---------------------------------------------------------------- the evidence log

def _check_chain(b: Bundle) -> None:
    if not b.entries:
        return
    before, prev = len(b.report.problems), ""
    for e in b.entries:
        again = chain.entry_hash(prev_hash=e.prev_hash, at=e.at, process_id=e.process_id, event=e.event,
                                 item=e.item, detail=e.detail, digest=e.digest)
        if e.process_id != b.report.process_id:
            b.problem(f"evidence entry {e.id} is of another letter ({e.process_id})")
        if again != e.hash:
            b.problem(f"evidence entry {e.id} ({e.event}) was changed: its hash does not match its fields")
        if e.prev_hash != prev:
            b.problem(f"evidence entry {e.id} ({e.event}): the chain is broken before it")
        prev = e.hash
    if [e.id for e in b.entries] != sorted({e.id for e in b.entries}):
        b.problem("the evidence entries are not in the order of their ids")
    if len(b.report.problems) == before:
        b.fine(f"evidence: {len(b.entries)} entries of ProcessID {b.report.process_id}, each hash and the chain "
               f"verify, from {thai_datetime(b.entries[0].at)} ({b.entries[0].event}) to "
               f"{thai_datetime(b.entries[-1].at)} ({b.entries[-1].event})")


def _check_checkpoint(b: Bundle, check_token: Checker | None) -> None:
    if CHECKPOINT_NAME not in b.members:
        for name in (SEGMENT_NAME, TIMESTAMP_NAME):
            if name in b.members:
                b.problem(f"{name} without {CHECKPOINT_NAME}")
        if b.entries:
            b.fine("checkpoint: none covers these entries yet, so the newest of them could still be cut "
                   "without notice; export again after the next checkpoint")
        return
    root = parse_member(b, CHECKPOINT_NAME, "EvidenceCheckpoint")
    if root is None:
        return
    b.node = node_text(root, "Node")
    try:
        recorded = dt.datetime.fromisoformat(node_text(root, "At"))
    except ValueError:
        recorded = None
    signed, who, note = node_document(b, CHECKPOINT_NAME, "EvidenceCheckpoint", signer_node=b.node,
                                       recorded=recorded if recorded and recorded.tzinfo else None)
    if signed is None:
        return
    said = {local: node_text(signed, local) for local in ("Node", "At", "UptoID", "Entries", "Root", "PrevRoot")}
    for name, receipt in b.receipts:   # now that the node is known
        if b.node not in (receipt.sender_node, receipt.receiver_node):
            b.problem(f"{name} names neither node {b.node}, whose log this is, as sender nor as receiver")
    if _check_segment(b, said):
        at = dt.datetime.fromisoformat(said["At"])
        b.fine(f"checkpoint: {who} signed on {thai_datetime(at)}{note} a root over "
               f"{said['Entries']} entries up to id {said['UptoID']}; it recomputes from the segment, which holds "
               "this letter's newest entry, so none of the entries above was changed or removed since")
    token = b.members.get(TIMESTAMP_NAME)
    if token is None:
        b.fine("time stamp: none (the node has no time-stamping authority configured)")
    elif check_token is None:
        b.fine("time stamp: present, not checked (give the authority's certificate, --tsa-certificate)")
    else:
        try:
            at = check_token(token, b.members[CHECKPOINT_NAME])
            b.fine(f"time stamp: an RFC 3161 authority stamped the checkpoint on {thai_datetime(at)}")
        except GatewayError as exc:
            b.problem(f"{TIMESTAMP_NAME}: the time stamp does not verify ({exc})")


def _check_segment(b: Bundle, said: dict[str, str]) -> bool:
    before = len(b.report.problems)
    try:
        doc = json.loads(b.members[SEGMENT_NAME].decode("utf-8"))
        after, prev_root = int(doc["after_id"]), str(doc["prev_root"])
        pairs = [(int(e["id"]), str(e["hash"])) for e in doc["entries"]]
        root = chain.checkpoint_root(prev_root, [h for _, h in pairs])
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        b.problem(f"{SEGMENT_NAME} is missing or cannot be read: {exc}")
        return False
    ids = [i for i, _ in pairs]
    if ids != sorted(set(ids)) or (ids and ids[0] <= after):
        b.problem(f"{SEGMENT_NAME}: its ids are not increasing after {after}")
    if (root, str(len(pairs)), str(ids[-1] if ids else after), prev_root) != \
            (said["Root"], said["Entries"], said["UptoID"], said["PrevRoot"]):
        b.problem(f"{SEGMENT_NAME} is not the segment the checkpoint signed (its root, count, last id or "
                  "previous root differ)")
    listed = dict(pairs)
    for e in b.entries:
        if e.id > after and listed.get(e.id) != e.hash:
            b.problem(f"evidence entry {e.id} ({e.event}) is not in the checkpoint's segment as it is")
    if b.entries and b.entries[-1].id <= after:
        b.problem("the checkpoint does not cover the letter's newest entry")
    return len(b.report.problems) == before

