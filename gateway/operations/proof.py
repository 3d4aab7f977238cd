"""``gateway proof export``: one letter's proof bundle (docs/proof.md), from what the store holds.

:func:`export` reads the letter, its notifiers, its outbox items' receipts and
attestations, the receipts this node issued for it, its evidence entries and
the checkpoint that covers the newest of them, and writes one ZIP
(``core/proof_format.py``) with the certificates every signature needs and a
summary in Thai and in English. ``core/proof.py`` verifies such a bundle with
nothing else at hand.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from cryptography.x509.oid import NameOID

from gateway.core import proof_format as fmt
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.letters.codelists import SECRET_CODES, SPEED_CODES
from gateway.core.records import CheckpointRow, EvidenceRow, LetterRow, NoticeRow, OutboxRow, ReceivedRow
from gateway.core.state import ItemKind
from gateway.core.time import BANGKOK, thai_date, thai_datetime
from gateway.core.trust import pki
from gateway.core.trust.keyring import Keyring
from gateway.core.xml import safe
from gateway.store import Store

PAGE = 5000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NOTIFIER_KINDS = {
    "receive": ("แจ้งได้รับหนังสือ", "receive notifier (ReceiveLetterNotifier)"),
    "accept": ("แจ้งลงทะเบียนรับ", "accept notifier (AcceptLetterNotifier)"),
    "reject": ("แจ้งปฏิเสธหนังสือ", "reject notifier (RejectLetterNotifier)"),
    "invalid": ("แจ้งหนังสือไม่ถูกต้อง", "invalid-letter notifier (InvalidLetterNotifier)"),
    "invalid_accept_id": ("แจ้งเลขทะเบียนรับไม่ถูกต้อง", "invalid receive number notifier (InvalidAcceptIDNotifier)"),
}
STATES = {"sent": ("ส่งแล้ว", "sent"), "received": ("ผู้รับได้รับแล้ว", "received"),
          "accepted": ("ลงทะเบียนรับแล้ว", "accepted (registered)"), "rejected": ("ถูกปฏิเสธ", "rejected"),
          "invalid": ("ผู้รับแจ้งว่าไม่ถูกต้อง", "invalid"),
          "disputed": ("โต้แย้งเลขทะเบียนรับ", "receive number disputed"),
          "withdrawn": ("ถอนแล้ว", "withdrawn")}
EVENTS = {"received": "รับจากระบบสารบรรณของผู้ส่ง", "received-from-node": "รับจากเครื่องให้บริการอื่น",
          "stored": "บันทึกหนังสือ", "forwarded": "ส่งต่อ", "delivered": "ส่งถึงเครื่องถัดไป ได้ใบตอบรับ",
          "failed": "ส่งไม่สำเร็จ", "pulled": "ผู้รับดึงหนังสือ", "deleted": "ลบออกจากคิว", "notice": "หนังสือแจ้ง",
          "withdrawn": "ถอนหนังสือ", "status": "สถานะจากเครื่องปลายทาง", "operator": "ผู้ดูแลระบบดำเนินการ",
          "purged": "ลบตามกำหนดเวลาเก็บรักษา"}
SIGNED_BY = {"client": ("ระบบสารบรรณของผู้ส่ง (e-Saraban) ลงนามเอง", "signed by the sender's own e-Saraban"),
             "node": ("เครื่องให้บริการนี้ลงนามในนามหน่วยงานผู้ส่ง", "signed by this node on the sender's behalf"),
             "origin": ("ลงนามที่ต้นทาง และตรวจสอบที่เครื่องนี้เมื่อรับมา",
                        "signed where it was sent, verified here when it arrived")}


@dataclass(frozen=True, kw_only=True)
class _Held:
    """What the store holds of one letter."""

    letter: LetterRow
    document: bytes
    notices: list[NoticeRow]
    outbox: list[OutboxRow]
    received: list[ReceivedRow]
    entries: list[EvidenceRow]
    checkpoint: CheckpointRow | None
    after_id: int
    segment: list[tuple[int, str]]


def export(store: Store, keyring: Keyring, *, node_id: str, process_id: str, now: dt.datetime) -> bytes:
    """The proof bundle of letter ``process_id`` (ZIP bytes); LETTER_NOT_FOUND when this node holds no such letter."""
    held = _read(store, process_id)
    attestations = {i.process_id: i.attestation for i in held.outbox
                    if i.kind == ItemKind.NOTIFIER and i.attestation}
    members: dict[str, bytes] = {}
    members[fmt.LETTER_NAME] = held.document
    sealed = next((i.payload for i in held.outbox if i.kind == ItemKind.LETTER and i.payload != held.document), None)
    if sealed is not None:    # the next node acknowledged the sealed bytes (docs/secret-letters.md)
        members[fmt.SEALED_NAME] = sealed
    for item in held.outbox:
        if item.receipt:
            members[f"{fmt.RECEIPTS}{item.message_id}.xml"] = item.receipt
    for row in held.received:
        members[f"{fmt.RECEIPTS}{row.message_id}.xml"] = row.receipt
    for notice in held.notices:
        members[f"{fmt.NOTIFIERS}{notice.process_id}.xml"] = notice.payload
        if notice.process_id in attestations:
            members[f"{fmt.NOTIFIERS}{notice.process_id}{fmt.ATTESTATION}"] = attestations[notice.process_id]
    members[fmt.ENTRIES_NAME] = fmt.entries_json(process_id, held.entries)
    cp = held.checkpoint
    if cp is not None:
        members[fmt.CHECKPOINT_NAME] = cp.document
        if cp.timestamp_token:
            members[fmt.TIMESTAMP_NAME] = cp.timestamp_token
        members[fmt.SEGMENT_NAME] = fmt.segment_json(checkpoint_id=cp.id, after_id=held.after_id,
                                                     upto_id=cp.upto_id, prev_root=cp.prev_root,
                                                     entries=held.segment)
    signed = [d for n, d in members.items() if n.startswith(fmt.RECEIPTS) or n.endswith(fmt.ATTESTATION)
              or n == fmt.CHECKPOINT_NAME]
    members.update(_certificates(keyring, node_id, held, signed))
    th, en = _summary(keyring, node_id, held, attestations, now)
    return fmt.write_zip([(fmt.SUMMARY_TH, th), (fmt.SUMMARY_EN, en), *members.items()], at=now)


def _read(store: Store, process_id: str) -> _Held:
    with store.transaction() as tx:
        letter = tx.letter_by_process_id(process_id)
        if letter is None:
            raise RemoteError(ErrorCode.LETTER_NOT_FOUND, f"no letter with ProcessID {process_id}")
        document = tx.letter_document(letter.id)
        notices = tx.notices_of_letter(letter.id)
        outbox = tx.outbox_of_letter(process_id)
        received = [r for pid in [process_id, *(n.process_id for n in notices)]
                    for r in tx.received_by_process_id(pid)]
        entries = tx.evidence_of(process_id)
        checkpoints = tx.checkpoints() if entries else []
    covering = next((i for i, c in enumerate(checkpoints) if c.upto_id >= entries[-1].id), None) if entries else None
    checkpoint = checkpoints[covering] if covering is not None else None
    after = checkpoints[covering - 1].upto_id if covering else 0
    segment: list[tuple[int, str]] = []
    if checkpoint is not None:
        upto = after
        while upto < checkpoint.upto_id:
            with store.transaction() as tx:
                page = tx.evidence_after(after_id=upto, limit=PAGE)
            segment += [(e.id, e.hash) for e in page if e.id <= checkpoint.upto_id]
            if len(page) < PAGE:
                break
            upto = page[-1].id
    return _Held(letter=letter, document=document, notices=notices, outbox=outbox, received=received,
                 entries=entries, checkpoint=checkpoint, after_id=after, segment=segment)


def _certificates(keyring: Keyring, node_id: str, held: _Held, signed: list[bytes]) -> dict[str, bytes]:
    """The CAs, this node's and the receipts' signers' certificates, and those of the letter's organisations.

    The certificate each ``signed`` document carries is added too when a CA of ours issued it: one
    that has expired or was rotated out since is no longer in the keyring, and its signature was made.
    """
    found = {f"ca-{pki.fingerprint(a)[:16]}.pem": [a] for a in keyring.anchors}
    nodes = {node_id, *(i.next_node for i in held.outbox if i.receipt)}
    for node in sorted(nodes):
        found[f"node-{_file_name(node)}.pem"] = keyring.node_trusted(node)
    orgs = {held.letter.sender_org, held.letter.receiver_org, *(n.from_org for n in held.notices)}
    for org in sorted(orgs):
        found[f"org-{_file_name(org)}.pem"] = keyring.org_trusted(org)
    for data in signed:
        try:
            cert = fmt.embedded_certificate(safe.parse(data, safe.Limits(max_bytes=max(len(data), 1))))
        except RemoteError:
            continue
        if cert is None or not pki.signed_by(cert, keyring.anchors):
            continue
        node, org = pki.node_of(cert), pki.organization_of(cert)
        name = f"node-{_file_name(node)}.pem" if node else f"org-{_file_name(org)}.pem" if org else "signers.pem"
        if pki.fingerprint(cert) not in {pki.fingerprint(c) for c in found.get(name, [])}:
            found[name] = [*found.get(name, []), cert]
    return {f"{fmt.CERTIFICATES}{name}": b"".join(pki.pem_certificate(c) for c in certs)
            for name, certs in found.items() if certs}


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


# ---------------------------------------------------------------- the summaries (Thai, English)

def _en_time(at: dt.datetime) -> str:
    local = at.astimezone(BANGKOK)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year + 543} BE, {local:%H:%M} Bangkok time"


def _en_date(value: str) -> str:
    day = dt.date.fromisoformat(value[:10])
    return f"{day.day} {MONTHS[day.month - 1]} {day.year + 543} BE"


def _hop_time(text: str) -> dt.datetime | None:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else None


def _org_name(keyring: Keyring, org: str) -> str:
    cert = keyring.org_certificates.get(org)
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) if cert is not None else []
    return f"{org} {names[0].value}" if names else org


def _summary(keyring: Keyring, node_id: str, held: _Held, attestations: dict[str, bytes],
             now: dt.datetime) -> tuple[bytes, bytes]:
    """summary-th.txt and summary-en.txt: what the bundle holds and what it proves, in plain words."""
    letter = held.letter
    th: list[str] = []
    en: list[str] = []

    def line(thai: str, english: str) -> None:
        th.append(thai)
        en.append(english)

    line(f"ชุดหลักฐานหนังสือราชการ (proof bundle) จากเครื่องให้บริการ {node_id}",
         f"Proof bundle of a government letter, from node {node_id}")
    line(f"จัดทำเมื่อ {thai_datetime(now)}", f"Made on {_en_time(now)}")
    line("", "")
    line("ชุดนี้แสดงว่า หนังสือฉบับนี้ลงลายมือชื่อดิจิทัลโดยผู้ที่ระบุด้านล่าง เครื่องให้บริการได้รับ ส่งต่อ และได้รับ"
         "หนังสือแจ้งตามที่ระบุ โดยมีใบตอบรับที่เครื่องปลายทางลงนาม และรายการในบันทึกหลักฐานที่เชื่อมโยงกันด้วยค่า"
         "แฮช ซึ่งจุดตรวจ (checkpoint) ที่เครื่องลงนามไว้ครอบคลุมอยู่ ตรวจสอบได้โดยไม่ต้องใช้ฐานข้อมูล ด้วยคำสั่ง",
         "It shows that this letter was digitally signed by the signer named below, and that the node received, "
         "forwarded and got the notifiers listed, with receipts signed by the next nodes and entries of the "
         "node's evidence log, chained by hash and covered by a checkpoint the node signed. Check it without any "
         "database with")
    line("  gateway proof verify <แฟ้มนี้> --ca <ใบรับรอง CA ที่ท่านเชื่อถือ>",
         "  gateway proof verify <this file> --ca <the CA certificate you trust>")
    line("สรุปนี้ไม่ได้ลงนาม: ข้อความที่เชื่อถือได้คือผลของคำสั่งตรวจสอบ",
         "This summary is not signed: what counts is what the verify command reports.")
    line("", "")
    line("หนังสือ", "The letter")
    line(f"  ที่: {letter.letter_no}", f"  Number (ที่): {letter.letter_no}")
    line(f"  ลงวันที่: {thai_date(letter.corr_date)}", f"  Dated: {_en_date(letter.corr_date)} ({letter.corr_date})")
    line(f"  เรื่อง: {letter.subject}", f"  Subject (เรื่อง): {letter.subject}")
    line(f"  จาก: {_org_name(keyring, letter.sender_org)}", f"  From: {_org_name(keyring, letter.sender_org)}")
    line(f"  ถึง: {_org_name(keyring, letter.receiver_org)}", f"  To: {_org_name(keyring, letter.receiver_org)}")
    line(f"  ชั้นความลับ: {SECRET_CODES.get(letter.secret_code, letter.secret_code)}  ชั้นความเร็ว: "
         f"{SPEED_CODES.get(letter.speed_code, letter.speed_code)}",
         f"  Secret code {letter.secret_code}, speed code {letter.speed_code}")
    line(f"  ProcessID: {letter.process_id}", f"  ProcessID: {letter.process_id}")
    state_th, state_en = STATES.get(letter.state.value, (letter.state.value, letter.state.value))
    line(f"  สถานะ: {state_th}" + (f"  เลขทะเบียนรับ: {letter.accept_id}" if letter.accept_id else ""),
         f"  State: {state_en}" + (f", receive number (เลขทะเบียนรับ) {letter.accept_id}" if letter.accept_id else ""))
    line("ลายมือชื่อดิจิทัล", "Its signature")
    by_th, by_en = SIGNED_BY.get(letter.signed_by, (letter.signed_by, letter.signed_by))
    line(f"  ผู้ลงนาม: {letter.signer} ({by_th})", f"  Signer: {letter.signer} ({by_en})")
    if letter.verified_at is not None:
        line(f"  ตรวจสอบลายมือชื่อเมื่อ {thai_datetime(letter.verified_at)} ({letter.signature_method})",
             f"  Verified on {_en_time(letter.verified_at)} ({letter.signature_method})")
    _hops(line, held)
    _notices(line, held, attestations)
    _log(line, held, node_id)
    line("", "")
    line("สิ่งที่ชุดนี้ไม่ได้พิสูจน์: ว่าไม่มีเหตุการณ์ใดหลังรายการล่าสุดในชุดนี้ "
         "และสิ่งที่เครื่องอื่นทำนอกจากที่ลงนามไว้",
         "What it does not prove: that nothing happened after the newest entry in it, nor what other nodes did "
         "beyond what they signed.")
    return ("\n".join(th) + "\n").encode("utf-8"), ("\n".join(en) + "\n").encode("utf-8")


def _hops(line, held: _Held) -> None:
    line("เส้นทางและใบตอบรับ", "Hops and receipts")
    path = json.loads(held.letter.path or "[]")
    for hop in path:
        at = _hop_time(hop.get("at", ""))
        line(f"  ผ่านเครื่อง {hop.get('node', '')}" + (f" เมื่อ {thai_datetime(at)}" if at else ""),
             f"  through node {hop.get('node', '')}" + (f" on {_en_time(at)}" if at else ""))
    for row in held.received:
        line(f"  รับจากเครื่อง {row.sender_node} เมื่อ {thai_datetime(row.received_at)}: ใบตอบรับ {row.message_id} "
             "ที่เครื่องนี้ลงนาม", f"  received from node {row.sender_node} on {_en_time(row.received_at)}: receipt "
             f"{row.message_id}, signed by this node")
    for item in held.outbox:
        what = "หนังสือ" if item.kind == ItemKind.LETTER else item.kind.value
        if item.receipt and item.receipt_at is not None:
            line(f"  ส่ง{what} {item.process_id} ถึงเครื่อง {item.next_node}: ได้รับใบตอบรับ {item.message_id} "
                 f"ที่เครื่อง {item.next_node} ลงนาม เมื่อ {thai_datetime(item.receipt_at)}",
                 f"  {item.kind.value} {item.process_id} to node {item.next_node}: receipt {item.message_id} "
                 f"signed by {item.next_node}, {_en_time(item.receipt_at)}")
        else:
            line(f"  ส่ง{what} {item.process_id} ถึงเครื่อง {item.next_node}: {item.state} (ยังไม่มีใบตอบรับ)",
                 f"  {item.kind.value} {item.process_id} to node {item.next_node}: {item.state}, no receipt")
    if not path and not held.received and not held.outbox:
        line("  ผู้ส่งและผู้รับอยู่บนเครื่องให้บริการเดียวกัน ไม่มีการส่งต่อ",
             "  the sender and the receiver are on this node: no hop, no receipt")


def _notices(line, held: _Held, attestations: dict[str, bytes]) -> None:
    line("หนังสือแจ้ง", "Notifiers")
    for notice in held.notices:
        kind_th, kind_en = NOTIFIER_KINDS.get(notice.kind.value, (notice.kind.value, notice.kind.value))
        attested = notice.process_id in attestations
        line(f"  {kind_th} จาก {notice.from_org} ถึง {notice.to_org} เมื่อ {thai_datetime(notice.created_at)}"
             + (f" เลขทะเบียนรับ {notice.accept_id}" if notice.accept_id else "")
             + (" (หน่วยงานผู้แจ้งลงนามยืนยัน)" if attested else "") + f"  [{notice.process_id}]",
             f"  {kind_en} from {notice.from_org} to {notice.to_org} on {_en_time(notice.created_at)}"
             + (f", receive number (เลขทะเบียนรับ) {notice.accept_id}" if notice.accept_id else "")
             + (" (attested by the organisation)" if attested else "") + f"  [{notice.process_id}]")
    if not held.notices:
        line("  ยังไม่มี", "  none yet")


def _log(line, held: _Held, node_id: str) -> None:
    line("บันทึกหลักฐาน", "The evidence log")
    for e in held.entries:
        line(f"  {e.id}  {thai_datetime(e.at)}  {EVENTS.get(e.event, e.event)} ({e.event})  {e.item}  {e.hash[:16]}",
             f"  {e.id}  {_en_time(e.at)}  {e.event}  {e.item}  {e.hash[:16]}")
    cp = held.checkpoint
    if cp is None:
        line("  ยังไม่มีจุดตรวจ (checkpoint) ที่ครอบคลุมรายการเหล่านี้: รายการล่าสุดอาจถูกตัดออกได้โดยไม่ถูกตรวจพบ "
             "จนกว่าจะมีจุดตรวจถัดไป ควรส่งออกชุดหลักฐานใหม่หลังจากนั้น",
             "  no checkpoint covers these entries yet: the newest of them could be cut without notice until the "
             "next one; export the bundle again after it")
        return
    stamped_th = "ประทับเวลาโดยผู้ให้บริการประทับเวลา (RFC 3161)" if cp.timestamp_token else "ไม่ได้ประทับเวลา"
    stamped_en = "time-stamped by an RFC 3161 authority" if cp.timestamp_token else "not time-stamped"
    line(f"  จุดตรวจที่ {cp.id} ลงนามโดยเครื่อง {node_id} เมื่อ {thai_datetime(cp.at)} ครอบคลุม {cp.entries} "
         f"รายการถึงลำดับที่ {cp.upto_id} (root {cp.root[:16]}…), {stamped_th}",
         f"  checkpoint {cp.id}, signed by node {node_id} on {_en_time(cp.at)}, covers {cp.entries} entries "
         f"up to id {cp.upto_id} (root {cp.root[:16]}…), {stamped_en}")

