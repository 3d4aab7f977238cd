"""Who may use an organisation's endpoint (tenants), and the passwords e-Saraban clients log in with.

:class:`AgencyAuth` decides whether a request may act for the organisation of
the endpoint it reached: open to allow-listed networks (legacy
single-organisation nodes), or per-organisation credentials (HTTP Basic over
TLS, or a client certificate naming the organisation). A client acting for one
organisation can never act for another. Values in, a decision out; ``now``
comes from the request.
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
from typing import Mapping

from cryptography import x509

from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.trust import pki

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
PASSWORD_CACHE_SECONDS = 300   # scrypt costs tens of milliseconds; a verified password is remembered briefly


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
                              f"the client certificate {pki.describe(cert)} is not {org_id}'s")
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
