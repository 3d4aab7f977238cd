"""Agency-interface envelopes: read what legacy clients send, write what they read.

Every quirk of the deployed clients (DESIGN section 3) is handled here and
nowhere else:

* SOAP 1.1 (``SOAP-ENV:`` or ``env:``) and SOAP 1.2 envelopes; no SOAPAction;
* ``wsa:MessageID`` and ``wsa:To`` in ``http://www.w3.org/2005/08/addressing``
  or the misspelled ``http://w3.org/2005/08/addressing``, ``wsa:to`` in lower
  case, empty or free-text values (never relied on);
* a ``SOAP-ENV:Header`` whose prefix was never declared (tolerated by
  :mod:`gateway.core.xml.safe`, recognised here);
* ``ID="Body"`` on Body;
* operation wrappers unqualified; answers unqualified and unprefixed, with the
  letter's conventional ``rsm:``/``ram:`` prefixes kept.

Clients generated from the stubs contract (``ecms-agency.wsdl``) send the same
wrappers qualified in :data:`gateway.core.ns.AGENCY`. :func:`parse_request`
notes the style (so even a fault about the request is written in it), and
:func:`to_legacy` moves such a request into the legacy shape, so everything
after it (XSD, letter rules, signatures, Spyne) sees one form; the answer is
written back in the style the request was asked in.

Pure functions over lxml elements and bytes; no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from xml.sax.saxutils import escape

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError

# Request element -> the operation it calls (the WSDL's operation names).
OPERATIONS = {
    "CorrespondenceLetterOutboundRequest": "CorrespondenceLetterOutbound",
    "CorrespondenceLetterInboundRequest": "CorrespondenceLetterInbound",
    "CorrespondenceLetterInboundSpecialRequest": "CorrespondenceLetterInboundSpecial",
    "CorrespondenceDeleteGovernmentDocumentRequest": "CorrespondenceDeleteGovernmentDocument",
    "CorrespondenceLetterDeleteRequest": "CorrespondenceLetterDelete",
    "GetMinistryOrganizationList": "GetMinistryOrganizationList",
    "GetOrganizationList": "GetOrganizationList",
    "GetSecretCodes": "GetSecretCodes",
    "GetSpeedCodes": "GetSpeedCodes",
    "GetMimeCodes": "GetMimeCodes",
    "OutboundStatusRequest": "OutboundStatus",
    "TimeCheckRequest": "TimeCheck",
}

SOAP11, SOAP12 = "1.1", "1.2"
_ENV_NS = {SOAP11: ns.SOAP11_ENV, SOAP12: ns.SOAP12_ENV}
CONTENT_TYPE = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}


@dataclass(frozen=True, kw_only=True)
class AgencyRequest:
    """One parsed agency request: the operation element and what the header said."""

    soap_version: str
    operation: str              # the WSDL operation name
    body: etree._Element        # the operation element (first and only child of Body)
    message_id: str = ""
    to: str = ""
    qualified: bool = False     # the stubs contract's style: wrappers in ns.AGENCY


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2] if tag.startswith("{") else tag.rpartition(":")[2]


def parse_request(root: etree._Element) -> AgencyRequest:
    """Check the envelope's shape and find the operation; NOT_SOAP or UNKNOWN_OPERATION otherwise."""
    version, header, op_el = _split(root)
    qualified = op_el.tag.startswith(_AGENCY)
    if qualified:
        operation = OPERATIONS.get(op_el.tag[len(_AGENCY):])
    elif op_el.tag.startswith("{"):
        raise RemoteError(ErrorCode.UNKNOWN_OPERATION,
                          f"{_local(op_el.tag)!r} is in namespace {op_el.tag[1:].partition('}')[0]!r}: send it "
                          f"unqualified (ecms-agency-legacy.wsdl) or in {ns.AGENCY!r} (ecms-agency.wsdl)")
    else:
        operation = OPERATIONS.get(op_el.tag)
    if operation is None:
        raise RemoteError(ErrorCode.UNKNOWN_OPERATION, repr(_local(op_el.tag)))
    check_references(root)
    message_id, to = _addressing(header)
    return AgencyRequest(soap_version=version, operation=operation, body=op_el, message_id=message_id, to=to,
                         qualified=qualified)


_AGENCY = f"{{{ns.AGENCY}}}"


def to_legacy(element: etree._Element) -> None:
    """Move a qualified request's wrapper elements out of ns.AGENCY (in place); the letter is not touched.

    The stubs contract qualifies every wrapper element, so an unqualified one
    among them is refused here rather than silently read as the legacy style.
    Elements in other namespaces (the rsm:GovernmentDocument letter) are left
    as they are, with everything inside them, for the XSD to judge.
    """
    element.tag = element.tag[len(_AGENCY):]
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag.startswith(_AGENCY):
            to_legacy(child)
        elif not child.tag.startswith("{"):
            raise RemoteError(ErrorCode.SCHEMA_INVALID,
                              f"{child.tag!r} inside {element.tag!r} is unqualified; in a request qualified in "
                              f"{ns.AGENCY!r} every wrapper element is in that namespace (ecms-agency.wsdl)")


