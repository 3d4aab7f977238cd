"""Letters and notifiers as frozen values, read from schema-valid XML.

``read_letter`` takes an ``rsm:GovernmentDocument`` element that already passed
the hardened parser and the XSD, applies the business rules the schema cannot
state (code lists, secrecy 004, a non-empty main letter, real dates), and
returns a :class:`Letter`. ``stored_copy`` gives the letter the node stores
and serves. No I/O.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
from dataclasses import dataclass

from lxml import etree

from gateway.core.letters import codelists
from gateway.core.letters.fields import (MAX_ACCEPT_ID, MAX_ATTACHMENT_TEXT, MAX_DESCRIPTION, MAX_LETTER_ID,
                                         MAX_NAME, MAX_SUBJECT, check_text)
from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.state import Event

# The element order of ram:CorrespondenceLetter (DESIGN section 3); the
# contract test compares it with the committed XSD.
LETTER_FIELDS = (
    "ID", "CorrespondenceDate", "Subject", "SecretCode", "SpeedCode", "SenderParty", "ReceiverParty",
    "ReferenceCorrespondence", "Attachment", "SendDate", "Description", "MainLetterBinaryObject",
    "AttachmentBinaryObject",
)

_LETTER = ns.ram("CorrespondenceLetter")
_SIGNATURE = ns.ds("Signature")
_SEND_DATE = ns.ram("SendDate")
MIN_YEAR, MAX_YEAR = 1900, 2199   # plausible Gregorian letter dates (documented in the README)


@dataclass(frozen=True, kw_only=True)
class LetterIdentity:
    """(LetterID, CorrespondenceDate, sender, receiver): LetterID alone is not unique."""

    letter_id: str
    correspondence_date: str
    sender: str
    receiver: str


@dataclass(frozen=True, kw_only=True)
class Party:
    given_name: str
    family_name: str
    job_title: str
    ministry_id: str
    department_id: str


@dataclass(frozen=True, kw_only=True)
class BinaryObject:
    mime_type: str
    base64_chars: int


@dataclass(frozen=True, kw_only=True)
class Letter:
    """One letter's facts. ``digest`` names its content for duplicate detection."""

    letter_id: str
    correspondence_date: str
    subject: str
    secret_code: str
    speed_code: str
    sender: Party
    receiver: Party
    main_letter: BinaryObject
    attachments: tuple[BinaryObject, ...]
    signed: bool
    digest: str

    @property
    def identity(self) -> LetterIdentity:
        return LetterIdentity(letter_id=self.letter_id, correspondence_date=self.correspondence_date,
                              sender=self.sender.department_id, receiver=self.receiver.department_id)


def _text(parent: etree._Element, *path: str) -> str:
    node = parent
    for local in path:
        node = node.find(ns.ram(local))
        if node is None:
            return ""
    return (node.text or "").strip()


def _party(el: etree._Element | None, where: str) -> Party:
    if el is None:  # the XSD requires both parties; kept total for safety
        return Party(given_name="", family_name="", job_title="", ministry_id="", department_id="")
    def name(local: str) -> str:
        return check_text(_text(el, local), f"{where}/ram:{local}", MAX_NAME)

    return Party(
        given_name=name("GivenName"), family_name=name("FamilyName"), job_title=name("JobTitle"),
        ministry_id=check_text(_text(el, "MinistryOrganization", "ID"), f"{where}/ram:MinistryOrganization/ram:ID",
                               MAX_NAME, identifier=True),
        department_id=check_text(_text(el, "DepartmentOrganization", "ID"),
                                 f"{where}/ram:DepartmentOrganization/ram:ID", MAX_NAME, identifier=True),
    )


