"""Delivery threads: each runs the delivery operation's loop, woken early when an outbox item is committed."""
from __future__ import annotations

import datetime as dt
import threading

from gateway.operations.delivery import Worker
from gateway.store import Store


def start(worker: Worker, store: Store, *, threads: int, poll: dt.timedelta,
          name: str = "delivery") -> tuple[list[threading.Thread], threading.Event]:
    """Run ``threads`` delivery threads until the returned event is set (then join the threads)."""
    stop = threading.Event()

    def wait(seconds: float) -> None:
        if not stop.is_set():
            store.wait_for_work(seconds)

    running = [threading.Thread(target=worker.run_forever, args=(stop, wait, poll), name=f"{name}-{i}", daemon=True)
               for i in range(threads)]
    for thread in running:
        thread.start()
    return running, stop
