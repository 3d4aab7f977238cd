"""The stream parser (core/xml/stream.py) against the hardened parser (core/xml/safe.py).

Requests as clients send them (gateway.testing.wire), fed in chunks of random sizes: what comes out,
the skeleton with each large enclosure's text spliced back in (core/letters/parts.py), is in exclusive
c14n the document ``safe.parse`` reads from the whole body; what safe.parse refuses is refused with
the same code, and every sink opened is discarded; memory stays bounded whatever the enclosure's size.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from gateway.core import ns
from gateway.core.errors import LocalError, RemoteError
from gateway.core.letters import parts
from gateway.core.xml import safe, stream
from gateway.testing.wire import send_request

MiB = 1024 * 1024
LIMITS = safe.Limits(max_bytes=80 * MiB)
MAIN = ns.ram("MainLetterBinaryObject")
ATTACHMENT = ns.ram("AttachmentBinaryObject")


class MemorySink:
    """A TextSink in memory (or, with keep=False, one that only hashes)."""

    def __init__(self, keep: bool = True) -> None:
        self.buffer = io.BytesIO() if keep else None
        self.hash = hashlib.sha256()
        self.size = 0
        self.finished = False
        self.discarded = 0

    def write(self, chunk: bytes) -> None:
        assert not self.finished and not self.discarded
        if self.buffer is not None:
            self.buffer.write(chunk)
        self.hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> str:
        self.finished = True
        return self.hash.hexdigest()

    def discard(self) -> None:
        self.discarded += 1

    def text(self) -> bytes:
        assert self.buffer is not None
        return self.buffer.getvalue()


class Run:
    """One body through a StreamParser; the sinks it opened kept for the assertions."""

    def __init__(self, *, limits: safe.Limits = LIMITS, large_text: int = parts.LARGE_TEXT, keep: bool = True):
        self.sinks: list[MemorySink] = []

        def new_sink() -> MemorySink:
            self.sinks.append(MemorySink(keep))
            return self.sinks[-1]
        self.parser = stream.StreamParser(limits, new_sink, large_text=large_text)

    def feed(self, body: bytes, sizes=None, seed: int = 0) -> tuple[etree._Element, list[stream.Part]]:
        for chunk in chunks(body, sizes, seed):
            self.parser.feed(chunk)
        return self.parser.close()

    def refused(self, body: bytes, sizes=None, seed: int = 0) -> RemoteError:
        with pytest.raises(RemoteError) as caught:
            self.feed(body, sizes, seed)
        assert all(sink.discarded for sink in self.sinks), "every sink opened is discarded on a refusal"
        return caught.value


def chunks(body: bytes, sizes=None, seed: int = 0):
    """``body`` in pieces: the sizes given (cycled), else random sizes from 1 byte to 64 KiB."""
    rnd = random.Random(seed)
    at, n = 0, 0
    while at < len(body):
        size = sizes[n % len(sizes)] if sizes else rnd.randint(1, 64 * 1024)
        yield body[at:at + size]
        at += size
        n += 1


def c14n(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), method="c14n", exclusive=True)


def spliced(root: etree._Element, found: list[stream.Part]) -> etree._Element:
    texts = {part.digest: part.sink.text() for part in found}
    data = b"".join(parts.splice(etree.tostring(root.getroottree(), encoding="utf-8"), lambda digest: [texts[digest]]))
    return safe.parse(data, LIMITS)


def b64(size: int, width: int = 0, newline: str = "\n") -> str:
    text = base64.b64encode(os.urandom(size)).decode()
    if width:
        text = newline.join(text[i:i + width] for i in range(0, len(text), width))
    return text


def attachment(text: str, mime: str = "pdf") -> str:
    return f'<ram:AttachmentBinaryObject mimeCode="{mime}">{text}</ram:AttachmentBinaryObject>'


# -- documents kept whole or in parts ---------------------------------------------------------------------

def test_a_small_letter_is_unchanged_and_has_no_parts():
    body = send_request(subject="ขอเชิญประชุมผู้บริหาร (แผนงาน & งบประมาณ)")
    run = Run()
    root, found = run.feed(body)
    assert found == [] and run.sinks == []
    assert c14n(root) == c14n(safe.parse(body, LIMITS))
    assert not parts.has_parts(etree.tostring(root))


def test_a_3_mib_main_file_becomes_one_part():
    text = b64(3 * MiB)
    body = send_request(main=text, subject="ส่งแผนที่ภาพถ่ายทางอากาศฉบับสแกน")
    run = Run()
    root, found = run.feed(body, seed=3)
    assert len(found) == 1 and len(run.sinks) == 1
    part = found[0]
    assert part.digest == hashlib.sha256(text.encode()).hexdigest()
    assert part.size == len(text)
    assert part.sink is run.sinks[0] and run.sinks[0].finished and not run.sinks[0].discarded
    assert root.find(f".//{MAIN}").text == parts.placeholder(part.digest)
    assert root.find(f".//{ns.ram('Subject')}").text == "ส่งแผนที่ภาพถ่ายทางอากาศฉบับสแกน"
    assert c14n(spliced(root, found)) == c14n(safe.parse(body, LIMITS))


def test_text_at_the_threshold_stays_inline_and_one_byte_more_goes_to_a_sink():
    for size, kept in ((4096, 0), (4097, 1)):
        text = ("QUJD" * 2000)[:size]
        run = Run(large_text=4096)
        root, found = run.feed(send_request(main=text), sizes=[1000])
        assert len(found) == kept
        assert root.find(f".//{MAIN}").text == (text if not kept else parts.placeholder(found[0].digest))


@pytest.mark.parametrize("newline, sent", [("\n", "\n"), ("\r\n", "&#13;\n"), ("\r\n", "\r\n")])
def test_line_broken_base64_is_kept_exactly(newline, sent):
    text = b64(2 * MiB, 76, newline)
    body = send_request(main=text.replace(newline, sent))
    root, found = Run().feed(body, seed=7)
    expected = safe.parse(body, LIMITS).find(f".//{MAIN}").text
    assert found[0].sink.text() == expected.encode()       # a literal CR is read as LF, as XML says
    assert (b"\r" in found[0].sink.text()) == (sent == "&#13;\n")
    assert c14n(spliced(root, found)) == c14n(safe.parse(body, LIMITS))


def test_two_attachments_and_a_small_one_in_document_order():
    first, second, small = b64(1 * MiB + 10, 64), b64(2 * MiB), b64(300)
    body = send_request(main=b64(200), attachments=attachment(first) + attachment(small, "jpg") + attachment(second))
    run = Run()
    root, found = run.feed(body, seed=11)
    assert [p.digest for p in found] == [hashlib.sha256(t.encode()).hexdigest() for t in (first, second)]
    texts = [e.text for e in root.iter(ATTACHMENT)]
    assert texts == [parts.placeholder(found[0].digest), small, parts.placeholder(found[1].digest)]
    assert root.find(f".//{MAIN}").text and len(root.find(f".//{MAIN}").text) < 400
    assert c14n(spliced(root, found)) == c14n(safe.parse(body, LIMITS))


def test_lxml_hands_large_text_to_the_target_in_pieces_no_larger_than_fed():
    """The measurement the design rests on: libxml2's SAX characters callback, not one whole string."""
    seen: list[int] = []

    class Target:
        def start(self, tag, attrib, nsmap=None): pass
        def end(self, tag): pass
        def data(self, text): seen.append(len(text))
        def close(self): return None

    text = b64(3 * MiB).encode()
    parser = etree.XMLParser(target=Target(), huge_tree=True, resolve_entities=False, no_network=True)
    document = b"<r>" + text + b"</r>"
    for piece in chunks(document, [64 * 1024]):
        parser.feed(piece)
    parser.close()
    assert sum(seen) == len(text) and max(seen) <= 64 * 1024 and len(seen) >= len(text) // (64 * 1024)


