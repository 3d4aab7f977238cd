"""Who may sign for whom: the certificates of the directory and the hosted organisations' keys.

:class:`Keyring` holds the certificates of the directory (each checked against
the configured trust anchors when the node starts) and the signing keys of
the hosted organisations, loaded once per process. It is built by
``runtime/files.py`` from files; the checks here take values only. Who may
use an organisation's endpoint is ``tenants.py``.

Rotation (docs/joining.md). A certificate setting may name a PEM file with
several certificates of one party: during a rotation, the old one and its
successor. Every one of them is trusted while it is valid, so verifying
accepts both during the overlap and only the new one after the old one's
notAfter (the signature checks compare the certificate's validity with
``now``). The hosted organisations and this node sign with the certificate
that belongs to their configured key: configuring the new key switches
signing to it. Certificates of a bundle that have already expired are left
out; at least one must be valid when the node starts.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, NamedTuple, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.core.trust import pki
from gateway.core.errors import ConfigError
from gateway.core.trust.signing import Signer

Certificates = x509.Certificate | Sequence[x509.Certificate]

# Kinds of certificate_expiries(); runtime/certificates.py adds "tls" for the HTTPS certificate.
CA, NODE, ORGANIZATION = "ca", "node", "organization"


class CertificateExpiry(NamedTuple):
    """When a party's certificate ends: ``kind`` (ca, node, organization, tls), ``subject``, ``not_after``.

    ``subject`` is the node id, the OrganizationID, or the CA's common name.
    """

    kind: str
    subject: str
    not_after: dt.datetime


@dataclass(frozen=True, kw_only=True)
class Keyring:
    """Certificates of the directory and signing keys of the hosted organisations."""

    anchors: tuple[x509.Certificate, ...]
    org_certificates: Mapping[str, x509.Certificate]    # the current certificate of each organisation
    node_certificates: Mapping[str, x509.Certificate]   # the current certificate of each node, ours included
    org_node: Mapping[str, str]
    signers: Mapping[str, Signer]
    node_id: str
    node_signer: Signer
    # Every certificate trusted for a party, newest first: during a rotation the new one and the old one.
    org_bundles: Mapping[str, tuple[x509.Certificate, ...]] = field(default_factory=lambda: MappingProxyType({}))
    node_bundles: Mapping[str, tuple[x509.Certificate, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def org_trusted(self, org_id: str) -> list[x509.Certificate]:
        """Every certificate of the organisation itself (old and new during a rotation)."""
        if org_id in self.org_bundles:
            return list(self.org_bundles[org_id])
        return [self.org_certificates[org_id]] if org_id in self.org_certificates else []

    def node_trusted(self, node_id: str) -> list[x509.Certificate]:
        """Every certificate node ``node_id`` may sign node messages and receipts with."""
        if node_id in self.node_bundles:
            return list(self.node_bundles[node_id])
        return [self.node_certificates[node_id]] if node_id in self.node_certificates else []

    def trusted_for(self, org_id: str) -> list[x509.Certificate]:
        """Certificates that may sign for ``org_id``: its own and its node's."""
        return self.org_trusted(org_id) + self.node_trusted(self.org_node.get(org_id, ""))

    def signer_for(self, org_id: str) -> Signer:
        return self.signers.get(org_id, self.node_signer)

    def sealing_certificate(self, org_id: str) -> x509.Certificate | None:
        """The certificate a secret letter to ``org_id`` is encrypted to: the organisation's own, or else its
        node's (whose key the receiving node holds); None when the directory has neither."""
        return self.org_certificates.get(org_id) or self.node_certificates.get(self.org_node.get(org_id, ""))

    def opening_keys(self, org_id: str) -> list[tuple[x509.Certificate, pki.PrivateKey]]:
        """The keys this node may open a secret letter to hosted ``org_id`` with: its own, then this node's."""
        signers = [self.signers[org_id]] if org_id in self.signers else []
        return [(s.certificate, s.key) for s in (*signers, self.node_signer)]

    def certificates(self) -> list[tuple[str, str, x509.Certificate]]:
        """Every certificate held, as (kind, subject, certificate): anchors, nodes, organisations."""
        found = [(CA, common_name(a), a) for a in self.anchors]
        found += [(NODE, n, c) for n in sorted(self.node_certificates) for c in self.node_trusted(n)]
        found += [(ORGANIZATION, o, c) for o in sorted(self.org_certificates) for c in self.org_trusted(o)]
        return found


def certificate_expiries(keyring: Keyring) -> list[CertificateExpiry]:
    """When trust in each party ends: per (kind, subject), the latest notAfter of its certificates.

    During a rotation the old certificate's end is not the party's end, so the
    successor's notAfter is given. Soonest first. The metrics and the console
    show these; ``runtime/certificates.py`` warns about those ending soon.
    """
    latest: dict[tuple[str, str], dt.datetime] = {}
    for kind, subject, cert in keyring.certificates():
        party = (kind, subject)
        latest[party] = max(latest.get(party, cert.not_valid_after_utc), cert.not_valid_after_utc)
    return sorted((CertificateExpiry(k, s, end) for (k, s), end in latest.items()),
                  key=lambda e: (e.not_after, e.kind, e.subject))


