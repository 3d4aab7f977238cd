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
import hashlib
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


def read_body(environ: dict, limit: int, *, clock: Clock | None = None) -> bytes:
    """The request body, refused with TOO_LARGE as soon as it passes ``limit`` bytes.

    With ``clock``, a body that arrives slower than BODY_MIN_BYTES_PER_S (after a
    grace of BODY_GRACE) is refused: a worker thread reading it is not held for long.
    """
    deadline = _Deadline(clock)
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            size = int(length)
        except ValueError:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Length {length!r}") from None
        if size > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"{size} bytes, limit {limit}")
        chunks, remaining = [], size
        while remaining > 0:
            chunk = _read(stream, min(READ_CHUNK, remaining))
            if not chunk:
                raise RemoteError(ErrorCode.BAD_REQUEST, f"the body ended {remaining} bytes before its Content-Length")
            chunks.append(chunk)
            remaining -= len(chunk)
            deadline.check(size - remaining)
        return b"".join(chunks)
    # No Content-Length (chunked): read until the end, but never past the limit.
    chunks, total = [], 0
    while True:
        chunk = _read(stream, READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        deadline.check(total)
        if total > limit:
            raise RemoteError(ErrorCode.TOO_LARGE, f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(kw_only=True)
class Body:
    """A request body: ``data`` when read whole; else the skeleton ``root`` and the enclosures kept aside."""

    data: bytes | None = None
    root: etree._Element | None = None
    parts: list = field(default_factory=list)    # stream.Part, in document order
    digest: str = ""                             # SHA-256 (hex) of every byte received
    size: int = 0

    @property
    def streamed(self) -> bool:
        return self.root is not None

    def texts(self) -> parts.Texts:
        """The enclosures' text from their spool files (before the operation stores them)."""
        spools = {p.digest: p.sink for p in self.parts}

        def texts(digest: str) -> Iterator[bytes]:
            sink = spools.get(digest)
            if sink is None:     # a placeholder the client wrote itself names nothing of this request
                yield parts.placeholder(digest).encode("ascii")
                return
            with open(sink.path, "rb") as source:
                while chunk := source.read(READ_CHUNK):
                    yield chunk
        return texts

    def discard(self) -> None:
        """Remove what is left of the spool files (the operation moved or copied those it stored)."""
        for part in self.parts:
            part.sink.discard()


def read(environ: dict, limits: safe.Limits, *, clock: Clock | None,
         new_sink: Callable[[], stream.TextSink] | None) -> Body:
    """The body, whole if small (or if this node cannot spool), else streamed through the parser."""
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    declared = _length(length)
    if new_sink is None or (declared is not None and declared <= parts.STREAM_BODY):
        data = read_body(environ, limits.max_bytes, clock=clock)
        return Body(data=data, digest=hashlib.sha256(data).hexdigest(), size=len(data))
    if declared is not None and declared > limits.max_bytes:
        raise RemoteError(ErrorCode.TOO_LARGE, f"{declared} bytes, limit {limits.max_bytes}")
    deadline = _Deadline(clock)
    source = environ["wsgi.input"]
    hasher = hashlib.sha256()
    held: list[bytes] = []
    received = 0
    parser: stream.StreamParser | None = None
    try:
        while declared is None or received < declared:
            chunk = _read(source, READ_CHUNK if declared is None else min(READ_CHUNK, declared - received))
            if not chunk:
                if declared is not None:
                    raise RemoteError(ErrorCode.BAD_REQUEST,
                                      f"the body ended {declared - received} bytes before its Content-Length")
                break
            received += len(chunk)
            deadline.check(received)
            if received > limits.max_bytes:
                raise RemoteError(ErrorCode.TOO_LARGE, f"more than {limits.max_bytes} bytes")
            hasher.update(chunk)
            if parser is None:
                held.append(chunk)
                if received <= parts.STREAM_BODY:
                    continue
                parser = stream.StreamParser(limits, new_sink)
                for early in held:
                    parser.feed(early)
                held = []
            else:
                parser.feed(chunk)
        if parser is None:        # no length given, and it ended small: the in-memory path after all
            data = b"".join(held)
            return Body(data=data, digest=hasher.hexdigest(), size=received)
        root, kept = parser.close()
    except BaseException:
        if parser is not None:
            parser.abort()
        raise
    return Body(root=root, parts=list(kept), digest=hasher.hexdigest(), size=received)


def _length(value: str) -> int | None:
    if not value:
        return None
    try:
        size = int(value)
    except ValueError:
        raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Length {value!r}") from None
    if size < 0:
        raise RemoteError(ErrorCode.BAD_REQUEST, f"Content-Length {value!r}")
    return size


def answer_chunks(body: bytes, held: tuple[str, ...], read_blob: Callable[[str], Iterable[bytes]]) -> Iterator[bytes]:
    """An answer naming blobs, with exactly the blobs ``held`` spliced in as it is written."""
    names = frozenset(held)

    def texts(digest: str) -> Iterable[bytes]:
        return read_blob(digest) if digest in names else [parts.placeholder(digest).encode("ascii")]
    return parts.splice(body, texts)