def check_date(value: str, field: str) -> str:
    """A real yyyy-MM-dd Gregorian date, or INVALID_FIELD."""
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise RemoteError(ErrorCode.INVALID_FIELD,
                          f"{field} must be a Gregorian date yyyy-MM-dd, not {value!r}") from None
    if len(value) != 10:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} must be yyyy-MM-dd, not {value!r}")
    year = int(value[:4])
    if year < MIN_YEAR:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} {value!r} is before {MIN_YEAR}")
    if year > 2400:  # a Buddhist-Era year (2569) sent where the Gregorian one (2026) belongs
        raise RemoteError(ErrorCode.INVALID_FIELD,
                          f"{field} {value!r} looks like a Buddhist-Era year; send the Gregorian year (พ.ศ. - 543)")
    if year > MAX_YEAR:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} {value!r} is after {MAX_YEAR}")
    return value


def _binary(el: etree._Element, what: str) -> BinaryObject | None:
    content = "".join((el.text or "").split())
    if not content:
        return None
    mime = codelists.canonical_mime(el.get("mimeCode", ""))
    if mime is None:
        raise RemoteError(ErrorCode.UNKNOWN_CODE, f"{what} mimeCode {el.get('mimeCode', '')!r} is not in GetMimeCodes")
    return BinaryObject(mime_type=mime, base64_chars=len(content))


def read_letter(document: etree._Element, *, allow_top_secret: bool = False) -> Letter:
    """The :class:`Letter` of a schema-valid ``rsm:GovernmentDocument``; business rules applied."""
    body = document.find(_LETTER)
    if body is None:
        raise RemoteError(ErrorCode.SCHEMA_INVALID, "rsm:GovernmentDocument has no ram:CorrespondenceLetter")
    letter_id = check_text(_text(body, "ID"), "ram:ID", MAX_LETTER_ID)
    if not letter_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, "ram:ID (the letter number, ที่) is empty")
    date = check_date(_text(body, "CorrespondenceDate"), "ram:CorrespondenceDate")
    subject = check_text(_text(body, "Subject"), "ram:Subject", MAX_SUBJECT)
    check_text(_text(body, "Description"), "ram:Description", MAX_DESCRIPTION, multiline=True)
    check_text(_text(body, "Attachment"), "ram:Attachment", MAX_ATTACHMENT_TEXT, multiline=True)
    for reference in body.iterfind(ns.ram("ReferenceCorrespondence")):  # อ้างถึง: shown to the receiver
        check_text(_text(reference, "ID"), "ram:ReferenceCorrespondence/ram:ID", MAX_LETTER_ID)
        check_text(_text(reference, "Subject"), "ram:ReferenceCorrespondence/ram:Subject", MAX_SUBJECT)
        if _text(reference, "CorrespondenceDate"):
            check_date(_text(reference, "CorrespondenceDate"), "ram:ReferenceCorrespondence/ram:CorrespondenceDate")
    signer = document.find(f"{ns.ram('GovernmentSignature')}/{ns.ram('SignerParty')}")
    if signer is not None:  # unsigned, but shown to receivers as "who signed"
        for local in ("GivenName", "FamilyName", "Title", "MinistryCode", "DepartmentCode"):
            check_text(_text(signer, local), f"ram:SignerParty/ram:{local}", MAX_NAME)
    if not subject:
        raise RemoteError(ErrorCode.INVALID_FIELD, "ram:Subject (เรื่อง) is empty")
    secret = _text(body, "SecretCode")
    if secret not in codelists.SECRET_CODES:
        raise RemoteError(ErrorCode.UNKNOWN_CODE, f"ram:SecretCode {secret!r} is not in GetSecretCodes")
    if secret == codelists.TOP_SECRET and not allow_top_secret:
        raise RemoteError(ErrorCode.TOP_SECRET_REFUSED, "ram:SecretCode 004 (ลับที่สุด)")
    speed = _text(body, "SpeedCode")
    if speed not in codelists.SPEED_CODES:
        raise RemoteError(ErrorCode.UNKNOWN_CODE, f"ram:SpeedCode {speed!r} is not in GetSpeedCodes")
    sender = _party(body.find(ns.ram("SenderParty")), "ram:SenderParty")
    receiver = _party(body.find(ns.ram("ReceiverParty")), "ram:ReceiverParty")
    if not sender.department_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, "ram:SenderParty/ram:DepartmentOrganization/ram:ID is empty")
    if not receiver.department_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, "ram:ReceiverParty/ram:DepartmentOrganization/ram:ID is empty")
    main_el = body.find(ns.ram("MainLetterBinaryObject"))
    main = _binary(main_el, "ram:MainLetterBinaryObject") if main_el is not None else None
    if main is None:
        raise RemoteError(ErrorCode.MISSING_MAIN_LETTER, "ram:MainLetterBinaryObject is missing or empty")
    # One client family always sends an empty <ram:AttachmentBinaryObject mimeCode=""/>
    # when there is no enclosure: empty ones are accepted and not counted.
    attachments = tuple(a for a in (_binary(el, "ram:AttachmentBinaryObject")
                                    for el in body.iterfind(ns.ram("AttachmentBinaryObject"))) if a)
    return Letter(
        letter_id=letter_id, correspondence_date=date, subject=subject, secret_code=secret, speed_code=speed,
        sender=sender, receiver=receiver, main_letter=main, attachments=attachments,
        signed=document.find(f"{ns.ram('GovernmentSignature')}/{_SIGNATURE}") is not None,
        digest=content_digest(body),
    )


