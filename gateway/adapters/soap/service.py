"""The Spyne adapter of the agency interface: typed models, dispatch, handlers.

Spyne is kept thin (DESIGN section 5). It never sees raw bytes or an
envelope: ``wsgi.py`` has already read the body under the size limit, parsed
it with the hardened parser, checked the envelope and validated the
operation element against the committed XSD. What reaches Spyne is that one
element, moved into :data:`gateway.core.ns.AGENCY_INTERNAL` because Spyne cannot
model elements in no namespace. Spyne turns it into the models below and
calls the handler; the handler's answer model comes back as an element,
which is moved back out to no namespace for the wire.

Letters and queued notifiers travel as stored bytes, never through Spyne's
serialiser: a response that carries one gets a marker where the item goes
and the stored bytes are spliced in, so a pulled letter is byte for byte what
the node stored (its signature covers those bytes).

The models mirror ``xsd/AgencyInterface.xsd`` field for field; an
``xs:choice`` is a run of optional fields. ``tests/unit/test_contract.py``
compares the two.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from lxml import etree
from spyne import AnyXml, Application, ComplexModel, MethodContext, ServiceBase, Unicode, rpc
from spyne.protocol.xml import XmlDocument
from spyne.server import ServerBase

from gateway.core.letters import codelists, decide
from gateway.core.xml import envelope
from gateway.core import ns
from gateway.operations.agency import Agency, Item
from gateway.core.time import wire_time
from gateway.core.network.directory import Organization
from gateway.core.errors import ErrorCode, GatewayError, LocalError, RemoteError
from gateway.core.letters.letter import NOTIFIER_ELEMENTS, make_notifier

log = logging.getLogger(__name__)

NS = ns.AGENCY_INTERNAL
ITEM_MARKER = b"<!--gateway:item-->"


def _str(min_occurs: int = 1) -> Any:
    return Unicode.customize(min_occurs=min_occurs, nillable=False)


class _Model(ComplexModel):
    __namespace__ = NS


class DepartmentType(_Model):
    _type_info = [("Code", _str())]


class LetterNotifierType(_Model):
    _type_info = [
        ("LetterID", _str()), ("CorrespondenceDate", _str()), ("Subject", _str()),
        ("AcceptDate", _str(0)), ("AcceptDepartment", DepartmentType.customize(min_occurs=0)),
    ]


class AcceptIDNotifierType(_Model):
    _type_info = [
        ("LetterID", _str()), ("AcceptID", _str()), ("CorrespondenceDate", _str()), ("Subject", _str()),
        ("AcceptDate", _str(0)), ("AcceptDepartment", DepartmentType.customize(min_occurs=0)),
    ]


# xs:choice of one queue item: the letter or one notifier.
ITEM_FIELDS = [
    ("GovernmentDocument", AnyXml.customize(sub_ns=ns.RSM, min_occurs=0)),
    ("ReceiveLetterNotifier", LetterNotifierType.customize(min_occurs=0)),
    ("AcceptLetterNotifier", AcceptIDNotifierType.customize(min_occurs=0)),
    ("RejectLetterNotifier", LetterNotifierType.customize(min_occurs=0)),
    ("InvalidLetterNotifier", LetterNotifierType.customize(min_occurs=0)),
    ("InvalidAcceptIDNotifier", AcceptIDNotifierType.customize(min_occurs=0)),
]


class CorrespondenceLetterOutboundRequestType(_Model):
    _type_info = list(ITEM_FIELDS)


class CorrespondenceLetterOutboundResponseType(_Model):
    _type_info = [("ProcessID", _str()), ("processID", _str(0)), ("ProcessTime", _str()), *ITEM_FIELDS]


class CorrespondenceLetterInboundResponseType(_Model):
    _type_info = [("ProcessID", _str(0)), ("processID", _str(0)), ("ProcessTime", _str(0)), *ITEM_FIELDS]


class LetterReferenceType(_Model):
    _type_info = [
        ("LetterID", _str()), ("CorrespondenceDate", _str()),
        ("SenderDepartment", DepartmentType.customize(min_occurs=1)),
        ("AcceptDepartment", DepartmentType.customize(min_occurs=1)),
    ]


SPECIAL_ITEMS = ("GovernmentDocument", *NOTIFIER_ELEMENTS)


class CorrespondenceLetterInboundSpecialRequestType(_Model):
    _type_info = [(name, LetterReferenceType.customize(min_occurs=0)) for name in SPECIAL_ITEMS]


class CorrespondenceDeleteGovernmentDocumentResponseType(_Model):
    _type_info = [("LetterID", _str()), ("ProcessTime", _str())]


class CorrespondenceLetterDeleteRequestType(_Model):
    _type_info = [("ProcessID", _str())]


class CorrespondenceLetterDeleteResponseType(_Model):
    _type_info = [("ProcessID", _str()), ("ProcessTime", _str())]


class MinistryOrganizationListType(_Model):
    _type_info = [("Th-Name", _str()), ("MinistryID", _str())]


class GetMinistryOrganizationListResponseType(_Model):
    _type_info = [("MinistryOrganizationList",
                   MinistryOrganizationListType.customize(min_occurs=0, max_occurs="unbounded"))]


class OrganizationInfoType(_Model):
    _type_info = [("En-Name", _str()), ("Th-Name", _str()), ("ECMS-URL", _str()), ("OrganizationID", _str())]


class OrganizationListType(_Model):
    _type_info = [("OrganizationInfo", OrganizationInfoType.customize(min_occurs=0, max_occurs="unbounded"))]


class CodeType(_Model):
    _type_info = [("Value", _str()), ("Description", _str())]


class CodeListType(_Model):
    _type_info = [("Code", CodeType.customize(min_occurs=0, max_occurs="unbounded"))]


class MimeCodeType(_Model):
    _type_info = [("File-Extension", _str()), ("Content-type", _str())]


class MimeCodesType(_Model):
    _type_info = [("Code", MimeCodeType.customize(min_occurs=0, max_occurs="unbounded"))]


class OutboundType(_Model):
    _type_info = [
        ("ProcessID", _str()), ("LetterID", _str()), ("ProcessStatus", _str()),
        ("CorrespondenceDate", _str(0)), ("AcceptDepartment", DepartmentType.customize(min_occurs=0)),
        ("AcceptID", _str(0)), ("StatusTime", _str(0)),
    ]


class OutboundStatusResponseType(_Model):
    _type_info = [("Outbound", OutboundType.customize(min_occurs=0, max_occurs="unbounded"))]


def _make(model: type, **values: Any) -> Any:
    """A model instance; field names like 'Th-Name' are not Python identifiers."""
    obj = model()
    for key, value in values.items():
        setattr(obj, key, value)
    return obj


@dataclass
class Call:
    """What one request's handler needs (Spyne's ctx.udc)."""

    agency: Agency
    caller: Organization
    raw: bytes
    prepared: Any = None     # a letter prepared (checked, signed, verified) before Spyne saw it
    item: bytes | None = None
    error: GatewayError | None = None


def _guarded(handler: Any) -> Any:
    """Keep our errors out of Spyne's exception path (which would log and wrap them).

    Spyne reads the wrapper's signature: one bare argument for operations with
    a request model, none for the empty requests (GetOrganizationList, ...).
    """
    def run(ctx: MethodContext, *req: Any) -> Any:
        call: Call = ctx.udc
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


def _item_response(call: Call, model: type, item: Item) -> Any:
    call.item = item.element
    return _make(model, ProcessID=item.process_id, processID=item.process_id, ProcessTime=item.process_time)


class AgencyService(ServiceBase):
    """One method per operation of wsdl/ecms-agency.wsdl."""

    @rpc(CorrespondenceLetterOutboundRequestType, _returns=CorrespondenceLetterOutboundResponseType,
         _body_style="bare", _in_message_name="CorrespondenceLetterOutboundRequest",
         _out_message_name="CorrespondenceLetterOutboundResponse")
    @_guarded
    def CorrespondenceLetterOutbound(call: Call, req: Any) -> Any:
        """3.2.1 send a letter; 3.2.2 - 3.2.6 send a notifier."""
        if req.GovernmentDocument is not None:
            # The letter was checked, signed and verified before Spyne saw the request.
            if call.prepared is None:
                raise LocalError("a letter reached the handler without being verified")
            item = call.agency.store_letter(call.caller, call.prepared)
        else:
            name, value = next((n, getattr(req, n)) for n in NOTIFIER_ELEMENTS if getattr(req, n) is not None)
            notifier = make_notifier(NOTIFIER_ELEMENTS[name], letter_id=value.LetterID,
                                     correspondence_date=value.CorrespondenceDate, subject=value.Subject,
                                     accept_id=getattr(value, "AcceptID", "") or "")
            item = call.agency.notify(call.caller, notifier, call.raw)
        return _item_response(call, CorrespondenceLetterOutboundResponseType, item)

    @rpc(_returns=CorrespondenceLetterInboundResponseType, _body_style="out_bare",
         _in_message_name="CorrespondenceLetterInboundRequest", _out_message_name="CorrespondenceLetterInboundResponse")
    @_guarded
    def CorrespondenceLetterInbound(call: Call) -> Any:
        """3.2.7 - 3.2.12 pull the oldest undeleted item; an empty element when there is none."""
        item = call.agency.pull(call.caller)
        if item is None:
            return CorrespondenceLetterInboundResponseType()
        return _item_response(call, CorrespondenceLetterInboundResponseType, item)

    @rpc(CorrespondenceLetterInboundSpecialRequestType, _returns=CorrespondenceLetterInboundResponseType,
         _body_style="bare", _in_message_name="CorrespondenceLetterInboundSpecialRequest",
         _out_message_name="CorrespondenceLetterInboundResponse")
    @_guarded
    def CorrespondenceLetterInboundSpecial(call: Call, req: Any) -> Any:
        """Fetch one named letter or notifier again."""
        name, value = next((n, getattr(req, n)) for n in SPECIAL_ITEMS if getattr(req, n) is not None)
        reference = decide.make_reference(
            name, letter_id=value.LetterID, correspondence_date=value.CorrespondenceDate,
            sender=value.SenderDepartment.Code, receiver=value.AcceptDepartment.Code)
        return _item_response(call, CorrespondenceLetterInboundResponseType,
                              call.agency.special(call.caller, name, reference))

    @rpc(LetterReferenceType, _returns=CorrespondenceDeleteGovernmentDocumentResponseType, _body_style="bare",
         _in_message_name="CorrespondenceDeleteGovernmentDocumentRequest",
         _out_message_name="CorrespondenceDeleteGovernmentDocumentResponse")
    @_guarded
    def CorrespondenceDeleteGovernmentDocument(call: Call, req: Any) -> Any:
        """3.2.13 the sender withdraws a rejected or invalid letter."""
        reference = decide.make_reference(
            "CorrespondenceDeleteGovernmentDocumentRequest", letter_id=req.LetterID,
            correspondence_date=req.CorrespondenceDate, sender=req.SenderDepartment.Code,
            receiver=req.AcceptDepartment.Code)
        letter_id, when = call.agency.withdraw(call.caller, reference)
        return _make(CorrespondenceDeleteGovernmentDocumentResponseType, LetterID=letter_id, ProcessTime=when)

    @rpc(CorrespondenceLetterDeleteRequestType, _returns=CorrespondenceLetterDeleteResponseType, _body_style="bare",
         _in_message_name="CorrespondenceLetterDeleteRequest", _out_message_name="CorrespondenceLetterDeleteResponse")
    @_guarded
    def CorrespondenceLetterDelete(call: Call, req: Any) -> Any:
        """3.2.14 remove a pulled item from the queue."""
        when = call.agency.delete(call.caller, req.ProcessID or "")
        return _make(CorrespondenceLetterDeleteResponseType, ProcessID=(req.ProcessID or "").strip(), ProcessTime=when)

    @rpc(_returns=GetMinistryOrganizationListResponseType, _body_style="out_bare",
         _in_message_name="GetMinistryOrganizationList", _out_message_name="GetMinistryOrganizationListResponse")
    @_guarded
    def GetMinistryOrganizationList(call: Call) -> Any:
        """3.3.1 ministry codes."""
        return _make(GetMinistryOrganizationListResponseType, MinistryOrganizationList=[
            _make(MinistryOrganizationListType, **{"Th-Name": name, "MinistryID": code})
            for code, name in codelists.MINISTRIES.items()])

    @rpc(_returns=OrganizationListType, _body_style="out_bare",
         _in_message_name="GetOrganizationList", _out_message_name="OrganizationList")
    @_guarded
    def GetOrganizationList(call: Call) -> Any:
        """3.3.2 the directory, each organisation with the agency URL of its node."""
        return _make(OrganizationListType, OrganizationInfo=[
            _make(OrganizationInfoType, **{"En-Name": org.en_name, "Th-Name": org.th_name,
                                           "ECMS-URL": org.ecms_url, "OrganizationID": org.id})
            for org in call.agency.directory.all()])

    @rpc(_returns=CodeListType, _body_style="out_bare",
         _in_message_name="GetSecretCodes", _out_message_name="SecretCodes")
    @_guarded
    def GetSecretCodes(call: Call) -> Any:
        return _codes(codelists.SECRET_CODES)

    @rpc(_returns=CodeListType, _body_style="out_bare",
         _in_message_name="GetSpeedCodes", _out_message_name="SpeedCodes")
    @_guarded
    def GetSpeedCodes(call: Call) -> Any:
        return _codes(codelists.SPEED_CODES)

    @rpc(_returns=MimeCodesType, _body_style="out_bare",
         _in_message_name="GetMimeCodes", _out_message_name="MimeCodes")
    @_guarded
    def GetMimeCodes(call: Call) -> Any:
        return _make(MimeCodesType, Code=[
            _make(MimeCodeType, **{"File-Extension": ext, "Content-type": mime})
            for ext, mime in codelists.MIME_CODES.items()])

    @rpc(_returns=OutboundStatusResponseType, _body_style="out_bare",
         _in_message_name="OutboundStatusRequest", _out_message_name="OutboundStatusResponse")
    @_guarded
    def OutboundStatus(call: Call) -> Any:
        """3.3.6 status of the letters this organisation sent (newest first)."""
        return _make(OutboundStatusResponseType, Outbound=[
            _make(OutboundType, ProcessID=s.process_id, LetterID=s.letter_id, ProcessStatus=s.status.value,
                  CorrespondenceDate=s.correspondence_date,
                  AcceptDepartment=_make(DepartmentType, Code=s.receiver),
                  AcceptID=s.accept_id or None, StatusTime=s.status_time)
            for s in call.agency.outbound_status(call.caller)])

    @rpc(_returns=Unicode, _body_style="out_bare",
         _in_message_name="TimeCheckRequest", _out_message_name="ECMSTime")
    @_guarded
    def TimeCheck(call: Call) -> Any:
        return wire_time(call.agency.clock.now())


def _codes(table: Any) -> Any:
    return _make(CodeListType, Code=[_make(CodeType, Value=k, Description=v) for k, v in table.items()])


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


class AgencySpyne(SpyneDriver):
    """The Spyne application for the agency port, called once per request."""

    def __init__(self) -> None:
        super().__init__([AgencyService], NS, "ECMSAgencyService")

    def call(self, operation: etree._Element, call: Any, *, unqualify: str | None = NS) -> bytes:
        """Answer one operation element (unqualified, schema-valid) with the response element's bytes."""
        envelope.qualify(operation, NS)
        return super().call(operation, call, unqualify=NS)


