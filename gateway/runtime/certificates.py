"""This node's certificates over time: when each ends, warnings before it does, and rotating its own.

* :func:`certificate_expiries` lists, for a configuration or a node's keyring,
  when trust in each party ends (``(kind, subject, not_after)``). The metrics
  and the console read it; ``gateway pki expiries`` prints it.
* :class:`ExpiryWatch` logs a warning at start-up and then daily for every
  party whose trust ends within ``trust.expiry_warning_days`` (30), and an
  information line for an old certificate whose overlap with its successor
  ends within that window (docs/joining.md, rotation).
* :func:`rotate_own` is ``gateway pki rotate``: this node (or one of its
  organisations) switches to its new key, keeping its old certificate trusted
  beside the new one until the old one's notAfter.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from cryptography import x509

from gateway.config import Config
from gateway.core.errors import ConfigError
from gateway.core.network.directory import Directory
from gateway.core.time import BANGKOK, thai_date
from gateway.core.trust import keyring as keyringmod, pki
from gateway.core.trust.keyring import CertificateExpiry, Keyring
from gateway.ports import Clock
from gateway.runtime import directory_sync, files

log = logging.getLogger(__name__)

TLS = "tls"
CHECK_INTERVAL = dt.timedelta(days=1)     # the watch looks again this often
KIND_TEXT = {keyringmod.CA: ("ผู้ออกใบรับรอง", "CA"), keyringmod.NODE: ("เครื่องให้บริการ", "node"),
             keyringmod.ORGANIZATION: ("หน่วยงาน", "organisation"), TLS: ("ใบรับรอง HTTPS ของเครื่อง", "HTTPS of node")}


def node_keyring(config: Config, clock: Clock) -> tuple[Config, Keyring]:
    """The keyring a node with this configuration starts with (development PKI and directory snapshot included)."""
    config = files.ensure_development_pki(config, clock)
    config = directory_sync.with_snapshot(config, clock)
    return config, files.load_keyring(config, clock)


def _tls_expiries(config: Config) -> list[CertificateExpiry]:
    found = []
    if config.tls_certificate:
        certs = pki.load_certificates(files.read(config.tls_certificate, "tls.certificate"))
        found.append(CertificateExpiry(TLS, config.node_id, max(c.not_valid_after_utc for c in certs)))
    if config.tls_client_ca:
        for cert in pki.load_certificates(files.read(config.tls_client_ca, "tls.client_ca")):
            found.append(CertificateExpiry(keyringmod.CA, keyringmod.common_name(cert), cert.not_valid_after_utc))
    return found


def certificate_expiries(source: Config | Keyring, clock: Clock | None = None) -> list[CertificateExpiry]:
    """When trust in each configured party ends, soonest first: ``[(kind, subject, not_after), ...]``.

    ``kind`` is ``ca`` (a trust anchor or the client CA), ``node`` (this node and
    the other nodes), ``organization`` (hosted ones and those of the directory)
    or ``tls`` (this node's HTTPS certificate); ``subject`` is the node id, the
    OrganizationID or the CA's common name; ``not_after`` is timezone-aware
    (UTC). During a rotation a party's end is its newest certificate's. A
    ``Config`` is read as the node would start with it (``clock`` is then
    needed: the files are checked as of its ``now``); a node's ``Keyring``
    (``node.keyring``) is read as it is.
    """
    if isinstance(source, Keyring):
        return keyringmod.certificate_expiries(source)
    if clock is None:
        raise TypeError("certificate_expiries(config) needs the clock the files are checked with")
    config, ring = node_keyring(source, clock)
    found = {(e.kind, e.subject): e for e in keyringmod.certificate_expiries(ring)}
    for extra in _tls_expiries(config):
        found.setdefault((extra.kind, extra.subject), extra)
    return sorted(found.values(), key=lambda e: (e.not_after, e.kind, e.subject))


def _local(value: dt.datetime) -> str:
    """The Gregorian date in Bangkok, beside the Buddhist-Era one (the same day)."""
    return f"{value.astimezone(BANGKOK):%Y-%m-%d}"


def describe(expiry: CertificateExpiry, now: dt.datetime) -> str:
    """One line for people, Thai first: who, when (Buddhist Era), how many days are left."""
    thai, english = KIND_TEXT.get(expiry.kind, (expiry.kind, expiry.kind))
    left = expiry.not_after - now
    if left < dt.timedelta(0):
        return (f"ใบรับรองของ{thai} {expiry.subject} หมดอายุแล้วเมื่อ {thai_date(expiry.not_after)} "
                f"(the certificate of {english} {expiry.subject} expired on {_local(expiry.not_after)})")
    return (f"ใบรับรองของ{thai} {expiry.subject} จะหมดอายุใน {left.days} วัน วันที่ {thai_date(expiry.not_after)} "
            f"(the certificate of {english} {expiry.subject} expires in {left.days} days, on "
            f"{_local(expiry.not_after)})")


@dataclass(frozen=True)
class Notice:
    level: int          # logging.WARNING or logging.INFO
    message: str


def expiry_notices(keyring: Keyring, now: dt.datetime, within: dt.timedelta,
                   extra: list[CertificateExpiry] | tuple[CertificateExpiry, ...] = ()) -> list[Notice]:
    """What the watch logs at ``now``: a warning per party ending within ``within``; information on overlaps."""
    notices = []
    for expiry in sorted([*keyringmod.certificate_expiries(keyring), *extra], key=lambda e: e.not_after):
        if expiry.not_after - now <= within:
            notices.append(Notice(logging.WARNING, describe(expiry, now) + "; renew it: docs/joining.md#rotation"))
    for kind, subject, cert, successor_end in keyringmod.superseded(keyring):
        if now <= cert.not_valid_after_utc <= now + within:
            thai, english = KIND_TEXT.get(kind, (kind, kind))
            notices.append(Notice(logging.INFO, (
                f"ใบรับรองเดิมของ{thai} {subject} ใช้ได้ถึง {thai_date(cert.not_valid_after_utc)} ใบใหม่ใช้ได้ถึง "
                f"{thai_date(successor_end)} (rotation: the old certificate of {english} {subject}, sha256 "
                f"{pki.fingerprint(cert)[:16]}, is trusted until {_local(cert.not_valid_after_utc)}, its successor "
                f"until {_local(successor_end)})")))
    return notices


class ExpiryWatch:
    """Logs :func:`expiry_notices` at start-up and then every ``interval`` (a day) until stopped.

    ``wait(seconds) -> bool`` (default: the stop event's wait) is how the watch
    sleeps; it returns True to stop. Tests hand in one that moves a fake clock.
    """

    def __init__(self, keyring: Keyring, clock: Clock, *, within: dt.timedelta,
                 extra: list[CertificateExpiry] | tuple[CertificateExpiry, ...] = (),
                 interval: dt.timedelta = CHECK_INTERVAL, wait: Callable[[float], bool] | None = None,
                 logger: logging.Logger = log) -> None:
        self.keyring, self.clock, self.within, self.interval = keyring, clock, within, interval
        self.extra = tuple(extra)
        self.stopped = threading.Event()
        self._wait = wait or self.stopped.wait
        self._log = logger
        self.thread: threading.Thread | None = None

    def check(self) -> list[Notice]:
        notices = expiry_notices(self.keyring, self.clock.now(), self.within, self.extra)
        for notice in notices:
            self._log.log(notice.level, "%s", notice.message)
        return notices

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.check()
            except Exception:  # a watch must never stop the node; say why it could not look
                self._log.exception("certificate expiry check failed")
            if self._wait(self.interval.total_seconds()):
                break

    def start(self) -> "ExpiryWatch":
        """Check now (in the calling thread, so start-up warnings come before the node serves), then daily."""
        self.check()

        def later() -> None:
            if not self._wait(self.interval.total_seconds()):
                self.run()

        self.thread = threading.Thread(target=later, name="certificate-expiry", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


def watch(config: Config, keyring: Keyring, clock: Clock) -> ExpiryWatch:
    """The watch of a running node (``gateway serve``): its keyring and its HTTPS certificate."""
    return ExpiryWatch(keyring, clock, within=config.expiry_warning, extra=_tls_expiries(config)).start()


# ------------------------------------------------------------------------------ gateway pki rotate

@dataclass(frozen=True, kw_only=True)
class Rotated:
    subject: str                                 # "node <id>" or "organisation <id>"
    certificate_file: Path
    key_file: Path
    old_key_file: Path | None                    # None when only announced (the key did not change)
    certificates: tuple[x509.Certificate, ...]   # what the certificate file holds now, newest first
    published: bool | None                       # the authority's kept snapshot lists the new one (None: no authority)


def _published(config: Config, cert: x509.Certificate, clock: Clock) -> bool | None:
    """Whether the kept directory snapshot already lists ``cert`` (so the other nodes trust it)."""
    path = directory_sync.snapshot_path(config)
    if not config.authority_node:
        return None
    if not path.exists():
        return False
    snap = directory_sync.verify_snapshot(path.read_bytes(), config, clock.now())
    wanted = pki.fingerprint(cert)
    for pem in [n.certificate_pem for n in snap.nodes] + [o.certificate_pem for o in snap.organizations]:
        if any(pki.fingerprint(c) == wanted for c in pki.load_certificates(pem)):
            return True
    return False


def rotate_own(config: Config, *, certificate: bytes, clock: Clock, key: bytes | None = None, org_id: str = "",
               force: bool = False) -> Rotated:
    """Switch this node (or its hosted organisation ``org_id``) to a new key and certificate.

    The new certificate is added to the file the configuration names (the old
    one stays there, trusted until its notAfter; expired ones are dropped), the
    key file is replaced by the new key (the old key is kept as ``<key>.old``).
    Everything is checked as the node will load it before a file changes.
    Unless ``force``, the directory snapshot kept from the authority must
    already list the new certificate: otherwise the other nodes would refuse
    what this node signs (``4004``) until they sync.

    Without ``key`` (``--announce``) only the certificate is added and the node
    keeps signing with its current key: what the directory authority itself does
    first, so that its snapshot publishes the successor before it switches.
    """
    config = files.ensure_development_pki(config, clock)
    if org_id:
        org = config.directory.get(org_id)
        if org is None or not org.hosted:
            raise ConfigError(f"organisation {org_id} is not hosted on this node")
        if not (org.certificate and org.key):
            raise ConfigError(f"organisation {org_id} signs with the node's key; give it certificate and key first")
        label, cert_file, key_file = f"organisation {org_id}", org.certificate, org.key
    else:
        label, cert_file, key_file = f"node {config.node_id}", config.node_certificate, config.node_key
    new_certs = pki.load_certificates(certificate)
    for cert in new_certs:
        named = pki.organization_of(cert) if org_id else pki.node_of(cert)
        if named and named != (org_id or config.node_id):
            raise ConfigError(f"{label}: the new certificate names {named}")
    current = pki.load_certificates(files.read(cert_file, f"certificate of {label}"))
    cert_path, key_path = Path(cert_file), Path(key_file)
    old_key = key_path.with_name(key_path.name + ".old")
    staged_cert, staged_key = cert_path.with_name(cert_path.name + ".next"), key_path.with_name(key_path.name + ".next")
    if key is None:
        bundle = keyringmod.rotation_bundle(current, new_certs, clock.now())
        published = None
    else:
        new_key = pki.load_private_key(key)
        mine = [c for c in new_certs if keyringmod.key_matches(new_key, c)]
        if not mine:
            raise ConfigError(f"{label}: the new key does not belong to the new certificate")
        published = _published(config, mine[0], clock)
        if published is False and not force:
            raise ConfigError(f"{label}: the directory snapshot of {config.authority_node} does not list the new "
                              "certificate yet, so the other nodes would refuse what you sign with it. Ask the "
                              "authority's operator to add it (gateway directory add-node/add-org --rotate), run "
                              "`gateway directory sync`, then rotate (or --force)")
        held = {pki.fingerprint(c) for c in current}
        if all(pki.fingerprint(c) in held for c in new_certs):   # announced before: only the key switches
            bundle = keyringmod.rotation_bundle([], current, clock.now())
        else:
            bundle = keyringmod.rotation_bundle(current, new_certs, clock.now())
    try:
        staged_cert.write_bytes(b"".join(pki.pem_certificate(c) for c in bundle))
        if key is None:
            files.load_keyring(_swap(config, org_id, str(staged_cert), key_file), clock)
        else:
            _write_private(staged_key, pki.pem_private_key(new_key))
            files.load_keyring(_swap(config, org_id, str(staged_cert), str(staged_key)), clock)
            _write_private(old_key, key_path.read_bytes())
            os.replace(staged_key, key_path)
        os.replace(staged_cert, cert_path)
    finally:
        staged_cert.unlink(missing_ok=True)
        staged_key.unlink(missing_ok=True)
    return Rotated(subject=label, certificate_file=cert_path, key_file=key_path,
                   old_key_file=old_key if key is not None else None, certificates=bundle, published=published)


def _write_private(path: Path, data: bytes) -> None:
    """A key file, readable by its owner only from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _swap(config: Config, org_id: str, cert_file: str, key_file: str) -> Config:
    if not org_id:
        return replace(config, node_certificate=cert_file, node_key=key_file)
    orgs = [replace(o, certificate=cert_file, key=key_file) if o.id == org_id else o
            for o in config.directory.organizations.values()]
    return replace(config, directory=Directory.build(orgs, default_id=config.directory.default_id,
                                                     nodes=config.directory.nodes.values()))
