"""The RFC 3161 client (gateway/adapters/tsa.py) against the local test TSA (gateway/testing/tsa.py).

The test TSA is ``openssl ts -reply`` behind a loopback HTTP server, with its own small CA; it
embeds its chain unsorted, as OpenSSL-based TSAs do, so the client's DER re-ordering is exercised.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import re
import shutil
import subprocess
import threading

import pytest
from asn1crypto import cms
from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from gateway.adapters.tsa import TimestampClient, TimestampError, load_certificates, verify_token
from gateway.core.errors import LocalError
from gateway.testing.tsa import LocalTSA, start_test_tsa
from gateway.testing.live import free_port

LETTER = "หนังสือราชการ ที่ นร 0105/ว 123 เรื่อง การประชุมคณะกรรมการ จุดตรวจ 42".encode()
OTHER = "หนังสือราชการ ที่ นร 0105/ว 124 เรื่อง ขอเชิญประชุม".encode()


@pytest.fixture(scope="module", autouse=True)
def _openssl_installed():
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is not installed: these tests need it (Debian package openssl)")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    with LocalTSA(tmp_path_factory.mktemp("tsa-a"), name="ศูนย์ทดสอบ TSA ก") as server:
        yield server


@pytest.fixture(scope="module")
def other_tsa(tmp_path_factory):
    with LocalTSA(tmp_path_factory.mktemp("tsa-b"), name="Other Test TSA") as server:
        yield server


@pytest.fixture
def client(tsa):
    c = TimestampClient(tsa.url, certificate=tsa.certificate, timeout=20)
    yield c
    c.close()


@pytest.fixture(scope="module")
def token(tsa):
    c = TimestampClient(tsa.url, certificate=tsa.certificate, timeout=20)
    try:
        return c.stamp(LETTER)
    finally:
        c.close()


def query_for(data: bytes) -> bytes:
    return (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
            .cert_request(cert_request=True).build().as_bytes())


def openssl_verify(tmp_path, data: bytes, token: bytes, ca) -> subprocess.CompletedProcess:
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "token.der").write_bytes(token)
    return subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.bin"), "-in",
                           str(tmp_path / "token.der"), "-token_in", "-CAfile", str(ca)],
                          capture_output=True, text=True, check=False)


def test_a_stamped_token_verifies_and_gives_a_time_near_now(token, tsa):
    at = verify_token(token, LETTER, tsa.certificate)
    assert at.tzinfo is not None
    assert abs(at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=2)


def test_the_pin_may_be_certificates_or_a_path(token, tsa):
    chain = load_certificates(tsa.certificate)
    assert len(chain) == 2 and chain[0].subject != chain[1].subject
    expected = verify_token(token, LETTER, tsa.certificate)
    assert verify_token(token, LETTER, str(tsa.certificate)) == expected
    assert verify_token(token, LETTER, list(chain)) == expected


def test_the_token_is_what_the_tsa_sent_with_its_chain_unsorted(token):
    """The case rfc3161-client alone cannot parse: certificates SET OF not in DER order."""
    certificates = [c.dump() for c in cms.ContentInfo.load(token)["content"]["certificates"]]
    assert len(certificates) == 2 and certificates != sorted(certificates)


def test_each_stamp_is_a_new_token(client, token):
    again = client.stamp(LETTER)
    assert again != token


def test_the_token_does_not_cover_other_data(token, tsa):
    with pytest.raises(LocalError, match="does not cover this data"):
        verify_token(token, OTHER, tsa.certificate)
    with pytest.raises(LocalError, match="does not cover this data"):
        verify_token(token, LETTER + b" ", tsa.certificate)


def _flip(token: bytes, index: int) -> bytes:
    return token[:index] + bytes([token[index] ^ 0x01]) + token[index + 1:]


def _signed_parts(token: bytes) -> dict[str, range]:
    """Where the TSTInfo, the signed attributes and the signature value lie in the token's bytes."""
    signed = cms.ContentInfo.load(token)["content"]
    signer = signed["signer_infos"][0]
    parts = {"TSTInfo": signed["encap_content_info"]["content"].contents,
             "signed attributes": signer["signed_attrs"].dump(), "signature": signer["signature"].contents}
    found = {}
    for name, part in parts.items():
        assert token.count(part) == 1, name
        found[name] = range(token.index(part), token.index(part) + len(part))
    return found