def check_signer_party(document: etree._Element, sender: str) -> None:
    """The GovernmentSignature's SignerParty (unsigned, but shown to receivers) may name only the sender.

    The signature covers ram:CorrespondenceLetter alone; the SignerParty beside
    it is read by one client family as "who signed". It must not name another
    organisation than the one whose signature was verified.
    """
    party = document.find(f"{ns.ram('GovernmentSignature')}/{ns.ram('SignerParty')}")
    if party is None:
        return
    department = (party.findtext(ns.ram("DepartmentCode")) or "").strip()
    ministry = (party.findtext(ns.ram("MinistryCode")) or "").strip()
    if department not in ("", sender) or ministry not in ("", sender[:2]):
        raise RemoteError(ErrorCode.SENDER_MISMATCH,
                          f"GovernmentSignature/SignerParty names {ministry or '-'}/{department or '-'}; "
                          f"the letter is signed for {sender}")


def check_main_letter(document: etree._Element) -> None:
    """MISSING_MAIN_LETTER before schema validation, so the client gets the specific code."""
    body = document.find(_LETTER)
    if body is None:
        return  # the schema reports it
    main = body.find(ns.ram("MainLetterBinaryObject"))
    if main is None and any(etree.QName(c).localname == "MainLetterBinaryObject"
                            for c in body if isinstance(c.tag, str)):
        return  # there, but in the wrong namespace: the schema says so more precisely
    if main is None or not (main.text or "").strip():
        raise RemoteError(ErrorCode.MISSING_MAIN_LETTER, "ram:MainLetterBinaryObject is missing or empty")


def content_digest(letter: etree._Element) -> str:
    """SHA-256 over the letter's content, independent of prefixes and serialisation.

    SendDate is left out: a client retrying after a timeout rebuilds its XML
    with a new SendDate, and that must still count as the same letter.
    """
    h = hashlib.sha256()
    for node in letter.iter():
        tag = node.tag
        if not isinstance(tag, str) or tag == _SEND_DATE:  # comments; SendDate is a leaf
            continue
        h.update(b"<" + tag.encode())
        for key in sorted(node.attrib):
            h.update(b" " + key.encode() + b"=" + node.attrib[key].encode())
        h.update(b">")
        text = (node.text or "").strip()
        if text:
            h.update(text.encode())
        h.update(b"\x00")
    return h.hexdigest()


