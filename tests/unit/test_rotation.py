"""Certificate requests, rotation with an overlap, and the warnings before expiry (docs/joining.md), on a fake clock.

A node and an organisation may each have an old and a new certificate: both
are trusted until the old one's notAfter, signing uses the certificate of the
configured key, and after the old one ends only the new one verifies.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

from gateway import config
from gateway.core import ns
from gateway.core.time import BANGKOK
from gateway.core.errors import ConfigError, ErrorCode, RemoteError
from gateway.core.network import snapshot
from gateway.core.network.directory import Directory, Organization, PeerNode
from gateway.core.trust import csr, keyring as keyringmod, pki, signing
from gateway.core.trust.keyring import CertificateExpiry, build_keyring, certificate_expiries
from gateway.core.trust.signing import Signer, VerifyPolicy
from gateway.pipeline import outbound
from gateway.runtime import certificates, directory_sync, files
from gateway.testing.clock import FakeClock
from gateway.testing.wire import letter

T0 = FakeClock().now()
DAY = dt.timedelta(days=1)
CENTRAL, CHIANGMAI = "2000100000", "2000350000"
TH = {CENTRAL: "สำนักงานปลัดกระทรวงศึกษาธิการ", CHIANGMAI: "สำนักงานศึกษาธิการจังหวัดเชียงใหม่"}


@pytest.fixture(scope="module")
def ca():
    return pki.create_ca("TH e-CMS test network CA", algorithm="ecdsa", now=T0 - DAY)


def key():
    return ec.generate_private_key(ec.SECP256R1())


def org_cert(ca, org: str, k, *, at: dt.datetime, days: int) -> x509.Certificate:
    return pki.leaf_certificate(ca, pki.organization_name(org, TH[org]), k.public_key(), now=at,
                                usages=pki.ORGANIZATION_USAGES, validity=dt.timedelta(days=days))


def node_cert(ca, node: str, k, *, at: dt.datetime, days: int) -> x509.Certificate:
    return pki.leaf_certificate(ca, pki.node_name(node), k.public_key(), now=at, usages=pki.NODE_USAGES,
                                sans=pki.host_names(["127.0.0.1"]), validity=dt.timedelta(days=days))


class Party:
    """An old certificate (issued at T0, 60 days) and its successor (issued 40 days later, with a new key)."""

    def __init__(self, ca, kind: str, name: str) -> None:
        make = org_cert if kind == "org" else node_cert
        self.old_key, self.new_key = key(), key()
        self.old = make(ca, name, self.old_key, at=T0, days=60)
        self.new = make(ca, name, self.new_key, at=T0 + 40 * DAY, days=825)
        self.name = name

    def signer(self, which: str) -> Signer:
        org = self.name if self.name.isdigit() else ""
        return Signer(org_id=org, key=getattr(self, f"{which}_key"), certificate=getattr(self, which))


@pytest.fixture(scope="module")
def parties(ca):
    return {"chiangmai": Party(ca, "org", CHIANGMAI), "r15": Party(ca, "node", "moe-r15"),
            "central": Party(ca, "org", CENTRAL)}


@pytest.fixture(scope="module")
def hub(ca):
    k = key()
    return k, node_cert(ca, "moe-hub", k, at=T0, days=825)


def ring(ca, hub, parties, now: dt.datetime, *, central_key: str = "new") -> keyringmod.Keyring:
    central, chiangmai, r15 = parties["central"], parties["chiangmai"], parties["r15"]
    return build_keyring(
        anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
        org_certificates={CENTRAL: [central.old, central.new], CHIANGMAI: [chiangmai.old, chiangmai.new]},
        org_keys={CENTRAL: getattr(central, f"{central_key}_key")}, org_node={CENTRAL: "moe-hub", CHIANGMAI: "moe-r15"},
        node_certificates={"moe-r15": [r15.old, r15.new]}, now=now)


def signed_letter(signer: Signer) -> etree._Element:
    document = etree.fromstring(letter(sender=signer.org_id, receiver=CENTRAL).encode("utf-8"))
    return signing.sign_letter(document, signer)


def signed_probe(signer: Signer) -> etree._Element:
    probe = etree.Element(ns.node("Probe"), nsmap={"n": ns.NODE})
    probe.text = "สวัสดี"
    return signing.sign_document(probe, signer)


OVERLAP = T0 + 45 * DAY          # both certificates valid
AFTER = T0 + 61 * DAY            # the old ones have ended


# ------------------------------------------------------------------ the overlap

def test_during_the_overlap_both_certificates_verify_and_signing_uses_the_new_key(ca, hub, parties):
    keys = ring(ca, hub, parties, OVERLAP)
    chiangmai, r15, central = parties["chiangmai"], parties["r15"], parties["central"]
    assert set(map(pki.fingerprint, keys.trusted_for(CHIANGMAI))) >= {pki.fingerprint(chiangmai.old),
                                                                       pki.fingerprint(chiangmai.new)}
    for which in ("old", "new"):
        verified = signing.verify_letter(signed_letter(chiangmai.signer(which)), trusted=keys.trusted_for(CHIANGMAI),
                                         policy=VerifyPolicy.modern(), now=OVERLAP)
        assert verified.certificate_sha256 == pki.fingerprint(getattr(chiangmai, which))
        _, cert = signing.verify_document(signed_probe(r15.signer(which)), trusted=keys.node_trusted("moe-r15"),
                                          now=OVERLAP)
        assert cert == getattr(r15, which)
    # the hosted organisation signs with the certificate of its configured key: the new one
    assert keys.signer_for(CENTRAL).certificate == central.new and keys.org_certificates[CENTRAL] == central.new
    signing.verify_letter(signed_letter(keys.signer_for(CENTRAL)), trusted=keys.trusted_for(CENTRAL),
                          policy=VerifyPolicy.modern(), now=OVERLAP)
    # an e-Saraban that still signs with the organisation's old key is accepted until the old one ends
    signing.verify_letter(signed_letter(central.signer("old")), trusted=keys.trusted_for(CENTRAL),
                          policy=VerifyPolicy.modern(), now=OVERLAP)


def test_signing_switches_only_when_the_key_is_switched(ca, hub, parties):
    keys = ring(ca, hub, parties, OVERLAP, central_key="old")
    assert keys.signer_for(CENTRAL).certificate == parties["central"].old


def test_after_the_old_notafter_only_the_new_certificate_verifies(ca, hub, parties):
    keys = ring(ca, hub, parties, OVERLAP)       # a node started during the overlap keeps running
    chiangmai, r15 = parties["chiangmai"], parties["r15"]
    with pytest.raises(RemoteError) as refused:
        signing.verify_letter(signed_letter(chiangmai.signer("old")), trusted=keys.trusted_for(CHIANGMAI),
                              policy=VerifyPolicy.modern(), now=AFTER)
    assert refused.value.code is ErrorCode.UNTRUSTED_SIGNER and "not valid now" in refused.value.detail
    with pytest.raises(RemoteError) as refused:
        signing.verify_document(signed_probe(r15.signer("old")), trusted=keys.node_trusted("moe-r15"), now=AFTER)
    assert refused.value.code is ErrorCode.UNTRUSTED_SIGNER
    signing.verify_letter(signed_letter(chiangmai.signer("new")), trusted=keys.trusted_for(CHIANGMAI),
                          policy=VerifyPolicy.modern(), now=AFTER)
    signing.verify_document(signed_probe(r15.signer("new")), trusted=keys.node_trusted("moe-r15"), now=AFTER)


def test_a_node_started_after_the_old_notafter_keeps_only_the_new_one(ca, hub, parties):
    keys = ring(ca, hub, parties, AFTER)
    assert keys.node_trusted("moe-r15") == [parties["r15"].new]
    assert keys.org_trusted(CHIANGMAI) == [parties["chiangmai"].new]


def test_a_new_certificate_not_yet_valid_is_kept_and_becomes_trusted_at_its_notbefore(ca, hub, parties):
    keys = ring(ca, hub, parties, T0 + DAY, central_key="old")   # the successors are issued for T0 + 40 days
    r15 = parties["r15"]
    assert keys.node_certificates["moe-r15"] == r15.old and r15.new in keys.node_trusted("moe-r15")
    with pytest.raises(RemoteError, match="not valid now"):
        signing.verify_document(signed_probe(r15.signer("new")), trusted=keys.node_trusted("moe-r15"), now=T0 + DAY)
    signing.verify_document(signed_probe(r15.signer("new")), trusted=keys.node_trusted("moe-r15"), now=OVERLAP)


def test_a_key_of_a_certificate_not_yet_valid_does_not_sign(ca, hub, parties):
    with pytest.raises(ConfigError, match="its key belongs to certificate .* valid only from"):
        ring(ca, hub, parties, T0 + DAY, central_key="new")


@pytest.mark.parametrize("when,message", [(T0 + 900 * DAY, "is not valid now"), (T0 - 2 * DAY, "is not valid now")])
def test_a_party_with_no_valid_certificate_stops_the_node(ca, hub, parties, when, message):
    with pytest.raises(ConfigError, match=message):
        build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                      org_certificates={}, org_keys={}, org_node={}, now=when,
                      node_certificates={"moe-r15": [parties["r15"].old]})


def test_a_bundle_with_a_certificate_of_another_ca_is_refused(ca, hub, parties):
    other = pki.create_ca("another CA", algorithm="ecdsa", now=T0 - DAY)
    stranger = node_cert(other, "moe-r15", key(), at=T0, days=100)
    with pytest.raises(ConfigError, match="node moe-r15: certificate .* is not issued by a trust anchor"):
        build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                      org_certificates={}, org_keys={}, org_node={}, now=OVERLAP,
                      node_certificates={"moe-r15": [parties["r15"].new, stranger]})


def test_a_bundle_naming_another_organisation_is_refused(ca, hub, parties):
    with pytest.raises(ConfigError, match=f"organisation {CHIANGMAI}: its certificate names organisation {CENTRAL}"):
        build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                      org_certificates={CHIANGMAI: [parties["chiangmai"].new, parties["central"].new]}, org_keys={},
                      org_node={}, node_certificates={}, now=OVERLAP)


def test_rotation_bundle_drops_expired_certificates_and_refuses_a_repeat(parties):
    r15 = parties["r15"]
    assert keyringmod.rotation_bundle([r15.old], [r15.new], OVERLAP) == (r15.new, r15.old)
    assert keyringmod.rotation_bundle([r15.old], [r15.new], AFTER) == (r15.new,)
    with pytest.raises(ConfigError, match="already holds"):
        keyringmod.rotation_bundle([r15.new, r15.old], [r15.new], OVERLAP)


# ------------------------------------------------------------------ expiries and warnings

def test_certificate_expiries_give_each_partys_end_soonest_first(ca, hub, parties):
    keys = ring(ca, hub, parties, OVERLAP)
    expiries = certificate_expiries(keys)
    assert all(isinstance(e, CertificateExpiry) and e.not_after.tzinfo for e in expiries)
    ends = {(kind, subject): end for kind, subject, end in expiries}
    assert set(ends) == {("ca", "TH e-CMS test network CA"), ("node", "moe-hub"), ("node", "moe-r15"),
                         ("organization", CENTRAL), ("organization", CHIANGMAI)}
    # during the overlap a party's end is its successor's, not the old certificate's
    assert ends[("node", "moe-r15")] == parties["r15"].new.not_valid_after_utc
    assert ends[("organization", CHIANGMAI)] == parties["chiangmai"].new.not_valid_after_utc
    assert [e.not_after for e in expiries] == sorted(e.not_after for e in expiries)
    assert certificates.certificate_expiries(keys) == expiries


def test_notices_warn_within_the_window_and_inform_about_overlaps(ca, hub):
    lone_key = key()
    lone = org_cert(ca, CHIANGMAI, lone_key, at=T0, days=100)
    keys = build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                         org_certificates={CHIANGMAI: lone}, org_keys={}, org_node={CHIANGMAI: "moe-r15"},
                         node_certificates={}, now=T0)
    window = dt.timedelta(days=30)
    assert certificates.expiry_notices(keys, T0 + 69 * DAY, window) == []
    notices = certificates.expiry_notices(keys, T0 + 71 * DAY, window)
    assert [n.level for n in notices] == [logging.WARNING]
    end = lone.not_valid_after_utc
    days_left = (end - (T0 + 71 * DAY)).days
    text = notices[0].message
    assert f"ใบรับรองของหน่วยงาน {CHIANGMAI} จะหมดอายุใน {days_left} วัน" in text
    local = end.astimezone(BANGKOK)
    assert f"{local.day} " in text and str(local.year + 543) in text and f"{local:%Y-%m-%d}" in text
    assert "หมดอายุแล้ว" in certificates.expiry_notices(keys, end + DAY, window)[0].message


def test_an_overlap_ending_is_information_not_a_warning(ca, hub, parties):
    keys = ring(ca, hub, parties, OVERLAP)
    notices = certificates.expiry_notices(keys, OVERLAP, dt.timedelta(days=30))
    assert notices and all(n.level == logging.INFO for n in notices), notices
    assert {n.message.split("rotation: the old certificate of ")[1].split(",")[0] for n in notices} == {
        "node moe-r15", f"organisation {CHIANGMAI}", f"organisation {CENTRAL}"}


def test_the_watch_warns_at_start_up_and_then_daily(ca, hub, caplog):
    k = key()
    cert = node_cert(ca, "moe-r15", k, at=T0, days=40)
    keys = build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                         org_certificates={}, org_keys={}, org_node={}, node_certificates={"moe-r15": cert}, now=T0)
    clock = FakeClock(T0)
    days = []

    def a_day_passes(seconds: float) -> bool:   # the watch's sleep: the fake clock moves a day instead
        assert seconds == 86400
        days.append(clock.advance(DAY))
        return len(days) >= 14

    caplog.set_level(logging.INFO, logger="gateway.runtime.certificates")
    watch = certificates.ExpiryWatch(keys, clock, within=dt.timedelta(days=30), wait=a_day_passes).start()
    watch.thread.join(timeout=10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "moe-r15" in r.getMessage()]
    # 40 days of validity, a 30-day window: from day 10 on, once a day (start-up is day 0, the last check day 13)
    remaining = [(cert.not_valid_after_utc - (T0 + n * DAY)).days for n in range(10, 14)]
    assert [r.getMessage().split("จะหมดอายุใน ")[1].split(" วัน")[0] for r in warnings] == [str(n) for n in remaining]
    watch.stop()


def test_the_watch_checks_at_start_in_the_calling_thread(ca, hub, caplog):
    cert = node_cert(ca, "moe-r15", key(), at=T0, days=5)
    keys = build_keyring(anchors=[ca.certificate], node_id="moe-hub", node_key=hub[0], node_certificate=hub[1],
                         org_certificates={}, org_keys={}, org_node={}, node_certificates={"moe-r15": cert}, now=T0)
    caplog.set_level(logging.INFO, logger="gateway.runtime.certificates")
    watch = certificates.ExpiryWatch(keys, FakeClock(T0), within=dt.timedelta(days=30), wait=lambda s: True)
    watch.start()
    assert any("moe-r15" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    watch.stop()


def test_the_warning_window_is_a_setting():
    assert config.Config().expiry_warning == dt.timedelta(days=30)
    assert config.from_toml("[trust]\nexpiry_warning_days = 60\n").expiry_warning == dt.timedelta(days=60)
    with pytest.raises(ConfigError, match="expiry_warning_days"):
        config.from_toml("[trust]\nexpiry_warning_days = 0\n")


# ------------------------------------------------------------------ requests and signing (pki request / sign)

def test_a_node_request_is_signed_in_the_node_profile(ca):
    k, request = csr.request_node("moe-kk", ["kk.example.go.th", "127.0.0.1"], algorithm="ecdsa")
    read = csr.read_request(csr.load_request(csr.pem_request(request)))
    assert (read.kind, read.id, read.hosts) == ("node", "moe-kk", ("kk.example.go.th", "127.0.0.1"))
    cert = csr.sign_request(ca, read, now=T0)
    reference = pki.issue_node(ca, "moe-kk", ["kk.example.go.th", "127.0.0.1"], algorithm="ecdsa", now=T0).certificate
    assert cert.subject == reference.subject and pki.node_of(cert) == "moe-kk"
    for extension in (x509.KeyUsage, x509.ExtendedKeyUsage, x509.BasicConstraints, x509.SubjectAlternativeName):
        assert cert.extensions.get_extension_for_class(extension).value == \
            reference.extensions.get_extension_for_class(extension).value
    assert keyringmod.key_matches(k, cert) and pki.issued_by(cert, [ca.certificate], T0)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == pki.LEAF_VALIDITY + dt.timedelta(minutes=5)


def test_an_organisation_request_is_signed_in_the_organisation_profile(ca):
    k, request = csr.request_organization(CHIANGMAI, TH[CHIANGMAI], algorithm="rsa")
    read = csr.read_request(request)
    assert (read.kind, read.id, read.th_name) == ("organization", CHIANGMAI, TH[CHIANGMAI])
    cert = csr.sign_request(ca, read, now=T0, validity=dt.timedelta(days=365))
    assert pki.organization_of(cert) == CHIANGMAI
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == TH[CHIANGMAI]
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment  # RSA
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and keyringmod.key_matches(k, cert)


def _request(subject: x509.Name, k=None, sans=None) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(k or key(), hashes.SHA256())


@pytest.mark.parametrize("subject,sans,message", [
    (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]), None, "names neither a node"),
    (pki.node_name("moe-kk"), None, "names no host"),
    (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moe-other"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, "node:moe-kk")]), [x509.DNSName("a")], "must be the same"),
    (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CHIANGMAI),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, CHIANGMAI)]), None, "has no Thai name"),
])
def test_requests_that_name_no_party_of_the_profile_are_refused(subject, sans, message):
    with pytest.raises(ConfigError, match=message):
        csr.read_request(_request(subject, sans=sans))


def test_a_changed_request_and_a_weak_key_are_refused():
    _, request = csr.request_organization(CHIANGMAI, TH[CHIANGMAI], algorithm="ecdsa")
    der = bytearray(request.public_bytes(csr.serialization.Encoding.DER))
    der[der.index("เชียงใหม่".encode())] ^= 0x01          # one bit of the Thai name
    with pytest.raises(ConfigError, match="does not verify"):
        csr.read_request(csr.load_request(bytes(der)))
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="at least 2048"):
        csr.read_request(_request(pki.organization_name(CHIANGMAI, TH[CHIANGMAI]), weak))
    with pytest.raises(ConfigError, match="not a PKCS#10"):
        csr.load_request(b"-----BEGIN CERTIFICATE REQUEST-----\nxx\n-----END CERTIFICATE REQUEST-----\n")


def test_the_ca_signs_only_within_its_own_validity(ca):
    read = csr.read_request(csr.request_node("moe-kk", [], algorithm="ecdsa")[1])
    assert read.hosts == csr.DEFAULT_HOSTS
    with pytest.raises(ConfigError, match="would outlive the CA"):
        csr.sign_request(ca, read, now=T0, validity=dt.timedelta(days=4000))
    with pytest.raises(ConfigError, match="CA certificate is not valid now"):
        csr.sign_request(ca, read, now=T0 + 4000 * DAY)
    stranger = pki.Issued(key=key(), certificate=ca.certificate)
    with pytest.raises(ConfigError, match="CA key does not belong"):
        csr.sign_request(stranger, read, now=T0)


# ------------------------------------------------------------------ publication and files

def test_a_rotation_bundle_travels_in_the_snapshot_and_is_trusted_where_it_arrives(ca, hub, parties, tmp_path):
    r15, chiangmai = parties["r15"], parties["chiangmai"]
    bundle = tmp_path / "moe-r15.pem"
    bundle.write_bytes(pki.pem_certificate(r15.new) + pki.pem_certificate(r15.old))
    org_file = tmp_path / f"{CHIANGMAI}.pem"
    org_file.write_bytes(pki.pem_certificate(chiangmai.new) + pki.pem_certificate(chiangmai.old))
    directory = Directory.build([
        Organization(id=CENTRAL, th_name=TH[CENTRAL], node="moe-hub", hosted=True),
        Organization(id=CHIANGMAI, th_name=TH[CHIANGMAI], node="moe-r15", certificate=str(org_file))],
        nodes=[PeerNode(id="moe-r15", url="http://127.0.0.1:9/ecms-ws01/node", certificate=str(bundle))])
    snap = snapshot.from_directory(directory, authority="moe-hub", authority_url="http://127.0.0.1:8/ecms-ws01/node",
                                   authority_pem=pki.pem_certificate(hub[1]), read_pem=lambda p: Path(p).read_bytes(),
                                   now=OVERLAP)
    data = outbound.directory_snapshot(snap, Signer(org_id="", key=hub[0], certificate=hub[1]))
    kept = snapshot.verify(data, authority="moe-hub", certificate=hub[1], now=OVERLAP)
    written = {}

    def write_pem(name: str, pem: bytes) -> str:
        written[name] = tmp_path / f"got-{name}.pem"
        written[name].write_bytes(pem)
        return str(written[name])

    here = Directory.build([Organization(id="0101000000", th_name="สำนักงาน ก.พ.", node="ocsc", hosted=True)])
    merged = snapshot.merge(here, kept, node_id="ocsc", write_pem=write_pem)
    assert len(pki.load_certificates(written["node-moe-r15"].read_bytes())) == 2
    assert len(pki.load_certificates(written[f"org-{CHIANGMAI}"].read_bytes())) == 2
    assert merged.get(CHIANGMAI).via == "moe-hub"


def _authority(tmp_path: Path, ca, hub) -> Path:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki/ca.pem").write_bytes(pki.pem_certificate(ca.certificate))
    (tmp_path / "pki/node.pem").write_bytes(pki.pem_certificate(hub[1]))
    (tmp_path / "pki/node.key").write_bytes(pki.pem_private_key(hub[0]))
    path = tmp_path / "hub.toml"
    path.write_text('[node]\nid = "moe-hub"\ncertificate = "pki/node.pem"\nkey = "pki/node.key"\n'
                    '[trust]\nanchors = ["pki/ca.pem"]\n[directory_authority]\npublish = true\n'
                    f'[[organizations]]\nid = "{CENTRAL}"\nth_name = "{TH[CENTRAL]}"', encoding="utf-8")
    return path


def test_add_node_and_org_append_checked_entries_and_rotate_adds_the_successor(ca, hub, parties, tmp_path):
    path = _authority(tmp_path, ca, hub)
    clock = FakeClock(OVERLAP)
    r15, chiangmai = parties["r15"], parties["chiangmai"]
    added = directory_sync.add_node(path, node_id="moe-r15", url="http://127.0.0.1:9/ecms-ws01/node",
                                    certificate=pki.pem_certificate(r15.old), clock=clock)
    assert added.certificate_file == tmp_path / "pki/nodes/moe-r15.pem" and not added.rotated
    directory_sync.add_organization(path, org_id=CHIANGMAI, node="moe-r15", clock=clock,
                                    certificate=pki.pem_certificate(chiangmai.old))
    cfg = config.from_toml(path.read_text(encoding="utf-8"), base_dir=tmp_path)
    org = cfg.directory.get(CHIANGMAI)
    assert org.th_name == TH[CHIANGMAI] and org.node == "moe-r15"             # the Thai name from the certificate
    assert org.ecms_url == f"http://127.0.0.1:9/ecms-ws01/service2/{CHIANGMAI}"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="already in \\[\\[nodes\\]\\].*--rotate"):
        directory_sync.add_node(path, node_id="moe-r15", url="http://127.0.0.1:9/ecms-ws01/node",
                                certificate=pki.pem_certificate(r15.new), clock=clock)
    other = pki.create_ca("another CA", algorithm="ecdsa", now=T0 - DAY)
    with pytest.raises(ConfigError, match="not issued by the authority's trust anchors"):
        directory_sync.add_node(path, node_id="moe-x", url="http://127.0.0.1:7/ecms-ws01/node", clock=clock,
                                certificate=pki.pem_certificate(node_cert(other, "moe-x", key(), at=T0, days=99)))
    with pytest.raises(ConfigError, match="names node moe-r15"):
        directory_sync.add_node(path, node_id="moe-x", url="http://127.0.0.1:7/ecms-ws01/node", clock=clock,
                                certificate=pki.pem_certificate(r15.new))
    with pytest.raises(ConfigError, match="node 'moe-x' is not in \\[\\[nodes\\]\\]"):
        directory_sync.add_organization(path, org_id=CENTRAL[:-1] + "9", node="moe-x", clock=clock,
                                        certificate=pki.pem_certificate(chiangmai.new))
    assert path.read_text(encoding="utf-8") == before and not (tmp_path / "pki/nodes/moe-x.pem").exists()

    rotated = directory_sync.add_node(path, node_id="moe-r15", url="", rotate=True, clock=clock,
                                      certificate=pki.pem_certificate(r15.new))
    assert rotated.rotated and rotated.certificates == (r15.new, r15.old)
    directory_sync.add_organization(path, org_id=CHIANGMAI, node="", rotate=True, clock=clock,
                                    certificate=pki.pem_certificate(chiangmai.new))
    assert path.read_text(encoding="utf-8") == before, "a rotation changes the certificate file only"
    keys = files.load_keyring(config.from_toml(before, base_dir=tmp_path), clock)
    assert keys.node_trusted("moe-r15") == [r15.new, r15.old] and keys.org_trusted(CHIANGMAI) == [chiangmai.new,
                                                                                                   chiangmai.old]


def test_rotate_own_switches_the_key_and_keeps_the_old_certificate(ca, hub, parties, tmp_path):
    path = _authority(tmp_path, ca, hub)
    central = parties["central"]
    (tmp_path / "pki/orgs").mkdir()
    (tmp_path / f"pki/orgs/{CENTRAL}.pem").write_bytes(pki.pem_certificate(central.old))
    (tmp_path / f"pki/orgs/{CENTRAL}.key").write_bytes(pki.pem_private_key(central.old_key))
    text = (path.read_text(encoding="utf-8")
            + f'\ncertificate = "pki/orgs/{CENTRAL}.pem"\nkey = "pki/orgs/{CENTRAL}.key"\n')
    path.write_text(text, encoding="utf-8")
    cfg = config.from_toml(text, base_dir=tmp_path)
    clock = FakeClock(OVERLAP)
    with pytest.raises(ConfigError, match="the new key does not belong"):
        certificates.rotate_own(cfg, org_id=CENTRAL, certificate=pki.pem_certificate(central.new),
                                key=pki.pem_private_key(central.old_key), clock=clock)
    done = certificates.rotate_own(cfg, org_id=CENTRAL, certificate=pki.pem_certificate(central.new),
                                   key=pki.pem_private_key(central.new_key), clock=clock)
    assert done.published is None and done.certificates == (central.new, central.old)
    assert done.old_key_file.read_bytes() == pki.pem_private_key(central.old_key)
    assert (tmp_path / f"pki/orgs/{CENTRAL}.key").stat().st_mode & 0o077 == 0
    keys = files.load_keyring(cfg, clock)
    assert keys.signer_for(CENTRAL).certificate == central.new and central.old in keys.org_trusted(CENTRAL)


def test_the_authority_announces_its_successor_first_then_switches(ca, hub, parties, tmp_path):
    path = _authority(tmp_path, ca, hub)
    cfg = config.from_toml(path.read_text(encoding="utf-8"), base_dir=tmp_path)
    clock = FakeClock(OVERLAP)
    new_key = key()
    new = node_cert(ca, "moe-hub", new_key, at=OVERLAP - DAY, days=825)
    announced = certificates.rotate_own(cfg, certificate=pki.pem_certificate(new), clock=clock)
    assert announced.old_key_file is None and announced.certificates == (new, hub[1])
    keys = files.load_keyring(cfg, clock)
    assert keys.node_signer.certificate == hub[1], "announced: still signing with the current key"
    assert keys.node_trusted("moe-hub") == [new, hub[1]]
    published = snapshot.from_directory(cfg.directory, authority="moe-hub", authority_url="http://h/ecms-ws01/node",
                                        authority_pem=(tmp_path / "pki/node.pem").read_bytes(),
                                        read_pem=lambda p: Path(p).read_bytes(), now=OVERLAP)
    assert len(pki.load_certificates(published.nodes[0].certificate_pem)) == 2, "the snapshot lists both"
    switched = certificates.rotate_own(cfg, certificate=pki.pem_certificate(new), key=pki.pem_private_key(new_key),
                                       clock=clock)
    assert switched.certificates == (new, hub[1]) and switched.old_key_file.read_bytes() == pki.pem_private_key(hub[0])
    assert files.load_keyring(cfg, clock).node_signer.certificate == new
