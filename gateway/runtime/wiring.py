"""The composition root: the only module that names concrete adapters."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from dataclasses import dataclass, replace

from cryptography import x509

from gateway import __version__, telemetry
from gateway.adapters.clock import SystemClock, new_process_id
from gateway.adapters.http.console import ConsoleApp
from gateway.adapters.http.wsgi import NodeApp
from gateway.store import blobs
from gateway.adapters.peer import PeerClient
from gateway.adapters.tsa import TimestampClient, verify_token
from gateway.config import OUTBOUND_STATUS_MAX, Config
from gateway.core.errors import ConfigError
from gateway.core.network.retry import RetryPolicy
from gateway.core.trust import pki
from gateway.core.trust.keyring import Keyring
from gateway.core.trust.tenants import AgencyAuth
from gateway.core.trust.signing import VerifyPolicy
from gateway.operations.agency import Agency, Policy
from gateway.operations.delivery import Worker
from gateway.operations.relay import Relay, RelayPolicy
from gateway.pipeline.agency import AgencyContext
from gateway.pipeline.node import NodeContext
from gateway.ports import Clock, IdFactory, Peer
from gateway.runtime import directory_sync, files, worker as worker_threads
from gateway.runtime.readiness import Readiness
from gateway.store import Store
from gateway.telemetry import CertificateExpiry, Metrics

log = logging.getLogger(__name__)
LEASE_MARGIN = dt.timedelta(seconds=10)
NODE_BODY_FACTOR = 2  # a node message carries a letter base64-encoded once more (4/3), plus the envelope
BLOB_FOLDER = "blobs"   # in data_dir: spool files of large bodies while they are read (store/blobs.py)


def open_store(url: str) -> Store:
    """A store for ``url``: ``sqlite:PATH``, ``sqlite::memory:``, ``memory:`` (the in-package fake) or ``postgresql://...``."""
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore
        return SqliteStore(url[len("sqlite:"):] or ":memory:")
    if url == "memory:":
        from gateway.store.memory import MemoryStore
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore
        return PostgresStore(url)
    raise ConfigError(f"unsupported database URL {url!r}")


@dataclass
class Node:
    """A running node's parts, wired."""

    config: Config
    store: Store
    keyring: Keyring
    agency_ctx: AgencyContext
    node_ctx: NodeContext
    agency: Agency
    relay: Relay
    worker: Worker
    wsgi: NodeApp
    metrics: Metrics | None = None
    readiness: Readiness | None = None

    def start_worker(self, name: str = "delivery") -> tuple[list[threading.Thread], threading.Event]:
        """Run ``delivery.worker_threads`` delivery threads until the returned event is set (/readyz watches them)."""
        threads, stop = worker_threads.start(self.worker, self.store, threads=self.config.worker_threads,
                                             poll=self.config.worker_poll, name=name)
        if self.readiness is not None:
            self.readiness.watch_workers(threads, stop)
        return threads, stop

    def close(self) -> None:
        self.store.close()


def agency_auth(config: Config, keyring: Keyring) -> AgencyAuth:
    client_anchors: tuple = ()
    if config.tls_client_ca:
        client_anchors = tuple(pki.load_certificates(files.read(config.tls_client_ca, "tls.client_ca")))
    return AgencyAuth(mode=config.agency_auth,
                      open_networks=tuple(ipaddress.ip_network(n) for n in config.open_networks),
                      password_hashes={o.id: o.password_hash for o in config.directory.hosted() if o.password_hash},
                      client_anchors=client_anchors)


