"""Large enclosures kept beside the letter: placeholders, and splicing the text back in (issue 10).

Theory of operation
-------------------
A scanned enclosure is base64 text inside ``ram:MainLetterBinaryObject`` or
``ram:AttachmentBinaryObject``; 100 MB of PDF is 133 MB of text. A letter whose
enclosure text is longer than :data:`LARGE_TEXT` is not held whole: while the
request is read (core/xml/stream.py) the text goes to the blob store as it
arrives, and the letter itself, the *skeleton*, keeps in its place a
placeholder naming the text by its SHA-256::

    R2F0ZXdheUJsb2I6<64 lowercase hex digits>

``R2F0ZXdheUJsb2I6`` is base64 for ``GatewayBlob:``, so the skeleton is still
schema-valid (base64Binary) and the placeholder is 80 characters, a multiple of
four. The blob is the element's exact text as parsed (line breaks included,
and a carriage return sent as ``&#13;`` kept as one), so the letter that comes
out again is, in canonical form, the one that came in, and its signature
verifies.

Everything that needs the whole letter streams it: :func:`splice` writes the
serialised skeleton with each placeholder replaced by its text (escaped as
lxml escapes text); signatures hash the canonical form the same way
(core/trust/spliced.py, with :func:`c14n_text`).

Pure: the text comes from a :data:`Texts` callable the caller provides.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator

from gateway.core import ns

# A binary element's text longer than this is kept in the blob store rather than in the letter's row.
LARGE_TEXT = 1 << 20
# Bodies longer than this are read as a stream (core/xml/stream.py); smaller ones keep the in-memory path.
STREAM_BODY = 4 << 20
BINARY_ELEMENTS = frozenset({ns.ram("MainLetterBinaryObject"), ns.ram("AttachmentBinaryObject")})
PREFIX = "R2F0ZXdheUJsb2I6"
PLACEHOLDER_RE = re.compile(rb"R2F0ZXdheUJsb2I6([0-9a-f]{64})")
_DIGEST = re.compile(r"[0-9a-f]{64}")
# What base64 text may hold: the alphabet, padding and whitespace (line breaks as clients send them).
BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]*")

Texts = Callable[[str], Iterable[bytes]]   # a blob's exact text (ASCII), in chunks, by its SHA-256 (hex)


def placeholder(digest: str) -> str:
    """The text that stands in a skeleton for the blob with SHA-256 ``digest`` (64 lowercase hex digits)."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a SHA-256 in lowercase hex: {digest!r}")
    return PREFIX + digest


def digests(data: bytes) -> list[str]:
    """The blobs a serialised skeleton (or its canonical form) names, in order."""
    return [m.group(1).decode("ascii") for m in PLACEHOLDER_RE.finditer(data)]


def escape_text(chunk: bytes) -> bytes:
    """Base64 text as lxml serialises element text: only a carriage return needs a character reference."""
    return chunk.replace(b"\r", b"&#13;")


def c14n_text(chunk: bytes) -> bytes:
    """Base64 text as canonical XML (C14N 1.0 and exclusive) writes it: a carriage return is ``&#xD;``."""
    return chunk.replace(b"\r", b"&#xD;")


def splice(data: bytes, texts: Texts, escape: Callable[[bytes], bytes] = escape_text) -> Iterator[bytes]:
    """``data`` (a serialised skeleton, or its canonical form) with each placeholder replaced by its text."""
    at = 0
    for match in PLACEHOLDER_RE.finditer(data):
        if match.start() > at:
            yield data[at:match.start()]
        for chunk in texts(match.group(1).decode("ascii")):
            yield escape(chunk)
        at = match.end()
    if at < len(data):
        yield data[at:]


def only(allowed, read: Texts) -> Texts:
    """``read`` for the blobs ``allowed`` names (the item at hand's own); any other placeholder stays itself.

    So no letter can have another letter's enclosure spliced in by writing its digest as text.
    """
    names = frozenset(allowed)

    def texts(digest: str) -> Iterable[bytes]:
        return read(digest) if digest in names else (placeholder(digest).encode("ascii"),)
    return texts


def has_parts(data: bytes) -> bool:
    return PLACEHOLDER_RE.search(data) is not None
