"""The agency port's Spyne service: one handler per operation of ``ecms-agency.wsdl``, each calling one operation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree
from spyne import ServiceBase, Unicode, rpc

from gateway.adapters.soap import models as m
from gateway.adapters.soap.driver import SpyneDriver, _guarded
from gateway.core.errors import GatewayError, LocalError
from gateway.core.letters import codelists, decide
from gateway.core.letters.letter import NOTIFIER_ELEMENTS, make_notifier
from gateway.core.network.directory import Organization
from gateway.core.time import wire_time
from gateway.core.xml import envelope
from gateway.operations.agency import Agency, Item

@dataclass
class Call:
    """What one request's handler needs (Spyne's ctx.udc)."""

    agency: Agency
    caller: Organization
    raw: bytes
    prepared: Any = None     # a letter prepared (checked, signed, verified) before Spyne saw it
    item: bytes | None = None
    error: GatewayError | None = None
    qualified: bool = False  # answer in the stubs contract's style (ecms-agency.wsdl)
    process_id: str = ""     # the item the answer names (logged as the request's correlation id)
    parts: tuple[str, ...] = ()   # the blobs the answered item names (a large letter: spliced in as written)


def _item_response(call: Call, model: type, item: Item) -> Any:
    call.item = envelope.item_in_style(item.element, qualified=call.qualified)
    call.process_id = item.process_id
    call.parts = item.parts
    # The lower-case alias is the legacy contract's; the stubs contract has ProcessID only.
    return m._make(model, ProcessID=item.process_id, processID=None if call.qualified else item.process_id,
                   ProcessTime=item.process_time)


class AgencyService(ServiceBase):
    """One method per operation of wsdl/ecms-agency.wsdl."""

    @rpc(m.CorrespondenceLetterOutboundRequestType, _returns=m.CorrespondenceLetterOutboundResponseType,
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
        return _item_response(call, m.CorrespondenceLetterOutboundResponseType, item)

    @rpc(_returns=m.CorrespondenceLetterInboundResponseType, _body_style="out_bare",
         _in_message_name="CorrespondenceLetterInboundRequest", _out_message_name="CorrespondenceLetterInboundResponse")
    @_guarded
    def CorrespondenceLetterInbound(call: Call) -> Any:
        """3.2.7 - 3.2.12 pull the oldest undeleted item; an empty element when there is none."""
        item = call.agency.pull(call.caller)
        if item is None:
            return m.CorrespondenceLetterInboundResponseType()
        return _item_response(call, m.CorrespondenceLetterInboundResponseType, item)

    @rpc(m.CorrespondenceLetterInboundSpecialRequestType, _returns=m.CorrespondenceLetterInboundResponseType,
         _body_style="bare", _in_message_name="CorrespondenceLetterInboundSpecialRequest",
         _out_message_name="CorrespondenceLetterInboundResponse")
    @_guarded
    def CorrespondenceLetterInboundSpecial(call: Call, req: Any) -> Any:
        """Fetch one named letter or notifier again."""
        name, value = next((n, getattr(req, n)) for n in m.SPECIAL_ITEMS if getattr(req, n) is not None)
        reference = decide.make_reference(
            name, letter_id=value.LetterID, correspondence_date=value.CorrespondenceDate,
            sender=value.SenderDepartment.Code, receiver=value.AcceptDepartment.Code)
        return _item_response(call, m.CorrespondenceLetterInboundResponseType,
                              call.agency.special(call.caller, name, reference))

    @rpc(m.LetterReferenceType, _returns=m.CorrespondenceDeleteGovernmentDocumentResponseType, _body_style="bare",
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
        return m._make(m.CorrespondenceDeleteGovernmentDocumentResponseType, LetterID=letter_id, ProcessTime=when)

    @rpc(m.CorrespondenceLetterDeleteRequestType, _returns=m.CorrespondenceLetterDeleteResponseType, _body_style="bare",
         _in_message_name="CorrespondenceLetterDeleteRequest", _out_message_name="CorrespondenceLetterDeleteResponse")
    @_guarded
    def CorrespondenceLetterDelete(call: Call, req: Any) -> Any:
        """3.2.14 remove a pulled item from the queue."""
        when = call.agency.delete(call.caller, req.ProcessID or "")
        return m._make(m.CorrespondenceLetterDeleteResponseType, ProcessID=(req.ProcessID or "").strip(), ProcessTime=when)

    @rpc(_returns=m.GetMinistryOrganizationListResponseType, _body_style="out_bare",
         _in_message_name="GetMinistryOrganizationList", _out_message_name="GetMinistryOrganizationListResponse")
    @_guarded
    def GetMinistryOrganizationList(call: Call) -> Any:
        """3.3.1 ministry codes."""
        return m._make(m.GetMinistryOrganizationListResponseType, MinistryOrganizationList=[
            m._make(m.MinistryOrganizationListType, **{"Th-Name": name, "MinistryID": code})
            for code, name in codelists.MINISTRIES.items()])

    @rpc(_returns=m.OrganizationListType, _body_style="out_bare",
         _in_message_name="GetOrganizationList", _out_message_name="OrganizationList")
    @_guarded
    def GetOrganizationList(call: Call) -> Any:
        """3.3.2 the directory, each organisation with the agency URL of its node."""
        return m._make(m.OrganizationListType, OrganizationInfo=[
            m._make(m.OrganizationInfoType, **{"En-Name": org.en_name, "Th-Name": org.th_name,
                                           "ECMS-URL": org.ecms_url, "OrganizationID": org.id})
            for org in call.agency.directory.all()])

    @rpc(_returns=m.CodeListType, _body_style="out_bare",
         _in_message_name="GetSecretCodes", _out_message_name="SecretCodes")
    @_guarded
    def GetSecretCodes(call: Call) -> Any:
        return _codes(codelists.SECRET_CODES)

    @rpc(_returns=m.CodeListType, _body_style="out_bare",
         _in_message_name="GetSpeedCodes", _out_message_name="SpeedCodes")
    @_guarded
    def GetSpeedCodes(call: Call) -> Any:
        return _codes(codelists.SPEED_CODES)

    @rpc(_returns=m.MimeCodesType, _body_style="out_bare",
         _in_message_name="GetMimeCodes", _out_message_name="MimeCodes")
    @_guarded
    def GetMimeCodes(call: Call) -> Any:
        return m._make(m.MimeCodesType, Code=[
            m._make(m.MimeCodeType, **{"File-Extension": ext, "Content-type": mime})
            for ext, mime in codelists.MIME_CODES.items()])

    @rpc(_returns=m.OutboundStatusResponseType, _body_style="out_bare",
         _in_message_name="OutboundStatusRequest", _out_message_name="OutboundStatusResponse")
    @_guarded
    def OutboundStatus(call: Call) -> Any:
        """3.3.6 status of the letters this organisation sent (newest first)."""
        return m._make(m.OutboundStatusResponseType, Outbound=[
            m._make(m.OutboundType, ProcessID=s.process_id, LetterID=s.letter_id, ProcessStatus=s.status.value,
                  CorrespondenceDate=s.correspondence_date,
                  AcceptDepartment=m._make(m.DepartmentType, Code=s.receiver),
                  AcceptID=s.accept_id or None, StatusTime=s.status_time)
            for s in call.agency.outbound_status(call.caller)])

    @rpc(_returns=Unicode, _body_style="out_bare",
         _in_message_name="TimeCheckRequest", _out_message_name="ECMSTime")
    @_guarded
    def TimeCheck(call: Call) -> Any:
        return wire_time(call.agency.clock.now())


def _codes(table: Any) -> Any:
    return m._make(m.CodeListType, Code=[m._make(m.CodeType, Value=k, Description=v) for k, v in table.items()])


class AgencySpyne(SpyneDriver):
    """The Spyne application for the agency port, called once per request."""

    def __init__(self) -> None:
        super().__init__([AgencyService], m.NS, "ECMSAgencyService")

    def call(self, operation: etree._Element, call: Any, *, unqualify: str | None = m.NS) -> bytes:
        """Answer one operation element (legacy shape, schema-valid) with the response element's bytes.

        The answer is unqualified for a legacy request and stays in ns.AGENCY
        (the models' namespace) for a request of the stubs contract.
        """
        envelope.qualify(operation, m.NS)
        return super().call(operation, call, unqualify=None if call.qualified else m.NS)

