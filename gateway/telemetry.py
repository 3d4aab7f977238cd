"""Counters for operators, served as Prometheus text at /metrics."""
from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    """Thread-safe counters keyed by (name, sorted labels)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += amount

    def declare(self, name: str, **labels: str) -> None:
        """Make a series exist (at zero) before its first event."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts.setdefault(key, 0)

    def value(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self, gauges: dict[tuple[str, tuple], int] | None = None) -> str:
        with self._lock:
            items = sorted(self._counts.items())
        lines = []
        for (name, labels), value in [*items, *sorted((gauges or {}).items())]:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
        return "\n".join(lines) + "\n"
