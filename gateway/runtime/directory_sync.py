"""The directory authority's signed snapshot: fetched, verified, kept; and published when we are the authority.

The authority publishes its own directory (its ``[[nodes]]`` and
``[[directory]]`` entries and its hosted organisations). Its operator adds a
joining node and its organisations with ``gateway directory add-node`` and
``add-org`` (:func:`add_node`, :func:`add_organization`): the certificate is
checked against the authority's trust anchors, copied next to the
configuration, and an entry is appended to the configuration file, which is
checked whole (it parses, and every certificate and key it names loads) before
it replaces the old one. ``--rotate`` adds a node's or organisation's next
certificate to the file of its current one instead (docs/joining.md). The
authority publishes the new entries from its next start.

The pinned ``directory_authority.certificate`` may hold two certificates while
the authority rotates its own: a snapshot signed with either verifies.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.config import Config, from_toml
from gateway.core.errors import ConfigError, ErrorCode, RemoteError
from gateway.core.network import snapshot
from gateway.core.network.directory import Directory
from gateway.core.trust import pki
from gateway.core.time import thai_datetime
from gateway.core.trust.keyring import Keyring, rotation_bundle
from gateway.core.xml.contract import AGENCY_PATH, NODE_PATH
from gateway.pipeline import outbound
from gateway.ports import Clock, Peer
from gateway.runtime import files
from gateway.runtime.files import read

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "directory-snapshot.xml"
SNAPSHOT_CACHE = dt.timedelta(minutes=1)
CERTS_DIR = "pki"        # where add-node/add-org copy certificates, relative to the configuration file


def snapshot_path(config: Config) -> Path:
    return Path(config.data_dir) / SNAPSHOT_FILE


def _pinned(config: Config) -> list[x509.Certificate]:
    return pki.load_certificates(read(config.authority_certificate, "directory_authority.certificate"))


def verify_snapshot(data: bytes, config: Config, now: dt.datetime, newer_than: int = 0) -> "snapshot.Snapshot":
    """Verify a snapshot against the pinned certificate(s) of the authority; then that it is newer."""
    error: RemoteError | None = None
    for certificate in _pinned(config):
        try:
            snap = snapshot.verify(data, authority=config.authority_node, certificate=certificate, now=now)
            break
        except RemoteError as exc:
            error = exc
    else:
        assert error is not None
        raise error
    if snap.serial <= newer_than:
        raise RemoteError(ErrorCode.REPLAY, f"snapshot serial {snap.serial} is not newer than {newer_than}")
    return snap


def with_snapshot(config: Config, clock: Clock) -> Config:
    """Merge the directory authority's snapshot, verified again now, under the configured directory."""
    path = snapshot_path(config)
    if not config.authority_node or not path.exists():
        return config
    try:
        snap = verify_snapshot(path.read_bytes(), config, clock.now())
    except RemoteError as exc:
        raise ConfigError(f"the directory snapshot {path} does not verify: {exc}") from exc
    folder = Path(config.data_dir) / "directory-certs"

    def write_pem(name: str, data: bytes) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.pem"
        target.write_bytes(data)
        return str(target)

    merged = snapshot.merge(config.directory, snap, node_id=config.node_id, write_pem=write_pem)
    log.info("directory snapshot %s of %s: %d organisations", snap.serial, snap.authority, len(snap.organizations))
    return replace(config, directory=merged)


def snapshot_publisher(config: Config, keyring: Keyring, clock: Clock):
    """The signed snapshot this node publishes, rebuilt at most once a minute."""
    cache: dict[str, object] = {}
    lock = threading.Lock()
    node_pem = read(config.node_certificate, "node.certificate")

    def publish() -> bytes:
        now = clock.now()
        with lock:
            if cache and now - cache["at"] < SNAPSHOT_CACHE:  # type: ignore[operator]
                return cache["data"]  # type: ignore[return-value]
            snap = snapshot.from_directory(config.directory, authority=config.node_id, authority_url=config.node_url,
                                           authority_pem=node_pem, read_pem=lambda p: read(p, "certificate"),
                                           now=now)
            data = outbound.directory_snapshot(snap, keyring.node_signer)
            cache.update(at=now, data=data)
            return data

    return publish


def sync_directory(config: Config, clock: Clock, peer: Peer | None = None) -> "snapshot.Snapshot":
    """Fetch the authority's snapshot, verify it, keep it if newer (``gateway directory sync``)."""
    if not config.authority_node:
        raise ConfigError("no [directory_authority] node is configured")
    path = snapshot_path(config)
    current = 0
    if path.exists():
        try:
            current = verify_snapshot(path.read_bytes(), config, clock.now()).serial
        except RemoteError:
            current = 0
    if peer is None:
        from gateway.runtime.wiring import peer_client  # the composition root names the zeep adapter
        peer = peer_client(config, client_certificate=False)
    data = peer.directory_snapshot(config.authority_url)
    snap = verify_snapshot(data, config, clock.now(), newer_than=current)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a half-written snapshot is never used
    return snap



