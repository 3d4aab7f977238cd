"""The directory authority's signed snapshot: fetched, verified, kept; and published when we are the authority."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import replace
from pathlib import Path

from gateway.config import Config
from gateway.core.errors import ConfigError, RemoteError
from gateway.core.network import snapshot
from gateway.core.trust import pki
from gateway.core.trust.keyring import Keyring
from gateway.pipeline import outbound
from gateway.ports import Clock, Peer
from gateway.runtime.files import read

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "directory-snapshot.xml"


SNAPSHOT_CACHE = dt.timedelta(minutes=1)



def snapshot_path(config: Config) -> Path:
    return Path(config.data_dir) / SNAPSHOT_FILE


def with_snapshot(config: Config, clock: Clock) -> Config:
    """Merge the directory authority's snapshot, verified again now, under the configured directory."""
    path = snapshot_path(config)
    if not config.authority_node or not path.exists():
        return config
    certificate = pki.load_certificate(read(config.authority_certificate, "directory_authority.certificate"))
    try:
        snap = snapshot.verify(path.read_bytes(), authority=config.authority_node, certificate=certificate,
                               now=clock.now())
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
    certificate = pki.load_certificate(read(config.authority_certificate, "directory_authority.certificate"))
    path = snapshot_path(config)
    current = 0
    if path.exists():
        try:
            current = snapshot.verify(path.read_bytes(), authority=config.authority_node, certificate=certificate,
                                      now=clock.now()).serial
        except RemoteError:
            current = 0
    if peer is None:
        from gateway.runtime.wiring import peer_client  # the composition root names the zeep adapter
        peer = peer_client(config, client_certificate=False)
    data = peer.directory_snapshot(config.authority_url)
    snap = snapshot.verify(data, authority=config.authority_node, certificate=certificate, now=clock.now(),
                           newer_than=current)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a half-written snapshot is never used
    return snap