def stored_copy(document: etree._Element) -> etree._Element:
    """The letter as the node keeps it, as a document of its own.

    A signed letter is copied out of its envelope unchanged (the copy keeps the
    namespace declarations it uses and drops the envelope's others), because
    its signature covers these bytes. An unsigned letter is rebuilt with the
    conventional prefixes rsm:, ram: and ds:, since receiving clients read it
    with GetElementsByTagName("ram:CorrespondenceLetter") and would find
    nothing under the ns0:/ns1: prefixes a generated client uses.
    """
    if document.find(f"{ns.ram('GovernmentSignature')}/{_SIGNATURE}") is not None:
        return copy.deepcopy(document)
    return _with_prefixes(document, ns.LETTER_NSMAP)


def _with_prefixes(element: etree._Element, nsmap: dict[str, str]) -> etree._Element:
    def clone(src: etree._Element, parent: etree._Element | None) -> etree._Element:
        if parent is None:
            dst = etree.Element(src.tag, nsmap=nsmap)
        else:
            dst = etree.SubElement(parent, src.tag)
        for key, value in src.attrib.items():
            dst.set(key, value)
        dst.text = src.text
        dst.tail = src.tail if parent is not None else None
        for child in src:
            if isinstance(child.tag, str):
                clone(child, dst)
            else:  # a comment inside an unsigned letter: keep it
                dst.append(copy.copy(child))
        return dst

    return clone(element, None)


# ----------------------------------------------------------------- notifiers

NOTIFIER_ELEMENTS = {
    "ReceiveLetterNotifier": Event.RECEIVE,
    "AcceptLetterNotifier": Event.ACCEPT,
    "RejectLetterNotifier": Event.REJECT,
    "InvalidLetterNotifier": Event.INVALID,
    "InvalidAcceptIDNotifier": Event.DISPUTE,
}
ELEMENT_OF_EVENT = {event: name for name, event in NOTIFIER_ELEMENTS.items()}
WITH_ACCEPT_ID = frozenset({Event.ACCEPT, Event.DISPUTE})


@dataclass(frozen=True, kw_only=True)
class Notifier:
    """A notifier as a client sent it (3.2.2 - 3.2.6)."""

    event: Event
    letter_id: str
    correspondence_date: str
    subject: str
    accept_id: str = ""


def make_notifier(event: Event, *, letter_id: str, correspondence_date: str, subject: str = "",
                  accept_id: str = "") -> Notifier:
    """A :class:`Notifier` from the fields a client sent, or INVALID_FIELD."""
    name = ELEMENT_OF_EVENT[event]
    letter_id = check_text(letter_id, f"{name}/LetterID", MAX_LETTER_ID)
    subject = check_text(subject, f"{name}/Subject", MAX_SUBJECT)
    if not letter_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{name}/LetterID is empty")
    date = check_date((correspondence_date or "").strip(), f"{name}/CorrespondenceDate")
    accept_id = check_text(accept_id, f"{name}/AcceptID", MAX_ACCEPT_ID, identifier=True) \
        if event in WITH_ACCEPT_ID else ""
    if event in WITH_ACCEPT_ID and not accept_id:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{name}/AcceptID (เลขทะเบียนรับ) is empty")
    return Notifier(event=event, letter_id=letter_id, correspondence_date=date,
                    subject=subject, accept_id=accept_id)


def notifier_element(*, event: Event, letter_id: str, correspondence_date: str, subject: str,
                     accept_id: str, accept_date: str, accept_department: str) -> bytes:
    """The notifier as queued for the other side and echoed to its sender."""
    root = etree.Element(ELEMENT_OF_EVENT[event])
    etree.SubElement(root, "LetterID").text = letter_id
    if event in WITH_ACCEPT_ID:
        etree.SubElement(root, "AcceptID").text = accept_id
    etree.SubElement(root, "CorrespondenceDate").text = correspondence_date
    etree.SubElement(root, "Subject").text = subject
    etree.SubElement(root, "AcceptDate").text = accept_date
    dept = etree.SubElement(root, "AcceptDepartment")
    etree.SubElement(dept, "Code").text = accept_department
    return etree.tostring(root, encoding="utf-8")