# -- refusals -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["*", "ก", "\u00a0", "%", "-", "_"])
@pytest.mark.parametrize("size", [100, 2 * MiB])
def test_anything_but_base64_in_a_binary_element_is_1006_naming_it(bad, size):
    text = b64(size)
    at = len(text) * 3 // 4
    body = send_request(main=text[:at] + bad + text[at:])
    run = Run()
    error = run.refused(body, seed=size)
    assert error.code.code == "1006" and "MainLetterBinaryObject" in error.detail
    assert len(run.sinks) == (1 if size > parts.LARGE_TEXT else 0)


def test_a_bad_attachment_after_a_good_main_file_discards_both():
    body = send_request(main=b64(2 * MiB), attachments=attachment(b64(2 * MiB)[:-10] + "ไม่ใช่base64"))
    run = Run()
    error = run.refused(body, seed=5)
    assert error.code.code == "1006" and "AttachmentBinaryObject" in error.detail
    assert len(run.sinks) == 2 and all(s.discarded == 1 for s in run.sinks)


def test_an_element_inside_a_binary_element_is_1006():
    run = Run()
    assert run.refused(send_request(main="QUJD<x/>REVG")).code.code == "1006"


def test_over_max_bytes_is_1003_as_soon_as_passed_and_sinks_are_discarded():
    limits = safe.Limits(max_bytes=3 * MiB)
    body = send_request(main=b64(3 * MiB))
    run = Run(limits=limits)
    fed = 0
    with pytest.raises(RemoteError) as caught:
        for chunk in chunks(body, [64 * 1024]):
            run.parser.feed(chunk)
            fed += len(chunk)
    assert caught.value.code.code == "1003"
    assert fed <= limits.max_bytes < fed + 64 * 1024        # refused with the chunk that passed the limit
    assert len(run.sinks) == 1 and run.sinks[0].discarded
    assert code_of_limits(body, limits) == "1003"


