"""The fast operations suite: nodes wired on MemoryStore, a FakeClock and the peer fakes.

No HTTP server, no socket, no PostgreSQL. The nodes are those of the test
network (gateway/testing/network.py: moe-hub hosts the central office, moe-r15
hosts Regional Office 15 and Chiang Mai); their URLs name ports nothing listens
on, because every push goes through gateway.testing.peer.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest

from gateway.ports import Peer
from gateway.runtime import wiring
from gateway.store.memory import MemoryStore
from gateway.testing import network
from gateway.testing.clock import FakeClock
from gateway.testing.peer import FakePeer

PORTS = {"moe-hub": 18101, "moe-r15": 18102, "ocsc": 18103}  # only in URLs: nothing listens


@pytest.fixture(scope="session")
def ops_pki(tmp_path_factory) -> network.NetworkPKI:
    """One CA and the network's node and organisation certificates, valid at the fake clock's time."""
    return network.make_pki(tmp_path_factory.mktemp("ops-pki"), FakeClock().now() - dt.timedelta(days=1))


@pytest.fixture
def make_node(ops_pki, clock, tmp_path) -> Callable[..., wiring.Node]:
    """``make_node(name, peer=None, **config_overrides)``: a node of the test network on a fresh MemoryStore."""
    built: list[wiring.Node] = []

    def make(name: str, peer: Peer | None = None, **overrides) -> wiring.Node:
        cfg = network.node_config(name, ops_pki, PORTS, tmp_path / name, **overrides)
        node = wiring.build(cfg, store=MemoryStore(), clock=clock, peer=peer or FakePeer())
        built.append(node)
        return node

    yield make
    for node in built:
        node.close()
