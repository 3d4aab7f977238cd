"""The composition root: the only module that names concrete adapters."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from lxml import etree

from gateway import pki, signing, snapshot
from gateway.agency import Agency, Policy
from gateway.directory import Directory
from gateway.peer import PeerClient
from gateway.relay import Relay, RelayPolicy
from gateway.retry import RetryPolicy
from gateway.signing import VerifyPolicy
from gateway.trust import AgencyAuth, Keyring, build_keyring
from gateway.worker import Worker
from gateway.clock import Clock, IdFactory, SystemClock, new_process_id
from gateway.config import OUTBOUND_STATUS_MAX, Config
from gateway.errors import ConfigError, RemoteError, StoreError
from gateway.store import Store
from gateway.wsgi import NodeApp

log = logging.getLogger(__name__)
LEASE_MARGIN = dt.timedelta(seconds=10)


def open_store(url: str) -> Store:
    """A store for ``url``: ``sqlite:PATH``, ``sqlite::memory:`` or ``postgresql://...``."""
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore
        return SqliteStore(url[len("sqlite:"):] or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore
        return PostgresStore(url)
    raise ConfigError(f"unsupported database URL {url!r}")


@dataclass
class Node:
    """A running node's parts, wired."""

    config: Config
    store: Store
    agency: Agency
    relay: Relay
    worker: Worker
    wsgi: NodeApp

    def start_worker(self, name: str = "delivery") -> tuple[list[threading.Thread], threading.Event]:
        """Run ``delivery.worker_threads`` delivery threads until the returned event is set."""
        stop = threading.Event()

        def wait(seconds: float) -> None:
            if not stop.is_set():
                self.store.wait_for_work(seconds)

        threads = [threading.Thread(target=self.worker.run_forever, args=(stop, wait, self.config.worker_poll),
                                    name=f"{name}-{i}", daemon=True) for i in range(self.config.worker_threads)]
        for thread in threads:
            thread.start()
        return threads, stop

    def close(self) -> None:
        self.store.close()


def ensure_development_pki(config: Config, clock: Clock) -> Config:
    """A node configured without keys gets a development PKI in data_dir/pki (made once, then reused).

    Production configurations name their certificates; this keeps `gateway serve`
    with no configuration working, with every letter signed and verified.
    """
    if config.node_certificate:
        return config
    folder = Path(config.data_dir) / "pki"
    hosted = config.directory.hosted()
    wanted = ["ca.pem", "node.pem", "node.key", *(f"orgs/{o.id}.pem" for o in hosted),
              *(f"orgs/{o.id}.key" for o in hosted)]
    if not all((folder / name).exists() for name in wanted):
        if (folder / "ca.pem").exists() and (folder / "ca.key").exists() and (folder / "node.pem").exists():
            files = {}
            for org in hosted:
                if not (folder / f"orgs/{org.id}.pem").exists():
                    files.update(pki.issue_files((folder / "ca.pem").read_bytes(), (folder / "ca.key").read_bytes(),
                                                 org.id, org.th_name, algorithm="ecdsa", now=clock.now()))
        else:
            files = pki.development_set(node_id=config.node_id, hosts=[config.host, "localhost", "127.0.0.1"],
                                        organizations=[(o.id, o.th_name) for o in hosted], algorithm="ecdsa",
                                        now=clock.now())
        write_files(folder, files)
        log.info("development PKI written to %s", folder)
    directory = Directory.build(
        (replace(o, certificate=o.certificate or str(folder / f"orgs/{o.id}.pem"),
                 key=o.key or str(folder / f"orgs/{o.id}.key")) if o.hosted else o
         for o in config.directory.organizations.values()),
        default_id=config.directory.default_id)
    return replace(config, node_certificate=str(folder / "node.pem"), node_key=str(folder / "node.key"),
                   trust_anchors=config.trust_anchors or (str(folder / "ca.pem"),), directory=directory)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write key and certificate files; private keys and PKCS#12 bundles readable by the owner only."""
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.endswith((".key", ".p12")):
            path.chmod(0o600)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def load_keyring(config: Config, clock: Clock) -> Keyring:
    """Read every certificate and key the configuration names, once, and check them."""
    anchors = [c for path in config.trust_anchors for c in pki.load_certificates(_read(path, "trust anchor"))]
    org_certs, org_keys, org_node = {}, {}, {}
    for org in config.directory.organizations.values():
        if org.certificate:
            org_certs[org.id] = pki.load_certificate(_read(org.certificate, f"certificate of {org.id}"))
        if org.key:
            org_keys[org.id] = pki.load_private_key(_read(org.key, f"key of {org.id}"))
        org_node[org.id] = org.node
    node_certs = {}
    for peer in config.directory.nodes.values():
        if not peer.certificate:
            raise ConfigError(f"node {peer.id} needs a certificate: its messages and receipts are verified with it")
        node_certs[peer.id] = pki.load_certificate(_read(peer.certificate, f"certificate of node {peer.id}"))
    return build_keyring(
        anchors=anchors, node_id=config.node_id,
        node_key=pki.load_private_key(_read(config.node_key, "node.key")),
        node_certificate=pki.load_certificate(_read(config.node_certificate, "node.certificate")),
        org_certificates=org_certs, org_keys=org_keys, org_node=org_node, node_certificates=node_certs,
        now=clock.now())


def agency_auth(config: Config, keyring: Keyring) -> AgencyAuth:
    client_anchors: tuple = ()
    if config.tls_client_ca:
        client_anchors = tuple(pki.load_certificates(_read(config.tls_client_ca, "tls.client_ca")))
    return AgencyAuth(mode=config.agency_auth,
                      open_networks=tuple(ipaddress.ip_network(n) for n in config.open_networks),
                      password_hashes={o.id: o.password_hash for o in config.directory.hosted() if o.password_hash},
                      client_anchors=client_anchors)


def build(config: Config, *, store: Store | None = None, clock: Clock | None = None,
          new_id: IdFactory = new_process_id, migrate: bool = True) -> Node:
    """Wire a node from its configuration. The store is migrated unless told otherwise."""
    clock = clock or SystemClock()
    config = ensure_development_pki(config, clock)
    config = with_snapshot(config, clock)
    keyring = load_keyring(config, clock)
    store = store or open_store(config.database_url)
    if migrate:
        applied = store.migrate()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    verify = VerifyPolicy.with_legacy() if config.legacy_signatures else VerifyPolicy.modern()
    retry = RetryPolicy(window=config.retry_window, first=config.retry_first, maximum=config.retry_max)
    relay = Relay(store=store, directory=config.directory, keyring=keyring, clock=clock, new_id=new_id,
                  node_id=config.node_id, policy=RelayPolicy(retry=retry, clock_skew=config.clock_skew, verify=verify,
                                                             allow_top_secret=config.allow_top_secret))
    peer = PeerClient(timeout=config.delivery_timeout, verify=_peer_ca_bundle(config),
                      client_cert=(config.node_certificate, config.node_key))
    worker = Worker(store=store, directory=config.directory, keyring=keyring, clock=clock, peer=peer, retry=retry,
                    node_id=config.node_id, lease=config.delivery_timeout * 2 + LEASE_MARGIN)
    agency = Agency(store=store, directory=config.directory, keyring=keyring, clock=clock, new_id=new_id, relay=relay,
                    policy=Policy(allow_top_secret=config.allow_top_secret,
                                  visibility_timeout=config.visibility_timeout,
                                  outbound_status_window=config.outbound_status_window,
                                  outbound_status_max=OUTBOUND_STATUS_MAX, verify=verify))

    def health() -> bool:
        try:
            store.schema_version()
            return True
        except StoreError:
            return False

    app = NodeApp(agency=agency, directory=config.directory, limits=config.limits,
                  agency_url=config.agency_url, health=health, auth=agency_auth(config, keyring), relay=relay,
                  node_url=config.node_url,
                  directory_snapshot=snapshot_publisher(config, keyring, clock) if config.publish_directory else None)
    return Node(config=config, store=store, agency=agency, relay=relay, worker=worker, wsgi=app)


SNAPSHOT_FILE = "directory-snapshot.xml"
SNAPSHOT_CACHE = dt.timedelta(minutes=1)


def snapshot_path(config: Config) -> Path:
    return Path(config.data_dir) / SNAPSHOT_FILE


def with_snapshot(config: Config, clock: Clock) -> Config:
    """Merge the directory authority's snapshot, verified again now, under the configured directory."""
    path = snapshot_path(config)
    if not config.authority_node or not path.exists():
        return config
    certificate = pki.load_certificate(_read(config.authority_certificate, "directory_authority.certificate"))
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
    node_pem = _read(config.node_certificate, "node.certificate")

    def publish() -> bytes:
        now = clock.now()
        with lock:
            if cache and now - cache["at"] < SNAPSHOT_CACHE:  # type: ignore[operator]
                return cache["data"]  # type: ignore[return-value]
            snap = snapshot.from_directory(config.directory, authority=config.node_id, authority_url=config.node_url,
                                           authority_pem=node_pem, read_pem=lambda p: _read(p, "certificate"),
                                           now=now)
            data = etree.tostring(signing.sign_document(snapshot.build(snap), keyring.node_signer), encoding="utf-8")
            cache.update(at=now, data=data)
            return data

    return publish


def sync_directory(config: Config, clock: Clock) -> "snapshot.Snapshot":
    """Fetch the authority's snapshot, verify it, keep it if newer (``gateway directory sync``)."""
    if not config.authority_node:
        raise ConfigError("no [directory_authority] node is configured")
    certificate = pki.load_certificate(_read(config.authority_certificate, "directory_authority.certificate"))
    path = snapshot_path(config)
    current = 0
    if path.exists():
        try:
            current = snapshot.verify(path.read_bytes(), authority=config.authority_node, certificate=certificate,
                                      now=clock.now()).serial
        except RemoteError:
            current = 0
    peer = PeerClient(timeout=config.delivery_timeout, verify=_peer_ca_bundle(config))
    data = peer.directory_snapshot(config.authority_url)
    snap = snapshot.verify(data, authority=config.authority_node, certificate=certificate, now=clock.now(),
                           newer_than=current)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a half-written snapshot is never used
    return snap


def _peer_ca_bundle(config: Config) -> str:
    """One PEM file of the trust anchors, to verify peers' TLS with (never the public CA bundle)."""
    if len(config.trust_anchors) == 1:
        return config.trust_anchors[0]
    bundle = Path(config.data_dir) / "peer-ca-bundle.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(_read(path, "trust anchor") for path in config.trust_anchors))
    return str(bundle)