# ------------------------------------------------------------------ node port

@dataclass
class NodeCall:
    """What one node-port request's handler needs."""

    relay: Any
    checked: Any = None      # the NodeMessage verified before Spyne saw the request
    directory_snapshot: Callable[[], bytes] | None = None
    item: bytes | None = None
    error: GatewayError | None = None


class _NodeModel(ComplexModel):
    __namespace__ = ns.NODE_CARRIER


class DeliverResponse(_NodeModel):
    """xs:any: the NodeReceipt is spliced in as the bytes first issued."""
    _type_info: list = []


class DirectorySnapshotResponse(_NodeModel):
    _type_info: list = []


class NodeService(ServiceBase):
    """One method per operation of wsdl/ecms-node.wsdl."""

    @rpc(AnyXml, _returns=DeliverResponse, _body_style="bare", _in_message_name="DeliverRequest",
         _out_message_name="DeliverResponse")
    @_guarded
    def Deliver(call: NodeCall, message: Any) -> Any:
        """Accept one NodeMessage; answer its receipt (the first one issued, for a repeat)."""
        if call.checked is None:
            raise LocalError("a node message reached the handler without being verified")
        call.item = call.relay.accept(call.checked)
        return DeliverResponse()

    @rpc(_returns=DirectorySnapshotResponse, _body_style="out_bare", _in_message_name="DirectorySnapshotRequest",
         _out_message_name="DirectorySnapshotResponse")
    @_guarded
    def DirectorySnapshot(call: NodeCall) -> Any:
        """The signed directory of this node (when it is a directory authority)."""
        if call.directory_snapshot is None:
            raise RemoteError(ErrorCode.UNKNOWN_OPERATION, "this node is not a directory authority")
        call.item = call.directory_snapshot()
        return DirectorySnapshotResponse()


class NodeSpyne(SpyneDriver):
    def __init__(self) -> None:
        super().__init__([NodeService], ns.NODE_CARRIER, "ECMSNodeService")

