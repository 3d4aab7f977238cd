"""A letter's proof bundle (docs/proof.md): exported from the store, verified from the file alone.

On every store: a letter's life on one node, exported after a checkpoint, verifies with the store
closed, and a byte changed in any member (the ZIP rewritten, so its CRCs are right) is caught; a byte
changed in a signed or hashed member is caught even when the manifest is rewritten to match. Between
two nodes on loopback HTTP (SQLite and PostgreSQL): the next node's receipt and the organisation's
attestation are in the bundle and verify. xmlsec1 verifies every signed XML of a bundle on its own.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import subprocess
import uuid
import zipfile

import pytest
from cryptography import x509

from gateway.cli import main as cli_main
from gateway.core import ns, proof
from gateway.core import proof_format as fmt
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.trust import pki
from gateway.operations import evidence, proof as export_proof
from gateway.runtime import wiring as app
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, unique_letter_id
from gateway.testing.live import LiveServer, free_port
from gateway.testing.network import make_pki, node_config
from gateway.testing.wire import PULL, call, delete_request, notifier_request, send_request

MEETING = "ขอเชิญประชุมคณะกรรมการสถานศึกษาขั้นพื้นฐาน ครั้งที่ ๒/๒๕๖๙"
RECEIVE_NUMBER = "รับ ๕๖๗๘/๒๕๖๙"
# xmlsec1 splits "<namespace>:<name>" at the last colon, so the URN namespace may contain colons.
LETTER_ID_ATTR = ["--id-attr:ID", f"{ns.RAM}:CorrespondenceLetter"]


def life(node, sender: str = CENTRAL, receiver: str = CHIANGMAI) -> str:
    """A letter sent, pulled, deleted from the queue, received and accepted with a Thai receive number."""
    letter_id = unique_letter_id()
    sent = call(node, sender, send_request(letter_id=letter_id, subject=MEETING, sender=sender,
                                           receiver=receiver)).ok()
    pulled = call(node, receiver, PULL).ok()
    call(node, receiver, delete_request(pulled.process_id)).ok()
    call(node, receiver, notifier_request("ReceiveLetterNotifier", letter_id)).ok()
    call(node, receiver, notifier_request("AcceptLetterNotifier", letter_id, accept_id=RECEIVE_NUMBER)).ok()
    return sent.process_id


def checkpoint(node, clock, stamp=None):
    return evidence.checkpoint(node.store, node_id=node.config.node_id, signer=node.keyring.node_signer,
                               now=clock.now(), stamp=stamp)


def export(node, clock, process_id: str) -> bytes:
    return export_proof.export(node.store, node.keyring, node_id=node.config.node_id, process_id=process_id,
                               now=clock.now())


# ------------------------------------------------------------------ rewriting a bundle

def members(bundle: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def rezip(items: list[tuple[str, bytes]]) -> bytes:
    """A proper ZIP of ``items`` (new CRCs): mimetype first and stored, as an honest tool would write it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in items:
            z.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == fmt.MIMETYPE_NAME
                       else zipfile.ZIP_DEFLATED)
    return out.getvalue()


