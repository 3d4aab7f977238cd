"""The evidence log's processes: checkpoints every ``evidence.checkpoint_interval_seconds``, and verification.

``gateway serve`` runs :func:`watch`, a thread that signs a checkpoint (and has it
time-stamped by the configured RFC 3161 authority) at each interval; with
several processes on one PostgreSQL, set the interval to 0 and run
``gateway evidence checkpoint`` from one timer instead (docs/evidence.md).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading

from gateway.config import Config
from gateway.operations import evidence
from gateway.ports import Clock
from gateway.runtime import wiring
from gateway.store import Store
from gateway.core.trust.keyring import Keyring

log = logging.getLogger("gateway.evidence")


def checkpoint(cfg: Config, store: Store, keyring: Keyring, clock: Clock):
    return evidence.checkpoint(store, node_id=cfg.node_id, signer=keyring.node_signer, now=clock.now(),
                               stamp=wiring.tsa_stamper(cfg))


def verify(cfg: Config, store: Store, keyring: Keyring, clock: Clock) -> evidence.Verification:
    return evidence.verify(store, keyring, node_id=cfg.node_id, now=clock.now(), check_token=wiring.tsa_token_checker(cfg))


def watch(cfg: Config, store: Store, keyring: Keyring, clock: Clock) -> threading.Event:
    """Checkpoint every interval until the returned event is set (nothing when the interval is 0)."""
    stop = threading.Event()
    seconds = cfg.checkpoint_interval.total_seconds()
    if seconds <= 0:
        return stop

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                made = checkpoint(cfg, store, keyring, clock)
                if made is not None:
                    log.info("evidence checkpoint %s: %s entries up to %s", made.id, made.entries, made.upto_id)
            except Exception:  # noqa: BLE001 - a failed checkpoint (TSA away) is retried at the next interval
                log.exception("evidence checkpoint failed; trying again in %s s", int(seconds))

    threading.Thread(target=loop, name="evidence-checkpoints", daemon=True).start()
    return stop
