"""Every file the node reads or writes: the development PKI, keys and certificates, the peer CA bundle."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from gateway.config import Config
from gateway.core.errors import ConfigError
from gateway.core.network.directory import Directory
from gateway.core.trust import pki
from gateway.core.trust.keyring import Keyring, build_keyring
from gateway.ports import Clock

log = logging.getLogger(__name__)


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
        default_id=config.directory.default_id, nodes=config.directory.nodes.values())
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


def read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def load_keyring(config: Config, clock: Clock) -> Keyring:
    """Read every certificate and key the configuration names, once, and check them."""
    anchors = [c for path in config.trust_anchors for c in pki.load_certificates(read(path, "trust anchor"))]
    org_certs, org_keys, org_node = {}, {}, {}
    for org in config.directory.organizations.values():
        if org.certificate:
            org_certs[org.id] = pki.load_certificates(read(org.certificate, f"certificate of {org.id}"))
        if org.key:
            org_keys[org.id] = pki.load_private_key(read(org.key, f"key of {org.id}"))
        org_node[org.id] = org.node
    node_certs = {}
    for peer in config.directory.nodes.values():
        if not peer.certificate:
            raise ConfigError(f"node {peer.id} needs a certificate: its messages and receipts are verified with it")
        node_certs[peer.id] = pki.load_certificates(read(peer.certificate, f"certificate of node {peer.id}"))
    return build_keyring(
        anchors=anchors, node_id=config.node_id,
        node_key=pki.load_private_key(read(config.node_key, "node.key")),
        node_certificate=pki.load_certificates(read(config.node_certificate, "node.certificate")),
        org_certificates=org_certs, org_keys=org_keys, org_node=org_node, node_certificates=node_certs,
        now=clock.now())


def peer_ca_bundle(config: Config) -> str:
    """One PEM file of the trust anchors, to verify peers' TLS with (never the public CA bundle)."""
    if len(config.trust_anchors) == 1:
        return config.trust_anchors[0]
    bundle = Path(config.data_dir) / "peer-ca-bundle.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(read(path, "trust anchor") for path in config.trust_anchors))
    return str(bundle)

