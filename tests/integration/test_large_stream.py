"""Large letters read as a stream and kept beside their rows (issue 10), on every store.

A body over ``parts.STREAM_BODY`` is parsed as it is read (core/xml/stream.py): each enclosure's text
goes to the blob store (store/blobs.py) and the letter row keeps a skeleton with placeholders
(core/letters/parts.py). Signatures are made and checked over the text without holding it
(core/trust/spliced.py), and a pull writes the letter back as a stream. These tests send such letters
through the node's WSGI application and check what comes out, byte for byte where a client would see it.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from lxml import etree

from gateway.core import ns
from gateway.core.letters import parts
from gateway.core.trust import signing
from gateway.store import blobs
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.network import CHIANGMAI as REGION_CHIANGMAI, CENTRAL as HUB_CENTRAL
from gateway.testing.wire import PULL, Reply, call, send_request
from test_network import net_pki, network  # noqa: F401 - the three-node network's fixtures

MB = 1024 * 1024
SUBJECT = "ส่งแผนที่ภาพถ่ายทางอากาศฉบับสแกน ความละเอียดสูง"


def pdf(size: int) -> bytes:
    return b"%PDF-1.4\n" + os.urandom(size - 9)


def wrapped(data: bytes, width: int = 76, newline: str = "\n") -> str:
    text = base64.b64encode(data).decode()
    return newline.join(text[i:i + width] for i in range(0, len(text), width))


def main_text(root: etree._Element) -> str:
    found = root.find(f".//{{{ns.RAM}}}MainLetterBinaryObject")
    assert found is not None
    return found.text


def spooled(node) -> list[str]:
    folder = node.config.data_dir / "blobs" / "tmp"
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def send(node, body: bytes, *, chunked: bool = False, org: str = CENTRAL, **environ) -> Reply:
    if chunked:
        environ["CONTENT_LENGTH"] = ""
    return call(node, org, body, **environ)


def stored(node, process_id: str) -> tuple[bytes, list]:
    with node.store.transaction() as tx:
        row = tx.letter_by_process_id(process_id)
        return tx.letter_document(row.id), tx.letter_parts(row.id)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_large_letter_is_kept_beside_its_row_and_pulled_whole(node, chunked):
    enclosure = pdf(6 * MB)
    body = send_request(letter_id=unique_letter_id(), subject=SUBJECT, main=base64.b64encode(enclosure).decode())
    reply = send(node, body, chunked=chunked)
    assert reply.status == 200 and reply.error_code is None, reply.error_text
    process_id = reply.root.findtext(".//ProcessID")
    document, held = stored(node, process_id)
    assert len(document) < 64 * 1024 and parts.has_parts(document), "the row holds a skeleton"
    assert [(seq, size) for seq, _, size in held] == [(0, len(base64.b64encode(enclosure)))]
    assert spooled(node) == [], "no spool file is left"

    pulled = call(node, CHIANGMAI, PULL).ok()
    assert base64.b64decode(main_text(pulled.root)) == enclosure
    letter = pulled.root.find(f".//{ns.rsm('GovernmentDocument')}")
    assert letter.findtext(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}") == SUBJECT
    verified = signing.verify_letter(letter, trusted=node.keyring.trusted_for(CENTRAL),
                                     policy=signing.VerifyPolicy.modern(), now=node.agency.clock.now())
    assert verified.signer_org == CENTRAL, "signed on the sender's behalf over the whole enclosure"


def test_line_broken_base64_comes_out_exactly_as_it_came_in(node):
    enclosure = pdf(5 * MB)
    text = wrapped(enclosure, 64, "&#13;\n")          # CRLF line breaks, the CR as a character reference
    body = send_request(letter_id=unique_letter_id(), subject=SUBJECT, main=text)
    assert send(node, body).ok()
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert main_text(pulled.root) == text.replace("&#13;", "\r")
    assert b"&#13;\n" in pulled.body, "written back with the carriage returns escaped, as they came"


def test_a_letter_signed_by_its_client_keeps_its_signature(node):
    enclosure = pdf(5 * MB)
    document = etree.fromstring(send_request(letter_id=unique_letter_id(), subject=SUBJECT,
                                             main=wrapped(enclosure)))
    letter = document.find(f".//{ns.rsm('GovernmentDocument')}")
    signed = signing.sign_letter(letter, node.keyring.signer_for(CENTRAL))   # as a client with its own key
    letter.getparent().replace(letter, signed)
    reply = send(node, etree.tostring(document, encoding="utf-8"))
    assert reply.error_code is None, reply.error_text
    pulled = call(node, CHIANGMAI, PULL).ok()
    out = pulled.root.find(f".//{ns.rsm('GovernmentDocument')}")
    assert etree.tostring(out, method="c14n", exclusive=True) == etree.tostring(signed, method="c14n", exclusive=True)
    with node.store.transaction() as tx:
        assert tx.letter_by_process_id(reply.root.findtext(".//ProcessID")).signed_by == "client"


def test_an_altered_enclosure_of_a_client_signed_letter_is_refused_and_nothing_is_kept(node):
    enclosure = pdf(5 * MB)
    document = etree.fromstring(send_request(letter_id=unique_letter_id(), main=base64.b64encode(enclosure).decode()))
    letter = document.find(f".//{ns.rsm('GovernmentDocument')}")
    signed = signing.sign_letter(letter, node.keyring.signer_for(CENTRAL))
    main = signed.find(f".//{{{ns.RAM}}}MainLetterBinaryObject")
    main.text = main.text[:1000] + ("A" if main.text[1000] != "A" else "B") + main.text[1001:]
    letter.getparent().replace(letter, signed)
    with node.store.transaction() as tx:
        before = tx.table_counts()
    reply = send(node, etree.tostring(document, encoding="utf-8"))
    assert reply.error_code == "4002", reply.error_text
    with node.store.transaction() as tx:
        assert tx.table_counts() == before
    assert spooled(node) == []


def test_a_body_over_the_limit_is_refused_while_it_is_read_and_leaves_no_file(node):
    limit = node.config.limits.max_bytes
    head, _, tail = send_request(letter_id=unique_letter_id(), main="QUJD").partition(b"QUJD")
    body = head + b"QUJD" * ((limit - len(head)) // 4 + 1024) + tail
    for chunked in (False, True):
        reply = send(node, body, chunked=chunked)
        assert reply.error_code == "1003", reply.error_text
        assert spooled(node) == []


def test_an_interrupted_upload_leaves_nothing(node):
    body = send_request(letter_id=unique_letter_id(), main=base64.b64encode(pdf(6 * MB)).decode())
    cut = body[: len(body) // 2]
    reply = call(node, CENTRAL, cut, CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(cut)})
    assert reply.error_code == "1008", reply.error_text
    assert spooled(node) == []
    with node.store.transaction() as tx:
        assert tx.table_counts()["letters"] == 0


def test_a_placeholder_a_client_writes_itself_names_nothing(node):
    enclosure = pdf(5 * MB)
    first = send(node, send_request(letter_id=unique_letter_id(), main=base64.b64encode(enclosure).decode())).ok()
    _, held = stored(node, first.process_id)
    other = parts.placeholder(held[0][1])            # the digest of another letter's enclosure
    body = send_request(letter_id=unique_letter_id(), sender=CENTRAL, main=other + "A" * (5 * MB))
    second = send(node, body).ok()
    call(node, CHIANGMAI, PULL).ok()                 # the first letter
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert pulled.process_id == second.process_id
    assert main_text(pulled.root).startswith(other), "kept as the text it is, not replaced by that enclosure"
    assert hashlib.sha256(pulled.body).digest() and len(pulled.body) < 8 * MB


def test_unreferenced_blobs_are_swept_after_the_grace(node):
    enclosure = pdf(5 * MB)
    reply = send(node, send_request(letter_id=unique_letter_id(), main=base64.b64encode(enclosure).decode())).ok()
    _, held = stored(node, reply.process_id)
    now = node.agency.clock.now()
    import datetime as dt
    assert blobs.sweep(node.store, now=now + dt.timedelta(days=2)) == 0, "a letter names it"
    with node.store.transaction() as tx:
        assert tx.blob_size(held[0][1]) == held[0][2]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_large_letter_travels_from_node_to_node(network):
    enclosure = pdf(6 * MB)
    body = send_request(letter_id=unique_letter_id(), sender=HUB_CENTRAL, receiver=REGION_CHIANGMAI, subject=SUBJECT,
                        main=base64.b64encode(enclosure).decode())
    assert call(network.node("moe-hub"), HUB_CENTRAL, body).ok()
    network.deliver()
    pulled = call(network.node("moe-r15"), REGION_CHIANGMAI, PULL).ok()
    assert base64.b64decode(main_text(pulled.root)) == enclosure
