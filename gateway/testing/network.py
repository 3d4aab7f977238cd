"""A test network of three nodes sharing one CA (issue 4).

* ``moe-hub``: the Ministry of Education's hub; hosts the central office 2000100000.
* ``moe-r15``: the regional gateway of Regional Education Office 15; hosts ศธภ.15
  (2000215000) and the Chiang Mai provincial office (2000350000). Reached only
  through the hub by the independent agency.
* ``ocsc``: an independent agency's node; hosts สำนักงาน ก.พ. (0101000000, an invented
  OrganizationID under the Prime Minister's Office prefix 01). It talks only to the hub.

Routes: ocsc -> hub -> r15 and back; hub <-> r15 directly; hub <-> ocsc directly.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from gateway import config
from gateway.core.trust import pki
from gateway.core.network.directory import Directory, Organization, PeerNode

CENTRAL = "2000100000"
REGION15 = "2000215000"
CHIANGMAI = "2000350000"
OCSC = "0101000000"

NAMES = {
    CENTRAL: ("สำนักงานปลัดกระทรวงศึกษาธิการ", "Office of the Permanent Secretary, Ministry of Education"),
    REGION15: ("สำนักงานศึกษาธิการภาค 15", "Regional Education Office 15"),
    CHIANGMAI: ("สำนักงานศึกษาธิการจังหวัดเชียงใหม่", "Chiang Mai Provincial Education Office"),
    OCSC: ("สำนักงานคณะกรรมการข้าราชการพลเรือน", "Office of the Civil Service Commission"),
}
HOSTS = {"moe-hub": [CENTRAL], "moe-r15": [REGION15, CHIANGMAI], "ocsc": [OCSC]}
# node -> {organisation elsewhere: (its hosting node, the neighbour to push through)}
ROUTES = {
    "moe-hub": {REGION15: ("moe-r15", ""), CHIANGMAI: ("moe-r15", ""), OCSC: ("ocsc", "")},
    "moe-r15": {CENTRAL: ("moe-hub", ""), OCSC: ("ocsc", "moe-hub")},
    "ocsc": {CENTRAL: ("moe-hub", ""), REGION15: ("moe-r15", "moe-hub"), CHIANGMAI: ("moe-r15", "moe-hub")},
}
NEIGHBOURS = {"moe-hub": ["moe-r15", "ocsc"], "moe-r15": ["moe-hub"], "ocsc": ["moe-hub"]}


@dataclass
class NetworkPKI:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.folder / name)


def make_pki(folder: Path, issued: dt.datetime, rsa_orgs: frozenset[str] = frozenset()) -> NetworkPKI:
    """One CA, a certificate per node and per organisation (ECDSA P-256; RSA-2048 for ``rsa_orgs``)."""
    ca = pki.create_ca("TH e-CMS test network CA", algorithm="ecdsa", now=issued)
    files = {"ca.pem": pki.pem_certificate(ca.certificate)}
    for node in HOSTS:
        issued_node = pki.issue_node(ca, node, ["127.0.0.1", "localhost"], algorithm="ecdsa", now=issued)
        files[f"nodes/{node}.pem"] = pki.pem_certificate(issued_node.certificate)
        files[f"nodes/{node}.key"] = pki.pem_private_key(issued_node.key)
    for org, (th, _) in NAMES.items():
        issued_org = pki.issue_organization(ca, org, th, algorithm="rsa" if org in rsa_orgs else "ecdsa", now=issued)
        files[f"orgs/{org}.pem"] = pki.pem_certificate(issued_org.certificate)
        files[f"orgs/{org}.key"] = pki.pem_private_key(issued_org.key)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return NetworkPKI(folder=folder)


def node_config(node: str, net: NetworkPKI, ports: dict[str, int], data_dir: Path, **overrides) -> config.Config:
    """The configuration of one node of the test network."""
    url = f"http://127.0.0.1:{ports[node]}"
    orgs = []
    for org in HOSTS[node]:
        th, en = NAMES[org]
        orgs.append(Organization(id=org, th_name=th, en_name=en, ecms_url=f"{url}/ecms-ws01/service2/{org}",
                                 node=node, hosted=True, certificate=net.path(f"orgs/{org}.pem"),
                                 key=net.path(f"orgs/{org}.key")))
    for org, (home, via) in ROUTES[node].items():
        th, en = NAMES[org]
        orgs.append(Organization(id=org, th_name=th, en_name=en,
                                 ecms_url=f"http://127.0.0.1:{ports[home]}/ecms-ws01/service2/{org}",
                                 node=home, via=via, certificate=net.path(f"orgs/{org}.pem")))
    peers = [PeerNode(id=n, url=f"http://127.0.0.1:{ports[n]}/ecms-ws01/node",
                      certificate=net.path(f"nodes/{n}.pem")) for n in NEIGHBOURS[node]]
    directory = Directory.build(orgs, default_id=HOSTS[node][0], nodes=peers)
    settings = dict(
        node_id=node, public_url=url, port=ports[node], data_dir=data_dir, directory=directory,
        node_certificate=net.path(f"nodes/{node}.pem"), node_key=net.path(f"nodes/{node}.key"),
        trust_anchors=(net.path("ca.pem"),), retry_first=dt.timedelta(seconds=1),
        retry_max=dt.timedelta(seconds=30), delivery_timeout=dt.timedelta(seconds=5),
    )
    settings.update(overrides)
    return config.Config(**settings)


def toml_for(node: str, net: NetworkPKI, ports: dict[str, int], data_dir: Path, database: str = "",
             extra: str = "") -> str:
    """The same configuration as a TOML file, for nodes started as processes."""
    lines = [
        "[node]", f'id = "{node}"', f'public_url = "http://127.0.0.1:{ports[node]}"',
        f'certificate = "{net.path(f"nodes/{node}.pem")}"', f'key = "{net.path(f"nodes/{node}.key")}"',
        "[server]", 'host = "127.0.0.1"', f"port = {ports[node]}",
        "[storage]", f'data_dir = "{data_dir}"', f'database = "{database}"',
        "[trust]", f'anchors = ["{net.path("ca.pem")}"]',
        extra,
    ]
    for org in HOSTS[node]:
        th, en = NAMES[org]
        lines += ["[[organizations]]", f'id = "{org}"', f'th_name = "{th}"', f'en_name = "{en}"',
                  f'certificate = "{net.path(f"orgs/{org}.pem")}"', f'key = "{net.path(f"orgs/{org}.key")}"']
    for peer in NEIGHBOURS[node]:
        lines += ["[[nodes]]", f'id = "{peer}"', f'url = "http://127.0.0.1:{ports[peer]}/ecms-ws01/node"',
                  f'certificate = "{net.path(f"nodes/{peer}.pem")}"']
    for org, (home, via) in ROUTES[node].items():
        th, en = NAMES[org]
        lines += ["[[directory]]", f'id = "{org}"', f'th_name = "{th}"', f'en_name = "{en}"',
                  f'ecms_url = "http://127.0.0.1:{ports[home]}/ecms-ws01/service2/{org}"', f'node = "{home}"',
                  *([f'via = "{via}"'] if via else []), f'certificate = "{net.path(f"orgs/{org}.pem")}"']
    return "\n".join(lines) + "\n"
