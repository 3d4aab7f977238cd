"""The system clock and identifiers: the only place the node reads the time of day."""
from __future__ import annotations

import datetime as dt
import uuid


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


def new_process_id() -> str:
    """A ProcessID: globally unique, so it can name the same item on every node."""
    return str(uuid.uuid4())
