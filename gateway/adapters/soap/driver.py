"""Drives a Spyne application in-process: one checked element in, the answer element's bytes out.

Spyne is kept thin (DESIGN section 5). It never sees raw bytes or an
envelope: the HTTP adapter and the port's pipeline have already read the body
under the size limit, parsed it with the hardened parser, checked the
envelope, validated the operation element against the committed XSD and
verified its signatures. Spyne turns that element into models and calls the
handler; the answer model comes back as an element.

Letters and queued notifiers travel as stored bytes, never through Spyne's
serialiser: a response that carries one gets a marker where the item goes and
the stored bytes are spliced in, so a pulled letter is byte for byte what the
node stored (its signature covers those bytes).
"""
from __future__ import annotations

from typing import Any

from lxml import etree
from spyne import Application, MethodContext
from spyne.protocol.xml import XmlDocument
from spyne.server import ServerBase

from gateway.core.errors import GatewayError, LocalError
from gateway.core.xml import envelope

ITEM_MARKER = b"<!--gateway:item-->"


def _guarded(handler: Any) -> Any:
    """Keep our errors out of Spyne's exception path (which would log and wrap them).

    Spyne reads the wrapper's signature: one bare argument for operations with
    a request model, none for the empty requests (GetOrganizationList, ...).
    """
    def run(ctx: MethodContext, *req: Any) -> Any:
        call = ctx.udc  # the Call or NodeCall of this request; handlers set call.error
        try:
            return handler(call, *req)
        except GatewayError as exc:
            call.error = exc
            return None

    if handler.__code__.co_argcount == 2:
        def wrapper(ctx: MethodContext, req: Any) -> Any:
            return run(ctx, req)
    else:
        def wrapper(ctx: MethodContext) -> Any:  # type: ignore[misc]
            return run(ctx)
    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


class _InProcess(ServerBase):
    """Drives a Spyne application with an element we parsed ourselves."""

    transport = "urn:gateway:in-process"


class SpyneDriver:
    """Calls one Spyne application in-process: element in, the answer element's bytes out."""

    def __init__(self, services: list, tns: str, name: str) -> None:
        self.app = Application(services, tns=tns, name=name, in_protocol=XmlDocument(),
                               out_protocol=XmlDocument(cleanup_namespaces=True))
        self._server = _InProcess(self.app)
        self.tns = tns

    def call(self, operation: etree._Element, call: Any, *, unqualify: str | None = None) -> bytes:
        ctx = MethodContext(self._server, MethodContext.SERVER)
        ctx.udc = call
        ctx.in_document = operation
        ctx.in_body_doc = operation
        ctx.method_request_string = operation.tag
        try:
            ctx, = self.app.in_protocol.generate_method_contexts(ctx)
        except Exception as exc:  # an element the XSD allows but Spyne cannot route: our bug
            raise LocalError(f"Spyne cannot dispatch {operation.tag}: {exc}") from exc
        ctx.udc = call
        self._server.get_in_object(ctx)
        if ctx.in_error is not None:
            raise LocalError(f"Spyne could not read a schema-valid {operation.tag}: {ctx.in_error}")
        self._server.get_out_object(ctx)
        if call.error is not None:
            raise call.error
        if ctx.out_error is not None:
            raise LocalError(f"handler for {operation.tag} failed: {ctx.out_error}")
        # Bare style: the one return value is the message. Serialise it under the
        # message's own name (Spyne's serialize() names a simple-typed message
        # "retval", which would break TimeCheck's ECMSTime).
        message = ctx.descriptor.out_message
        holder = etree.Element("holder")
        self.app.out_protocol.to_parent(ctx, message, ctx.out_object[0], holder, self.tns,
                                        message.Attributes.sub_name or message.get_type_name())
        element = holder[0]
        if unqualify:
            element = envelope.unqualify(element, unqualify)
        if call.item is None:
            return etree.tostring(element, encoding="utf-8")
        # The stored item (a letter, a notifier, a receipt) goes in as its exact bytes.
        element.append(etree.Comment(ITEM_MARKER[4:-3].decode()))
        head, _, tail = etree.tostring(element, encoding="utf-8").partition(ITEM_MARKER)
        return head + call.item + tail