# ------------------------------------------------------------------ the authority's operator: add-node, add-org

@dataclass(frozen=True, kw_only=True)
class Added:
    """What ``add_node``/``add_organization`` did: the entry appended (or the certificate file rotated)."""

    kind: str                                   # "node" or "organization"
    id: str
    certificate_file: Path                      # the file the configuration names
    certificates: tuple[x509.Certificate, ...]  # what that file holds now, newest first
    entry: str                                  # the TOML appended ('' for a rotation)
    rotated: bool


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; Thai stays as it is)."""
    return json.dumps(value, ensure_ascii=False)


def _load(config_path: Path) -> tuple[str, Config]:
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the authority's configuration {config_path}: {exc}") from exc
    return text, from_toml(text, base_dir=config_path.resolve().parent)


def _anchors(config: Config, clock: Clock) -> list[x509.Certificate]:
    config = files.ensure_development_pki(config, clock)
    return [c for path in config.trust_anchors for c in pki.load_certificates(read(path, "trust anchor"))]


def _checked(certificate: bytes, config: Config, clock: Clock, *, label: str, names) -> list[x509.Certificate]:
    """The certificates given, each issued by a trust anchor of the authority, valid now, and naming ``label``."""
    certs = pki.load_certificates(certificate)
    anchors = _anchors(config, clock)
    for cert in certs:
        if not pki.issued_by(cert, anchors, clock.now()):
            raise ConfigError(f"{label}: certificate {pki.describe(cert)} is not valid now or not issued by the "
                              f"authority's trust anchors (trust.anchors); sign its request with that CA")
        problem = names(cert)
        if problem:
            raise ConfigError(f"{label}: {problem}")
    return certs


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _validate(text: str, config_path: Path, clock: Clock) -> Config:
    """The whole configuration as the node will read it at its next start: it parses and every file loads."""
    config = from_toml(text, base_dir=config_path.resolve().parent)
    files.load_keyring(files.ensure_development_pki(config, clock), clock)
    return config


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _append(config_path: Path, text: str, entry: str, target: Path, certs: list[x509.Certificate],
            clock: Clock) -> None:
    """Copy the certificate to ``target``, then append ``entry``, checking the result before anything stays."""
    data = b"".join(pki.pem_certificate(c) for c in certs)
    if target.exists() and target.read_bytes() != data:
        raise ConfigError(f"{target} exists with other certificates; move it away or use --rotate")
    created = not target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    new_text = text + ("" if text.endswith("\n") else "\n") + entry
    try:
        _validate(new_text, config_path, clock)
    except ConfigError:
        if created:
            target.unlink()
        raise
    _write_atomic(config_path, new_text.encode("utf-8"))


def _rotate(config: Config, current_file: str, certs: list[x509.Certificate],
            clock: Clock, *, label: str, swap) -> tuple[Path, tuple[x509.Certificate, ...]]:
    """Add the next certificate(s) to the file of the current one; drop those already expired."""
    if not current_file:
        raise ConfigError(f"{label} has no certificate file to rotate; name one in the configuration")
    path = Path(current_file)
    try:
        bundle = rotation_bundle(pki.load_certificates(read(current_file, f"certificate of {label}")), certs,
                                 clock.now())
    except ConfigError as exc:
        raise ConfigError(f"{label}: {path}: {exc}") from exc
    staged = path.with_name(path.name + ".next")
    staged.write_bytes(b"".join(pki.pem_certificate(c) for c in bundle))
    try:
        files.load_keyring(files.ensure_development_pki(swap(config, str(staged)), clock), clock)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return path, bundle


def _stamp(clock: Clock, command: str) -> str:
    return f"\n# added by `gateway directory {command}` on {thai_datetime(clock.now())}\n"


def add_node(config_path: Path, *, node_id: str, url: str, certificate: bytes, clock: Clock,
             rotate: bool = False, certs_dir: str = CERTS_DIR) -> Added:
    """Add node ``node_id`` to the authority's ``[[nodes]]`` (or, with ``rotate``, its next certificate)."""
    text, config = _load(config_path)
    if node_id == config.node_id:
        raise ConfigError(f"{node_id} is this authority's own node: rotate it with `gateway pki rotate`")
    label = f"node {node_id}"

    def names(cert: x509.Certificate) -> str:
        named, org = pki.node_of(cert), pki.organization_of(cert)
        if named and named != node_id:
            return f"the certificate names node {named}"
        if not named and org:
            return f"the certificate names organisation {org}, not a node (use add-org)"
        return ""

    certs = _checked(certificate, config, clock, label=label, names=names)
    existing = config.directory.nodes.get(node_id)
    if rotate:
        if existing is None:
            raise ConfigError(f"{label} is not in [[nodes]] of {config_path}; add it first (without --rotate)")
        if url and url != existing.url:
            raise ConfigError(f"{label} is at {existing.url}; a rotation keeps the URL (edit it in {config_path})")

        def swap(cfg: Config, path: str) -> Config:
            nodes = [replace(p, certificate=path) if p.id == node_id else p for p in cfg.directory.nodes.values()]
            return replace(cfg, directory=Directory.build(cfg.directory.organizations.values(),
                                                          default_id=cfg.directory.default_id, nodes=nodes))

        path, bundle = _rotate(config, existing.certificate, certs, clock, label=label, swap=swap)
        return Added(kind="node", id=node_id, certificate_file=path, certificates=bundle, entry="", rotated=True)
    if existing is not None:
        raise ConfigError(f"{label} is already in [[nodes]] of {config_path}; to add its next certificate "
                          "(a rotation), use --rotate")
    if not url.startswith(("http://", "https://")) or not url.rstrip("/").endswith(NODE_PATH):
        raise ConfigError(f"{label}: --url must be its node port, http(s)://HOST:PORT{NODE_PATH}")
    base = config_path.resolve().parent
    target = base / certs_dir / "nodes" / f"{node_id}.pem"
    entry = (_stamp(clock, "add-node") + "[[nodes]]\n" + f"id = {_toml(node_id)}\n" + f"url = {_toml(url)}\n"
             + f"certificate = {_toml(_relative(target, base))}\n")
    _append(config_path, text, entry, target, certs, clock)
    return Added(kind="node", id=node_id, certificate_file=target, certificates=tuple(certs), entry=entry,
                 rotated=False)