def test_a_token_with_a_flipped_bit_in_what_the_tsa_signed_is_refused(token, tsa):
    for name, where in _signed_parts(token).items():
        accepted = []
        for index in where:
            try:
                verify_token(_flip(token, index), LETTER, tsa.certificate)
                accepted.append(index)
            except LocalError:
                pass
        assert not accepted, f"flips in the {name} at {accepted} were accepted"


def test_a_damaged_token_says_why(token, tsa):
    gen_time = re.search(rb"\x18\x0f(\d{14})Z", token)
    assert gen_time, "no genTime in the token"
    with pytest.raises(LocalError, match="not signed by the pinned TSA certificate"):
        verify_token(_flip(token, gen_time.start(1) + 13), LETTER, tsa.certificate)   # a second later
    with pytest.raises(LocalError, match="not signed by the pinned TSA certificate"):
        verify_token(_flip(token, len(token) - 1), LETTER, tsa.certificate)    # the signature ends the token
    with pytest.raises(LocalError, match="does not cover this data"):
        verify_token(_flip(token, token.index(hashlib.sha256(LETTER).digest()) + 5), LETTER, tsa.certificate)
    for damaged in (token[:-1], token[:40], token + b"\x00", b"\x30\x03\x02\x01\x00", "ไม่ใช่โทเค็น".encode()):
        with pytest.raises(LocalError, match="not a DER TimeStampToken"):
            verify_token(damaged, LETTER, tsa.certificate)
    with pytest.raises(LocalError, match="no time-stamp token"):
        verify_token(b"", LETTER, tsa.certificate)


def test_another_tsas_certificate_is_refused(token, tsa, other_tsa):
    with pytest.raises(LocalError, match="not signed by the pinned TSA certificate"):
        verify_token(token, LETTER, other_tsa.certificate)
    # the right TSA certificate without its CA cannot be checked to a root: refused, with the hint
    with pytest.raises(LocalError, match="pinned together with that CA"):
        verify_token(token, LETTER, tsa.tsa_certificate)
    # the other TSA's own token verifies with its own pin
    c = TimestampClient(other_tsa.url, certificate=other_tsa.certificate)
    theirs = c.stamp(LETTER)
    assert verify_token(theirs, LETTER, other_tsa.certificate)
    with pytest.raises(LocalError, match="not signed by the pinned TSA certificate"):
        verify_token(theirs, LETTER, tsa.certificate)


def test_the_client_refuses_a_tsa_that_is_not_the_pinned_one(tsa, other_tsa):
    c = TimestampClient(tsa.url, certificate=other_tsa.certificate)
    with pytest.raises(TimestampError, match="not signed by the pinned TSA certificate"):
        c.stamp(LETTER)


def test_the_client_refuses_an_answer_to_another_nonce(client, tsa, monkeypatch):
    monkeypatch.setattr(tsa, "rewrite_query", lambda query: query_for(LETTER))  # same data, fresh nonce
    with pytest.raises(TimestampError, match="answered another request: nonce"):
        client.stamp(LETTER)


def test_the_client_refuses_an_answer_for_another_imprint(client, tsa, monkeypatch):
    monkeypatch.setattr(tsa, "rewrite_query", lambda query: query_for(OTHER))
    with pytest.raises(TimestampError, match="does not cover this data"):
        client.stamp(LETTER)


def test_the_client_reports_a_rejection(client, tsa, monkeypatch, tmp_path):
    (tmp_path / "data.bin").write_bytes(LETTER)
    md5_query = subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.bin"), "-md5", "-cert"],
                               capture_output=True, check=True).stdout
    monkeypatch.setattr(tsa, "rewrite_query", lambda query: md5_query)
    with pytest.raises(TimestampError, match=r"did not grant the time-stamp: rejection \(.*not supported.*bad_alg"):
        client.stamp(LETTER)


