"""Telemetry without a node: the metrics of one registry, the log context, JSON and text lines, probes."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import telemetry
from gateway.core.errors import ConfigError
from gateway.runtime import logs
from gateway.telemetry import Metrics


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float:
    """The one sample ``name`` with exactly ``labels``; fails when it is absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise AssertionError(f"no sample {name}{labels}")


def render(metrics: Metrics, gauges=()) -> str:
    body, content_type = metrics.render(gauges)
    assert content_type.startswith("text/plain")
    return body.decode("utf-8")


def test_requests_and_refusals_are_counted_by_port_operation_and_code():
    metrics = Metrics()
    metrics.declare("agency", ["CorrespondenceLetterOutbound", "TimeCheck"], ["1005", "4001"])
    for _ in range(3):
        metrics.request("agency", "CorrespondenceLetterOutbound", "ok", 0.02)
    metrics.request("agency", "?", "1005", 0.001)
    metrics.request("node", "Deliver", "4002", 0.3)
    text = render(metrics)
    assert sample(text, "gateway_requests_total", port="agency", operation="CorrespondenceLetterOutbound",
                  code="ok") == 3
    assert sample(text, "gateway_requests_total", port="agency", operation="TimeCheck", code="ok") == 0
    assert sample(text, "gateway_requests_total", port="agency", operation="?", code="1005") == 1
    assert sample(text, "gateway_refusals_total", port="agency", code="1005") == 1
    assert sample(text, "gateway_refusals_total", port="agency", code="4001") == 0   # declared, never seen
    assert sample(text, "gateway_refusals_total", port="node", code="4002") == 1
    # ok answers are not refusals
    refused = sum(s.value for s in families(text)["gateway_refusals"].samples if s.name == "gateway_refusals_total")
    assert refused == 2


def test_every_family_has_help_and_type_and_the_histograms_have_buckets():
    metrics = Metrics()
    metrics.request("agency", "TimeCheck", "ok", 0.007)
    metrics.delivered_after(42.0)
    text = render(metrics)
    for name, kind in (("gateway_requests_total", "counter"), ("gateway_request_duration_seconds", "histogram"),
                       ("gateway_refusals_total", "counter"), ("gateway_delivery_attempts_total", "counter"),
                       ("gateway_delivery_retries_total", "counter"), ("gateway_delivery_failures_total", "counter"),
                       ("gateway_delivery_latency_seconds", "histogram"),
                       ("gateway_duplicate_messages_total", "counter")):
        assert f"# TYPE {name} {kind}\n" in text, name
        assert re.search(rf"^# HELP {name} \S", text, re.M), name
    assert "_created" not in text   # the created series are switched off
    buckets = {s.labels["le"]: s.value for s in families(text)["gateway_delivery_latency_seconds"].samples
               if s.name.endswith("_bucket")}
    assert buckets["30.0"] == 0 and buckets["60.0"] == 1 and buckets["+Inf"] == 1
    assert len(buckets) == len(telemetry.DELIVERY_BUCKETS) + 1
    assert sample(text, "gateway_delivery_latency_seconds_sum") == 42.0
    request_buckets = {s.labels["le"]: s.value for s in families(text)["gateway_request_duration_seconds"].samples
                       if s.name.endswith("_bucket")}
    assert request_buckets["0.005"] == 0 and request_buckets["0.01"] == 1


def test_delivery_outcomes_retries_failures_and_duplicates():
    metrics = Metrics()
    metrics.delivery("retry", retry=False)
    metrics.delivery("retry", retry=True)
    metrics.delivery("delivered", retry=True)
    metrics.delivery("failed", retry=False)
    metrics.failed("refused")
    metrics.failed("expired")
    metrics.failed("expired")
    metrics.duplicate()
    text = render(metrics)
    assert sample(text, "gateway_delivery_attempts_total", outcome="retry") == 2
    assert sample(text, "gateway_delivery_attempts_total", outcome="delivered") == 1
    assert sample(text, "gateway_delivery_attempts_total", outcome="failed") == 1
    assert sample(text, "gateway_delivery_retries_total") == 2
    assert sample(text, "gateway_delivery_failures_total", reason="expired") == 2
    assert sample(text, "gateway_delivery_failures_total", reason="unroutable") == 0
    assert sample(text, "gateway_duplicate_messages_total") == 1
    assert metrics.value("gateway_delivery_attempts_total", outcome="retry") == 2


def test_each_node_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.request("agency", "TimeCheck", "ok", 0.01)
    assert first.value("gateway_requests_total", port="agency", operation="TimeCheck", code="ok") == 1
    assert second.value("gateway_requests_total", port="agency", operation="TimeCheck", code="ok") == 0


def test_scrape_time_gauges_are_rendered_with_help_and_type():
    expiry = dt.datetime(2569 - 543, 11, 26, tzinfo=dt.timezone.utc).timestamp()
    gauges = [telemetry.gauge("gateway_store_up", "1 when the database answers", value=1),
              telemetry.gauge("gateway_queue_items", "queue items", ("organization",), {("2000350000",): 3}),
              telemetry.certificate_gauge([telemetry.CertificateExpiry(
                  kind="organization", id="2000350000", subject="CN=2000350000,O=สำนักงานศึกษาธิการจังหวัดเชียงใหม่",
                  not_after=expiry)])]
    text = render(Metrics(), gauges)
    assert "# TYPE gateway_store_up gauge" in text and "# TYPE gateway_queue_items gauge" in text
    assert sample(text, "gateway_queue_items", organization="2000350000") == 3
    assert sample(text, "gateway_certificate_expiry_timestamp_seconds", kind="organization", id="2000350000",
                  subject="CN=2000350000,O=สำนักงานศึกษาธิการจังหวัดเชียงใหม่") == expiry


