"""The hardened parser refuses before anything else looks at the bytes."""
from __future__ import annotations

import pytest

from gateway.core.xml import safe as xmlsafe
from gateway.core.errors import RemoteError

OK = '<a xmlns:ram="urn:th:gov:egif:data:standard:ReusableAggregateBusinessInformationEntity:1"><b>ก</b></a>'.encode()


def code_of(data: bytes, limits: xmlsafe.Limits = xmlsafe.DEFAULT_LIMITS) -> str:
    with pytest.raises(RemoteError) as info:
        xmlsafe.parse(data, limits)
    return info.value.code.code


def test_plain_document():
    assert xmlsafe.parse(OK).find("b").text == "ก"


@pytest.mark.parametrize("data", [
    b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>',
    b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
    b"<?xml version='1.0'?>" + b" " * 10_000 + b"<!-- " + b"x" * 10_000 + b' --><!DOCTYPE a SYSTEM "/dev/zero"><a/>',
])
def test_any_dtd_is_refused(data):
    assert code_of(data) == "1002"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_bodies_that_hide_their_prolog_from_the_scan_are_refused(encoding):
    data = f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode(encoding)
    assert code_of(data) == "1008"


def test_libxml2s_own_depth_cap_is_reported_as_a_limit():
    assert code_of(b"<a>" * 10_000 + b"</a>" * 10_000, xmlsafe.Limits(max_depth=100_000)) == "1007"


@pytest.mark.parametrize("encoding", ["TIS-620", "ISO-8859-11", "windows-874", "UTF-7", "utf-16"])
def test_only_utf8_is_accepted(encoding):
    """One rule: UTF-8 only. Thai legacy encodings are refused with 1008 rather than stored as
    something receivers' UTF-8 systems misread; UTF-7 could hide markup from the prolog scan."""
    body = f'<?xml version="1.0" encoding="{encoding}"?><a>ขอเชิญประชุม</a>'.encode("utf-8")
    with pytest.raises(RemoteError) as refused:
        xmlsafe.parse(body)
    assert refused.value.code.code == "1008" and encoding in refused.value.detail


@pytest.mark.parametrize("declared", ["UTF-8", "utf-8", "utf8"])
def test_utf8_declarations_parse(declared):
    body = f"<?xml version='1.0' encoding='{declared}'?><a>ขอเชิญประชุม</a>".encode("utf-8")
    assert xmlsafe.parse(body).text == "ขอเชิญประชุม"


def test_a_flood_of_namespace_declarations_is_refused_before_parsing():
    decls = " ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(xmlsafe.MAX_NAMESPACES + 1))
    assert code_of(f"<a {decls}/>".encode()) == "1007"
    few = " ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(20))
    assert xmlsafe.parse(f"<a {few}/>".encode()).tag == "a"


def test_too_many_attributes_on_one_element_are_refused():
    attrs = " ".join(f'a{i}="v"' for i in range(xmlsafe.MAX_ATTRIBUTES + 1))
    assert code_of(f"<a {attrs}/>".encode()) == "1007"


def test_xinclude_is_refused():
    assert code_of(b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>') == "1002"


def test_processing_instruction_is_refused():
    assert code_of(b"<a><?php system('x'); ?></a>") == "1002"


def test_undefined_entity_is_malformed():
    assert code_of(b"<a>&nbsp;</a>") == "1001"


def test_size_limit():
    assert code_of(b"<a>" + b"x" * 100 + b"</a>", xmlsafe.Limits(max_bytes=50)) == "1003"


def test_depth_limit():
    assert code_of(b"<a>" * 10 + b"</a>" * 10, xmlsafe.Limits(max_depth=9)) == "1007"
    xmlsafe.parse(b"<a>" * 9 + b"</a>" * 9, xmlsafe.Limits(max_depth=9))


def test_element_count_limit():
    assert code_of(b"<a>" + b"<b/>" * 20 + b"</a>", xmlsafe.Limits(max_elements=10)) == "1007"


def test_huge_text_node_is_refused_outside_binary_objects():
    limits = xmlsafe.Limits(max_text_chars=100)
    assert code_of(b"<a>" + b"x" * 101 + b"</a>", limits) == "1007"
    big = (b'<ram:MainLetterBinaryObject xmlns:ram="urn:th:gov:egif:data:standard:'
           b'ReusableAggregateBusinessInformationEntity:1">' + b"QUJD" * 1000 + b"</ram:MainLetterBinaryObject>")
    assert len(xmlsafe.parse(big, limits).text) == 4000


def test_text_longer_than_libxml2s_own_cap_fits_in_a_binary_object():
    data = (b'<ram:AttachmentBinaryObject xmlns:ram="urn:th:gov:egif:data:standard:'
            b'ReusableAggregateBusinessInformationEntity:1" mimeCode="pdf">' + b"QUJD" * 3_000_000
            + b"</ram:AttachmentBinaryObject>")
    assert len(xmlsafe.parse(data).text) == 12_000_000


def test_undeclared_header_prefix_is_the_only_namespace_error_tolerated():
    legacy = (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header/>'
              b'<env:Body ID="Body"><OutboundStatusRequest /></env:Body></env:Envelope>')
    assert xmlsafe.parse(legacy)[0].tag == "SOAP-ENV:Header"
    other = (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
             b'<env:Body><x:OutboundStatusRequest /></env:Body></env:Envelope>')
    assert code_of(other) == "1001"


def test_an_earlier_failure_does_not_change_the_next_verdict():
    assert code_of(b"<a>&</a>") == "1001"
    legacy = (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header/>'
              b'<env:Body/></env:Envelope>')
    xmlsafe.parse(legacy)


def test_empty_body():
    assert code_of(b"  ") == "1008"
