"""Keys and certificates: a development CA, node and organisation certificates.

``gateway pki init`` uses this to create everything a test or pilot network
needs; production nodes get their certificates from their CA and only load
them (:func:`load_certificate`, :func:`load_private_key`). An organisation's
certificate names it by OrganizationID in the subject's serialNumber (and CN),
which is how a signature is tied to the organisation a letter claims.

Pure functions from parameters to key and certificate objects or bytes;
the CLI writes the files.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.core.errors import ConfigError

RSA_BITS = 2048
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=825)
ALGORITHMS = ("ecdsa", "rsa")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(algorithm: str) -> PrivateKey:
    """RSA-2048 or ECDSA P-256."""
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ConfigError(f"key algorithm must be one of {ALGORITHMS}, not {algorithm!r}")


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    certificate: x509.Certificate


def _name(common_name: str, *, organization: str = "", serial: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "TH")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, now: dt.datetime,
             validity: dt.timedelta) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def create_ca(name: str, *, algorithm: str, now: dt.datetime) -> Issued:
    key = new_key(algorithm)
    subject = _name(name, organization=name)
    cert = (_builder(subject, subject, key.public_key(), now, CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(key=key, certificate=cert)


def leaf_certificate(ca: Issued, subject: x509.Name, public_key, *, now: dt.datetime, usages: list,
                     sans: list[x509.GeneralName] | None = None,
                     validity: dt.timedelta = LEAF_VALIDITY) -> x509.Certificate:
    """The leaf profile every node and organisation certificate shares, for a public key made anywhere."""
    builder = (_builder(subject, ca.certificate.subject, public_key, now, validity)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                            key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _leaf(ca: Issued, subject: x509.Name, *, algorithm: str, now: dt.datetime, usages: list,
          sans: list[x509.GeneralName] | None = None) -> Issued:
    key = new_key(algorithm)
    return Issued(key=key, certificate=leaf_certificate(ca, subject, key.public_key(), now=now, usages=usages,
                                                        sans=sans))


NODE_SERIAL_PREFIX = "node:"   # a node certificate's subject serialNumber is node:<node id>
ORGANIZATION_USAGES = [ExtendedKeyUsageOID.CLIENT_AUTH]
NODE_USAGES = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def organization_name(org_id: str, th_name: str) -> x509.Name:
    """The subject of an organisation's certificate: C=TH, O=<Thai name>, CN and serialNumber = OrganizationID."""
    return _name(org_id, organization=th_name, serial=org_id)


def node_name(node_id: str) -> x509.Name:
    """The subject of a node's certificate: C=TH, CN=<node id>, serialNumber=node:<node id>."""
    return _name(node_id, serial=f"{NODE_SERIAL_PREFIX}{node_id}")


