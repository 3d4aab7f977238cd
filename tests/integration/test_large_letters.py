"""Letters with large enclosures (issue 10): past the 7.5 MB where signxml's own parser used to refuse them.

signxml re-parses what it signs and verifies with a parser that keeps libxml2's
10,000,000-byte text-node cap, so every letter whose base64 enclosure passed
about 7.5 MB of PDF was answered 5000. These send letters just under and just
over that size, and one just under the body limit, on every store, pull them
and compare the enclosure's SHA-256; and carry one from node to node.
"""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from gateway.core import ns
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.wire import PULL, call, send_request

MB = 1024 * 1024
TEXT_NODE_CAP = 10_000_000                        # libxml2's limit without XML_PARSE_HUGE (base64 characters)
JUST_UNDER = TEXT_NODE_CAP * 3 // 4 - 64 * 1024  # PDF bytes whose base64 is just under the cap
JUST_OVER = TEXT_NODE_CAP * 3 // 4 + 64 * 1024


def pdf(size: int) -> bytes:
    return b"%PDF-1.4\n" + os.urandom(size - 9)


def sent_and_pulled(node, sender: str, receiver: str, enclosure: bytes, subject: str):
    body = send_request(letter_id=unique_letter_id(), subject=subject, sender=sender, receiver=receiver,
                        main=base64.b64encode(enclosure).decode())
    return call(node, sender, body)


def main_letter(reply) -> bytes:
    found = reply.root.find(f".//{{{ns.RAM}}}MainLetterBinaryObject")
    assert found is not None, reply.body[:500]
    return base64.b64decode(found.text)


@pytest.mark.parametrize("size", [JUST_UNDER, JUST_OVER], ids=["just-under-7.5MB", "just-over-7.5MB"])
def test_a_letter_around_the_old_text_node_cap_is_accepted_and_pulled_intact(node, size):
    enclosure = pdf(size)
    reply = sent_and_pulled(node, CENTRAL, CHIANGMAI, enclosure, "ส่งเอกสารสแกนขนาดใหญ่ ๓๐ หน้า")
    assert reply.status == 200 and reply.error_code is None, reply.error_text
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert hashlib.sha256(main_letter(pulled)).hexdigest() == hashlib.sha256(enclosure).hexdigest()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)   # 50 MB through the real stores
def test_a_letter_just_under_the_body_limit_is_accepted_and_one_over_it_is_refused(node):
    limit = node.config.limits.max_bytes
    overhead = len(send_request(letter_id="ศธ 0210/9999", main=""))
    under = pdf((limit - overhead - 64 * 1024) // 4 * 3)
    reply = sent_and_pulled(node, CENTRAL, CHIANGMAI, under, "ภาพถ่ายทางอากาศ ความละเอียดสูง")
    assert reply.status == 200 and reply.error_code is None, reply.error_text
    pulled = call(node, CHIANGMAI, PULL).ok()
    assert main_letter(pulled) == under
    over = sent_and_pulled(node, CENTRAL, CHIANGMAI, pdf((limit - overhead + 64 * 1024) // 4 * 3), "เกินขนาด")
    assert over.error_code == "1003"
    with node.store.transaction() as tx:
        assert tx.table_counts()["letters"] == 1
