"""Who is who: organisations, the node that hosts each, and which ones we host.

The directory answers GetOrganizationList and routes letters by the
receiver's OrganizationID (DESIGN section 3: never by wsa:To). Pure data; the
file it may come from is read by the caller.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from gateway.core.errors import ConfigError, ErrorCode, RemoteError

ORG_ID = re.compile(r"^[0-9]{10}$")


@dataclass(frozen=True, kw_only=True)
class Organization:
    """One organisation of the directory."""

    id: str
    th_name: str
    en_name: str = ""
    ecms_url: str = ""          # the agency endpoint of the node that hosts it
    node: str = ""              # the id of that node
    hosted: bool = False        # hosted on this node
    via: str = ""               # the neighbour node to push its items to, when not its node itself (a hub)
    certificate: str = ""       # PEM file: the certificate that signs for this organisation
    key: str = ""               # PEM file: its private key (hosted organisations only)
    password_hash: str = ""     # HTTP Basic credential of its e-Saraban (see `gateway passwd`)

    def __post_init__(self) -> None:
        if not ORG_ID.match(self.id):
            raise ConfigError(f"organisation id {self.id!r} must be 10 digits")
        if not self.th_name.strip():
            raise ConfigError(f"organisation {self.id} needs a Thai name (th_name)")

    @property
    def ministry_id(self) -> str:
        """The first two digits of the OrganizationID are its MinistryID."""
        return self.id[:2]


@dataclass(frozen=True, kw_only=True)
class PeerNode:
    """Another node: where its node port is and the certificate it signs with."""

    id: str
    url: str                    # its node port, .../ecms-ws01/node
    certificate: str = ""       # PEM file

    def __post_init__(self) -> None:
        if not NODE_ID.match(self.id):
            raise ConfigError(f"node id {self.id!r}: letters, digits, '.', '_' or '-', at most 64")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"node {self.id}: url must be http(s)://...")


NODE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class Directory:
    """All organisations this node knows, with the hosted ones flagged, and the other nodes."""

    organizations: Mapping[str, Organization] = field(default_factory=lambda: MappingProxyType({}))
    default_id: str = ""
    nodes: Mapping[str, PeerNode] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(cls, organizations: Iterable[Organization], default_id: str = "",
              nodes: Iterable[PeerNode] = ()) -> "Directory":
        peers: dict[str, PeerNode] = {}
        for peer in nodes:
            if peer.id in peers:
                raise ConfigError(f"node {peer.id} is listed twice")
            peers[peer.id] = peer
        table: dict[str, Organization] = {}
        for org in organizations:
            if org.id in table:
                raise ConfigError(f"organisation {org.id} is listed twice")
            if not org.hosted:
                hop = org.via or org.node
                if hop and hop not in peers:
                    raise ConfigError(f"organisation {org.id} is reached through node {hop!r}, "
                                      "which is not in [[nodes]]")
            table[org.id] = org
        hosted = [o.id for o in table.values() if o.hosted]
        if not hosted:
            raise ConfigError("the node must host at least one organisation")
        if default_id and default_id not in table:
            raise ConfigError(f"default organisation {default_id} is not in the directory")
        if default_id and not table[default_id].hosted:
            raise ConfigError(f"default organisation {default_id} is not hosted on this node")
        return cls(organizations=MappingProxyType(table), default_id=default_id or hosted[0],
                   nodes=MappingProxyType(peers))

    def get(self, org_id: str) -> Organization | None:
        return self.organizations.get(org_id)

    def hosted(self) -> list[Organization]:
        return [o for o in self.organizations.values() if o.hosted]

    def is_hosted(self, org_id: str) -> bool:
        org = self.organizations.get(org_id)
        return org is not None and org.hosted

    def require_hosted(self, org_id: str) -> Organization:
        """The hosted organisation addressed by an endpoint, or UNKNOWN_ORGANIZATION."""
        org = self.organizations.get(org_id)
        if org is None or not org.hosted:
            raise RemoteError(ErrorCode.UNKNOWN_ORGANIZATION, org_id)
        return org

    def require_receiver(self, org_id: str) -> Organization:
        """A letter's receiver must be in the directory (hosted here or elsewhere)."""
        org = self.organizations.get(org_id)
        if org is None:
            raise RemoteError(ErrorCode.UNKNOWN_RECEIVER, org_id or "(empty)")
        return org

    def next_hop(self, org_id: str) -> PeerNode | None:
        """The node to push an item for ``org_id`` to; None when it is hosted here or unreachable."""
        org = self.organizations.get(org_id)
        if org is None or org.hosted:
            return None
        return self.nodes.get(org.via or org.node)

    def all(self) -> list[Organization]:
        return sorted(self.organizations.values(), key=lambda o: o.id)


# The demo set `gateway serve` hosts with no configuration: the Ministry of
# Education's central office and some of its regional (ศธภ.) and provincial
# (ศธจ.) offices. The names are real; the OrganizationIDs are invented within
# the ministry's "20" prefix: 20001 central, 20002RR regional office RR,
# 20003PP provincial office of province code PP.
DEMO_ORGANIZATIONS = (
    ("2000100000", "สำนักงานปลัดกระทรวงศึกษาธิการ",
     "Office of the Permanent Secretary, Ministry of Education"),
    ("2000201000", "สำนักงานศึกษาธิการภาค 1", "Regional Education Office 1"),
    ("2000212000", "สำนักงานศึกษาธิการภาค 12", "Regional Education Office 12"),
    ("2000215000", "สำนักงานศึกษาธิการภาค 15", "Regional Education Office 15"),
    ("2000312000", "สำนักงานศึกษาธิการจังหวัดนนทบุรี", "Nonthaburi Provincial Education Office"),
    ("2000340000", "สำนักงานศึกษาธิการจังหวัดขอนแก่น", "Khon Kaen Provincial Education Office"),
    ("2000350000", "สำนักงานศึกษาธิการจังหวัดเชียงใหม่", "Chiang Mai Provincial Education Office"),
)
DEMO_DEFAULT = "2000100000"
