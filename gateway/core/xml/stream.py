"""Reading a request as it arrives, with each large enclosure's text sent aside (issue 10, part 1).

Theory of operation
-------------------
:class:`StreamParser` is fed the body a chunk at a time. It drives lxml's feed parser with a parser
*target* (:class:`_Target`) that forwards every event to an ``etree.TreeBuilder``, except the text of
an element in ``binary`` (``parts.BINARY_ELEMENTS``: the main letter and the attachments). libxml2
hands text to the target as its SAX characters callback sees it: never more than the chunk just fed,
and one piece per line where a ``&#13;`` breaks the lines (measured with lxml 6.0 / libxml2 2.14: a
3 MiB text fed in 64 KiB chunks arrives in 64 pieces of 64 KiB; fed whole, in one piece). So a binary
element's text never has to be whole: it is collected (and checked against ``parts.BASE64_TEXT``,
1006 otherwise) up to ``large_text`` bytes; past that a sink is opened (a spool file of the blob
store, store/blobs.py), what was collected and everything after goes to it, and at the element's end
its text in the tree becomes ``parts.placeholder(digest)``. A text that stays at or under
``large_text`` stays in the tree as sent. The result is the request's *skeleton* and its parts, in
document order; ``parts.splice`` of the serialised skeleton gives back the document (the same
exclusive c14n as :func:`safe.parse` of the body).

The hardening of :func:`safe.parse` holds, reusing its pieces:

* the same parser options (``safe.new_parser``: no DTD, no entities, no network, a resolver that
  refuses everything);
* the prolog: the first bytes are held until the root element starts (at most :data:`MAX_PROLOG`),
  then ``safe.check_prolog`` sees the whole prolog before libxml2 does (a DOCTYPE never reaches it);
* size: the bytes fed, 1003 as soon as they pass ``max_bytes``;
* namespaces: the declarations are counted as elements start (1007 past ``max_namespaces``);
  libxml2's namespace errors, which a target parser does not raise, are read from the feed's error
  log and refused (1001) as ``safe.parse`` refuses them, the undeclared prefix on ``Header`` of one
  deployed client tolerated as there (``safe.only_undeclared_header_prefix``);
* depth, elements, attributes and text length as events arrive (so memory stays bounded; text of
  ``safe.LONG_TEXT_ELEMENTS`` may be long), processing instructions and a DOCTYPE refused (1002),
  and at the end ``safe.check_tree`` on the skeleton (XInclude, and everything again);
* libxml2's errors mapped as there (``safe.syntax_code``, ``safe.syntax_message``).

Where the stream parser is stricter than :func:`safe.parse` (documents no client sends): a binary
element holding child elements, comments or processing instructions (1006); text after a comment
longer than ``max_text_chars`` (1007); a prolog over :data:`MAX_PROLOG` (1007); and one namespace bound
to two prefixes in scope where an element or attribute of it is named (1001: the TreeBuilder sees
names as ``{uri}local`` and could write the other prefix, which would break a signature; see
:func:`_ambiguous`). The tolerated
``SOAP-ENV:Header`` quirk comes out as a ``Header`` element in no namespace (``safe.parse`` keeps the
prefixed name).

On any refusal, and on :meth:`StreamParser.abort`, every sink opened is discarded, so a refused or
broken-off upload leaves nothing behind.

Pure: the sinks come from the ``new_sink`` callable; no file is opened here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol

from lxml import etree

from gateway.core.errors import ErrorCode, LocalError, RemoteError
from gateway.core.letters import parts
from gateway.core.xml import safe

MAX_PROLOG = 1024 * 1024      # bytes before the root element held back for the prolog scan
FLUSH = 64 * 1024             # binary text is checked and written in pieces of about this many characters
_BOM = b"\xef\xbb\xbf"


class TextSink(Protocol):
    """Where a large text goes as it arrives (store/blobs.py's Spool)."""

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> str: ...      # the hex SHA-256 of every byte written

    def discard(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Part:
    """One enclosure kept beside the letter: its text is in ``sink`` (finished); the caller stores or discards it."""

    digest: str      # hex SHA-256 of the exact text
    size: int        # bytes of text
    sink: TextSink


@dataclass(frozen=True)
class _Scope:
    """The namespace bindings in scope at an element, and the URIs bound to more than one prefix."""

    bindings: dict
    ambiguous: frozenset        # for element names (the default namespace counts)
    ambiguous_attr: frozenset   # for attribute names (prefixed bindings only)


def _scope(parent: _Scope, declared: dict) -> _Scope:
    bindings = {**parent.bindings, **declared}
    every = Counter(uri for uri in bindings.values() if uri)
    prefixed = Counter(uri for prefix, uri in bindings.items() if uri and prefix is not None)
    return _Scope(bindings, frozenset(u for u, n in every.items() if n > 1),
                  frozenset(u for u, n in prefixed.items() if n > 1))


_EMPTY_SCOPE = _Scope({}, frozenset(), frozenset())


def _ambiguous(tag: str, attrib, scope: _Scope, declared: dict) -> bool:
    """Whether the TreeBuilder, which sees ``{uri}local`` names, might write another prefix than the source.

    lxml takes the element's own declaration of the URI first, then the nearest ancestor's: only a URI
    bound to two prefixes in scope, and not declared once on the element itself, is in doubt.
    """
    uri = _uri(tag)
    if uri and uri in scope.ambiguous and sum(1 for u in declared.values() if u == uri) != 1:
        return True
    for name in attrib:
        uri = _uri(name)
        if uri and uri in scope.ambiguous_attr and \
                sum(1 for prefix, u in declared.items() if u == uri and prefix is not None) != 1:
            return True
    return False


def _uri(name: str) -> str:
    return name[1:name.index("}")] if name.startswith("{") else ""


def _local(tag: str) -> str:
    return etree.QName(tag).localname


class _Target:
    """The parser target: a TreeBuilder, with the limits checked as events arrive and large text sent aside."""

    def __init__(self, limits: safe.Limits, new_sink: Callable[[], TextSink], large_text: int,
                 binary: frozenset[str]) -> None:
        self.builder = etree.TreeBuilder()
        self.limits, self.new_sink, self.large_text, self.binary = limits, new_sink, large_text, binary
        self.flush_at = min(FLUSH, large_text + 1)   # a sink opens as soon as the text passes large_text
        self.failed = False
        self.root: etree._Element | None = None
        self.before: list[str] = []           # comments before and after the root element
        self.after: list[str] = []
        self.tags: list[str] = []
        self.scopes: list[_Scope] = [_EMPTY_SCOPE]
        self.elements = self.namespaces = 0
        self.run = 0                          # characters of text since the last event
        self.own_text = False                 # that text is an element's own (else a tail)
        self.long_run = False                 # ... and may be long (safe.LONG_TEXT_ELEMENTS)
        # Inside a binary element: its text, not yet checked (pending), checked and held, or in a sink.
        self.binary_tag: str | None = None
        self.pending: list[str] = []
        self.pending_chars = 0
        self.held: list[bytes] = []
        self.held_size = 0
        self.sink: TextSink | None = None
        self.sink_size = 0
        self.opened: list[TextSink] = []
        self.parts: list[Part] = []

    # lxml stores an exception a callback raises, stops the parser and raises it from feed() or close().
    def _fail(self, exc: BaseException) -> BaseException:
        self.failed = True
        if isinstance(exc, ValueError):   # the TreeBuilder refusing a name; safe.parse maps ValueError so too
            return RemoteError(ErrorCode.MALFORMED_XML, str(exc))
        return exc

    def start(self, tag, attrib, nsmap=None):
        try:
            return self._start(tag, attrib, nsmap or {})
        except BaseException as exc:
            raise self._fail(exc) from exc

    def _start(self, tag, attrib, nsmap):
        limits = self.limits
        if self.binary_tag is not None:
            raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{_local(self.binary_tag)} holds an element")
        self.elements += 1
        if len(self.tags) >= limits.max_depth:
            raise RemoteError(ErrorCode.XML_LIMIT, f"nesting deeper than {limits.max_depth}")
        if self.elements > limits.max_elements:
            raise RemoteError(ErrorCode.XML_LIMIT, f"more than {limits.max_elements} elements")
        if len(attrib) > limits.max_attributes:
            raise RemoteError(ErrorCode.XML_LIMIT, f"more than {limits.max_attributes} attributes on an element")
        if any(len(value) > limits.max_text_chars for value in attrib.values()):
            raise RemoteError(ErrorCode.XML_LIMIT, "an attribute value is too long")
        # lxml's target names the default namespace ''; the TreeBuilder wants None ({None: ''} undeclares it).
        declared = {(prefix or None): uri for prefix, uri in nsmap.items()}
        self.namespaces += len(declared)
        if self.namespaces > limits.max_namespaces:
            raise RemoteError(ErrorCode.XML_LIMIT, f"more than {limits.max_namespaces} namespace declarations")
        scope = _scope(self.scopes[-1], declared) if declared else self.scopes[-1]
        if _ambiguous(tag, attrib, scope, declared):
            raise RemoteError(ErrorCode.MALFORMED_XML, f"{_local(tag)}: one namespace is bound to two prefixes "
                                                       "here; a large request must use one prefix per namespace")
        self.scopes.append(scope)
        self.tags.append(tag)
        self.run, self.own_text, self.long_run = 0, True, tag in safe.LONG_TEXT_ELEMENTS
        if tag in self.binary:
            self.binary_tag = tag
            self.pending, self.pending_chars, self.held, self.held_size = [], 0, [], 0
            self.sink, self.sink_size = None, 0
        return self.builder.start(tag, attrib, declared)

    def data(self, text: str) -> None:
        try:
            self._data(text)
        except BaseException as exc:
            raise self._fail(exc) from exc

    def _data(self, text: str) -> None:
        if not self.tags:
            return  # whitespace between top-level nodes: not part of the document's infoset
        if self.binary_tag is not None:
            self.pending.append(text)
            self.pending_chars += len(text)
            if self.pending_chars >= self.flush_at:
                self._flush()
            return
        self.run += len(text)
        if self.run > self.limits.max_text_chars and not self.long_run:
            where = f"text of {_local(self.tags[-1])}" if self.own_text else "text between elements"
            raise RemoteError(ErrorCode.XML_LIMIT, f"{where} longer than {self.limits.max_text_chars} characters")
        self.builder.data(text)

    def _flush(self) -> None:
        """Check the pending binary text and hold it, or write it to the sink (opened past ``large_text``)."""
        text = "".join(self.pending)
        self.pending, self.pending_chars = [], 0
        try:
            data = text.encode("ascii")
        except UnicodeEncodeError:
            data = b"\x00"
        if not parts.BASE64_TEXT.fullmatch(data):
            raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{_local(self.binary_tag)} holds something other "
                                                        "than base64 text")
        if self.sink is None:
            self.held.append(data)
            self.held_size += len(data)
            if self.held_size <= self.large_text:
                return
            self.sink = self.new_sink()
            self.opened.append(self.sink)
            held, self.held = self.held, []
            for piece in held:
                self._write(piece)
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        self.sink_size += len(data)
        self.sink.write(data)

    def end(self, tag):
        try:
            return self._end(tag)
        except BaseException as exc:
            raise self._fail(exc) from exc

    def _end(self, tag):
        if tag == self.binary_tag:
            self._flush()
            if self.sink is not None:
                digest = self.sink.finish()
                self.parts.append(Part(digest=digest, size=self.sink_size, sink=self.sink))
                self.builder.data(parts.placeholder(digest))
            elif self.held_size:
                self.builder.data(b"".join(self.held).decode("ascii"))
            self.binary_tag, self.held, self.sink = None, [], None
        self.tags.pop()
        self.scopes.pop()
        self.run, self.own_text, self.long_run = 0, False, False
        element = self.builder.end(tag)
        if not self.tags:
            self.root = element
        return element

    def comment(self, text):
        try:
            if self.binary_tag is not None:
                raise RemoteError(ErrorCode.SCHEMA_INVALID, f"{_local(self.binary_tag)} holds a comment")
            if len(text) > self.limits.max_text_chars:
                raise RemoteError(ErrorCode.XML_LIMIT, "comment is too long")
            if not self.tags:   # the TreeBuilder keeps no siblings of the root: they are added at the end
                (self.after if self.root is not None else self.before).append(text)
                return None
            self.run, self.own_text, self.long_run = 0, False, False
            return self.builder.comment(text)
        except BaseException as exc:
            raise self._fail(exc) from exc

    def pi(self, target, data=None):
        self.failed = True
        raise RemoteError(ErrorCode.FORBIDDEN_XML, "processing instructions are not allowed")

    def doctype(self, *args):
        self.failed = True
        raise RemoteError(ErrorCode.FORBIDDEN_XML, "a DOCTYPE declaration is present")

    def close(self):
        # lxml calls this on its error path too; raising here would hide the real error.
        if self.failed:
            return None
        try:
            self.builder.close()
        except etree.XMLSyntaxError:
            return None   # no root, or unclosed elements: libxml2 reports the document as malformed
        root = self.root
        if root is not None:
            for text in self.before:        # each goes right before the root: in document order
                root.addprevious(etree.Comment(text))
            for text in reversed(self.after):   # each goes right after the root: last first
                root.addnext(etree.Comment(text))
        return root


class StreamParser:
    """Feed a body's chunks as they arrive; :meth:`close` gives the skeleton and the parts kept aside."""

    def __init__(self, limits: safe.Limits, new_sink: Callable[[], TextSink], *,
                 large_text: int = parts.LARGE_TEXT, binary: frozenset[str] = parts.BINARY_ELEMENTS) -> None:
        self.limits = limits
        self._target = _Target(limits, new_sink, large_text, binary)
        self._parser = safe.new_parser(self._target)
        self._head: bytearray | None = bytearray()   # the first bytes, until the prolog is over
        self._fed = 0
        self._logged = 0
        self._done = False
        self._discarded = False
        etree.clear_error_log()   # safe.syntax_code reads the thread's log, which keeps earlier documents'

    def feed(self, chunk: bytes) -> None:
        """One more piece of the body; a refusal raises RemoteError and discards every sink."""
        if self._done:
            raise LocalError("StreamParser.feed after close or abort")
        with self._refusing():
            self._fed += len(chunk)
            if self._fed > self.limits.max_bytes:
                raise RemoteError(ErrorCode.TOO_LARGE, f"more than {self.limits.max_bytes} bytes")
            if self._head is not None:
                self._head += chunk
                if not _prolog_over(self._head):
                    if len(self._head) > MAX_PROLOG:
                        raise RemoteError(ErrorCode.XML_LIMIT, f"more than {MAX_PROLOG} bytes before the root element")
                    return
                chunk, self._head = bytes(self._head), None
                safe.check_prolog(chunk)
            self._parser.feed(chunk)
            self._check_log()

    def close(self) -> tuple[etree._Element, list[Part]]:
        """The skeleton's root and the parts, in document order (their sinks finished, not yet stored)."""
        if self._done:
            raise LocalError("StreamParser.close after close or abort")
        with self._refusing():
            if self._head is not None:   # the prolog never ended: let the parser say what is wrong
                head, self._head = bytes(self._head), None
                if not head.strip():
                    raise RemoteError(ErrorCode.BAD_REQUEST, "empty body")
                safe.check_prolog(head)
                self._parser.feed(head)
            root = self._parser.close()
            self._check_log()
            if root is None:
                raise RemoteError(ErrorCode.MALFORMED_XML, "the document is incomplete")
            safe.check_tree(root, self.limits)
        self._done = True
        return root, list(self._target.parts)

    def abort(self) -> None:
        """Discard every sink opened (the body was refused or broke off). Idempotent."""
        self._done = True
        if self._discarded:
            return
        self._discarded = True
        for sink in self._target.opened:
            sink.discard()

    def _check_log(self) -> None:
        """Refuse the errors a target parser does not raise (libxml2's namespace errors), as safe.parse does."""
        log = self._parser.feed_error_log
        if len(log) == self._logged:
            return
        self._logged = len(log)
        entries = list(log)
        errors = [e for e in entries if e.level >= etree.ErrorLevels.ERROR]
        if errors and not safe.only_undeclared_header_prefix(entries):
            first = errors[0]
            raise RemoteError(ErrorCode.MALFORMED_XML, f"line {first.line}, column {first.column}: "
                                                       f"{first.message.strip()}")

    def _refusing(self) -> "_Refusing":
        return _Refusing(self)


class _Refusing:
    """Around feed and close: any exception discards every sink; libxml2's errors become RemoteError."""

    def __init__(self, parser: StreamParser) -> None:
        self.parser = parser

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, trace) -> bool:
        if kind is None:
            return False
        self.parser.abort()
        if isinstance(exc, etree.XMLSyntaxError) and not isinstance(exc, RemoteError):
            raise RemoteError(safe.syntax_code(exc), safe.syntax_message(exc)) from exc
        if isinstance(exc, ValueError):   # e.g. an encoding lxml cannot honour, as in safe.parse
            raise RemoteError(ErrorCode.MALFORMED_XML, str(exc)) from exc
        return False


def _prolog_over(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds the whole prolog: the root element's start (or something not XML) is seen.

    ``safe.check_prolog`` needs the prolog whole: a comment or declaration cut in two, or ``<!-`` cut
    from ``<!--``, would be misread.
    """
    end = len(data)
    if end < 4:
        return False     # check_prolog reads the first four bytes (byte order marks, UTF-16)
    i = 3 if data.startswith(_BOM) else 0
    while True:
        while i < end and data[i] in b" \t\r\n":
            i += 1
        if i + 4 > end:
            return False  # '<!--' and '<!DO' differ only in their fourth byte
        if data[i] != 0x3C:   # '<'
            return True       # not XML at all: the parser will say so
        if data.startswith(b"<?", i):
            close = data.find(b"?>", i + 2)
            if close < 0:
                return False
            i = close + 2
        elif data.startswith(b"<!--", i):
            close = data.find(b"-->", i + 4)
            if close < 0:
                return False
            i = close + 3
        else:
            return True       # the root's start tag, or a DOCTYPE (check_prolog refuses it)