NODE_OPERATIONS = {
    f"{{{ns.NODE_CARRIER}}}DeliverRequest": "Deliver",
    f"{{{ns.NODE_CARRIER}}}DirectorySnapshotRequest": "DirectorySnapshot",
}


def parse_node_request(root: etree._Element) -> AgencyRequest:
    """The node port's envelope: SOAP 1.1, one carrier element of xsd/NodeCarrier.xsd."""
    version, header, op_el = _split(root)
    operation = NODE_OPERATIONS.get(op_el.tag)
    if operation is None:
        raise RemoteError(ErrorCode.UNKNOWN_OPERATION, f"{op_el.tag!r} is not an operation of the node port")
    check_references(root)
    return AgencyRequest(soap_version=version, operation=operation, body=op_el)


def _split(root: etree._Element) -> tuple[str, etree._Element | None, etree._Element]:
    version = next((v for v, uri in _ENV_NS.items() if root.tag == f"{{{uri}}}Envelope"), None)
    if version is None:
        raise RemoteError(ErrorCode.NOT_SOAP, f"root element is {_local(root.tag) or root.tag!r}, not a SOAP Envelope")
    env_ns = _ENV_NS[version]
    header = body = None
    for child in root:
        if not isinstance(child.tag, str):
            continue  # comments between envelope parts are harmless
        if child.tag == f"{{{env_ns}}}Header" or (child.tag.endswith(":Header") and "{" not in child.tag):
            if header is not None or body is not None:
                raise RemoteError(ErrorCode.NOT_SOAP, "the Header must come once, before Body")
            header = child
        elif child.tag == f"{{{env_ns}}}Body":
            if body is not None:
                raise RemoteError(ErrorCode.NOT_SOAP, "more than one Body")
            body = child
        else:
            raise RemoteError(ErrorCode.NOT_SOAP, f"unexpected element {_local(child.tag)!r} in Envelope")
    if body is None:
        raise RemoteError(ErrorCode.NOT_SOAP, "no Body")
    if (body.text or "").strip():
        raise RemoteError(ErrorCode.NOT_SOAP, "text directly inside Body")
    elements = [c for c in body if isinstance(c.tag, str)]
    if not elements:
        raise RemoteError(ErrorCode.NOT_SOAP, "empty Body")
    if len(elements) > 1:
        raise RemoteError(ErrorCode.NOT_SOAP, "Body must hold exactly one operation element")
    return version, header, elements[0]


_ID_ATTRIBUTES = ("ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id",
                  "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id")


def check_references(root: etree._Element) -> None:
    """No duplicate IDs and no ``href`` references anywhere in the envelope (DESIGN section 6).

    A signature names what it covers by ID; two elements with one ID let a
    verifier check one while the business logic reads the other. SOAP-encoding
    ``href="#id"`` lets a framework pull content from anywhere in the envelope.
    """
    seen: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        attrib = el.attrib
        if not attrib:
            continue
        if "href" in attrib:
            raise RemoteError(ErrorCode.NOT_SOAP, "href references are not allowed")
        for name in _ID_ATTRIBUTES:
            value = attrib.get(name)
            if value is not None:
                if value in seen:
                    raise RemoteError(ErrorCode.NOT_SOAP, f"the ID {value!r} appears more than once")
                seen.add(value)


def _addressing(header: etree._Element | None) -> tuple[str, str]:
    if header is None:
        return "", ""
    found: dict[str, str] = {}
    for el in header:
        if not isinstance(el.tag, str) or not el.tag.startswith("{"):
            continue
        uri, _, local = el.tag[1:].partition("}")
        if uri not in ns.WSA_ALL:
            continue
        key = local.lower()  # wsa:to in lower case from one client family
        if key in ("messageid", "to"):
            if key in found:
                raise RemoteError(ErrorCode.NOT_SOAP, f"wsa:{local} appears twice in the Header")
            found[key] = (el.text or "").strip()
    return found.get("messageid", ""), found.get("to", "")


# ------------------------------------------------------------------ answers

_XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_PREFIX = {SOAP11: "SOAP-ENV", SOAP12: "env"}


def wrap(version: str, body: bytes) -> bytes:
    """A response envelope around ``body`` (one serialised Body child)."""
    prefix = _PREFIX[version]
    return b"".join((
        _XML_DECL,
        f'<{prefix}:Envelope xmlns:{prefix}="{_ENV_NS[version]}"><{prefix}:Body>'.encode(),
        body,
        f"</{prefix}:Body></{prefix}:Envelope>".encode(),
    ))


