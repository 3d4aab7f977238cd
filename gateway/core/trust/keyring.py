"""Who may sign for whom: the certificates of the directory and the hosted organisations' keys.

:class:`Keyring` holds the certificates of the directory (each checked against
the configured trust anchors when the node starts) and the signing keys of
the hosted organisations, loaded once per process. It is built by
``runtime/files.py`` from files; the checks here take values only. Who may
use an organisation's endpoint is ``tenants.py``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from cryptography import x509

from gateway.core.trust import pki
from gateway.core.errors import ConfigError
from gateway.core.trust.signing import Signer

@dataclass(frozen=True, kw_only=True)
class Keyring:
    """Certificates of the directory and signing keys of the hosted organisations."""

    anchors: tuple[x509.Certificate, ...]
    org_certificates: Mapping[str, x509.Certificate]
    node_certificates: Mapping[str, x509.Certificate]
    org_node: Mapping[str, str]
    signers: Mapping[str, Signer]
    node_id: str
    node_signer: Signer

    def trusted_for(self, org_id: str) -> list[x509.Certificate]:
        """Certificates that may sign for ``org_id``: its own and its node's."""
        found = []
        if org_id in self.org_certificates:
            found.append(self.org_certificates[org_id])
        node = self.org_node.get(org_id, "")
        if node in self.node_certificates:
            found.append(self.node_certificates[node])
        return found

    def signer_for(self, org_id: str) -> Signer:
        return self.signers.get(org_id, self.node_signer)


def build_keyring(*, anchors: list[x509.Certificate], node_id: str, node_key: pki.PrivateKey,
                  node_certificate: x509.Certificate, org_certificates: dict[str, x509.Certificate],
                  org_keys: dict[str, pki.PrivateKey], org_node: dict[str, str],
                  node_certificates: dict[str, x509.Certificate], now: dt.datetime) -> Keyring:
    """Check every certificate against the anchors and every key against its certificate."""
    if not anchors:
        raise ConfigError("trust.anchors is empty: name the CA certificates the directory's certificates come from")

    def check(label: str, cert: x509.Certificate) -> None:
        if not pki.issued_by(cert, anchors, now):
            raise ConfigError(f"{label}: certificate {pki.describe(cert)} is not valid now or not "
                              "issued by a trust anchor")

    check(f"node {node_id}", node_certificate)
    for org_id, cert in org_certificates.items():
        check(f"organisation {org_id}", cert)
        named = pki.organization_of(cert)
        if named and named != org_id:
            raise ConfigError(f"organisation {org_id}: its certificate names organisation {named}")
    for node, cert in node_certificates.items():
        check(f"node {node}", cert)

    def matches(key: pki.PrivateKey, cert: x509.Certificate) -> bool:
        return key.public_key().public_numbers() == cert.public_key().public_numbers()

    if not matches(node_key, node_certificate):
        raise ConfigError(f"node {node_id}: node.key does not belong to node.certificate")
    signers = {}
    for org_id, key in org_keys.items():
        cert = org_certificates.get(org_id)
        if cert is None or not matches(key, cert):
            raise ConfigError(f"organisation {org_id}: its key does not belong to its certificate")
        signers[org_id] = Signer(org_id=org_id, key=key, certificate=cert)
    nodes = dict(node_certificates)
    nodes[node_id] = node_certificate
    return Keyring(anchors=tuple(anchors), org_certificates=MappingProxyType(dict(org_certificates)),
                   node_certificates=MappingProxyType(nodes), org_node=MappingProxyType(dict(org_node)),
                   signers=MappingProxyType(signers), node_id=node_id,
                   node_signer=Signer(org_id="", key=node_key, certificate=node_certificate))
