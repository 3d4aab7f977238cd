"""The one hardened XML parser: every XML byte the gateway reads goes through here.

Rules (DESIGN section 6): no DTD (so no entities, internal or external), no
network, no XInclude, no processing instructions; limits on size, depth,
element count and the length of ordinary text, checked before any other work
looks at the tree. Binary objects (base64 enclosures) are the only elements
allowed long text, because a 50 MB PDF is a legitimate letter.

Depends on lxml only; no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError

MiB = 1024 * 1024
MAX_BODY_BYTES = 50 * MiB          # issue 2: default body size limit
MAX_DEPTH = 64                      # a letter is about 8 deep inside an envelope
MAX_ELEMENTS = 100_000              # a letter has tens of elements; room for many enclosures
MAX_TEXT_CHARS = 256 * 1024         # ordinary text node (subject, description, ...)
MAX_NAMESPACES = 256                # namespace declarations per document; deployed envelopes carry under 20
MAX_ATTRIBUTES = 32                 # attributes per element; the contract's elements carry at most 3
# Encodings accepted in the XML declaration. Everything else is refused (1008): UTF-7 can hide
# markup from the prolog scan, and TIS-620 or ISO-8859-11 would reach receivers' UTF-8 systems as
# something other than what the sender meant. Deployed clients send UTF-8.
UTF8_NAMES = frozenset({"utf-8", "utf8"})
_DECLARATION = re.compile(rb"^<\?xml\s([^?]*)\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_NAMESPACE_DECLARATION = re.compile(rb"""xmlns(?::[^\s=/>]+)?\s*=\s*["']""")

# Elements whose text is base64 and may be as long as the body allows.
LONG_TEXT_ELEMENTS = frozenset({
    ns.ram("MainLetterBinaryObject"),
    ns.ram("AttachmentBinaryObject"),
    ns.ds("X509Certificate"),
    ns.ds("SignatureValue"),
    # The node interface carries a whole letter as base64 in one element.
    ns.node("Payload"),
    # A sealed secret letter: the whole letter, encrypted, as base64.
    f"{{{ns.XENC}}}CipherValue",
})


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits applied to one document; defaults are the documented ones."""

    max_bytes: int = MAX_BODY_BYTES
    max_depth: int = MAX_DEPTH
    max_elements: int = MAX_ELEMENTS
    max_text_chars: int = MAX_TEXT_CHARS
    max_namespaces: int = MAX_NAMESPACES
    max_attributes: int = MAX_ATTRIBUTES

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_elements", "max_text_chars", "max_namespaces",
                     "max_attributes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = Limits()


def new_parser(target: object | None = None) -> etree.XMLParser:
    """A fresh parser with the hardened options (no DTD, entities, network); ``target`` for a feed parser
    with a parser target (core/xml/stream.py), None for a tree."""
    # huge_tree lifts libxml2's 10 MB text-node cap so enclosures fit; our own
    # limits below replace it. resolve_entities/load_dtd/no_network and the
    # resolver make sure a DTD, if one slipped through, can fetch nothing.
    parser = etree.XMLParser(
        target=target,
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
    parser.resolvers.add(_DenyResolver())
    return parser


def _new_parser() -> etree.XMLParser:
    return new_parser()


def _recovering_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True,
                           recover=True, collect_ids=False)


_UNDEFINED_NAMESPACE = 201  # libxml2 XML_NS_ERR_UNDEFINED_NAMESPACE


def _only_undeclared_header_prefix(exc: etree.XMLSyntaxError) -> bool:
    return only_undeclared_header_prefix(list(exc.error_log))


def only_undeclared_header_prefix(errors: list) -> bool:
    """Whether libxml2's log entries are all the one tolerated quirk: an undeclared prefix on Header."""
    return bool(errors) and all(
        e.type == _UNDEFINED_NAMESPACE and e.message.endswith(" on Header is not defined") for e in errors)


def signature_parser() -> etree.XMLParser:
    """The parser signxml re-reads documents with when it signs or verifies (a fresh one per call).

    signxml serialises the tree it is given and parses it again; its own parser
    keeps libxml2's 10 MB text-node cap, so every letter whose base64 enclosure
    passed about 7.5 MB failed with an internal error. This one is ours: huge
    trees, no entities, no DTD, no network (the document was checked by
    :func:`parse` already).
    """
    return _new_parser()


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
    check_prolog(data)
    _check_namespace_count(data, limits)
    etree.clear_error_log()  # the exception's log is per thread and keeps earlier documents' errors
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if not _only_undeclared_header_prefix(exc):
            raise RemoteError(syntax_code(exc), syntax_message(exc)) from exc
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


