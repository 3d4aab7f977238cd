"""Directory snapshots: a directory-authority node publishes its directory, signed; others verify it.

Theory of operation
-------------------
An authority (typically a ministry hub) answers the node port's
DirectorySnapshot operation with a DirectorySnapshot document listing nodes
(id, node-port URL, certificate) and organisations (id, names, hosting node,
certificate), signed by the authority's node key. A node configured with a
``[directory_authority]`` fetches it (``gateway directory sync``), verifies the
signature against the authority's pinned certificate, refuses an older serial
than the one it has, and keeps the signed bytes. At start-up the snapshot is
verified again and merged under the configuration: entries of the
configuration file win, organisations hosted here are never replaced, and
every certificate must still chain to the node's own trust anchors.

Building, reading and merging only; fetching and files are the CLI's.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from gateway.core.xml import contract, safe as xmlsafe
from gateway.core import ns
from gateway.core.trust import pki, signing
from gateway.core.xml.contract import AGENCY_PATH, NODE_PATH
from gateway.core.time import wire_time
from gateway.core.network.directory import Directory, Organization, PeerNode
from gateway.core.errors import ConfigError, ErrorCode, RemoteError


@dataclass(frozen=True, kw_only=True)
class SnapshotNode:
    id: str
    url: str
    certificate_pem: bytes


@dataclass(frozen=True, kw_only=True)
class SnapshotOrganization:
    id: str
    th_name: str
    en_name: str
    node: str
    certificate_pem: bytes


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    authority: str
    issued_at: dt.datetime
    serial: int
    nodes: tuple[SnapshotNode, ...]
    organizations: tuple[SnapshotOrganization, ...]


def build(snapshot: Snapshot) -> etree._Element:
    """The unsigned DirectorySnapshot element."""
    root = etree.Element(ns.node("DirectorySnapshot"), nsmap={"n": ns.NODE})

    def sub(parent: etree._Element, local: str, text: str) -> None:
        etree.SubElement(parent, ns.node(local)).text = text

    sub(root, "Authority", snapshot.authority)
    sub(root, "IssuedAt", wire_time(snapshot.issued_at))
    sub(root, "Serial", str(snapshot.serial))
    for node in snapshot.nodes:
        el = etree.SubElement(root, ns.node("Node"))
        sub(el, "ID", node.id)
        sub(el, "URL", node.url)
        sub(el, "Certificate", node.certificate_pem.decode("ascii"))
    for org in snapshot.organizations:
        el = etree.SubElement(root, ns.node("Organization"))
        sub(el, "ID", org.id)
        sub(el, "ThName", org.th_name)
        sub(el, "EnName", org.en_name)
        sub(el, "Node", org.node)
        sub(el, "Certificate", org.certificate_pem.decode("ascii"))
    return root


def verify(data: bytes, *, authority: str, certificate: x509.Certificate, now: dt.datetime,
           newer_than: int = 0) -> Snapshot:
    """Parse and verify a signed snapshot from ``authority``; only the signed content is read."""
    document = xmlsafe.parse(data)
    contract.validate(document, contract.node_schema())
    signed, _ = signing.verify_document(document, trusted=[certificate], now=now)

    def text(el: etree._Element, local: str) -> str:
        return (el.findtext(ns.node(local)) or "").strip()

    snapshot = Snapshot(
        authority=text(signed, "Authority"), issued_at=dt.datetime.fromisoformat(text(signed, "IssuedAt")),
        serial=int(text(signed, "Serial")),
        nodes=tuple(SnapshotNode(id=text(n, "ID"), url=text(n, "URL"), certificate_pem=text(n, "Certificate").encode())
                    for n in signed.iterfind(ns.node("Node"))),
        organizations=tuple(SnapshotOrganization(
            id=text(o, "ID"), th_name=text(o, "ThName"), en_name=text(o, "EnName"), node=text(o, "Node"),
            certificate_pem=text(o, "Certificate").encode()) for o in signed.iterfind(ns.node("Organization"))),
    )
    if snapshot.authority != authority:
        raise RemoteError(ErrorCode.UNTRUSTED_SIGNER, f"the snapshot is from {snapshot.authority}, not {authority}")
    if snapshot.serial <= newer_than:
        raise RemoteError(ErrorCode.REPLAY, f"snapshot serial {snapshot.serial} is not newer than {newer_than}")
    return snapshot


def from_directory(directory: Directory, *, authority: str, authority_url: str, authority_pem: bytes,
                   read_pem, now: dt.datetime) -> Snapshot:
    """The snapshot an authority publishes: its own node, its neighbours, every organisation it knows."""
    nodes = [SnapshotNode(id=authority, url=authority_url, certificate_pem=authority_pem)]
    nodes += [SnapshotNode(id=p.id, url=p.url, certificate_pem=read_pem(p.certificate))
              for p in directory.nodes.values() if p.certificate]
    orgs = [SnapshotOrganization(id=o.id, th_name=o.th_name, en_name=o.en_name,
                                 node=authority if o.hosted else o.node, certificate_pem=read_pem(o.certificate))
            for o in directory.all() if o.certificate]
    return Snapshot(authority=authority, issued_at=now, serial=int(now.timestamp()), nodes=tuple(nodes),
                    organizations=tuple(orgs))


def merge(directory: Directory, snapshot: Snapshot, *, node_id: str, write_pem) -> Directory:
    """The configured directory with the snapshot's other entries added.

    The configuration wins; hosted organisations are never replaced; an
    organisation whose node is not a neighbour is reached through the authority.
    ``write_pem(name, data) -> path`` stores a certificate for the keyring to load.
    """
    nodes = dict(directory.nodes)
    for node in snapshot.nodes:
        if node.id == node_id or node.id in nodes:
            continue
        pki.load_certificate(node.certificate_pem)  # refuse garbage before anything is written
        nodes[node.id] = PeerNode(id=node.id, url=node.url, certificate=write_pem(f"node-{node.id}", node.certificate_pem))
    orgs = dict(directory.organizations)
    for org in snapshot.organizations:
        if org.id in orgs or org.node == node_id:
            continue
        pki.load_certificate(org.certificate_pem)
        via = "" if org.node in directory.nodes else snapshot.authority
        if (via or org.node) not in nodes:
            raise ConfigError(f"snapshot organisation {org.id} is hosted on {org.node}, which no route reaches")
        home = nodes.get(org.node)
        url = home.url.replace(NODE_PATH, f"{AGENCY_PATH}/{org.id}") if home else ""
        orgs[org.id] = Organization(id=org.id, th_name=org.th_name, en_name=org.en_name, node=org.node, via=via,
                                    ecms_url=url, hosted=False,
                                    certificate=write_pem(f"org-{org.id}", org.certificate_pem))
    return Directory.build(orgs.values(), default_id=directory.default_id, nodes=nodes.values())