def rotation_bundle(current: Sequence[x509.Certificate], new: Sequence[x509.Certificate],
                    now: dt.datetime) -> tuple[x509.Certificate, ...]:
    """A party's certificate file after a rotation: its current certificates not yet expired, and the new ones.

    Newest first. Raises when every new certificate is already in ``current``.
    """
    kept = [c for c in _as_tuple(current) if c.not_valid_after_utc >= now]
    seen = {pki.fingerprint(c) for c in kept}
    added = [c for c in _as_tuple(new) if pki.fingerprint(c) not in seen]
    if not added:
        raise ConfigError("the certificate file already holds that certificate")
    return _newest_first(kept + added)


def superseded(keyring: Keyring) -> list[tuple[str, str, x509.Certificate, dt.datetime]]:
    """Certificates with a successor (a rotation's overlap): (kind, subject, old certificate, successor's end)."""
    latest = {(e.kind, e.subject): e.not_after for e in certificate_expiries(keyring)}
    return [(kind, subject, cert, latest[(kind, subject)]) for kind, subject, cert in keyring.certificates()
            if cert.not_valid_after_utc < latest[(kind, subject)]]


def common_name(cert: x509.Certificate) -> str:
    try:
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        names = []
    return str(names[0].value) if names else pki.describe(cert)


def _as_tuple(certs: Certificates) -> tuple[x509.Certificate, ...]:
    items = (certs,) if isinstance(certs, x509.Certificate) else tuple(certs)
    unique: dict[str, x509.Certificate] = {}
    for cert in items:
        unique.setdefault(pki.fingerprint(cert), cert)
    return tuple(unique.values())


def _newest_first(certs: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(sorted(certs, key=lambda c: (c.not_valid_before_utc, c.not_valid_after_utc), reverse=True))


def key_matches(key: pki.PrivateKey, cert: x509.Certificate) -> bool:
    return key.public_key().public_numbers() == cert.public_key().public_numbers()


def build_keyring(*, anchors: list[x509.Certificate], node_id: str, node_key: pki.PrivateKey,
                  node_certificate: Certificates, org_certificates: Mapping[str, Certificates],
                  org_keys: dict[str, pki.PrivateKey], org_node: dict[str, str],
                  node_certificates: Mapping[str, Certificates], now: dt.datetime) -> Keyring:
    """Check every certificate against the anchors and every key against its certificate.

    Each certificate value may be one certificate or several of one party (a
    rotation's old and new); see the module's documentation.
    """
    if not anchors:
        raise ConfigError("trust.anchors is empty: name the CA certificates the directory's certificates come from")

    def check(label: str, certs: Certificates) -> tuple[x509.Certificate, ...]:
        bundle = _as_tuple(certs)
        if not bundle:
            raise ConfigError(f"{label}: no certificate")
        for cert in bundle:
            if not pki.signed_by(cert, anchors):
                raise ConfigError(f"{label}: certificate {pki.describe(cert)} is not issued by a trust anchor")
        kept = _newest_first(c for c in bundle if c.not_valid_after_utc >= now)
        if not any(pki.valid_at(c, now) for c in kept):
            cert = _newest_first(bundle)[0]
            raise ConfigError(f"{label}: certificate {pki.describe(cert)} is not valid now (valid from "
                              f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
                              f"to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")
        return kept

    def current(bundle: tuple[x509.Certificate, ...]) -> x509.Certificate:
        return next(c for c in bundle if pki.valid_at(c, now))

    def signing(label: str, setting: str, owner: str, key: pki.PrivateKey,
                bundle: tuple[x509.Certificate, ...]) -> x509.Certificate:
        """The certificate of ``bundle`` that belongs to ``key``, valid now (the newest when several)."""
        mine = [c for c in bundle if key_matches(key, c)]
        if not mine:
            raise ConfigError(f"{label}: {setting} does not belong to {owner}")
        valid = [c for c in mine if pki.valid_at(c, now)]
        if not valid:
            raise ConfigError(f"{label}: {setting} belongs to certificate {pki.describe(mine[0])}, which is valid "
                              f"only from {mine[0].not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        return valid[0]

    own = check(f"node {node_id}", node_certificate)
    org_bundles: dict[str, tuple[x509.Certificate, ...]] = {}
    for org_id, certs in org_certificates.items():
        bundle = check(f"organisation {org_id}", certs)
        for cert in bundle:
            named = pki.organization_of(cert)
            if named and named != org_id:
                raise ConfigError(f"organisation {org_id}: its certificate names organisation {named}")
        org_bundles[org_id] = bundle
    node_bundles = {node: check(f"node {node}", certs) for node, certs in node_certificates.items()}

    node_cert = signing(f"node {node_id}", "node.key", "node.certificate", node_key, own)
    signers = {}
    for org_id, key in org_keys.items():
        if org_id not in org_bundles:
            raise ConfigError(f"organisation {org_id}: its key does not belong to its certificate")
        cert = signing(f"organisation {org_id}", "its key", "its certificate", key, org_bundles[org_id])
        signers[org_id] = Signer(org_id=org_id, key=key, certificate=cert)
    node_bundles[node_id] = own
    org_current = {o: signers[o].certificate if o in signers else current(b) for o, b in org_bundles.items()}
    nodes_current = {n: current(b) for n, b in node_bundles.items()}
    nodes_current[node_id] = node_cert
    return Keyring(anchors=tuple(anchors), org_certificates=MappingProxyType(org_current),
                   node_certificates=MappingProxyType(nodes_current), org_node=MappingProxyType(dict(org_node)),
                   signers=MappingProxyType(signers), node_id=node_id,
                   node_signer=Signer(org_id="", key=node_key, certificate=node_cert),
                   org_bundles=MappingProxyType(org_bundles), node_bundles=MappingProxyType(node_bundles))
