"""Property-based fuzzing of both ports (hypothesis): no mutated request gets an internal error.

Seeds are genuine requests (letters unsigned and client-signed, notifiers,
pull, delete, re-request, status; a signed node message). Hypothesis mutates
their bytes (flip, cut, repeat, insert markup, Thai text or entity tricks) and
posts each to the node's WSGI app. The property: every answer is a parseable
SOAP envelope, and no fault is a 5xxx (internal error or store unavailable).
A failure shrinks to the smallest request that breaks it; found examples are
kept in .hypothesis/ (ignored by git) and replayed first.

The bounded run in ``make test`` uses FUZZ_EXAMPLES examples per port (default
150); ``FUZZ_EXAMPLES=5000 pytest tests/integration/test_fuzz.py`` is the long run.
"""
from __future__ import annotations

import collections
import copy
import datetime as dt
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from gateway import config
from gateway.core import ns
from gateway.core.network import nodemsg
from gateway.core.network.nodemsg import NodeMessage
from gateway.pipeline import outbound
from gateway.runtime import wiring
from gateway.store.memory import MemoryStore
from gateway.testing import network
from gateway.testing.attacks import org_signer, outbound as letter_request, signed
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, CHIANGMAI
from gateway.testing.wire import PULL, delete_request, notifier_request, reference, send_request, soap

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TOKENS = [b"<", b">", b"&", b"&amp;", b"&#0;", b"]]>", b"<!--", b"<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
          b"<?xml version='1.0' encoding='UTF-7'?>", b'xmlns:ram="urn:x"', b' ID="Letter"', b"</SOAP-ENV:Body>",
          b"<SOAP-ENV:Body>", "ขอเชิญประชุม ๑๒๓".encode(), b"\xff\xfe", b"\x00", b"\xe0\xb8", "\u202e".encode(),
          b"<ram:CorrespondenceLetter>", b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/>",
          b"0001-01-01", b"9999-12-31T23:59:59+14:00", b"x" * 5000]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    body = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.integers(min_value=0, max_value=max(0, len(body) - 1)))
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "insert", "token", "truncate"]))
        if kind == "flip" and body:
            body[where] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "cut":
            del body[where:where + draw(st.integers(min_value=1, max_value=200))]
        elif kind == "repeat":
            body[where:where] = body[where:where + draw(st.integers(min_value=1, max_value=200))]
        elif kind == "insert":
            body[where:where] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "token":
            body[where:where] = draw(st.sampled_from(TOKENS))
        else:
            del body[where:]
    return bytes(body)


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
                   max_size=300) | st.sampled_from(["", " ", "ศธ ๐๒๑๐/๑๒๓๔", "004", "005", "0001-01-01", "2569-11-26",
                                                   "2000100000", "9" * 11, "\u202e123", "a" * 70_000])


@st.composite
def restructured(draw, seeds: list[bytes]) -> bytes:
    """Well-formed variants: an element's text replaced, an element dropped or doubled, an attribute set."""
    root = etree.fromstring(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
        el = draw(st.sampled_from(elements))
        parent = el.getparent()
        kind = draw(st.sampled_from(["text", "text", "drop", "double", "attribute"]))
        if kind == "text":
            el.text = draw(XML_TEXT)
        elif kind == "drop" and parent is not None:
            parent.remove(el)
        elif kind == "double" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif kind == "attribute":
            el.set(draw(st.sampled_from(["ID", "Id", "mimeCode", "URI", "Algorithm"])), draw(XML_TEXT))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fuzzed(seeds: list[bytes]):
    return st.one_of(mutated(seeds), restructured(seeds))


def post(app, path: str, body: bytes) -> tuple[int, bytes]:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_TYPE": "text/xml",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http"}
    status = {}
    data = b"".join(app(environ, lambda line, headers: status.setdefault("code", int(line.split()[0]))))
    return status["code"], data


SEEN: collections.Counter = collections.Counter()   # what the run got, printed with -s


def assert_no_internal_error(status: int, data: bytes) -> None:
    root = etree.fromstring(data)  # every answer is a well-formed envelope
    code = root.findtext(".//ErrorDetail/ErrorCode")
    SEEN["requests"] += 1
    SEEN[f"code {code or 'ok'}"] += 1
    SEEN["5xx"] += (code or "").startswith("5") or status >= 500
    assert not (code or "").startswith("5"), f"internal error {code}: {root.findtext('.//ErrorDescription')}"
    assert status < 500 or code is None or not code.startswith("5")


# --------------------------------------------------------------------- agency port

@pytest.fixture(scope="module")
def agency_node(data_dir):
    node = wiring.build(config.Config(data_dir=data_dir), store=MemoryStore(), clock=FakeClock())
    yield node
    node.close()