def changed(data: bytes, at: int | None = None) -> bytes:
    """One byte changed: in the middle, or at ``at``."""
    i = len(data) // 2 if at is None else at
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def remanifested(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The manifest rewritten to match the members: what someone changing a member would also do."""
    listed = [(n, d) for n, d in items if n != fmt.MANIFEST_NAME]
    return [(n, fmt.manifest(listed) if n == fmt.MANIFEST_NAME else d) for n, d in items]


# Members whose bytes are proven by a signature or a hash, not by the (unsigned) manifest alone.
SIGNED_OR_HASHED = (fmt.MIMETYPE_NAME, fmt.LETTER_NAME, fmt.ENTRIES_NAME, fmt.CHECKPOINT_NAME, fmt.SEGMENT_NAME,
                    fmt.TIMESTAMP_NAME, fmt.RECEIPTS, fmt.NOTIFIERS)


def assert_every_change_is_caught(bundle: bytes, *, now: dt.datetime, anchors=None, check_token=None) -> None:
    items = members(bundle)
    assert proof.verify(rezip(items), anchors=anchors, now=now, check_token=check_token).ok, "rezipped as is"
    for index, (name, data) in enumerate(items):
        tampered = [*items[:index], (name, changed(data)), *items[index + 1:]]
        report = proof.verify(rezip(tampered), anchors=anchors, now=now, check_token=check_token)
        assert not report.ok, f"a changed byte in {name} went unnoticed"
        if name != fmt.MANIFEST_NAME:
            assert any(name in p for p in report.problems), (name, report.problems)
        if name.startswith(SIGNED_OR_HASHED):
            if name == fmt.TIMESTAMP_NAME:
                # the token's middle is the TSA's certificates, which its signature does not cover (RFC 5652):
                # change what it signed, the checkpoint's digest in the TSTInfo
                imprint = hashlib.sha256(dict(items)[fmt.CHECKPOINT_NAME]).digest()
                tampered[index] = (name, changed(data, data.index(imprint)))
            report = proof.verify(rezip(remanifested(tampered)), anchors=anchors, now=now, check_token=check_token)
            assert not report.ok, f"a changed byte in {name} went unnoticed with the manifest rewritten"


# ------------------------------------------------------------------ one node, every store

def test_a_bundle_verifies_from_the_file_alone(node, clock, backend, tmp_path, monkeypatch):
    process_id = life(node)
    made = checkpoint(node, clock)
    assert made is not None
    path = tmp_path / f"proof-{process_id}.asice"
    path.write_bytes(export(node, clock, process_id))
    if backend != "postgres":   # the PostgreSQL store is the session's; on every store no query may reach it
        node.store.close()
    monkeypatch.setattr(node.store, "transaction", lambda: pytest.fail("verify read the database"))

    bundle = path.read_bytes()
    names = [n for n, _ in members(bundle)]
    assert names[0] == fmt.MIMETYPE_NAME and zipfile.ZipFile(path).infolist()[0].compress_type == zipfile.ZIP_STORED
    assert {fmt.LETTER_NAME, fmt.ENTRIES_NAME, fmt.CHECKPOINT_NAME, fmt.SEGMENT_NAME, fmt.MANIFEST_NAME,
            fmt.SUMMARY_TH, fmt.SUMMARY_EN} <= set(names)
    assert len([n for n in names if n.startswith(fmt.NOTIFIERS)]) == 2 and fmt.TIMESTAMP_NAME not in names

    report = proof.verify(bundle, now=clock.now())
    assert report.ok, report.problems
    assert report.process_id == process_id
    assert any(RECEIVE_NUMBER in f for f in report.findings), report.findings
    assert any(MEETING in f for f in report.findings), report.findings
    assert any("inside the bundle" in f for f in report.findings), "it says whose anchors it trusted"
    assert any("present, not checked" in f or "time stamp: none" in f for f in report.findings)

    mine = proof.verify(bundle, anchors=list(node.keyring.anchors), now=clock.now())
    assert mine.ok and any("you gave" in f for f in mine.findings), mine.findings
    stranger = pki.create_ca("CA ที่ไม่เกี่ยวข้อง", algorithm="ecdsa", now=clock.now() - dt.timedelta(days=1))
    refused = proof.verify(bundle, anchors=[stranger.certificate], now=clock.now())
    assert not refused.ok and any("letter.xml" in p for p in refused.problems), refused.problems

    summary = dict(members(bundle))
    thai, english = summary[fmt.SUMMARY_TH].decode(), summary[fmt.SUMMARY_EN].decode()
    assert MEETING in thai and RECEIVE_NUMBER in thai and "ลงวันที่: 26 พ.ย. 2569" in thai
    assert RECEIVE_NUMBER in english and "BE" in english and "Bangkok" in english

    # one byte changed in each member in turn, the ZIP rewritten properly: our checks catch it, not the CRC
    assert_every_change_is_caught(bundle, now=clock.now())


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_a_bundle_still_verifies_after_its_certificates_expired(node, clock):
    """Years later each signature is checked as of when the node recorded it, and the finding says so."""
    process_id = life(node)
    checkpoint(node, clock)
    later = clock.now() + pki.LEAF_VALIDITY + dt.timedelta(days=30)
    report = proof.verify(export(node, clock, process_id), anchors=list(node.keyring.anchors), now=later)
    assert report.ok, report.problems
    assert sum("expired on" in f for f in report.findings) == 2, report.findings   # the letter, the checkpoint


def test_a_letter_that_is_not_here_is_not_found(node, clock):
    with pytest.raises(RemoteError) as caught:
        export(node, clock, str(uuid.uuid4()))
    assert caught.value.code is ErrorCode.LETTER_NOT_FOUND


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_entries_after_the_last_checkpoint_are_said_to_be_uncovered(node, clock):
    process_id = life(node)
    report = proof.verify(export(node, clock, process_id), now=clock.now())
    assert report.ok, report.problems
    assert any("none covers these entries yet" in f for f in report.findings), report.findings
    assert fmt.CHECKPOINT_NAME not in dict(members(export(node, clock, process_id)))
    assert "ยังไม่มีจุดตรวจ" in dict(members(export(node, clock, process_id)))[fmt.SUMMARY_TH].decode()


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_cutting_the_newest_entries_is_caught_by_what_they_vouch_for(node, clock):
    """The notifier whose 'notice' entry is cut from entries.json betrays the cut, manifest rewritten or not."""
    import json
    process_id = life(node)
    checkpoint(node, clock)
    items = members(export(node, clock, process_id))
    doc = json.loads(dict(items)[fmt.ENTRIES_NAME])
    doc["entries"] = doc["entries"][:-1]
    cut = [(n, json.dumps(doc, ensure_ascii=False).encode() if n == fmt.ENTRIES_NAME else d) for n, d in items]
    report = proof.verify(rezip(remanifested(cut)), now=clock.now())
    assert not report.ok and any("cut short" in p for p in report.problems), report.problems


# ------------------------------------------------------------------ a time-stamped checkpoint

@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    from gateway.testing.tsa import LocalTSA
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is not installed: the time-stamp test needs it (Debian package openssl)")
    with LocalTSA(tmp_path_factory.mktemp("proof-tsa"), name="ศูนย์ทดสอบ TSA ข") as server:
        yield server


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_time_stamped_checkpoint_is_checked_with_the_authoritys_certificate(node, clock, tsa):
    from gateway.adapters.tsa import TimestampClient, verify_token
    process_id = life(node)
    client = TimestampClient(tsa.url, certificate=tsa.certificate, timeout=20)
    try:
        checkpoint(node, clock, stamp=client.stamp)
    finally:
        client.close()
    bundle = export(node, clock, process_id)
    assert fmt.TIMESTAMP_NAME in dict(members(bundle))
    unchecked = proof.verify(bundle, now=clock.now())
    assert unchecked.ok and any("present, not checked" in f for f in unchecked.findings), unchecked.findings

    def check(token: bytes, data: bytes) -> dt.datetime:
        return verify_token(token, data, tsa.certificate)

    checked = proof.verify(bundle, now=clock.now(), check_token=check)
    assert checked.ok and any("RFC 3161 authority stamped" in f for f in checked.findings), checked.findings
    assert_every_change_is_caught(bundle, now=clock.now(), check_token=check)


# ------------------------------------------------------------------ the command line

@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_commands_export_and_verify_offline(node, clock, data_dir, tmp_path, capsys):
    process_id = life(node)
    checkpoint(node, clock)
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{data_dir}"\ndatabase = "sqlite:{node.store.path}"\n',
                      encoding="utf-8")
    out = tmp_path / "หลักฐาน.asice"
    assert cli_main(["proof", "export", process_id, "--out", str(out), "--config", str(config)]) == 0
    node.store.close()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"".join(pki.pem_certificate(a) for a in node.keyring.anchors))
    capsys.readouterr()
    assert cli_main(["proof", "verify", str(out), "--ca", str(ca)]) == 0
    printed = capsys.readouterr().out
    assert RECEIVE_NUMBER in printed and "PROBLEM" not in printed and process_id in printed
    items = members(out.read_bytes())
    (tmp_path / "bad.asice").write_bytes(rezip([(n, changed(d) if n == fmt.LETTER_NAME else d) for n, d in items]))
    assert cli_main(["proof", "verify", str(tmp_path / "bad.asice"), "--ca", str(ca)]) == 1
    assert "PROBLEM: member letter.xml was changed" in capsys.readouterr().out


# ------------------------------------------------------------------ two nodes: receipts and attestations

TWO = ("moe-hub", "moe-r15")


@pytest.fixture(scope="module")
def pair_pki(tmp_path_factory):
    issued = min(dt.datetime.now(dt.timezone.utc), FakeClock().now()) - dt.timedelta(days=1)
    return make_pki(tmp_path_factory.mktemp("proof-pki"), issued)


@pytest.fixture
def network(backend, request, tmp_path, pair_pki):
    """The hub and the regional node of gateway/testing/network.py, on loopback HTTP (no ocsc node)."""
    clock = FakeClock()
    ports = {name: free_port() for name in (*TWO, "ocsc")}
    servers = {}
    for name in TWO:
        if backend == "sqlite":
            store = app.open_store(f"sqlite:{tmp_path / name / 'gateway.sqlite3'}")
        else:
            cluster = request.getfixturevalue("pg_cluster")
            store = app.open_store(cluster.create_database(f"proof_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"))
        store.migrate()
        cfg = node_config(name, pair_pki, ports, tmp_path / name)
        servers[name] = LiveServer(app.build(cfg, store=store, clock=clock, migrate=False), ports[name])
    yield servers, clock
    for server in servers.values():
        server.stop()
        server.node.close()


def deliver(servers) -> None:
    for _ in range(10):
        moved = sum(s.node.worker.run_once().delivered for s in servers.values())
        if not moved:
            return


def test_receipts_and_attestations_of_a_letter_between_two_nodes(network, pair_pki, tmp_path):
    servers, clock = network
    hub, region = servers["moe-hub"].node, servers["moe-r15"].node
    letter_id = unique_letter_id()
    sent = call(hub, CENTRAL, send_request(letter_id=letter_id, subject=MEETING, receiver=CHIANGMAI)).ok()
    deliver(servers)
    pulled = call(region, CHIANGMAI, PULL).ok()
    call(region, CHIANGMAI, delete_request(pulled.process_id)).ok()
    call(region, CHIANGMAI, notifier_request("AcceptLetterNotifier", letter_id, accept_id=RECEIVE_NUMBER)).ok()
    deliver(servers)
    for node in (hub, region):
        checkpoint(node, clock)
    ca = x509.load_pem_x509_certificate((pair_pki.folder / "ca.pem").read_bytes())

    at_hub = export(hub, clock, sent.process_id)
    report = proof.verify(at_hub, anchors=[ca], now=clock.now())
    assert report.ok, report.problems
    assert any("node moe-r15 signed" in f and "received the letter from node moe-hub" in f
               for f in report.findings), report.findings
    assert any(RECEIVE_NUMBER in f for f in report.findings)
    with hub.store.transaction() as tx:
        (item,) = [i for i in tx.outbox_of_letter(sent.process_id) if i.kind == "letter"]
    assert dict(members(at_hub))[f"{fmt.RECEIPTS}{item.message_id}.xml"] == item.receipt

    at_region = export(region, clock, sent.process_id)
    report = proof.verify(at_region, anchors=[ca], now=clock.now())
    assert report.ok, report.problems
    assert any("attested end to end by 2000350000" in f for f in report.findings), report.findings
    assert any("node moe-hub signed" in f and "received notifier" in f for f in report.findings), report.findings
    assert any("node moe-r15 signed" in f and "received the letter" in f for f in report.findings)
    names = [n for n, _ in members(at_region)]
    assert any(n.endswith(fmt.ATTESTATION) for n in names)

    for name, bundle in (("hub", at_hub), ("region", at_region)):
        assert_xmlsec1_verifies(bundle, tmp_path / name, ca, clock.now())
    assert_every_change_is_caught(at_region, anchors=[ca], now=clock.now())


# ------------------------------------------------------------------ xmlsec1, on its own

def assert_xmlsec1_verifies(bundle: bytes, folder, ca: x509.Certificate, at: dt.datetime) -> None:
    """Every signed XML of the bundle verifies in ``xmlsec1 --verify`` against the CA alone."""
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        pytest.fail("xmlsec1 is not installed: install the Debian package 'xmlsec1'", pytrace=False)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(pki.pem_certificate(ca))
    gmt = at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    checked = 0
    for i, (name, data) in enumerate(members(bundle)):
        if not name.endswith(".xml") or name == fmt.MANIFEST_NAME:
            continue
        if name.startswith(fmt.NOTIFIERS) and not name.endswith(fmt.ATTESTATION):
            continue   # a notifier element is not signed itself: its attestation is
        path = folder / f"{i}.xml"
        path.write_bytes(data)
        extra = LETTER_ID_ATTR if name == fmt.LETTER_NAME else []
        result = subprocess.run([xmlsec1, "--verify", "--trusted-pem", str(folder / "ca.pem"),
                                 "--verification-gmt-time", gmt, *extra, str(path)],
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0 and "SignedInfo References (ok/all): 1/1" in result.stderr, \
            f"xmlsec1 refused {name}:\n{result.stderr}"
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_a_manifest_written_differently_still_verifies_and_junk_is_a_problem(node, clock):
    from lxml import etree
    process_id = life(node)
    checkpoint(node, clock)
    items = members(export(node, clock, process_id))
    indented = etree.tostring(etree.fromstring(dict(items)[fmt.MANIFEST_NAME]), pretty_print=True,
                              xml_declaration=True, encoding="UTF-8")
    report = proof.verify(rezip([(n, indented if n == fmt.MANIFEST_NAME else d) for n, d in items]), now=clock.now())
    assert report.ok, report.problems
    for junk in (b"", "หนังสือราชการ".encode(), rezip([(fmt.MIMETYPE_NAME, fmt.MIMETYPE)]),
                 rezip(remanifested([(n, b"{" if n.endswith(".json") else d) for n, d in items]))):
        report = proof.verify(junk, now=clock.now())
        assert not report.ok and report.problems
