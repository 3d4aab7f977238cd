"""The node's log: plain text lines for people, or one JSON object per line for a log collector.

``[logging] format = "text"`` (the default) writes
``2026-11-26 09:00:00,123 INFO gateway.http: 2000100000 CorrespondenceLetterOutbound ok 12.3 ms
[correlation_id=...]``; ``"json"`` writes one object per line with ``time`` (ISO 8601, Bangkok
time, +07:00), ``level``, ``logger``, ``message`` and the line's fields: ``org``, ``port``,
``operation``, ``code``, ``process_id``, ``correlation_id``, ``duration_ms``, ``node``... Thai
text is written as it is (UTF-8), not escaped. Both go to standard error.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import TextIO

from gateway.core.errors import ConfigError
from gateway.core.time import BANGKOK
from gateway.telemetry import ContextFilter

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record is a field of the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The line's own fields (``extra=`` and the log context), without the record's standard attributes."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, BANGKOK).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            line.setdefault(key, value if isinstance(value, (str, int, float, bool)) or value is None else str(value))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with the correlation id at the end when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        correlation = getattr(record, "correlation_id", "")
        if correlation and "\n" not in text:
            text += f" [correlation_id={correlation}]"
        elif correlation:
            first, _, rest = text.partition("\n")
            text = f"{first} [correlation_id={correlation}]\n{rest}"
        return text


def formatter(kind: str) -> logging.Formatter:
    if kind not in FORMATS:
        raise ConfigError(f"logging.format must be one of {FORMATS}, not {kind!r}")
    return JsonFormatter() if kind == "json" else TextFormatter()


def handler(kind: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with the chosen format and the log context on every record."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(formatter(kind))
    out.addFilter(ContextFilter())
    return out


def setup(kind: str, level: int = logging.INFO) -> None:
    """The process's log (``gateway serve`` and ``gateway worker``): replaces the root logger's handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(kind))
    root.setLevel(level)
