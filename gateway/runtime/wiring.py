"""The composition root: the only module that names concrete adapters."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from dataclasses import dataclass

from gateway.adapters.clock import SystemClock, new_process_id
from gateway.adapters.http.wsgi import NodeApp
from gateway.adapters.peer import PeerClient
from gateway.config import OUTBOUND_STATUS_MAX, Config
from gateway.core.errors import ConfigError, StoreError
from gateway.core.network.retry import RetryPolicy
from gateway.core.trust import pki
from gateway.core.trust.keyring import AgencyAuth, Keyring
from gateway.core.trust.signing import VerifyPolicy
from gateway.operations.agency import Agency, Policy
from gateway.operations.delivery import Worker
from gateway.operations.relay import Relay, RelayPolicy
from gateway.ports import Clock, IdFactory
from gateway.runtime import directory_sync, files
from gateway.store import Store

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






def agency_auth(config: Config, keyring: Keyring) -> AgencyAuth:
    client_anchors: tuple = ()
    if config.tls_client_ca:
        client_anchors = tuple(pki.load_certificates(files.read(config.tls_client_ca, "tls.client_ca")))
    return AgencyAuth(mode=config.agency_auth,
                      open_networks=tuple(ipaddress.ip_network(n) for n in config.open_networks),
                      password_hashes={o.id: o.password_hash for o in config.directory.hosted() if o.password_hash},
                      client_anchors=client_anchors)


def build(config: Config, *, store: Store | None = None, clock: Clock | None = None,
          new_id: IdFactory = new_process_id, migrate: bool = True) -> Node:
    """Wire a node from its configuration. The store is migrated unless told otherwise."""
    clock = clock or SystemClock()
    config = files.ensure_development_pki(config, clock)
    config = directory_sync.with_snapshot(config, clock)
    keyring = files.load_keyring(config, clock)
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
    peer = peer_client(config)
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
                  directory_snapshot=directory_sync.snapshot_publisher(config, keyring, clock) if config.publish_directory else None)
    return Node(config=config, store=store, agency=agency, relay=relay, worker=worker, wsgi=app)


SNAPSHOT_FILE = "directory-snapshot.xml"





def _peer_ca_bundle(config: Config) -> str:
    """One PEM file of the trust anchors, to verify peers' TLS with (never the public CA bundle)."""
    if len(config.trust_anchors) == 1:
        return config.trust_anchors[0]
    bundle = Path(config.data_dir) / "peer-ca-bundle.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(files.read(path, "trust anchor") for path in config.trust_anchors))
    return str(bundle)


def peer_client(config: Config, *, client_certificate: bool = True) -> PeerClient:
    """The zeep client to other nodes, verifying their TLS against our trust anchors only."""
    return PeerClient(timeout=config.delivery_timeout, verify=files.peer_ca_bundle(config),
                      client_cert=(config.node_certificate, config.node_key) if client_certificate else None)
