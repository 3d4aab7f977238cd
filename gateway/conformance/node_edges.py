"""The agency-interface plan's edges (A12 onwards): refusals, duplicates, withdrawal, timeouts, large and
signed letters, both wrapper styles, SOAP 1.2, and the legacy quirks deployed clients send.

Each refusal case also checks that nothing of the refused request was queued for the receiver.
"""
from __future__ import annotations

import hashlib

from lxml import etree

from gateway.conformance.agent import letter
from gateway.conformance.node_plan import (PDF, PLAN, SUBJECT, NodeContext, find_item, is_letter,
                                           is_notifier, main_letter_bytes, ok, queued, refused, status_of,
                                           unqualified)
from gateway.conformance.plan import Failed, NotCheckable, case, expect, expect_equal
from gateway.core import ns

UNKNOWN_ORG = "9999999999"


def nothing_queued(ctx: NodeContext, letter_id: str) -> None:
    for reply in queued(ctx.receiver, "the receiver's pull"):
        expect(not is_letter(letter_id)(reply), f"the refused letter {letter_id} was queued for the receiver")


# ------------------------------------------------------------------ refusals

@case(PLAN, "A12", en="A letter to an organisation not in the directory is refused with 2001",
      th="หนังสือถึงหน่วยงานที่ไม่มีในทะเบียนถูกปฏิเสธด้วยรหัส 2001", section="3.2.1, error codes")