def add_organization(config_path: Path, *, org_id: str, node: str, certificate: bytes, clock: Clock,
                     th_name: str = "", en_name: str = "", via: str = "", ecms_url: str = "",
                     rotate: bool = False, certs_dir: str = CERTS_DIR) -> Added:
    """Add organisation ``org_id``, hosted on ``node``, to the authority's ``[[directory]]`` (or rotate its
    certificate)."""
    text, config = _load(config_path)
    label = f"organisation {org_id}"

    def names(cert: x509.Certificate) -> str:
        named = pki.organization_of(cert)
        return "" if named == org_id else f"the certificate names {named or 'no organisation'} in serialNumber"

    existing = config.directory.get(org_id)
    if existing is not None and existing.hosted:
        raise ConfigError(f"{label} is hosted by the authority itself ([[organizations]]): rotate it there "
                          "(gateway pki rotate --org)")
    if rotate:
        if existing is None:
            raise ConfigError(f"{label} is not in [[directory]] of {config_path}; add it first (without --rotate)")
        certs = _checked(certificate, config, clock, label=label, names=names)

        def swap(cfg: Config, path: str) -> Config:
            orgs = [replace(o, certificate=path) if o.id == org_id else o for o in cfg.directory.organizations.values()]
            return replace(cfg, directory=Directory.build(orgs, default_id=cfg.directory.default_id,
                                                          nodes=cfg.directory.nodes.values()))

        path, bundle = _rotate(config, existing.certificate, certs, clock, label=label, swap=swap)
        return Added(kind="organization", id=org_id, certificate_file=path, certificates=bundle, entry="",
                     rotated=True)
    if existing is not None:
        raise ConfigError(f"{label} is already in [[directory]] of {config_path}; to add its next certificate "
                          "(a rotation), use --rotate")
    if node == config.node_id:
        raise ConfigError(f"{label}: organisations of the authority's own node go in [[organizations]]")
    home = config.directory.nodes.get(node)
    if home is None:
        raise ConfigError(f"{label}: node {node!r} is not in [[nodes]] of {config_path}; add it first "
                          "(gateway directory add-node)")
    if via and via not in config.directory.nodes:
        raise ConfigError(f"{label}: --via {via!r} is not in [[nodes]] of {config_path}")
    certs = _checked(certificate, config, clock, label=label, names=names)
    th_name = th_name.strip() or _organization_name(certs[0])
    if not th_name:
        raise ConfigError(f"{label}: give its Thai name (--th-name); the certificate names none (O)")
    ecms_url = ecms_url or home.url.rstrip("/").replace(NODE_PATH, f"{AGENCY_PATH}/{org_id}")
    base = config_path.resolve().parent
    target = base / certs_dir / "orgs" / f"{org_id}.pem"
    entry = (_stamp(clock, "add-org") + "[[directory]]\n" + f"id = {_toml(org_id)}\n"
             + f"th_name = {_toml(th_name)}\n" + (f"en_name = {_toml(en_name)}\n" if en_name else "")
             + f"ecms_url = {_toml(ecms_url)}\n" + f"node = {_toml(node)}\n"
             + (f"via = {_toml(via)}\n" if via else "") + f"certificate = {_toml(_relative(target, base))}\n")
    _append(config_path, text, entry, target, certs, clock)
    return Added(kind="organization", id=org_id, certificate_file=target, certificates=tuple(certs), entry=entry,
                 rotated=False)


def _organization_name(cert: x509.Certificate) -> str:
    try:
        values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    except ValueError:
        return ""
    return str(values[0].value) if values else ""