def host_names(hosts: list[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses as such, anything else as a DNS name."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return sans


def issue_organization(ca: Issued, org_id: str, th_name: str, *, algorithm: str, now: dt.datetime) -> Issued:
    """A certificate that signs letters for ``org_id`` and authenticates its e-Saraban (TLS client)."""
    return _leaf(ca, organization_name(org_id, th_name), algorithm=algorithm, now=now, usages=ORGANIZATION_USAGES)


def issue_node(ca: Issued, node_id: str, hosts: list[str], *, algorithm: str, now: dt.datetime) -> Issued:
    """A node's certificate: TLS server and client, and signer of node-to-node messages."""
    return _leaf(ca, node_name(node_id), algorithm=algorithm, now=now, usages=NODE_USAGES, sans=host_names(hosts))


def pem_certificate(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_private_key(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pkcs12_bundle(issued: Issued, ca: x509.Certificate, *, name: str, password: bytes | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(name.encode(), issued.key, issued.certificate, [ca], encryption)


def load_certificate(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate: {exc}") from exc


def load_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"not PEM certificates: {exc}") from exc


def load_private_key(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigError("only RSA and ECDSA keys sign letters")
    return key


def organization_of(cert: x509.Certificate) -> str:
    """The OrganizationID a certificate names (subject serialNumber), or '' (also for a subject that cannot be read)."""
    try:
        values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    except ValueError:  # cryptography decodes names lazily; a malformed one raises here
        return ""
    return str(values[0].value) if values else ""


def readable_subject(cert: x509.Certificate) -> bool:
    """Whether the certificate's subject decodes as text (a malformed name raises when first read)."""
    try:
        cert.subject.rfc4514_string()
    except ValueError:
        return False
    return True


def describe(cert: x509.Certificate) -> str:
    """The certificate for messages and logs: its subject, or its fingerprint when the subject cannot be read."""
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return f"(unreadable subject, sha256 {fingerprint(cert)[:16]})"


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def node_of(cert: x509.Certificate) -> str:
    """The node id a node certificate names (subject serialNumber ``node:<id>``), or ''."""
    named = organization_of(cert)
    return named[len(NODE_SERIAL_PREFIX):] if named.startswith(NODE_SERIAL_PREFIX) else ""


def valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Whether ``now`` is inside the certificate's validity (notBefore to notAfter)."""
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def signed_by(cert: x509.Certificate, anchors: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> bool:
    """True when ``cert`` is signed directly by one of ``anchors`` (at any time: validity is :func:`valid_at`)."""
    for anchor in anchors:
        if anchor.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(anchor)
            return True
        except (ValueError, TypeError, Exception):  # InvalidSignature and friends
            continue
    return False


def issued_by(cert: x509.Certificate, anchors: list[x509.Certificate], now: dt.datetime) -> bool:
    """True when ``cert`` is valid at ``now`` and signed directly by one of ``anchors``."""
    return valid_at(cert, now) and signed_by(cert, anchors)


def development_set(*, node_id: str, hosts: list[str], organizations: list[tuple[str, str]], algorithm: str,
                    now: dt.datetime, p12_password: bytes | None = None) -> dict[str, bytes]:
    """Every file of a development PKI, by relative path.

    ``ca.pem``/``ca.key``, ``node.pem``/``node.key``/``node.p12`` and, per
    organisation, ``orgs/<id>.pem``/``.key``/``.p12``. The CA key is kept so
    ``gateway pki issue`` can add organisations later.
    """
    ca = create_ca(f"{node_id} development CA", algorithm=algorithm, now=now)
    node = issue_node(ca, node_id, hosts, algorithm=algorithm, now=now)
    files = {
        "ca.pem": pem_certificate(ca.certificate), "ca.key": pem_private_key(ca.key),
        "node.pem": pem_certificate(node.certificate), "node.key": pem_private_key(node.key),
        "node.p12": pkcs12_bundle(node, ca.certificate, name=node_id, password=p12_password),
    }
    for org_id, th_name in organizations:
        org = issue_organization(ca, org_id, th_name, algorithm=algorithm, now=now)
        files[f"orgs/{org_id}.pem"] = pem_certificate(org.certificate)
        files[f"orgs/{org_id}.key"] = pem_private_key(org.key)
        files[f"orgs/{org_id}.p12"] = pkcs12_bundle(org, ca.certificate, name=org_id, password=p12_password)
    return files


def issue_files(ca_cert: bytes, ca_key: bytes, org_id: str, th_name: str, *, algorithm: str,
                now: dt.datetime, p12_password: bytes | None = None) -> dict[str, bytes]:
    """The files of one more organisation, issued by an existing development CA."""
    ca = Issued(key=load_private_key(ca_key), certificate=load_certificate(ca_cert))
    org = issue_organization(ca, org_id, th_name, algorithm=algorithm, now=now)
    return {f"orgs/{org_id}.pem": pem_certificate(org.certificate), f"orgs/{org_id}.key": pem_private_key(org.key),
            f"orgs/{org_id}.p12": pkcs12_bundle(org, ca.certificate, name=org_id, password=p12_password)}
