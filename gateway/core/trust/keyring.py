"""Who may sign for whom, and who may use an organisation's endpoint.

:class:`Keyring` holds the certificates of the directory (each checked against
the configured trust anchors when the node starts) and the signing keys of
the hosted organisations, loaded once per process. :class:`AgencyAuth` decides
whether a request may act for the organisation of the endpoint it reached
(DESIGN section 6, "Tenants"). Both are built by ``app.py`` from files; the
decisions here take values only.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from cryptography import x509

from gateway.core.trust import pki
from gateway.core.errors import ConfigError, ErrorCode, RemoteError
from gateway.core.trust.signing import Signer

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
PASSWORD_CACHE_SECONDS = 300   # scrypt costs tens of milliseconds; a verified password is remembered briefly


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
            raise ConfigError(f"{label}: certificate {cert.subject.rfc4514_string()} is not valid now or not "
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


# ----------------------------------------------------------------- passwords

def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for the configuration's password_hash."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# ------------------------------------------------------------------- tenants

@dataclass(frozen=True, kw_only=True)
class Caller:
    """What the transport knows about a request."""

    remote_addr: str
    tls: bool
    basic: tuple[str, str] | None = None
    client_certificate: x509.Certificate | None = None


@dataclass(kw_only=True)
class AgencyAuth:
    """Decides whether a caller may act for the organisation of the endpoint it reached."""

    mode: str
    open_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    password_hashes: Mapping[str, str]
    client_anchors: tuple[x509.Certificate, ...] = ()
    _cache: dict[tuple[str, bytes], float] = field(default_factory=dict, repr=False)
    _cache_key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorize(self, org_id: str, caller: Caller, now: dt.datetime) -> None:
        """Nothing, or UNAUTHORIZED (4001) saying why; never reveals other organisations' data."""
        if self.mode == "open":
            if not self._in_open_networks(caller.remote_addr):
                raise RemoteError(ErrorCode.UNAUTHORIZED, f"{caller.remote_addr} is not in security.open_networks")
            return
        if caller.client_certificate is not None:
            cert = caller.client_certificate
            if pki.organization_of(cert) == org_id and pki.issued_by(cert, list(self.client_anchors), now):
                return
            raise RemoteError(ErrorCode.UNAUTHORIZED,
                              f"the client certificate {cert.subject.rfc4514_string()} is not {org_id}'s")
        if caller.basic is not None:
            if not caller.tls:
                raise RemoteError(ErrorCode.UNAUTHORIZED, "HTTP Basic credentials are accepted over HTTPS only")
            user, password = caller.basic
            if user == org_id and self._password_ok(org_id, password, now):
                return
            raise RemoteError(ErrorCode.UNAUTHORIZED, f"wrong user or password for {org_id}")
        raise RemoteError(ErrorCode.UNAUTHORIZED, f"{org_id}'s endpoint needs credentials")

    def _in_open_networks(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.open_networks)

    def _password_ok(self, org_id: str, password: str, now: dt.datetime) -> bool:
        stored = self.password_hashes.get(org_id, "")
        if not stored:
            return False
        key = (org_id, hmac.new(self._cache_key, f"{org_id}\0{password}".encode(), hashlib.sha256).digest())
        with self._lock:
            until = self._cache.get(key)
            if until is not None and until > now.timestamp():
                return True
        if not check_password(password, stored):
            return False
        with self._lock:
            self._cache[key] = now.timestamp() + PASSWORD_CACHE_SECONDS
        return True