@pytest.mark.parametrize("body, code", [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', "1002"),
    (b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>', "1002"),
    (b"<!-- first -->\n<!DOCTYPE x><x/>", "1002"),
    (b'<x><?php echo 1; ?></x>', "1002"),
    (b'<?xml-stylesheet href="a.xsl"?><x/>', "1002"),
    (b"<x/><?pi after?>", "1002"),
    (b'<x xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></x>', "1002"),
    (b"<x>&e;</x>", "1001"),
    (b"<x><y></x>", "1001"),
    (b"<x>", "1001"),
    (b"<x/><y/>", "1001"),
    (b"<x><p:y/></x>", "1001"),
    (b'<x><y p:a="1"/></x>', "1001"),
    (b"<!--" + b"-" * 100 + b"no end", "1001"),
    (b"not xml", "1001"),
    (b"", "1008"),
    (b" \r\n ", "1008"),
    (b'<?xml version="1.0" encoding="ISO-8859-11"?><x/>', "1008"),
    ('<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16"), "1008"),
    (b"<a>" * 65 + b"</a>" * 65, "1007"),
    (b"<r>" + b"<a/>" * 1001 + b"</r>", "1007"),
    (b"<r " + b" ".join(b'a%d="1"' % i for i in range(33)) + b"/>", "1007"),
    (b"<r>" + b"".join(b'<a xmlns:n%d="urn:%d"/>' % (i, i) for i in range(257)) + b"</r>", "1007"),
    (b"<r>" + b"x" * 3000 + b"</r>", "1007"),
    (b"<r><a/>" + b"x" * 3000 + b"</r>", "1007"),
    (b'<r a="' + b"x" * 3000 + b'"/>', "1007"),
    (b"<r><!--" + b"x" * 3000 + b"--></r>", "1007"),
])
@pytest.mark.parametrize("sizes", [[1], [3], [64 * 1024]])
def test_what_the_hardened_parser_refuses_is_refused_alike(body, code, sizes):
    limits = safe.Limits(max_elements=1000, max_text_chars=2000)
    assert code_of_limits(body, limits) == code
    assert Run(limits=limits).refused(body, sizes).code.code == code


def code_of_limits(body: bytes, limits: safe.Limits) -> str:
    with pytest.raises(RemoteError) as caught:
        safe.parse(body, limits)
    return caught.value.code.code


def test_a_dtd_or_malformed_xml_after_a_large_enclosure_discards_its_sink():
    letter = send_request(main=b64(2 * MiB))
    for tail, code in ((b"<x>&e;</x>", "1001"), (b"<?pi x?>", "1002"), (b"</oops>", "1001")):
        at = letter.index(b"</SOAP-ENV:Body>")
        run = Run()
        assert run.refused(letter[:at] + tail + letter[at:], seed=1).code.code == code
        assert len(run.sinks) == 1 and run.sinks[0].discarded


def test_a_truncated_body_is_1001_and_discards_its_sink():
    body = send_request(main=b64(2 * MiB))
    run = Run()
    assert run.refused(body[: len(body) - 100], seed=2).code.code == "1001"
    assert len(run.sinks) == 1 and run.sinks[0].discarded


@pytest.mark.parametrize("sizes", [[1], [2], [5]])
def test_a_prolog_cut_anywhere_is_read_whole(sizes):
    prolog = '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!-- ส่งจากระบบ -->\n<!--<!DOCTYPE-->\r\n'
    body = prolog.encode() + send_request()[38:]
    root, found = Run().feed(body, sizes)
    assert c14n(root) == c14n(safe.parse(body, LIMITS)) and found == []


def test_the_undeclared_header_prefix_of_one_client_is_tolerated_as_in_safe_parse():
    body = (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header/>'
            b'<env:Body><OutboundStatusRequest/></env:Body></env:Envelope>')
    safe.parse(body)
    root, _ = Run().feed(body, [7])
    assert root[1][0].tag == "OutboundStatusRequest"
    assert root[0].tag == "Header"   # safe.parse keeps the name 'SOAP-ENV:Header'; neither has a namespace


def test_one_namespace_under_two_prefixes_is_refused_rather_than_rewritten():
    body = b'<a:r xmlns:a="urn:u" xmlns:b="urn:u"><b:x/></a:r>'
    safe.parse(body)
    assert Run().refused(body).code.code == "1001"
    root, _ = Run().feed(b'<a:r xmlns:a="urn:u"><b:x xmlns:b="urn:u"/><y xmlns="urn:v"><z xmlns=""/></y></a:r>')
    assert etree.tostring(root) == b'<a:r xmlns:a="urn:u"><b:x xmlns:b="urn:u"/><y xmlns="urn:v"><z xmlns=""/></y></a:r>'


def test_abort_discards_every_sink_once_and_the_parser_is_spent():
    body = send_request(main=b64(3 * MiB))
    run = Run()
    run.parser.feed(body[: len(body) // 2])
    assert len(run.sinks) == 1 and not run.sinks[0].discarded
    run.parser.abort()
    run.parser.abort()
    assert run.sinks[0].discarded == 1
    with pytest.raises(LocalError):
        run.parser.feed(body[len(body) // 2:])
    with pytest.raises(LocalError):
        run.parser.close()


# -- the property: spliced back, the skeleton is the document ------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(0, 12_000), min_size=1, max_size=3),
       width=st.sampled_from([0, 1, 4, 64, 76, 1000]),
       newline=st.sampled_from(["\n", "\r\n", "&#13;\n", "&#13;&#10;", " ", "\t"]),
       pieces=st.lists(st.integers(1, 64 * 1024), min_size=1, max_size=5),
       large_text=st.sampled_from([1, 100, 4096]),
       comment=st.booleans())
def test_the_skeleton_spliced_is_the_document_for_any_chunking(sizes, width, newline, pieces, large_text, comment):
    texts = [b64(size, width, newline) for size in sizes]
    body = send_request(main=texts[0], attachments="".join(attachment(t) for t in texts[1:]))
    if comment:
        body = body[:38] + "<!-- ทดสอบ -->".encode() + body[38:].replace(b"<SOAP-ENV:Body>", b"<SOAP-ENV:Body><!-- -->")
    run = Run(large_text=large_text)
    root, found = run.feed(body, pieces)
    whole = safe.parse(body, LIMITS)
    assert c14n(spliced(root, found)) == c14n(whole)
    expected = [e.text or "" for e in whole.iter(MAIN, ATTACHMENT)]
    assert [p.size for p in found] == [len(t) for t in expected if len(t) > large_text]
    assert all(s.finished and not s.discarded for s in run.sinks) and len(run.sinks) == len(found)


# -- memory ---------------------------------------------------------------------------------------------------

def test_a_60_mb_main_text_is_read_in_bounded_memory():
    text = b64(45 * MiB)                      # 60 MB of base64
    body = send_request(main=text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    del text
    run = Run(keep=False)
    tracemalloc.start()
    try:
        for chunk in chunks(body, [64 * 1024]):
            run.parser.feed(chunk)
        root, found = run.parser.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found) == 1 and found[0].digest == digest and found[0].size == 60 * MiB
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
