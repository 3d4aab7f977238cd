"""Letters and notifiers: business rules the schema cannot say, digests and stored bytes."""
from __future__ import annotations

import pytest
from lxml import etree
from gateway.testing.wire import letter as letter_xml

from gateway.core.letters import letter
from gateway.core import ns
from gateway.core.errors import RemoteError
from gateway.core.state import Event


def doc(**kw) -> etree._Element:
    return etree.fromstring(letter_xml(**kw).encode())


def test_reads_the_facts_with_thai_text():
    got = letter.read_letter(doc(letter_id="ศธ ๐๒๑๐/ว ๑๒๓", subject="ขอเชิญประชุม"))
    assert got.letter_id == "ศธ ๐๒๑๐/ว ๑๒๓" and got.subject == "ขอเชิญประชุม"
    assert got.identity.sender == "2000100000" and got.identity.receiver == "2000350000"
    assert got.main_letter.mime_type == "application/pdf" and got.attachments == () and not got.signed


def test_send_date_is_not_part_of_the_content():
    a = letter.read_letter(doc(send_date="2026-11-26T09:00:00")).digest
    b = letter.read_letter(doc(send_date="2026-11-27T10:30:00")).digest
    c = letter.read_letter(doc(description="แก้ไข")).digest
    assert a == b and a != c


def test_digest_ignores_prefixes():
    a = letter.read_letter(doc()).digest
    b = letter.read_letter(doc(prefix_ram="ns1", prefix_rsm="ns0")).digest
    assert a == b


def test_empty_attachment_from_one_client_family_is_accepted_and_not_counted():
    got = letter.read_letter(doc(attachments='<ram:AttachmentBinaryObject mimeCode="" />'))
    assert got.attachments == ()


def test_mime_code_as_content_type_or_extension():
    att = '<ram:AttachmentBinaryObject mimeCode="image/jpeg">/9j/4AAQ</ram:AttachmentBinaryObject>'
    got = letter.read_letter(doc(main_mime="application/pdf", attachments=att))
    assert [a.mime_type for a in got.attachments] == ["image/jpeg"]


@pytest.mark.parametrize("kw,code", [
    ({"secret": "004"}, "2003"), ({"secret": "000"}, "2002"), ({"speed": "009"}, "2002"),
    ({"main": ""}, "2004"), ({"letter_id": "  "}, "2007"), ({"subject": ""}, "2007"),
    ({"date": "2569-01-01"}, "2007"), ({"date": "2026-02-29"}, "2007"), ({"main_mime": "exe"}, "2002"),
])
def test_business_rules(kw, code):
    with pytest.raises(RemoteError) as info:
        letter.read_letter(doc(**kw))
    assert info.value.code.code == code


def test_top_secret_when_allowed():
    assert letter.read_letter(doc(secret="004"), allow_top_secret=True).secret_code == "004"


def test_unsigned_letter_is_stored_with_the_conventional_prefixes():
    stored = letter.stored_copy(doc(prefix_ram="ns1", prefix_rsm="ns0"))
    assert stored.prefix == "rsm" and stored[0].prefix == "ram"
    assert stored.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}").text == "ขอเชิญประชุมผู้บริหาร"


def test_signed_letter_is_stored_exactly_as_signed():
    sig = (f'<ram:GovernmentSignature><ram:TypeCode>DSIG</ram:TypeCode><ds:Signature xmlns:ds="{ns.DS}">'
           "<ds:SignedInfo/></ds:Signature></ram:GovernmentSignature>")
    envelope = etree.fromstring(f'<Env xmlns:unused="urn:u"><Body>{letter_xml(prefix_ram="ns1", signature=sig.replace("ram:", "ns1:"))}'
                                "</Body></Env>".encode())
    document = envelope[0][0]
    stored = etree.tostring(letter.stored_copy(document), encoding="utf-8")
    assert b"ns1:CorrespondenceLetter" in stored and b"urn:u" not in stored


def test_notifier_values():
    n = letter.make_notifier(Event.ACCEPT, letter_id=" ศธ 1/1 ", correspondence_date="2026-11-26", accept_id=" 12 ")
    assert (n.letter_id, n.accept_id) == ("ศธ 1/1", "12")
    assert letter.make_notifier(Event.RECEIVE, letter_id="x", correspondence_date="2026-11-26",
                                accept_id="ignored").accept_id == ""


def test_notifier_element_order():
    el = etree.fromstring(letter.notifier_element(
        event=Event.DISPUTE, letter_id="ศธ 1/1", correspondence_date="2026-11-26", subject="ส", accept_id="9",
        accept_date="2026-11-26T09:00:00+07:00", accept_department="2000350000"))
    assert el.tag == "InvalidAcceptIDNotifier"
    assert [c.tag for c in el] == ["LetterID", "AcceptID", "CorrespondenceDate", "Subject", "AcceptDate",
                                  "AcceptDepartment"]
