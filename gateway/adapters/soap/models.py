"""Spyne models of the agency interface, mirroring ``AgencyInterface.xsd`` field for field.

An ``xs:choice`` is a run of optional fields. The models live in
:data:`gateway.core.ns.AGENCY`, the stubs contract's namespace (Spyne cannot
model elements in no namespace); the driver moves legacy (unqualified) request
and answer elements in and out of it.
``tests/unit/test_contract.py`` compares these models with the XSD.
"""
from __future__ import annotations

from typing import Any

from spyne import AnyXml, ComplexModel, Unicode

from gateway.core import ns
from gateway.core.letters.letter import NOTIFIER_ELEMENTS

NS = ns.AGENCY


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