def test_the_client_refuses_a_damaged_answer(client, tsa, monkeypatch):
    monkeypatch.setattr(tsa, "rewrite_reply", lambda reply: reply[:-10])
    with pytest.raises(TimestampError, match="not a TimeStampResp"):
        client.stamp(LETTER)
    monkeypatch.setattr(tsa, "rewrite_reply", lambda reply: b"<html>hello</html>")
    with pytest.raises(TimestampError, match="not a TimeStampResp"):
        client.stamp(LETTER)


@pytest.fixture
def fake_http():
    """A server answering every POST with (status, content type, body) set by the test."""
    answer = {"value": (200, "text/html", b"<html></html>")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's interface
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, kind, body = answer["value"]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", answer
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_client_refuses_wrong_http_answers(fake_http, tsa):
    url, answer = fake_http
    c = TimestampClient(url, certificate=tsa.certificate)
    with pytest.raises(TimestampError, match="answered text/html, not application/timestamp-reply"):
        c.stamp(LETTER)
    answer["value"] = (503, "text/plain", b"busy")
    with pytest.raises(TimestampError, match="answered HTTP 503"):
        c.stamp(LETTER)
    answer["value"] = (200, "application/timestamp-reply", b"\x30\x00")
    with pytest.raises(TimestampError, match="not a TimeStampResp"):
        c.stamp(LETTER)
    answer["value"] = (200, "application/timestamp-reply", b"\x30" * (1024 * 1024 + 10))
    with pytest.raises(TimestampError, match="more than"):
        c.stamp(LETTER)


def test_an_unreachable_tsa_is_a_clear_error(tsa):
    c = TimestampClient(f"http://127.0.0.1:{free_port()}/tsa", certificate=tsa.certificate, timeout=2)
    with pytest.raises(TimestampError, match="cannot reach the TSA"):
        c.stamp(LETTER)


def test_the_client_needs_data_a_url_and_a_pinned_certificate(tsa, tmp_path):
    with pytest.raises(TimestampError, match="nothing to time-stamp"):
        TimestampClient(tsa.url, certificate=tsa.certificate).stamp(b"")
    with pytest.raises(TimestampError, match="http"):
        TimestampClient("ftp://tsa.example/", certificate=tsa.certificate)
    with pytest.raises(TypeError):
        TimestampClient(tsa.url)  # the certificate is a required keyword
    (tmp_path / "empty.pem").write_text("", encoding="ascii")
    with pytest.raises(TimestampError, match="certificate"):
        TimestampClient(tsa.url, certificate=tmp_path / "empty.pem")
    with pytest.raises(TimestampError, match="cannot read the TSA certificate file"):
        TimestampClient(tsa.url, certificate=tmp_path / "missing.pem")
    with pytest.raises(TimestampError, match="required"):
        TimestampClient(tsa.url, certificate=[])


def test_openssl_accepts_the_token_the_client_got(token, tsa, other_tsa, tmp_path):
    done = openssl_verify(tmp_path, LETTER, token, tsa.ca)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    refused = openssl_verify(tmp_path, OTHER, token, tsa.ca)
    assert refused.returncode != 0 and "FAILED" in refused.stdout
    refused = openssl_verify(tmp_path, LETTER, token, other_tsa.ca)
    assert refused.returncode != 0 and "FAILED" in refused.stdout


def test_start_test_tsa_reuses_its_folder(tmp_path):
    url, certificate, stop = start_test_tsa(tmp_path / "tsa")
    try:
        first = x509.load_pem_x509_certificates(certificate.read_bytes())
        token = TimestampClient(url, certificate=certificate).stamp(LETTER)
    finally:
        stop()
    url, certificate, stop = start_test_tsa(tmp_path / "tsa")   # the same keys, a new port
    try:
        assert x509.load_pem_x509_certificates(certificate.read_bytes()) == first
        assert verify_token(TimestampClient(url, certificate=certificate).stamp(OTHER), OTHER, certificate)
        assert verify_token(token, LETTER, certificate)
    finally:
        stop()
