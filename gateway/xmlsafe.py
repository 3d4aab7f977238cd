"""The one hardened XML parser: every XML byte the gateway reads goes through here.

Rules (DESIGN section 6): no DTD (so no entities, internal or external), no
network, no XInclude, no processing instructions; limits on size, depth,
element count and the length of ordinary text, checked before any other work
looks at the tree. Binary objects (base64 enclosures) are the only elements
allowed long text, because a 50 MB PDF is a legitimate letter.

Depends on lxml only; no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway import ns
from gateway.errors import ErrorCode, RemoteError

MiB = 1024 * 1024
MAX_BODY_BYTES = 50 * MiB          # issue 2: default body size limit
MAX_DEPTH = 64                      # a letter is about 8 deep inside an envelope
MAX_ELEMENTS = 100_000              # a letter has tens of elements; room for many enclosures
MAX_TEXT_CHARS = 256 * 1024         # ordinary text node (subject, description, ...)

# Elements whose text is base64 and may be as long as the body allows.
LONG_TEXT_ELEMENTS = frozenset({
    ns.ram("MainLetterBinaryObject"),
    ns.ram("AttachmentBinaryObject"),
    ns.ds("X509Certificate"),
    ns.ds("SignatureValue"),
    # The node interface carries a whole letter as base64 in one element.
    "{urn:th:gov:egif:ecms:node:1}Payload",
})


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits applied to one document; defaults are the documented ones."""

    max_bytes: int = MAX_BODY_BYTES
    max_depth: int = MAX_DEPTH
    max_elements: int = MAX_ELEMENTS
    max_text_chars: int = MAX_TEXT_CHARS

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_elements", "max_text_chars"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = Limits()


def _new_parser() -> etree.XMLParser:
    # huge_tree lifts libxml2's 10 MB text-node cap so enclosures fit; our own
    # limits below replace it. resolve_entities/load_dtd/no_network make sure a
    # DTD, if one slipped through, can never fetch or expand anything.
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=True,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        collect_ids=False,
    )


def _recovering_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True,
                           recover=True, collect_ids=False)


_UNDEFINED_NAMESPACE = 201  # libxml2 XML_NS_ERR_UNDEFINED_NAMESPACE


def _only_undeclared_header_prefix(exc: etree.XMLSyntaxError) -> bool:
    errors = list(exc.error_log)
    return bool(errors) and all(
        e.type == _UNDEFINED_NAMESPACE and e.message.endswith(" on Header is not defined") for e in errors)


def _parser() -> etree.XMLParser:
    # A fresh parser per document (a few microseconds): lxml parsers are not
    # to be shared between threads.
    return _new_parser()


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Parse ``data`` into the root element, refusing anything unsafe.

    Raises :class:`RemoteError` with TOO_LARGE, MALFORMED_XML, FORBIDDEN_XML or
    XML_LIMIT. The caller gets a tree nobody else has looked at.
    """
    if len(data) > limits.max_bytes:
        raise RemoteError(ErrorCode.TOO_LARGE, f"{len(data)} bytes, limit {limits.max_bytes}")
    if not data.strip():
        raise RemoteError(ErrorCode.BAD_REQUEST, "empty body")
    _refuse_doctype_early(data)
    etree.clear_error_log()  # the exception's log is per thread and keeps earlier documents' errors
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if not _only_undeclared_header_prefix(exc):
            raise RemoteError(ErrorCode.MALFORMED_XML, _syntax_message(exc)) from exc
        # One deployed client sends OutboundStatusRequest in an env: envelope
        # whose Header carries the undeclared prefix SOAP-ENV. That is the only
        # namespace error tolerated: the document is otherwise well-formed, and
        # the Header it names carries nothing the node relies on.
        root = etree.fromstring(data, parser=_recovering_parser())
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot honour
        raise RemoteError(ErrorCode.MALFORMED_XML, str(exc)) from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise RemoteError(ErrorCode.FORBIDDEN_XML, "a DOCTYPE declaration is present")
    check_tree(root, limits)
    return root


def _refuse_doctype_early(data: bytes) -> None:
    """Refuse a DOCTYPE in the prolog before libxml2 reads its declarations.

    Only the prolog can hold a DTD; scanning it costs nothing. UTF-16 input is
    checked again after parsing (docinfo), so this is a fast path, not the guard.
    """
    head = data[:4096]
    root_start = _first_element_offset(head)
    prolog = head if root_start < 0 else head[:root_start]
    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
        raise RemoteError(ErrorCode.FORBIDDEN_XML, "a DOCTYPE declaration is present")


def _first_element_offset(head: bytes) -> int:
    i = 0
    while True:
        i = head.find(b"<", i)
        if i < 0 or i + 1 >= len(head):
            return -1
        nxt = head[i + 1:i + 2]
        if nxt not in (b"?", b"!"):
            return i
        if head.startswith(b"<!--", i):
            end = head.find(b"-->", i + 4)
            if end < 0:
                return -1
            i = end + 3
        else:
            i += 2


def check_tree(root: etree._Element, limits: Limits = DEFAULT_LIMITS) -> None:
    """Walk the tree once: depth, element count, text sizes, forbidden nodes."""
    depth = 0
    count = 0
    for event, node in etree.iterwalk(root, events=("start", "end", "pi", "comment")):
        if event == "start":
            depth += 1
            count += 1
            if depth > limits.max_depth:
                raise RemoteError(ErrorCode.XML_LIMIT, f"nesting deeper than {limits.max_depth}")
            if count > limits.max_elements:
                raise RemoteError(ErrorCode.XML_LIMIT, f"more than {limits.max_elements} elements")
            tag = node.tag
            if tag.startswith("{"):
                uri = tag[1:tag.index("}")]
                if uri in ns.XINCLUDE:
                    raise RemoteError(ErrorCode.FORBIDDEN_XML, "XInclude is not allowed")
            text = node.text
            if text is not None and len(text) > limits.max_text_chars and tag not in LONG_TEXT_ELEMENTS:
                raise RemoteError(ErrorCode.XML_LIMIT,
                                  f"text of {etree.QName(tag).localname} longer than {limits.max_text_chars} characters")
            tail = node.tail
            if tail is not None and len(tail) > limits.max_text_chars:
                raise RemoteError(ErrorCode.XML_LIMIT, "text between elements is too long")
        elif event == "end":
            depth -= 1
        elif event == "pi":
            raise RemoteError(ErrorCode.FORBIDDEN_XML, "processing instructions are not allowed")
        else:  # comment: allowed, but bounded like any text
            if node.text is not None and len(node.text) > limits.max_text_chars:
                raise RemoteError(ErrorCode.XML_LIMIT, "comment is too long")
    # Processing instructions and comments outside the root element.
    for sibling in root.itersiblings(preceding=True):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise RemoteError(ErrorCode.FORBIDDEN_XML, "processing instructions are not allowed")
    for sibling in root.itersiblings():
        if isinstance(sibling, etree._ProcessingInstruction):
            raise RemoteError(ErrorCode.FORBIDDEN_XML, "processing instructions are not allowed")


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc)
    line, column = exc.position if exc.position else (0, 0)
    hint = ""
    if "EntityRef" in msg or "xmlParseEntityRef" in msg or "entity" in msg.lower():
        hint = " (an '&' in a value must be written as '&amp;')"
    return f"line {line}, column {column}: {msg}{hint}"


def tostring(element: etree._Element) -> bytes:
    """Serialise an element as UTF-8 without an XML declaration."""
    return etree.tostring(element, encoding="utf-8")
