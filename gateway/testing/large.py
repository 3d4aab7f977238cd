"""Large letters for the tests and the benchmark: enclosures generated as they are sent, answers read as streams.

A client that sends a 100 MB scan should not need 100 MB of memory itself, or the measurement of the
node's memory means nothing: :func:`stream` generates the base64 as it is sent and :class:`Base64Tail`
decodes and hashes the pulled enclosure as the answer arrives. :func:`kib` and :func:`reset_peak` read
and reset a process's peak RSS (Linux ``/proc``).
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

MB = 1000 * 1000
CHUNK = 3 * 65536            # raw bytes per generated chunk (a multiple of 3: base64 without padding inside)
REGION15, CHIANGMAI = "2000215000", "2000350000"
MARK = "QkVOQ0hNQUlO"       # where the streamed base64 goes in the request


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM back to its current RSS (Linux: 5 > /proc/PID/clear_refs), so each letter's
    peak is its own, not that of an earlier one."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def request_parts(letter_id: str) -> tuple[bytes, bytes]:
    from gateway.testing.wire import send_request
    body = send_request(letter_id=letter_id, sender=REGION15, receiver=CHIANGMAI, main=MARK,
                        subject="ภาพสแกนแผนที่ทางอากาศ ความละเอียดสูง (ทดสอบหนังสือขนาดใหญ่)")
    head, _, tail = body.partition(MARK.encode())
    return head, tail


def stream(size: int, digest: "hashlib._Hash"):
    """The request body's enclosure, generated as it is sent; ``digest`` takes the raw bytes."""
    left = size
    while left > 0:
        raw = os.urandom(min(CHUNK, left))
        left -= len(raw)
        digest.update(raw)
        yield base64.b64encode(raw)


class Base64Tail:
    """Decodes the text of MainLetterBinaryObject out of an answer read in chunks, hashing the bytes."""

    def __init__(self) -> None:
        self.state, self.carry, self.pending = "before", b"", b""
        self.digest = hashlib.sha256()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        self.carry = b""
        if self.state == "before":
            at = data.find(b"MainLetterBinaryObject")
            if at < 0:
                self.carry = data[-64:]
                return
            end = data.find(b">", at)
            if end < 0:
                self.carry = data[at - 1:]
                return
            self.state, data = "inside", data[end + 1:]
        if self.state == "inside":
            stop = data.find(b"<")
            text = data if stop < 0 else data[:stop]
            text = b"".join(text.split()).replace(b"&#13;", b"")
            self.pending += text
            usable = len(self.pending) // 4 * 4
            raw = base64.b64decode(self.pending[:usable])
            self.pending = self.pending[usable:]
            self.digest.update(raw)
            self.size += len(raw)
            if stop >= 0:
                self.state = "after"
