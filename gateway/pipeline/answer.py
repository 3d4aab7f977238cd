"""What goes back on the wire: one answer shape and one error path for both ports.

A fault on the agency port follows the SOAP version's rules
(``envelope.fault_http_status``: HTTP 200 for SOAP 1.1, because deployed
clients read a body only when the status is 200; 400 or 500 for SOAP 1.2
Sender or Receiver faults); on the node port a client fault is HTTP 400 (the sending node must
not retry) and a server fault HTTP 500 (it should).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.core.errors import RemoteError
from gateway.core.xml import envelope


class Port(enum.Enum):
    AGENCY = "agency"
    NODE = "node"


@dataclass(frozen=True, kw_only=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    # Blobs ``body`` names by placeholder (a large letter pulled): written spliced in, as a stream.
    parts: tuple[str, ...] = ()


def ok(version: str, element: bytes) -> Answer:
    """A SOAP response carrying ``element`` (the response element's exact bytes)."""
    return Answer(status=200, body=envelope.wrap(version, element), content_type=envelope.CONTENT_TYPE[version])


def fault(error: RemoteError, *, version: str, port: Port, qualified: bool = False) -> Answer:
    """The SOAP fault for a refusal, with the HTTP status its port uses."""
    errors = [error]
    if port is Port.NODE:
        status = 400 if error.code.is_client_fault else 500
    else:
        status = envelope.fault_http_status(version, errors)
    return Answer(status=status, body=envelope.fault(version, errors, qualified=qualified), content_type=envelope.CONTENT_TYPE[version])


def text(status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> Answer:
    return Answer(status=status, body=body.encode("utf-8"), content_type=content_type)
