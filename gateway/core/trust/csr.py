"""Certificate requests (PKCS#10): a node makes its own key and asks; the network CA's operator signs.

Joining a network (docs/joining.md). The private key is made on the joining
node and never leaves it: ``gateway pki request`` writes the key and a
certificate request; the hub's operator reads the request, checks what it
names, and signs it with the network CA (``gateway pki sign``) in the same
profile :func:`pki.issue_node` and :func:`pki.issue_organization` give:

* a **node** certificate names the node in ``CN`` and in ``serialNumber
  node:<id>``, carries its host names as subject alternative names, and is a
  TLS server and client certificate and the signer of node messages;
* an **organisation** certificate names its OrganizationID in ``CN`` and
  ``serialNumber`` and its Thai name in ``O``; it signs letters and is the TLS
  client certificate of the organisation's e-Saraban.

The subject of the certificate is rebuilt from the values read, never copied
from the request, and only the host names are taken from its extensions: a
request cannot ask for more than the profile gives.

Pure: keys, requests and ``now`` in, objects out; the CLI reads and writes the files.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.core.errors import ConfigError
from gateway.core.network.directory import NODE_ID, ORG_ID
from gateway.core.trust import pki

NODE = "node"
ORGANIZATION = "organization"
CURVES = ("secp256r1", "secp384r1", "secp521r1")
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True, kw_only=True)
class Request:
    """What a certificate request asks for, read and checked."""

    kind: str                         # NODE or ORGANIZATION
    id: str                           # the node id or the OrganizationID
    th_name: str = ""                 # organisations: the Thai name (O)
    hosts: tuple[str, ...] = ()       # nodes: host names and addresses (subject alternative names)
    request: x509.CertificateSigningRequest

    def describe(self) -> str:
        if self.kind == NODE:
            return f"node {self.id} (hosts {', '.join(self.hosts)})"
        return f"organisation {self.id} {self.th_name}"


def _sign(key: pki.PrivateKey, subject: x509.Name, sans: list[x509.GeneralName]) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


def request_node(node_id: str, hosts: list[str] | tuple[str, ...], *,
                 algorithm: str) -> tuple[pki.PrivateKey, x509.CertificateSigningRequest]:
    """A new key for node ``node_id`` and the request for its certificate (``hosts``: its DNS names or IPs)."""
    if not NODE_ID.match(node_id):
        raise ConfigError(f"node id {node_id!r}: letters, digits, '.', '_' or '-', at most 64")
    hosts = list(hosts) or list(DEFAULT_HOSTS)
    key = pki.new_key(algorithm)
    return key, _sign(key, pki.node_name(node_id), pki.host_names(hosts))


def request_organization(org_id: str, th_name: str, *,
                         algorithm: str) -> tuple[pki.PrivateKey, x509.CertificateSigningRequest]:
    """A new key for organisation ``org_id`` and the request for its certificate."""
    if not ORG_ID.match(org_id):
        raise ConfigError(f"organisation id {org_id!r} must be 10 digits")
    if not th_name.strip():
        raise ConfigError(f"organisation {org_id} needs its Thai name (--th-name)")
    key = pki.new_key(algorithm)
    return key, _sign(key, pki.organization_name(org_id, th_name.strip()), [])


def pem_request(request: x509.CertificateSigningRequest) -> bytes:
    return request.public_bytes(serialization.Encoding.PEM)


def fingerprint(request: x509.CertificateSigningRequest) -> str:
    """SHA-256 of the request (DER), hex: the requester reads it out, the CA's operator compares before signing."""
    return hashlib.sha256(request.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_request(data: bytes) -> x509.CertificateSigningRequest:
    """A PEM (or DER) PKCS#10 request."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise ConfigError(f"not a PKCS#10 certificate request (PEM or DER): {exc}") from exc


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier, label: str) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) > 1:
        raise ConfigError(f"the request's subject has {len(values)} {label} attributes; one is allowed")
    return str(values[0].value).strip() if values else ""


def read_request(request: x509.CertificateSigningRequest) -> Request:
    """Check a request (its own signature, its key, what it names) and say what it asks for."""
    if not request.is_signature_valid:
        raise ConfigError("the request's signature does not verify: it was changed after it was made")
    key = request.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < pki.RSA_BITS:
            raise ConfigError(f"the request's RSA key has {key.key_size} bits; at least {pki.RSA_BITS} are needed")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            raise ConfigError(f"the request's key is on curve {key.curve.name}; use P-256, P-384 or P-521")
    else:
        raise ConfigError("only RSA and ECDSA keys sign letters and node messages")
    try:
        subject = request.subject
        serial = _attribute(subject, NameOID.SERIAL_NUMBER, "serialNumber")
        common = _attribute(subject, NameOID.COMMON_NAME, "CN")
        org_name = _attribute(subject, NameOID.ORGANIZATION_NAME, "O")
    except ValueError as exc:
        raise ConfigError(f"the request's subject cannot be read: {exc}") from exc
    if serial.startswith(pki.NODE_SERIAL_PREFIX):
        node_id = serial[len(pki.NODE_SERIAL_PREFIX):]
        if not NODE_ID.match(node_id) or common != node_id:
            raise ConfigError(f"the request names node {node_id!r} in serialNumber and {common!r} in CN; they must "
                              "be the same node id (letters, digits, '.', '_' or '-')")
        try:
            sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise ConfigError(f"the request of node {node_id} names no host (subject alternative names); "
                              "make it again with --host NAME") from None
        hosts = tuple(str(v) for v in sans.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in sans.get_values_for_type(x509.IPAddress))
        if not hosts:
            raise ConfigError(f"the request of node {node_id} names no DNS name or IP address")
        return Request(kind=NODE, id=node_id, hosts=hosts, request=request)
    if ORG_ID.match(serial):
        if common != serial:
            raise ConfigError(f"the request names organisation {serial} in serialNumber and {common!r} in CN")
        if not org_name:
            raise ConfigError(f"the request of organisation {serial} has no Thai name (O)")
        return Request(kind=ORGANIZATION, id=serial, th_name=org_name, request=request)
    raise ConfigError(f"the request names neither a node (serialNumber node:<id>) nor an organisation "
                      f"(serialNumber = its 10-digit OrganizationID): serialNumber is {serial!r}")


def sign_request(ca: pki.Issued, request: Request, *, now: dt.datetime,
                 validity: dt.timedelta = pki.LEAF_VALIDITY) -> x509.Certificate:
    """The certificate for a checked request, issued by ``ca`` in the node or organisation profile."""
    if validity <= dt.timedelta(0):
        raise ConfigError("the validity must be at least one day")
    try:
        is_ca = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ConfigError(f"{pki.describe(ca.certificate)} is not a CA certificate")
    if ca.key.public_key().public_numbers() != ca.certificate.public_key().public_numbers():
        raise ConfigError("the CA key does not belong to the CA certificate")
    if not pki.valid_at(ca.certificate, now):
        raise ConfigError(f"the CA certificate is not valid now (valid until {ca.certificate.not_valid_after_utc})")
    room = ca.certificate.not_valid_after_utc - now
    if validity > room:
        raise ConfigError(f"the certificate would outlive the CA, which expires on "
                          f"{ca.certificate.not_valid_after_utc:%Y-%m-%d}: at most {room.days} days")
    if request.kind == NODE:
        return pki.leaf_certificate(ca, pki.node_name(request.id), request.request.public_key(), now=now,
                                    usages=pki.NODE_USAGES, sans=pki.host_names(list(request.hosts)),
                                    validity=validity)
    return pki.leaf_certificate(ca, pki.organization_name(request.id, request.th_name), request.request.public_key(),
                                now=now, usages=pki.ORGANIZATION_USAGES, validity=validity)