def check_prolog(data: bytes) -> None:
    """Refuse a DTD before libxml2 sees it, by scanning the whole prolog.

    Only the prolog can hold a DOCTYPE. libxml2 reads a DOCTYPE's subsets (and
    opens local files they name) whatever the parser options say, so none may
    reach it. The body must be ASCII-compatible (UTF-8, as every deployed client
    sends): a UTF-16 or UTF-32 body would hide the prolog from this scan.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or data[:4] in (
            b"<\x00?\x00", b"\x00<\x00?", b"<\x00\x00\x00", b"\x00\x00\x00<") or b"\x00" in data[:4]:
        raise RemoteError(ErrorCode.BAD_REQUEST, "the body must be UTF-8 encoded")
    i = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte order mark is harmless
    declaration = _DECLARATION.match(data, i)
    if declaration:
        encoding = _ENCODING.search(declaration.group(1))
        if encoding and encoding.group(1).decode("ascii", "replace").strip().lower() not in UTF8_NAMES:
            raise RemoteError(ErrorCode.BAD_REQUEST, f"the body declares encoding "
                                                     f"{encoding.group(1).decode('ascii', 'replace')!r}; send UTF-8")
    end = len(data)
    while i < end:
        c = data[i]
        if c in b" \t\r\n":
            i += 1
            continue
        if c != 0x3C:  # '<'
            return  # not XML at all: the parser will say so
        if data.startswith(b"<?", i):
            close = data.find(b"?>", i + 2)
            if close < 0:
                return
            i = close + 2
        elif data.startswith(b"<!--", i):
            close = data.find(b"-->", i + 4)
            if close < 0:
                return
            i = close + 3
        elif data.startswith(b"<!", i):
            raise RemoteError(ErrorCode.FORBIDDEN_XML, "a DOCTYPE declaration is present")
        else:
            return  # the root element starts: the prolog is over


def _check_namespace_count(data: bytes, limits: Limits) -> None:
    """Refuse a flood of namespace declarations before parsing: each one is inherited by every element
    below it, and validation cost grows with their product (one request must not stall the others)."""
    if data.count(b"xmlns") <= limits.max_namespaces:
        return  # the common case costs one scan
    found = sum(1 for _ in _NAMESPACE_DECLARATION.finditer(data))
    if found > limits.max_namespaces:
        raise RemoteError(ErrorCode.XML_LIMIT, f"{found} namespace declarations; at most {limits.max_namespaces}")


class _DenyResolver(etree.Resolver):
    """Defence in depth: no URL (file, network, anything) is ever resolved."""

    def resolve(self, url, public_id, context):  # noqa: D401 - lxml's interface
        raise RemoteError(ErrorCode.FORBIDDEN_XML, "external resources are not loaded")


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
            if len(node.attrib) > limits.max_attributes:
                raise RemoteError(ErrorCode.XML_LIMIT, f"more than {limits.max_attributes} attributes on an element")
            for value in node.attrib.values():
                if len(value) > limits.max_text_chars:
                    raise RemoteError(ErrorCode.XML_LIMIT, "an attribute value is too long")
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


def syntax_code(exc: etree.XMLSyntaxError) -> ErrorCode:
    """libxml2's own limits are ours too: report them as limits, not as malformed XML."""
    text = " ".join(str(e.message) for e in exc.error_log) or str(exc)
    if "Excessive depth" in text or "huge input" in text.lower():
        return ErrorCode.XML_LIMIT
    if "entity" in text.lower() and ("amplification" in text or "loop" in text):
        return ErrorCode.FORBIDDEN_XML
    return ErrorCode.MALFORMED_XML


def syntax_message(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc)
    line, column = exc.position if exc.position else (0, 0)
    hint = ""
    if "EntityRef" in msg or "xmlParseEntityRef" in msg or "entity" in msg.lower():
        hint = " (an '&' in a value must be written as '&amp;')"
    return f"line {line}, column {column}: {msg}{hint}"