def unknown_receiver(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("2001", receiver=UNKNOWN_ORG)
    reply = refused(ctx.sender.send(document), "2001", "a letter to 9999999999")
    expect(UNKNOWN_ORG in reply.fault_text, f"the description does not name {UNKNOWN_ORG}: {reply.fault_text!r}")


@case(PLAN, "A13", en="A malformed letter (an unescaped &) is refused with 1001; a letter without Subject with 1006",
      th="หนังสือที่รูปแบบ XML ผิด (มี & ที่ไม่ได้ escape) ถูกปฏิเสธด้วย 1001 และที่ไม่มีเรื่องด้วย 1006",
      section="transport, error codes")
def malformed(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("1001")
    broken = document.replace("&amp;", "&", 1)
    expect(broken != document, "the kit's letter has no & to break")
    refused(ctx.sender.send(broken), "1001", "a letter with an unescaped &")
    letter_id, document = ctx.letter("1006")
    start, end = document.index("<ram:Subject>"), document.index("</ram:Subject>") + len("</ram:Subject>")
    refused(ctx.sender.send(document[:start] + document[end:]), "1006", "a letter without ram:Subject")
    nothing_queued(ctx, letter_id)


@case(PLAN, "A14", en="Unknown secret or speed codes are refused with 2002",
      th="รหัสชั้นความลับหรือชั้นความเร็วที่ไม่รู้จักถูกปฏิเสธด้วย 2002", section="3.3.3, 3.3.4")
def unknown_codes(ctx: NodeContext) -> None:
    for label, kw in (("secret", {"secret": "999"}), ("speed", {"speed": "999"})):
        letter_id, document = ctx.letter(f"2002{label}", **kw)
        refused(ctx.sender.send(document), "2002", f"a letter with {label} code 999")
        nothing_queued(ctx, letter_id)


@case(PLAN, "A15", en="A top secret letter (ลับที่สุด, 004) is refused with 2003",
      th="หนังสือลับที่สุด (004) ถูกปฏิเสธด้วย 2003", section="3.3.3, the correspondence regulation")
def top_secret(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("2003", secret="004")
    refused(ctx.sender.send(document), "2003", "a letter with secret code 004")
    nothing_queued(ctx, letter_id)


@case(PLAN, "A16", en="The same letter sent twice is one letter: the same ProcessID, queued once",
      th="หนังสือฉบับเดียวกันส่งซ้ำเป็นหนังสือฉบับเดียว ได้ ProcessID เดิม และเข้าคิวครั้งเดียว", section="3.2.1",
      requires=("A1",))
def sent_twice(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("2")
    first = ok(ctx.sender.send(document), "the first send")
    again = ok(ctx.sender.send(document), "the same letter again")
    expect_equal("ProcessID of the repeated send", first.process_id, again.process_id)
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "the receiver's pull")
    ok(ctx.receiver.delete(got.process_id), "delete")
    for reply in queued(ctx.receiver, "the receiver's pull"):
        expect(not is_letter(letter_id)(reply), "the letter sent twice was queued twice")


@case(PLAN, "A17", en="Delete of an unknown ProcessID is refused with 3003",
      th="การลบ ProcessID ที่ไม่มีอยู่ถูกปฏิเสธด้วย 3003", section="3.2.14")
def delete_unknown(ctx: NodeContext) -> None:
    refused(ctx.receiver.delete("00000000-0000-0000-0000-000000000000"), "3003", "delete of an unknown ProcessID")


@case(PLAN, "A18", en="Rejected, withdrawn, sent again: the corrected letter reaches the receiver with a new ProcessID",
      th="ถูกปฏิเสธ ถอนคืน แล้วส่งใหม่: หนังสือที่แก้ไขถึงผู้รับด้วย ProcessID ใหม่", section="3.2.4, 3.2.13",
      requires=("A1",))
def withdraw_and_resend(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("3")
    first = ok(ctx.sender.send(document), "send")
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "the receiver's pull")
    ok(ctx.receiver.delete(got.process_id), "delete")
    ok(ctx.receiver.notify("RejectLetterNotifier", letter_id, ctx.today, "ส่งผิดหน่วยงาน"), "RejectLetterNotifier")
    rejection = find_item(ctx, ctx.sender, is_notifier("RejectLetterNotifier", letter_id), "the sender's pull")
    ok(ctx.sender.delete(rejection.process_id), "delete the rejection")
    row = status_of(ctx.sender, first.process_id, "OutboundStatus")
    expect_equal("ProcessStatus", "REJECTED", (row.findtext("ProcessStatus") or "").strip())
    corrected = letter(letter_id=letter_id, date=ctx.today, subject=SUBJECT + " (แก้ไข)", sender=ctx.sender.org,
                       receiver=ctx.receiver.org, main=PDF)
    refused(ctx.sender.send(corrected), "2005", "a different letter under the same number before the withdrawal")
    ok(ctx.sender.withdraw(letter_id, ctx.today, ctx.sender.org, ctx.receiver.org), "withdraw")
    resent = ok(ctx.sender.send(corrected), "the corrected letter")
    expect(resent.process_id != first.process_id, "the resent letter has the withdrawn letter's ProcessID")
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "the receiver's pull of the corrected letter")
    expect_equal("Subject of the corrected letter", SUBJECT + " (แก้ไข)",
                 got.item.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}"))
    ok(ctx.receiver.delete(got.process_id), "delete")


# ------------------------------------------------------------------ the queue's timing, size, signatures

@case(PLAN, "A19", en="A pulled but undeleted item is served again after the visibility timeout",
      th="รายการที่ดึงแล้วแต่ยังไม่ลบ จะถูกส่งให้อีกครั้งเมื่อพ้นระยะเวลาซ่อน", section="3.2.7, 3.2.14",
      prerequisite="the node's visibility timeout (--visibility-timeout) is no longer than --max-wait",
      requires=("A1",))
def visibility_timeout(ctx: NodeContext) -> None:
    if ctx.visibility_timeout is None:
        raise NotCheckable("the node's visibility timeout was not given (--visibility-timeout SECONDS)")
    if ctx.visibility_timeout > ctx.max_wait:
        raise NotCheckable(f"the visibility timeout ({ctx.visibility_timeout:g} s) is longer than this run may "
                           f"wait (--max-wait {ctx.max_wait:g} s)")
    letter_id, document = ctx.letter("4")
    ok(ctx.sender.send(document), "send")
    first = find_item(ctx, ctx.receiver, is_letter(letter_id), "the first pull")
    hidden = ok(ctx.receiver.pull(), "a pull right after")
    expect(hidden.process_id != first.process_id, "the undeleted item is served again before the timeout")
    ctx.sleep(ctx.visibility_timeout + 1.0)
    again = find_item(ctx, ctx.receiver, is_letter(letter_id), "a pull after the visibility timeout")
    expect_equal("ProcessID served again", first.process_id, again.process_id)
    ok(ctx.receiver.delete(again.process_id), "delete")


@case(PLAN, "A20", en="A large enclosure travels intact", th="แฟ้มแนบขนาดใหญ่ถึงผู้รับครบถ้วน",
      section="3.2.1, 3.2.7", prerequisite="--large-mb (default 5) is within the node's request limit",
      requires=("A1",))
def large(ctx: NodeContext) -> None:
    payload = (PDF * (ctx.large_bytes // len(PDF) + 1))[:ctx.large_bytes]
    letter_id, document = ctx.letter("5", main=payload)
    reply = ctx.sender.send(document)
    if reply.fault_code == "1003":
        raise NotCheckable(f"the node's request limit is below {ctx.large_bytes} bytes of enclosure (1003)")
    ok(reply, f"a letter with a {ctx.large_bytes // 1024} KiB enclosure")
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "the receiver's pull")
    expect_equal("SHA-256 of the large enclosure", hashlib.sha256(payload).hexdigest(),
                 hashlib.sha256(main_letter_bytes(got.item)).hexdigest())
    ok(ctx.receiver.delete(got.process_id), "delete")


@case(PLAN, "A21", en="An unsigned letter is signed by the node; a letter signed by its client keeps its signature",
      th="หนังสือที่ไม่ได้ลงลายมือชื่อ ศูนย์ลงให้ หนังสือที่ลงลายมือชื่อมาแล้วคงลายมือชื่อเดิม", section="security",
      prerequisite="for the signed letter: the sender's key and certificate (--signer-key, --signer-cert)",
      requires=("A5",))
def signatures(ctx: NodeContext) -> None:
    signed_by_node = ctx.state["letter"]
    again = ok(ctx.receiver.special("GovernmentDocument", signed_by_node["id"], ctx.today, ctx.sender.org,
                                    ctx.receiver.org), "the node-signed letter")
    expect(again.item.find(f".//{ns.ds('Signature')}") is not None, "the node did not sign an unsigned letter")
    if ctx.signer is None:
        raise NotCheckable("no signing key of the sender was given (--signer-key, --signer-cert)")
    from gateway.core.trust import signing
    letter_id, document = ctx.letter("6")
    signed = signing.sign_letter(etree.fromstring(document.encode("utf-8")), ctx.signer)
    signature_value = signed.findtext(f".//{ns.ds('SignatureValue')}")
    ok(ctx.sender.send(etree.tostring(signed, encoding="unicode")), "a letter signed by its client")
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "the receiver's pull")
    expect_equal("the client's SignatureValue at the receiver", signature_value,
                 got.item.findtext(f".//{ns.ds('SignatureValue')}"))
    ok(ctx.receiver.delete(got.process_id), "delete")


# ------------------------------------------------------------------ envelopes, styles and versions

@case(PLAN, "A22", en="SOAP 1.2: a letter sent and pulled in SOAP 1.2, a refusal answered as a 1.2 fault",
      th="SOAP 1.2: ส่งและดึงหนังสือด้วย SOAP 1.2 และการปฏิเสธตอบเป็น fault ของ 1.2", section="transport",
      requires=("A1",))
def soap12(ctx: NodeContext) -> None:
    letter_id, document = ctx.letter("7")
    sent = ok(ctx.sender.send(document, version="1.2"), "a SOAP 1.2 letter")
    expect_equal("the answer's envelope", f"{{{ns.SOAP12_ENV}}}Envelope", sent.root.tag)
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "a SOAP 1.2 pull", version="1.2")
    expect_equal("ProcessID", sent.process_id, got.process_id)
    ok(ctx.receiver.delete(got.process_id, version="1.2"), "a SOAP 1.2 delete")
    fault = refused(ctx.receiver.delete("00000000-0000-0000-0000-000000000001", version="1.2"), "3003",
                    "a SOAP 1.2 delete of an unknown ProcessID")
    expect_equal("HTTP status of a SOAP 1.2 Sender fault", 400, fault.status)
    expect(fault.root.find(f".//{{{ns.SOAP12_ENV}}}Fault") is not None, "the SOAP 1.2 fault has no env:Fault")


@case(PLAN, "A23", en="Both wrapper styles: a qualified request (stubs contract) is answered qualified",
      th="ทั้งสองรูปแบบ: คำขอที่ระบุ namespace (สัญญาสำหรับโปรแกรมที่สร้างจาก WSDL) ได้คำตอบแบบเดียวกัน",
      section="transport (WSDL)", requires=("A1",))
def qualified_style(ctx: NodeContext) -> None:
    agency = f"{{{ns.AGENCY}}}"
    letter_id, document = ctx.letter("8")
    sent = ok(ctx.sender.send(document, qualified=True), "a qualified letter")
    expect_equal("the qualified answer element", f"{agency}CorrespondenceLetterOutboundResponse", sent.element.tag)
    expect(sent.element.find(f"{agency}processID") is None, "a qualified answer carries the legacy processID alias")
    got = find_item(ctx, ctx.receiver, is_letter(letter_id), "a qualified pull", qualified=True)
    expect_equal("ProcessID", sent.process_id, got.process_id)
    ok(ctx.receiver.delete(got.process_id, qualified=True), "a qualified delete")
    fault = ctx.receiver.delete("00000000-0000-0000-0000-000000000002", qualified=True)
    expect_equal("ErrorCode of the qualified (typed) fault", "3003", fault.fault_code)


@case(PLAN, "A24", en="The legacy quirks: no SOAPAction, misspelled WS-Addressing, wsa:to, ID=\"Body\", "
                      "Content-Type text/xml; encoding='utf-8'",
      th="ลักษณะเฉพาะของระบบเดิม: ไม่มี SOAPAction, WS-Addressing สะกดผิด, wsa:to, ID=\"Body\", "
         "Content-Type แบบ encoding='utf-8'", section="transport")
def legacy_quirks(ctx: NodeContext) -> None:
    quirky = ctx.sender.simple("GetOrganizationList", addressing="misspelled", body_id=True,
                               content_type="text/xml; encoding='utf-8'")
    ok(quirky, "GetOrganizationList as the VB.NET family sends it")
    unqualified(quirky, "OrganizationList")
    bare = ctx.sender.simple("TimeCheckRequest", addressing="none", content_type="text/xml")
    ok(bare, "TimeCheck without a Header")
    expect("SOAPAction" not in {k.lower(): v for k, v in bare.exchange.request_headers.items()},
           "the kit sent a SOAPAction")


@case(PLAN, "A25", en="Faults as deployed clients read them: SOAP 1.1 with HTTP 200, ErrorDetail(code, description)",
      th="fault แบบที่ระบบเดิมอ่าน: SOAP 1.1 ตอบ HTTP 200 และมี ErrorDetail (รหัส, คำอธิบาย)", section="error codes")
def legacy_faults(ctx: NodeContext) -> None:
    fault = refused(ctx.receiver.delete("00000000-0000-0000-0000-000000000003"), "3003", "delete of an unknown ProcessID")
    expect_equal("HTTP status of a SOAP 1.1 fault (clients read a body only on 200)", 200, fault.status)
    detail = fault.root.find(".//ErrorDetail")
    children = [c.tag for c in detail if isinstance(c.tag, str)]
    expect_equal("the ErrorDetail's children, read by position", ["ErrorCode", "ErrorDescription"], children[:2])


@case(PLAN, "A26", en="An empty queue is an empty response element", th="คิวว่างตอบเป็น element ว่าง",
      section="3.2.7")
def empty_queue(ctx: NodeContext) -> None:
    for _ in range(50):
        reply = ok(ctx.receiver.pull(), "the receiver's pull")
        if reply.item is None:
            expect_equal("the empty answer", "CorrespondenceLetterInboundResponse", reply.element.tag)
            expect(len(reply.element) == 0 and not (reply.element.text or "").strip(),
                   "an empty queue's answer has content (clients test its inner XML for emptiness)")
            return
    raise Failed("the receiver's queue did not become empty after 50 pulls")