def error_details(errors: Iterable[RemoteError], *, qualified: bool = False) -> str:
    """One ErrorDetail per error: unqualified (legacy), or in ns.AGENCY as the stubs contract's wsdl:fault."""
    start = f'<ErrorDetail xmlns="{ns.AGENCY}">' if qualified else "<ErrorDetail>"
    parts = []
    for err in errors:
        parts.append(
            f"{start}<ErrorCode>{err.code.code}</ErrorCode>"
            f"<ErrorDescription>{escape(err.description)}</ErrorDescription></ErrorDetail>")
    return "".join(parts)


def fault(version: str, errors: list[RemoteError], *, qualified: bool = False) -> bytes:
    """A SOAP Fault whose detail holds one ErrorDetail per error.

    Deployed clients look for ``ErrorDetail`` anywhere in the answer and read
    its first two children (code, description) by position; generated clients
    read the SOAP Fault, whose detail is the WSDL's typed fault (JAX-WS throws
    its exception class, .NET and PHP expose the detail). A SOAP 1.2 Reason
    carries the specifics in both languages: some stacks show only the Thai text.
    """
    first = errors[0]
    client = first.code.is_client_fault
    details = error_details(errors, qualified=qualified)
    text = escape(first.description)
    specifics = ": " + escape(first.detail) if first.detail else ""
    if version == SOAP11:
        body = (f"<SOAP-ENV:Fault><faultcode>SOAP-ENV:{'Client' if client else 'Server'}</faultcode>"
                f"<faultstring>{text}</faultstring><detail>{details}</detail></SOAP-ENV:Fault>")
    else:
        body = (f"<env:Fault><env:Code><env:Value>env:{'Sender' if client else 'Receiver'}</env:Value></env:Code>"
                f'<env:Reason><env:Text xml:lang="en">{escape(first.code.english)}{specifics}</env:Text>'
                f'<env:Text xml:lang="th">{escape(first.code.thai)}{specifics}</env:Text></env:Reason>'
                f"<env:Detail>{details}</env:Detail></env:Fault>")
    return wrap(version, body.encode("utf-8"))


def fault_http_status(version: str, errors: list[RemoteError]) -> int:
    """HTTP status of a fault.

    SOAP 1.1: 200. The deployed clients read an answer's body only when the
    status is 200 (HttpWebRequest throws on anything else), so a 500 would hide
    the ErrorDetail from exactly the clients that need it. SOAP 1.2 follows its
    HTTP binding: 400 for Sender faults, 500 for Receiver faults.
    """
    if version == SOAP11:
        return 200
    return 400 if errors[0].code.is_client_fault else 500


def unqualify(element: etree._Element, namespace: str) -> etree._Element:
    """Move ``element`` and its descendants out of ``namespace`` (in place)."""
    prefix = f"{{{namespace}}}"
    for el in element.iter():
        if isinstance(el.tag, str) and el.tag.startswith(prefix):
            el.tag = el.tag[len(prefix):]
    etree.cleanup_namespaces(element)
    return element


def qualify(element: etree._Element, namespace: str) -> etree._Element:
    """Move the unqualified wrapper elements of a request into ``namespace`` (in place).

    Only no-namespace elements move; the letter keeps its rsm/ram namespaces.
    """
    for el in element.iter():
        if isinstance(el.tag, str) and not el.tag.startswith("{"):
            el.tag = f"{{{namespace}}}{el.tag}"
    return element


def item_in_style(item: bytes, *, qualified: bool) -> bytes:
    """A stored queue item as a request's style answers it.

    Letters (rsm:GovernmentDocument) are the same bytes in both styles. A stored
    notifier is unqualified (the legacy shape); a qualified request gets it in
    ns.AGENCY, as the stubs contract's response types declare it.
    """
    if not qualified or b":" in item.lstrip()[:64].partition(b" ")[0].partition(b">")[0]:
        return item  # legacy style, or a prefixed root (the letter): the stored bytes as they are
    element = etree.fromstring(item, etree.XMLParser(resolve_entities=False, no_network=True))
    if element.tag.startswith("{"):
        return item
    return etree.tostring(qualify(element, ns.AGENCY), encoding="utf-8")


# ---------------------------------------------------- requests, client side

def request(version: str, body: bytes, *, message_id: str = "", to: str = "",
            misspelled_wsa: bool = False) -> bytes:
    """A request envelope as an e-Saraban client writes it (used by the CLI client)."""
    wsa = ns.WSA_MISSPELLED if misspelled_wsa else ns.WSA
    to_tag = "to" if misspelled_wsa else "To"
    prefix = _PREFIX[version]
    head = (f'<{prefix}:Header><wsa:MessageID xmlns:wsa="{wsa}">{escape(message_id)}</wsa:MessageID>'
            f'<wsa:{to_tag} xmlns:wsa="{wsa}">{escape(to)}</wsa:{to_tag}></{prefix}:Header>')
    return b"".join((
        _XML_DECL,
        f'<{prefix}:Envelope xmlns:{prefix}="{_ENV_NS[version]}">{head}<{prefix}:Body>'.encode(),
        body,
        f"</{prefix}:Body></{prefix}:Envelope>".encode(),
    ))