def test_openmetrics_when_the_scraper_asks_for_it():
    metrics = Metrics()
    metrics.duplicate()
    body, content_type = metrics.render(accept="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
    assert "gateway_duplicate_messages_total 1.0" in body.decode()


def test_a_multiprocess_folder_that_is_not_there_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        Metrics(multiprocess_dir=tmp_path / "absent")


# ---------------------------------------------------------------- the log context

def test_the_log_context_nests_binds_and_ends_with_its_block():
    assert telemetry.correlation_id() == ""
    with telemetry.log_context(correlation_id="outer", org="2000100000"):
        with telemetry.log_context(process_id="p-1", empty=""):
            telemetry.bind(correlation_id="p-1")
            assert dict(telemetry.context()) == {"correlation_id": "p-1", "org": "2000100000", "process_id": "p-1"}
        assert telemetry.correlation_id() == "outer" and "process_id" not in telemetry.context()
    assert telemetry.correlation_id() == ""


def test_the_context_belongs_to_its_thread():
    seen = {}
    with telemetry.log_context(correlation_id="main"):
        worker = threading.Thread(target=lambda: seen.setdefault("id", telemetry.correlation_id()))
        worker.start()
        worker.join()
    assert seen["id"] == ""


@pytest.mark.parametrize("value,kept", [
    ("0b5c8e2a-7f0e-4c1e-9d57-1d2e3f4a5b6c", True), ("req-2569/11/26:0001", True), ("a" * 128, True),
    ("a" * 129, False), ("", False), ("has space", False), ("new\nline", False), ("-leading", False),
    ("ศธ0210", False), ("<script>", False)])
def test_only_plausible_client_correlation_ids_are_kept(value, kept):
    assert telemetry.valid_correlation_id(value) == (value if kept else "")


def _line(kind: str, build) -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"gateway.test.{kind}")
    logger.propagate = False
    handler = logs.handler(kind, stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        build(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_json_line_has_bangkok_time_level_logger_message_and_the_fields():
    def build(logger):
        with telemetry.log_context(correlation_id="ab12", process_id="ab12"):
            logger.info("%s ok", "2000100000", extra={"org": "2000100000", "operation": "CorrespondenceLetterOutbound",
                                                      "code": "ok", "subject": "ขอเชิญประชุม"})
    text = _line("json", build)
    assert text.count("\n") == 1
    line = json.loads(text)
    assert line["level"] == "INFO" and line["logger"] == "gateway.test.json" and line["message"] == "2000100000 ok"
    assert line["correlation_id"] == "ab12" and line["process_id"] == "ab12" and line["org"] == "2000100000"
    assert line["operation"] == "CorrespondenceLetterOutbound" and line["code"] == "ok"
    when = dt.datetime.fromisoformat(line["time"])
    assert line["time"].endswith("+07:00") and abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 60
    assert "ขอเชิญประชุม" in text   # Thai as it is, not \u escapes


def test_a_json_line_carries_the_traceback_in_one_line():
    def build(logger):
        try:
            raise ValueError("เสีย")
        except ValueError:
            logger.exception("internal error")
    line = json.loads(_line("json", build))
    assert "ValueError: เสีย" in line["exception"] and line["level"] == "ERROR"


def test_a_text_line_ends_with_its_correlation_id():
    def build(logger):
        logger.info("outside")
        with telemetry.log_context(correlation_id="p-7"):
            logger.info("inside")
    outside, inside = _line("text", build).splitlines()
    assert outside.endswith("gateway.test.text: outside") and "correlation_id" not in outside
    assert inside.endswith("gateway.test.text: inside [correlation_id=p-7]")


def test_an_unknown_log_format_is_a_configuration_error():
    with pytest.raises(ConfigError, match="logging.format"):
        logs.formatter("xml")


# ---------------------------------------------------------------- probes

def test_a_probe_answers_within_its_timeout_and_never_runs_twice_at_once():
    release, calls = threading.Event(), []

    def slow():
        calls.append(1)
        release.wait(5)
        return "answered"

    probe = telemetry.Probe(slow, timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(telemetry.ProbeTimeout, match="0.2 s"):
        probe()
    with pytest.raises(telemetry.ProbeTimeout):
        probe()                       # the first call is still running: waited for, not repeated
    assert len(calls) == 1 and time.perf_counter() - started < 2
    release.set()
    deadline = time.perf_counter() + 5
    while True:
        try:
            assert probe() == "answered"
            break
        except telemetry.ProbeTimeout:
            assert time.perf_counter() < deadline
    before = len(calls)
    assert probe() == "answered" and len(calls) == before + 1   # a finished run is not reused: asked afresh


def test_a_probe_hands_on_the_error():
    def broken():
        raise OSError("the database is away")

    with pytest.raises(OSError, match="away"):
        telemetry.Probe(broken, timeout=1)()
