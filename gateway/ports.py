"""The ports the application layer is handed (STYLE 6): each has a real adapter and an in-package fake.

| port | real | fake |
|---|---|---|
| :class:`Clock` | ``adapters/clock.py`` SystemClock | ``testing/clock.py`` FakeClock |
| :class:`Peer` | ``adapters/peer.py`` PeerClient (zeep) | ``testing/peer.py`` FakePeer, InProcessPeer |
| ``store.Store`` | ``store/sqlite.py``, ``store/postgres.py`` | ``store/memory.py`` MemoryStore |
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Protocol

from lxml import etree


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""


IdFactory = Callable[[], str]
"""Makes a ProcessID or MessageId: globally unique, so it names the same item on every node."""


class Peer(Protocol):
    """Another node's port, as the delivery worker and the directory sync use it.

    Failures raise :class:`gateway.core.errors.DeliveryError`, which says whether
    trying again can help.
    """

    def deliver(self, url: str, message: etree._Element) -> etree._Element:
        """Push one signed NodeMessage; the NodeReceipt element it was answered with (not yet verified)."""

    def directory_snapshot(self, url: str) -> bytes:
        """The DirectorySnapshot document of an authority node (not yet verified)."""
