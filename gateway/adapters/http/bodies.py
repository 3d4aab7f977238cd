"""Request bodies in, answers out: whole when small, streamed when large (issue 10).

Theory of operation
-------------------
A body up to ``parts.STREAM_BODY`` bytes (or of unknown length that ends before it) is read whole, as
it always was, and takes the in-memory path: the hardened parser, then the pipeline. A larger one is
fed, chunk by chunk as it arrives, to the stream parser (core/xml/stream.py), which sends the text of
each large enclosure to a spool file of the blob store (store/blobs.py) and keeps a *skeleton* of the
request with placeholders (core/letters/parts.py): the node never holds the enclosure whole. The size
limit is checked while the body is read (``1003`` as soon as it is passed), and a body that breaks off
or is refused leaves no spool file behind (:meth:`Body.discard`, always called).

An answer that names blobs (a large letter pulled) is written as a WSGI iterator that splices their text
in as it goes, from the blob store, a chunk at a time: the letter is never one string either.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from lxml import etree

from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.letters import parts
from gateway.core.xml import safe, stream
from gateway.ports import Clock

READ_CHUNK = 256 * 1024

BODY_GRACE = dt.timedelta(seconds=10)
BODY_MIN_BYTES_PER_S = 64 * 1024     # a 100 MB letter may take up to 26 minutes; a trickle may not


class _Deadline:
    """How long a body may take to arrive: a grace period plus its size at the minimum rate."""

    def __init__(self, clock: Clock | None) -> None:
        self.clock = clock
        self.started = clock.now() if clock else None

    def check(self, received: int) -> None:
        if self.clock is None:
            return
        allowed = BODY_GRACE + dt.timedelta(seconds=received / BODY_MIN_BYTES_PER_S)
        if self.clock.now() - self.started > allowed:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"the body arrives too slowly ({received} bytes so far)")


def _read(stream, size: int) -> bytes:
    """One read of the request body; a client that stops sending gets a clear fault, not a crash."""
    try:
        return stream.read(size)
    except (OSError, ValueError) as exc:  # socket.timeout is an OSError; cheroot raises ValueError on bad chunking
        raise RemoteError(ErrorCode.BAD_REQUEST, f"the request body could not be read: {type(exc).__name__}") from exc


def _chunks(environ: dict, limit: int, clock: Clock | None) -> Iterator[bytes]:
    """The request body as it arrives, refused with TOO_LARGE as soon as it passes ``limit`` bytes.

    With ``clock``, a body that arrives slower than BODY_MIN_BYTES_PER_S (after a grace of BODY_GRACE)
    is refused: a worker thread reading it is not held for long. A body that ends before its
    Content-Length is refused too (a broken-off upload).
    """
    deadline = _Deadline(clock)
    source = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    declared = None
    if length:
        try:
            declared = int(length)
        except ValueError:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Length {length!r}") from None
        if declared > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"{declared} bytes, limit {limit}")
    received = 0
    while declared is None or received < declared:
        chunk = _read(source, READ_CHUNK if declared is None else min(READ_CHUNK, declared - received))
        if not chunk:
            if declared is not None:
                raise RemoteError(ErrorCode.BAD_REQUEST,
                                  f"the body ended {declared - received} bytes before its Content-Length")
            return    # no Content-Length (chunked): read until the end
        received += len(chunk)
        deadline.check(received)
        if received > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"more than {limit} bytes")
        yield chunk


def read_body(environ: dict, limit: int, *, clock: Clock | None = None) -> bytes:
    """The whole request body, read under ``limit`` (see :func:`_chunks`)."""
    return b"".join(_chunks(environ, limit, clock))


@dataclass(kw_only=True)
class Body:
    """A request body: ``data`` when read whole; else the skeleton ``root`` and the enclosures kept aside."""

    data: bytes | None = None
    root: etree._Element | None = None
    parts: list = field(default_factory=list)    # stream.Part, in document order

    @property
    def streamed(self) -> bool:
        return self.root is not None

    def texts(self) -> parts.Texts:
        """The enclosures' text from their spool files (before the operation stores them)."""
        spools = {p.digest: p.sink for p in self.parts}
        return parts.only(spools, lambda digest: spools[digest].chunks())

    def discard(self) -> None:
        """Remove what is left of the spool files (the operation moved or copied those it stored)."""
        for part in self.parts:
            part.sink.discard()


def read(environ: dict, limits: safe.Limits, *, clock: Clock | None,
         new_sink: Callable[[], stream.TextSink] | None) -> Body:
    """The body, whole if small (or if this node cannot spool), else streamed through the parser.

    The first ``parts.STREAM_BODY`` bytes are held; a body that ends within them takes the in-memory path.
    """
    if new_sink is None:
        return Body(data=read_body(environ, limits.max_bytes, clock=clock))
    held: list[bytes] = []
    received = 0
    parser: stream.StreamParser | None = None
    try:
        for chunk in _chunks(environ, limits.max_bytes, clock):
            if parser is not None:
                parser.feed(chunk)
                continue
            held.append(chunk)
            received += len(chunk)
            if received > parts.STREAM_BODY:
                parser = stream.StreamParser(limits, new_sink)
                for early in held:
                    parser.feed(early)
                held = []
        if parser is None:
            return Body(data=b"".join(held))
        root, kept = parser.close()
    except BaseException:
        if parser is not None:
            parser.abort()
        raise
    return Body(root=root, parts=list(kept))


def answer_chunks(body: bytes, held: tuple[str, ...], read_blob: Callable[[str], Iterable[bytes]]) -> Iterator[bytes]:
    """An answer naming blobs, with exactly the blobs ``held`` spliced in as it is written."""
    return parts.splice(body, parts.only(held, read_blob))
