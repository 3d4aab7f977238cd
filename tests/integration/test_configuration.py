"""Configuration that cannot lie: what the README promises about start-up, /metrics and credentials."""
from __future__ import annotations

import base64
import dataclasses
import io

import pytest

from gateway import config
from gateway.core.errors import ConfigError
from gateway.core.network.directory import Directory
from gateway.core.trust.tenants import hash_password
from gateway.runtime import wiring
from gateway.store.memory import MemoryStore
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL, CHIANGMAI
from gateway.testing.wire import call, soap

PASSWORD = "รหัสผ่านยาวพอสมควร-2569"


def get(node, path: str, remote: str = "127.0.0.1") -> tuple[int, str]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "REMOTE_ADDR": remote,
               "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http"}
    status = {}
    body = b"".join(node.wsgi(environ, lambda line, headers: status.setdefault("code", int(line.split()[0]))))
    return status["code"], body.decode()


def with_passwords(cfg: config.Config) -> Directory:
    return Directory.build((dataclasses.replace(o, password_hash=hash_password(PASSWORD)) if o.hosted else o
                            for o in cfg.directory.organizations.values()), default_id=cfg.directory.default_id)


def test_credentials_without_tls_is_a_start_up_error(cfg):
    with pytest.raises(ConfigError) as refused:
        dataclasses.replace(cfg, agency_auth="credentials", directory=with_passwords(cfg))
    assert "needs TLS" in str(refused.value) and "tls_proxy" in str(refused.value)


def test_behind_a_tls_proxy_basic_credentials_count_only_when_the_proxy_says_https(cfg):
    node = wiring.build(dataclasses.replace(cfg, agency_auth="credentials", tls_proxy=True,
                                            directory=with_passwords(cfg)), store=MemoryStore(), clock=FakeClock())
    basic = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{CENTRAL}:{PASSWORD}".encode()).decode()}
    assert call(node, CENTRAL, soap("<TimeCheckRequest/>"), **basic).error_code == "4001"
    assert call(node, CENTRAL, soap("<TimeCheckRequest/>"), HTTP_X_FORWARDED_PROTO="https", **basic).ok()
    # Without tls_proxy, the header is not believed.
    plain = wiring.build(dataclasses.replace(cfg, agency_auth="credentials", tls_proxy=True,
                                             directory=with_passwords(cfg)), store=MemoryStore(), clock=FakeClock())
    plain.wsgi.tls_proxy = False
    assert call(plain, CENTRAL, soap("<TimeCheckRequest/>"), HTTP_X_FORWARDED_PROTO="https",
                **basic).error_code == "4001"


def test_metrics_answer_only_the_configured_networks(cfg):
    node = wiring.build(cfg, store=MemoryStore(), clock=FakeClock())
    assert get(node, "/metrics", "127.0.0.1")[0] == 200
    status, text = get(node, "/metrics", "192.0.2.10")
    assert status == 403 and "metrics_networks" in text
    opened = wiring.build(dataclasses.replace(cfg, metrics_networks=("192.0.2.0/24",)), store=MemoryStore(),
                          clock=FakeClock())
    assert get(opened, "/metrics", "192.0.2.10")[0] == 200 and get(opened, "/metrics", "127.0.0.1")[0] == 403


def test_every_series_is_present_from_start_up(cfg):
    node = wiring.build(cfg, store=MemoryStore(), clock=FakeClock())
    status, text = get(node, "/metrics")
    assert status == 200
    lines = set(text.splitlines())
    for expected in ('gateway_requests_total{code="ok",operation="CorrespondenceLetterOutbound",port="agency"} 0.0',
                     'gateway_requests_total{code="ok",operation="TimeCheck",port="agency"} 0.0',
                     'gateway_requests_total{code="ok",operation="Deliver",port="node"} 0.0',
                     'gateway_refusals_total{code="4001",port="agency"} 0.0',
                     'gateway_refusals_total{code="4002",port="node"} 0.0',
                     'gateway_delivery_attempts_total{outcome="delivered"} 0.0',
                     'gateway_delivery_attempts_total{outcome="retry"} 0.0',
                     'gateway_delivery_failures_total{reason="expired"} 0.0',
                     'gateway_delivery_retries_total 0.0', 'gateway_delivery_latency_seconds_count 0.0',
                     f'gateway_queue_items{{organization="{CENTRAL}"}} 0.0',
                     f'gateway_queue_items{{organization="{CHIANGMAI}"}} 0.0',
                     'gateway_outbox_items{state="pending"} 0.0', 'gateway_outbox_items{state="failed"} 0.0',
                     "gateway_store_up 1.0", "gateway_duplicate_messages_total 0.0"):
        assert expected in lines, expected
    call(node, CENTRAL, soap("<TimeCheckRequest/>")).ok()
    assert 'gateway_requests_total{code="ok",operation="TimeCheck",port="agency"} 1.0' in get(node, "/metrics")[1]
