"""Bounds for every free-text field a client sends, and the normalised letter number.

Clients build XML by hand and send whatever their users typed; the node stores
it and echoes it to other organisations. So each field has a length bound, no
control characters, and no bidirectional-override characters (U+202A-U+202E,
U+2066-U+2069 and the marks), which can make a receive number or a letter
number display as something else. Identifiers (AcceptID, codes) also refuse
invisible characters. The bounds are documented in the README ("Field bounds").

The letter number (ที่, LetterID) is kept as written, but its *identity* is
normalised (:func:`letter_key`): Thai digits become ASCII digits, invisible
characters go, and runs of spaces become one, so ``ศธ ๐๒๑๐/๑๒๓๔`` and
``ศธ 0210/1234`` are the same letter and cannot be sent twice.
"""
from __future__ import annotations

import unicodedata

from gateway.core.errors import ErrorCode, RemoteError

# Longest accepted value per field, in characters (after stripping surrounding white space).
MAX_LETTER_ID = 100
MAX_ACCEPT_ID = 64
MAX_SUBJECT = 1_000
MAX_NAME = 200                  # GivenName, FamilyName, JobTitle, Title
MAX_DESCRIPTION = 4_000
MAX_ATTACHMENT_TEXT = 4_000
MAX_CODE = 20                   # organisation IDs and other codes in references
MAX_PROCESS_ID = 64             # a ProcessID is a UUID (36); clients echo what they were given

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
MULTILINE = frozenset("\n\r\t")


def check_text(value: str, field: str, max_chars: int, *, multiline: bool = False,
               identifier: bool = False) -> str:
    """``value`` stripped, or INVALID_FIELD naming the field and what is wrong with it."""
    value = (value or "").strip()
    if len(value) > max_chars:
        raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} is {len(value)} characters long; at most {max_chars}")
    for ch in value:
        if ch in BIDI_CONTROLS:
            raise RemoteError(ErrorCode.INVALID_FIELD,
                              f"{field} contains the bidirectional control U+{ord(ch):04X}, which can disguise it")
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in MULTILINE):
            raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} contains the control character U+{ord(ch):04X}")
        if identifier and (ch in INVISIBLE or ch in MULTILINE):
            raise RemoteError(ErrorCode.INVALID_FIELD, f"{field} contains the invisible character U+{ord(ch):04X}")
    return value


def letter_key(letter_no: str) -> str:
    """The letter number as an identity: NFC, ASCII digits, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFC", letter_no).translate(THAI_DIGITS)
    text = "".join(ch for ch in text if ch not in INVISIBLE)
    return " ".join(text.split())
