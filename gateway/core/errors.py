"""The exception tree and the agency interface's error codes.

Theory of operation
-------------------
Every failure the gateway reports is a :class:`GatewayError`, split by blame
(STYLE 4):

* :class:`RemoteError`: a client or a peer sent something we refuse. It
  carries an :class:`ErrorCode`; the service answers it as ``ErrorDetail``
  inside a SOAP client fault. Nothing is stored when one is raised.
* :class:`LocalError`: we misused our own code or configuration.
* :class:`StoreError`: the database failed (answered as a server fault).
* :class:`DeliveryError`: pushing to a peer node failed.

The real e-CMS code list is not public (DESIGN section 3), so the codes below
are ours. They are stable: a code once published keeps its meaning, and the
README lists every one of them (a test keeps the README and this table equal).
"""
from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """One documented error code: (code, short name, Thai and English text)."""

    # 1xxx: the request as bytes and XML
    MALFORMED_XML = ("1001", "request is not well-formed XML (for example an unescaped '&')",
                     "เอกสาร XML ไม่ถูกต้องตามรูปแบบ")
    FORBIDDEN_XML = ("1002", "DTD, entity declaration, XInclude or processing instruction not allowed",
                     "ไม่อนุญาตให้ใช้ DTD หรือ entity ในเอกสาร")
    TOO_LARGE = ("1003", "request body is larger than the configured limit",
                 "ขนาดข้อมูลเกินกำหนด")
    NOT_SOAP = ("1004", "not a SOAP 1.1 or 1.2 envelope with one Body (and at most one Header, before it)",
                "ไม่ใช่ SOAP Envelope ที่ถูกต้อง")
    UNKNOWN_OPERATION = ("1005", "the first child of Body names no operation of this interface",
                         "ไม่รู้จักคำสั่งที่ร้องขอ")
    SCHEMA_INVALID = ("1006", "the request does not match the published XSD",
                      "ข้อมูลไม่ตรงตามโครงสร้าง XSD ที่กำหนด")
    XML_LIMIT = ("1007", "XML nesting, element count or text size over the limit",
                 "โครงสร้าง XML ซับซ้อนหรือใหญ่เกินกำหนด")
    BAD_REQUEST = ("1008", "wrong HTTP method, content type or empty body",
                   "รูปแบบการร้องขอ HTTP ไม่ถูกต้อง")
    # 2xxx: the letter and its fields
    UNKNOWN_RECEIVER = ("2001", "the receiver organisation is not in the directory",
                        "ไม่พบหน่วยงานผู้รับในทะเบียนหน่วยงาน")
    UNKNOWN_CODE = ("2002", "unknown secret, speed or MIME code",
                    "รหัสชั้นความลับ ชั้นความเร็ว หรือชนิดแฟ้มไม่ถูกต้อง")
    TOP_SECRET_REFUSED = ("2003", "secret code 004 (top secret) may not travel electronically on this node",
                          "หนังสือชั้นลับที่สุดห้ามส่งทางระบบอิเล็กทรอนิกส์")
    MISSING_MAIN_LETTER = ("2004", "the letter has no main letter file (MainLetterBinaryObject)",
                           "ไม่พบแฟ้มหนังสือหลัก")
    DUPLICATE_CONFLICT = ("2005", "a different letter with the same number, date, sender and receiver exists; "
                          "withdraw it before resending",
                          "มีหนังสือเลขที่และวันที่เดียวกันที่เนื้อหาต่างกันอยู่แล้ว ต้องขอถอนก่อนส่งใหม่")
    SENDER_MISMATCH = ("2006", "the letter's or request's sender is not the organisation of this endpoint",
                       "หน่วยงานผู้ส่งไม่ตรงกับหน่วยงานของจุดเชื่อมต่อ")
    INVALID_FIELD = ("2007", "a field value is empty or malformed",
                     "ค่าข้อมูลไม่ถูกต้องหรือเป็นค่าว่าง")
    # 3xxx: the queue and the letter lifecycle
    LETTER_NOT_FOUND = ("3001", "no letter matches the number, date and organisations given",
                        "ไม่พบหนังสือที่อ้างถึง")
    ILLEGAL_TRANSITION = ("3002", "the letter's current state does not allow this notifier or withdrawal",
                          "สถานะหนังสือไม่อนุญาตให้ดำเนินการนี้")
    ITEM_NOT_FOUND = ("3003", "no queue item with this ProcessID for this organisation",
                      "ไม่พบรายการในคิวตาม ProcessID")
    AMBIGUOUS_LETTER = ("3004", "several letters match; the request must name the letter more precisely",
                        "พบหนังสือมากกว่าหนึ่งฉบับที่ตรงกับข้อมูลที่อ้างถึง")
    UNKNOWN_ORGANIZATION = ("3005", "this node hosts no organisation with that OrganizationID",
                            "ไม่พบหน่วยงานนี้บนเครื่องให้บริการ")
    # 4xxx: trust (credentials, signatures, replay)
    UNAUTHORIZED = ("4001", "missing or wrong credentials for this organisation's endpoint, or a network not allowed",
                    "ไม่ได้รับอนุญาตให้เข้าถึงจุดเชื่อมต่อของหน่วยงานนี้")
    SIGNATURE_INVALID = ("4002", "the signature or a digest does not verify",
                         "ลายมือชื่อดิจิทัลไม่ถูกต้อง")
    SIGNATURE_POLICY = ("4003", "the signature's shape, place, references or algorithms are not allowed",
                        "รูปแบบหรืออัลกอริทึมของลายมือชื่อดิจิทัลไม่เป็นไปตามนโยบาย")
    UNTRUSTED_SIGNER = ("4004", "the signer is not the sender (or its node) in the directory, or not trusted",
                        "ผู้ลงนามไม่ใช่หน่วยงานผู้ส่งหรือไม่ได้รับความเชื่อถือ")
    REPLAY = ("4005", "a message or signature seen before, or a timestamp outside the allowed window",
              "ข้อความซ้ำหรือเวลาไม่อยู่ในช่วงที่กำหนด")
    UNSIGNED = ("4006", "a signature is required and there is none",
                "ไม่มีลายมือชื่อดิจิทัล")
    ENCRYPTION = ("4007", "a secret letter cannot be encrypted to the receiving organisation, or its ciphertext "
                          "does not decrypt and authenticate with the receiver's key",
                  "ไม่สามารถเข้ารหัสหรือถอดรหัสหนังสือลับได้")
    # 5xxx: ours
    STORE_UNAVAILABLE = ("5001", "the node's database is unavailable; retry later",
                         "ฐานข้อมูลของระบบไม่พร้อมใช้งาน กรุณาลองใหม่ภายหลัง")
    INTERNAL = ("5000", "internal error; the request was not stored",
                "เกิดข้อผิดพลาดภายในระบบ ข้อมูลไม่ถูกบันทึก")

    def __init__(self, code: str, english: str, thai: str) -> None:
        self.code = code
        self.english = english
        self.thai = thai

    @property
    def is_client_fault(self) -> bool:
        """True when the caller must change the request (SOAP ``Client`` fault)."""
        return not self.code.startswith("5")


