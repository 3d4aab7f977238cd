"""What operators see of a running node: Prometheus metrics, the log context and its correlation id.

Metrics (docs/observability.md)
-------------------------------
Every node has a :class:`Metrics` of its own, with its own
``prometheus_client.CollectorRegistry``: tests build many nodes in one
process, so the library's global default registry is never used. Counters
and histograms are incremented where the event happens (the HTTP adapter's
one error path, the delivery loop, the relay's duplicate answer). What the
database knows (queue depths, outbox states) and what the configuration says
(certificate expiry) are not kept here: the caller hands them to
:meth:`Metrics.render` as gauge families, computed when ``/metrics`` is read.

Several processes on one database (``gateway serve`` and ``gateway worker``)
report together in prometheus_client's multi-process mode: with
``[metrics] multiprocess_dir`` each process writes its counters to files in
that folder, and ``/metrics`` adds up the files of every process. The
library takes the folder from the variable PROMETHEUS_MULTIPROC_DIR, which
the command line sets from the configuration before the node is built.

The log context
---------------
:func:`log_context` and :func:`bind` attach fields (``correlation_id``,
``process_id``, ``org``, ...) to every log line written while a request or a
delivery is handled, by any logger; :class:`ContextFilter` copies them onto
the records. The correlation id of an item is its ProcessID, the same on
every node, unless the client sent its own ``X-Correlation-ID``; pushes carry
it to the next node in that header (``adapters/peer.py``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Generic, Iterable, Iterator, Mapping, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, exposition, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.core.errors import ConfigError

# The *_created series say when a counter was made; they add a line per series and nothing for alerts.
prometheus_client.disable_created_metrics()

PORTS = ("agency", "node")
DELIVERY_OUTCOMES = ("delivered", "retry", "failed")
FAILURE_REASONS = ("refused", "expired", "unroutable")
CERTIFICATE_KINDS = ("node", "peer", "organization", "anchor")
OK = "ok"
# Seconds. A request is answered in milliseconds; a push waits up to delivery.timeout_seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# From an outbox item's creation to its receipt: sub-second when the next node is up, up to the
# retry window (5 days by default) when it is not.
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0,
                    86400.0, 2 * 86400.0, 5 * 86400.0)


class Metrics:
    """One node's counters and histograms, rendered with the gauges the caller computes at scrape time."""

    def __init__(self, *, multiprocess_dir: str | Path | None = None) -> None:
        self.multiprocess_dir = Path(multiprocess_dir) if multiprocess_dir else None
        if self.multiprocess_dir is None:
            self._define()
            return
        if not self.multiprocess_dir.is_dir():
            raise ConfigError(f"metrics.multiprocess_dir {self.multiprocess_dir} is not a folder")
        _use_multiprocess_values()
        try:
            self._define()
        except TypeError as exc:  # the library found no PROMETHEUS_MULTIPROC_DIR: os.path.join(None, ...)
            raise ConfigError(_MULTIPROC_MISMATCH.format(self.multiprocess_dir)) from exc
        if not (self.multiprocess_dir / f"counter_{os.getpid()}.db").exists():
            raise ConfigError(_MULTIPROC_MISMATCH.format(self.multiprocess_dir))

    def _define(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("gateway_requests", "requests answered, by port (agency, node), operation and "
                                "outcome (ok or the error code)", ["port", "operation", "code"], registry=r)
        self.request_seconds = Histogram("gateway_request_duration_seconds", "time to answer a request, by port and "
                                         "operation", ["port", "operation"], buckets=REQUEST_BUCKETS, registry=r)
        self.refusals = Counter("gateway_refusals", "faults answered, by port and error code (1xxx-4xxx refused "
                                "requests, 5xxx the node's own failures)", ["port", "code"], registry=r)
        self.delivery_attempts = Counter("gateway_delivery_attempts", "pushes of outbox items to the next node, by "
                                         "outcome (delivered, retry, failed)", ["outcome"], registry=r)
        self.delivery_retries = Counter("gateway_delivery_retries", "pushes of items that had been pushed before "
                                        "(a retry after a failed attempt)", registry=r)
        self.delivery_failures = Counter("gateway_delivery_failures", "outbox items marked FAILED, by reason "
                                         "(refused by the next node, expired retry window, unroutable)",
                                         ["reason"], registry=r)
        self.delivery_latency = Histogram("gateway_delivery_latency_seconds", "from an outbox item's creation to "
                                          "the verified receipt of the next node", buckets=DELIVERY_BUCKETS,
                                          registry=r)
        self.duplicates = Counter("gateway_duplicate_messages", "repeated node messages answered with their "
                                  "original receipt", registry=r)
        for outcome in DELIVERY_OUTCOMES:
            self.delivery_attempts.labels(outcome)
        for reason in FAILURE_REASONS:
            self.delivery_failures.labels(reason)

    # ------------------------------------------------------------ counting
    def declare(self, port: str, operations: Iterable[str], codes: Iterable[str]) -> None:
        """Make the series of a port exist at zero from start-up: each operation's ``ok``, each fault code."""
        for operation in operations:
            self.requests.labels(port, operation, OK)
            self.request_seconds.labels(port, operation)
        for code in codes:
            self.refusals.labels(port, code)

    def request(self, port: str, operation: str, code: str, seconds: float) -> None:
        """One answered request: ``code`` is ``ok`` or the fault's error code."""
        self.requests.labels(port, operation, code).inc()
        self.request_seconds.labels(port, operation).observe(seconds)
        if code != OK:
            self.refusals.labels(port, code).inc()

    def delivery(self, outcome: str, *, retry: bool) -> None:
        """One push (or a decision not to push) of an outbox item."""
        self.delivery_attempts.labels(outcome).inc()
        if retry:
            self.delivery_retries.inc()

    def delivered_after(self, seconds: float) -> None:
        self.delivery_latency.observe(max(0.0, seconds))

    def failed(self, reason: str) -> None:
        self.delivery_failures.labels(reason).inc()

    def duplicate(self) -> None:
        self.duplicates.inc()

    def value(self, name: str, **labels: str) -> float:
        """One sample's value in this process (0 when absent): for tests and the command line."""
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else 0.0

    # ----------------------------------------------------------- rendering
    def render(self, gauges: Iterable[Metric] = (), *, accept: str = "") -> tuple[bytes, str]:
        """The exposition text (or OpenMetrics, if ``accept`` asks for it) and its content type."""
        encoder, content_type = exposition.choose_encoder(accept)
        return encoder(_Scrape(self._counted(), tuple(gauges))), content_type

    def _counted(self):
        if self.multiprocess_dir is None:
            return self.registry
        # Every process's files, this one's included; this process's registry would count it twice.
        return MultiProcessCollector(None, path=str(self.multiprocess_dir))


@dataclass(frozen=True)
class _Scrape:
    counted: object
    gauges: tuple[Metric, ...]

    def collect(self) -> Iterator[Metric]:
        yield from self.counted.collect()
        yield from self.gauges


_MULTIPROC_MISMATCH = ("metrics.multiprocess_dir is {0}, but prometheus_client writes elsewhere: start the process "
                       "with the gateway command (it sets PROMETHEUS_MULTIPROC_DIR), or set PROMETHEUS_MULTIPROC_DIR "
                       "to the same folder before the process starts")


def _use_multiprocess_values() -> None:
    """Counters made from now on live in the files of PROMETHEUS_MULTIPROC_DIR (set by the command line).

    prometheus_client chooses its value class when it is imported, from the
    environment; the command line sets the variable from the configuration
    later, so the choice is made again here.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def gauge(name: str, documentation: str, labels: Iterable[str] = (),
          samples: Mapping[tuple[str, ...], float] | None = None, value: float | None = None) -> Metric:
    """A gauge family computed at scrape time: ``samples`` by label values, or one ``value``."""
    family = GaugeMetricFamily(name, documentation, value=value, labels=None if value is not None else list(labels))
    for label_values, sample in sorted((samples or {}).items()):
        family.add_metric(list(label_values), sample)
    return family


@dataclass(frozen=True, kw_only=True)
class CertificateExpiry:
    kind: str        # one of CERTIFICATE_KINDS
    id: str          # the node id, the OrganizationID or the anchor's common name
    subject: str     # RFC 4514
    not_after: float  # seconds since the epoch


def certificate_gauge(certificates: Iterable[CertificateExpiry]) -> Metric:
    return gauge("gateway_certificate_expiry_timestamp_seconds",
                 "when each configured certificate expires (seconds since the epoch), by kind (node, peer, "
                 "organization, anchor), id and subject", ("kind", "id", "subject"),
                 {(c.kind, c.id, c.subject): c.not_after for c in certificates})


# ---------------------------------------------------------------- the log context
CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("gateway_log_context", default=_EMPTY)


def valid_correlation_id(value: str | None) -> str:
    """A client's X-Correlation-ID if it is a plausible id (at most 128 safe characters), else ''."""
    value = (value or "").strip()
    return value if _CORRELATION.match(value) else ""


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Fields on every log line written inside the block (empty values are left out)."""
    token = _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v}}))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: str) -> None:
    """Add fields to the current context (they end with the enclosing :func:`log_context`)."""
    _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v}}))


def context() -> Mapping[str, str]:
    return _context.get()


def correlation_id() -> str:
    return _context.get().get("correlation_id", "")


class ContextFilter(logging.Filter):
    """Copies the log context onto each record (a handler's filter: it sees every logger's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# ---------------------------------------------------------------- bounded probes
T = TypeVar("T")


class ProbeTimeout(Exception):
    pass


@dataclass
class _Run(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


class Probe(Generic[T]):
    """Call ``fn`` in a helper thread and wait at most ``timeout`` seconds for it.

    A database that is down can keep a connection pool waiting for half a
    minute; /readyz and /metrics answer within ``timeout`` instead. While one
    call is still running, later ones wait for it rather than start another,
    so a dead database never piles up threads.
    """

    def __init__(self, fn: Callable[[], T], timeout: float) -> None:
        self.fn = fn
        self.timeout = timeout
        self._lock = threading.Lock()
        self._run: _Run | None = None

    def __call__(self) -> T:
        with self._lock:
            run = self._run
            if run is None or run.done.is_set():
                run = self._run = _Run()
                threading.Thread(target=self._work, args=(run,), name="probe", daemon=True).start()
        if not run.done.wait(self.timeout):
            raise ProbeTimeout(f"no answer within {self.timeout:g} s")
        if run.error is not None:
            raise run.error
        return run.result  # type: ignore[return-value]

    def _work(self, run: _Run) -> None:
        try:
            run.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            run.error = exc
        finally:
            run.done.set()