def build(config: Config, *, store: Store | None = None, clock: Clock | None = None,
          new_id: IdFactory = new_process_id, migrate: bool = True, peer: Peer | None = None,
          metrics: Metrics | None = None) -> Node:
    """Wire a node from its configuration. The store is migrated unless told otherwise.

    ``store``, ``clock``, ``peer`` and ``metrics`` default to the real adapters;
    tests hand in fakes (``store.memory``, ``testing.clock``, ``testing.peer``).
    ``metrics`` defaults to a new registry of this node's own, in prometheus_client's
    multi-process mode when ``metrics.multiprocess_dir`` is set.
    """
    clock = clock or SystemClock()
    config = files.ensure_development_pki(config, clock)
    config = directory_sync.with_snapshot(config, clock)
    keyring = files.load_keyring(config, clock)
    store = store or open_store(config.database_url)
    metrics = metrics or Metrics(multiprocess_dir=config.metrics_multiprocess_dir or None)
    if migrate:
        applied = store.migrate()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    verify = VerifyPolicy.with_legacy() if config.legacy_signatures else VerifyPolicy.modern()
    retry = RetryPolicy(window=config.retry_window, first=config.retry_first, maximum=config.retry_max)
    relay = Relay(store=store, directory=config.directory, keyring=keyring, clock=clock, new_id=new_id,
                  node_id=config.node_id, policy=RelayPolicy(retry=retry, encrypt_secret=config.encrypt_secret), metrics=metrics)
    worker = Worker(store=store, directory=config.directory, keyring=keyring, clock=clock,
                    peer=peer or peer_client(config), retry=retry, node_id=config.node_id,
                    lease=config.delivery_timeout * 2 + LEASE_MARGIN, metrics=metrics, relay=relay)
    agency = Agency(store=store, directory=config.directory, clock=clock, new_id=new_id, relay=relay,
                    policy=Policy(allow_top_secret=config.allow_top_secret,
                                  visibility_timeout=config.visibility_timeout,
                                  outbound_status_window=config.outbound_status_window,
                                  outbound_status_max=OUTBOUND_STATUS_MAX))
    agency_ctx = AgencyContext(directory=config.directory, keyring=keyring, limits=config.limits, verify=verify,
                               allow_top_secret=config.allow_top_secret)
    node_ctx = NodeContext(node_id=config.node_id, directory=config.directory, keyring=keyring,
                           limits=replace(config.limits, max_bytes=config.limits.max_bytes * NODE_BODY_FACTOR),
                           verify=verify, clock_skew=config.clock_skew, allow_top_secret=config.allow_top_secret)

    readiness = Readiness(config=config, store=store, clock=clock)
    certificates = certificate_expiry(config, keyring)

    def static_gauges() -> list:
        return [telemetry.certificate_gauge(certificates),
                telemetry.gauge("gateway_build_info", "the gateway's version and this node's id", ("version", "node"),
                                {(__version__, config.node_id): 1})]

    publisher = directory_sync.snapshot_publisher(config, keyring, clock) if config.publish_directory else None
    app = NodeApp(agency=agency, relay=relay, directory=config.directory, auth=agency_auth(config, keyring),
                  agency_ctx=agency_ctx, node_ctx=node_ctx, agency_url=config.agency_url, node_url=config.node_url,
                  readiness=readiness, metrics=metrics, directory_snapshot=publisher,
                  metrics_networks=config.metrics_networks, tls_proxy=config.tls_proxy, static_gauges=static_gauges,
                  console=ConsoleApp(store=store, directory=config.directory, clock=clock,
                                     certificates=lambda: certificates, retry_window=config.retry_window,
                                     unregistered_days=config.unregistered_working_days,
                                     tls_proxy=config.tls_proxy, relay=relay, keyring=keyring,
                                     node_id=config.node_id),
                  new_sink=lambda: blobs.Spool(config.data_dir / BLOB_FOLDER))
    return Node(config=config, store=store, keyring=keyring, agency_ctx=agency_ctx, node_ctx=node_ctx, agency=agency, relay=relay, worker=worker, wsgi=app,
                metrics=metrics, readiness=readiness)


def certificate_expiry(config: Config, keyring: Keyring) -> list[CertificateExpiry]:
    """The configured certificates and when they expire: this node's, its peers', the hosted organisations',
    the trust anchors' (gateway_certificate_expiry_timestamp_seconds)."""
    found = []

    def add(kind: str, ident: str, cert) -> None:
        found.append(CertificateExpiry(kind=kind, id=ident, subject=cert.subject.rfc4514_string(),
                                       not_after=cert.not_valid_after_utc.timestamp()))

    for node_id, cert in sorted(keyring.node_certificates.items()):
        add("node" if node_id == config.node_id else "peer", node_id, cert)
    for org in config.directory.hosted():
        if org.id in keyring.org_certificates:
            add("organization", org.id, keyring.org_certificates[org.id])
    for cert in keyring.anchors:
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        add("anchor", str(names[0].value) if names else cert.subject.rfc4514_string(), cert)
    return found


def peer_client(config: Config, *, client_certificate: bool = True) -> PeerClient:
    """The zeep client to other nodes, verifying their TLS against our trust anchors only."""
    return PeerClient(timeout=config.delivery_timeout, verify=files.peer_ca_bundle(config),
                      client_cert=(config.node_certificate, config.node_key) if client_certificate else None)


def tsa_stamper(cfg: Config):
    """The TSA's ``stamp(data) -> token`` when one is configured, else None."""
    if not cfg.tsa_url:
        return None
    return TimestampClient(cfg.tsa_url, certificate=cfg.tsa_certificate).stamp


def tsa_token_checker(cfg: Config):
    """``check(token, data) -> genTime`` against the pinned TSA certificate (and its CA chain), or None."""
    if not cfg.tsa_certificate:
        return None
    return lambda token, data: verify_token(token, data, cfg.tsa_certificate)