class GatewayError(Exception):
    """Root of every exception the gateway raises on purpose."""


class LocalError(GatewayError):
    """We misused our own code, configuration or data."""


class ConfigError(LocalError):
    """The configuration is invalid; the message names the setting."""


class RemoteError(GatewayError):
    """A client or peer sent something we refuse; answered with ``code``."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.description)

    @property
    def description(self) -> str:
        """The ErrorDescription text: English, then Thai, then the specific detail."""
        text = f"{self.code.english} / {self.code.thai}"
        return f"{text}: {self.detail}" if self.detail else text

    def __repr__(self) -> str:
        return f"RemoteError({self.code.name}, {self.detail!r})"


class StoreError(GatewayError):
    """The store failed; nothing of the operation was committed."""


class ConflictError(StoreError):
    """A compare-and-set or uniqueness check lost a race; the caller may retry."""


class DeliveryError(GatewayError):
    """Pushing an item to a peer node failed; ``retryable`` says whether trying again can help.

    DESIGN section 4: network errors, timeouts, HTTP 5xx and server faults are
    retried; a definite refusal (a client fault such as a bad signature, an
    unknown receiver or a schema error, whose ``code`` the peer answered) is not.
    """

    def __init__(self, message: str, *, retryable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


def fault_for(exc: BaseException) -> RemoteError:
    """The error a client is shown for any exception (internal details stay in the log)."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, StoreError):
        return RemoteError(ErrorCode.STORE_UNAVAILABLE)
    return RemoteError(ErrorCode.INTERNAL)