@pytest.fixture(scope="module")
def agency_seeds(data_dir) -> list[bytes]:
    central = org_signer(data_dir, CENTRAL)
    return [
        send_request(letter_id="ศธ 0210/๑๒๓๔", subject="ขอเชิญประชุม & สัมมนา"),
        letter_request(signed(central, letter_id="ศธ 0210/77")),
        notifier_request("AcceptLetterNotifier", "ศธ 0210/77", accept_id="รับ 123"),
        notifier_request("ReceiveLetterNotifier", "ศธ 0210/77"),
        PULL,
        delete_request("00000000-0000-0000-0000-000000000000"),
        soap("<CorrespondenceLetterInboundSpecialRequest>"
             + reference("GovernmentDocument", "ศธ 0210/77", "2026-11-26", CENTRAL, CHIANGMAI)
             + "</CorrespondenceLetterInboundSpecialRequest>"),
        soap("<OutboundStatusRequest/>"),
        soap("<TimeCheckRequest/>"),
    ]


def test_the_seeds_are_genuine_requests(agency_node, agency_seeds):
    """Without mutation every seed is answered (some with a business fault, none with an internal one)."""
    for body in agency_seeds:
        for org in (CENTRAL, CHIANGMAI):
            assert_no_internal_error(*post(agency_node.wsgi, f"/ecms-ws01/service2/{org}", body))


def test_mutated_agency_requests_never_get_an_internal_error(agency_node, agency_seeds):
    @FUZZ
    @given(body=fuzzed(agency_seeds), org=st.sampled_from([CENTRAL, CHIANGMAI]))
    def check(body: bytes, org: str) -> None:
        assert_no_internal_error(*post(agency_node.wsgi, f"/ecms-ws01/service2/{org}", body))

    SEEN.clear()
    check()
    print(f"\nagency port fuzz: {dict(sorted(SEEN.items()))}")


# ----------------------------------------------------------------------- node port

@pytest.fixture(scope="module")
def node_pair(tmp_path_factory):
    clock = FakeClock()
    folder = tmp_path_factory.mktemp("fuzz-net")
    pki = network.make_pki(folder / "pki", clock.now() - dt.timedelta(days=1))
    ports = {"moe-hub": 18201, "moe-r15": 18202, "ocsc": 18203}
    hub = wiring.build(network.node_config("moe-hub", pki, ports, folder / "hub"), store=MemoryStore(), clock=clock)
    r15 = wiring.build(network.node_config("moe-r15", pki, ports, folder / "r15"), store=MemoryStore(), clock=clock)
    yield hub, r15, clock
    hub.close()
    r15.close()


@pytest.fixture(scope="module")
def node_seeds(node_pair) -> list[bytes]:
    hub, r15, clock = node_pair
    document = etree.fromstring(send_request(letter_id="ศธ 0210/900", sender=CENTRAL, receiver=CHIANGMAI))
    letter = document.find(f".//{ns.rsm('GovernmentDocument')}")
    from gateway.pipeline import agency as agency_pipeline
    body = send_request(letter_id="ศธ 0210/900", sender=CENTRAL, receiver=CHIANGMAI)
    call = agency_pipeline.check(agency_pipeline.read(body, hub.agency_ctx.limits), body,
                                 caller=hub.config.directory.require_hosted(CENTRAL), ctx=hub.agency_ctx,
                                 now=clock.now())
    assert letter is not None and call.prepared is not None
    message = outbound.node_message(NodeMessage(
        message_id="m-1", sender_node="moe-hub", receiver_node="moe-r15", sender_org=CENTRAL, receiver_org=CHIANGMAI,
        timestamp=clock.now(), kind="letter", process_id="p-1", letter_process_id="p-1",
        path=(nodemsg.Hop(node="moe-hub", at=clock.now().isoformat(timespec="seconds")),),
        payload=call.prepared.stored), hub.keyring.node_signer)
    carrier = etree.Element(f"{{{ns.NODE_CARRIER}}}DeliverRequest", nsmap={"c": ns.NODE_CARRIER})
    carrier.append(message)
    deliver = (b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
               b'envelope/"><soap:Body>' + etree.tostring(carrier, encoding="utf-8") + b"</soap:Body></soap:Envelope>")
    snapshot = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                b'<c:DirectorySnapshotRequest xmlns:c="' + ns.NODE_CARRIER.encode() + b'"/></soap:Body></soap:Envelope>')
    return [deliver, snapshot]


def test_a_genuine_node_message_is_accepted(node_pair, node_seeds):
    _, r15, _ = node_pair
    status, data = post(r15.wsgi, "/ecms-ws01/node", node_seeds[0])
    assert status == 200 and b"NodeReceipt" in data


def test_mutated_node_messages_never_get_an_internal_error(node_pair, node_seeds):
    _, r15, _ = node_pair

    @FUZZ
    @given(body=fuzzed(node_seeds))
    def check(body: bytes) -> None:
        assert_no_internal_error(*post(r15.wsgi, "/ecms-ws01/node", body))

    SEEN.clear()
    check()
    print(f"\nnode port fuzz: {dict(sorted(SEEN.items()))}")
