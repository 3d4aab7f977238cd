"""Tenant isolation and TLS on a real HTTPS node (issue 3, items 5 and 6)."""
from __future__ import annotations

import dataclasses

import pytest
import requests
from gateway.testing.wire import PULL, call, send_request

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN

from gateway.testing.live import LiveServer, free_port, live_config
from gateway.runtime import wiring as app
from gateway.adapters.esaraban import AgencyClient, ClientError
from gateway.core.network.directory import Directory
from gateway.core.errors import ConfigError
from gateway.core.trust.tenants import hash_password

PASSWORD = "รหัสผ่านยาวพอสมควร-2569"


def credentials_config(data_dir, port, **extra):
    pki = data_dir / "pki"
    base = live_config(port, data_dir)
    directory = Directory.build(
        (dataclasses.replace(o, password_hash=hash_password(PASSWORD)) if o.id == CENTRAL else o
         for o in base.directory.organizations.values()), default_id=base.directory.default_id)
    return dataclasses.replace(
        base, public_url=f"https://127.0.0.1:{port}", directory=directory, agency_auth="credentials",
        tls_certificate=str(pki / "node.pem"), tls_key=str(pki / "node.key"), tls_client_ca=str(pki / "ca.pem"),
        **extra)


@pytest.fixture
def secure(store, clock, data_dir):
    port = free_port()
    server = LiveServer(app.build(credentials_config(data_dir, port), store=store, clock=clock, migrate=False),
                        port, tls=True)
    yield server, data_dir / "pki"
    server.stop()


def client(server, org, pki, **kw):
    return AgencyClient(server.endpoint(org), verify=str(pki / "ca.pem"), **kw)


def test_basic_credentials_over_https(secure):
    server, pki = secure
    sent = client(server, CENTRAL, pki, auth=(CENTRAL, PASSWORD)).call(send_request().split(b"<SOAP-ENV:Body>")[1]
                                                                         .split(b"</SOAP-ENV:Body>")[0])
    assert sent.process_id


def test_wrong_password_and_other_organisations_credentials(secure):
    server, pki = secure
    with pytest.raises(ClientError) as info:
        client(server, CENTRAL, pki, auth=(CENTRAL, "wrong password!!")).pull()
    assert info.value.code == "4001"
    with pytest.raises(ClientError) as info:
        client(server, CHIANGMAI, pki, auth=(CENTRAL, PASSWORD)).pull()
    assert info.value.code == "4001"


def test_no_credentials(secure):
    server, pki = secure
    with pytest.raises(ClientError) as info:
        client(server, CENTRAL, pki).pull()
    assert info.value.code == "4001" and "needs credentials" in info.value.description


def test_client_certificate_acts_for_its_organisation_only(secure):
    server, pki = secure
    cert = (str(pki / "orgs" / f"{CHIANGMAI}.pem"), str(pki / "orgs" / f"{CHIANGMAI}.key"))
    assert client(server, CHIANGMAI, pki, cert=cert).pull().item is None
    with pytest.raises(ClientError) as info:
        client(server, KHONKAEN, pki, cert=cert).pull()
    assert info.value.code == "4001" and CHIANGMAI in info.value.description


def test_the_node_certificate_is_verified_by_clients(secure):
    server, _ = secure
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(server.endpoint(CENTRAL), data=PULL, headers={"Content-Type": "text/xml"}, timeout=5)


def test_basic_credentials_over_plain_http_are_refused(node):
    creds = dataclasses.replace(node.config, agency_auth="credentials", tls_proxy=True,
                                directory=Directory.build(
                                    (dataclasses.replace(o, password_hash=hash_password(PASSWORD))
                                     for o in node.config.directory.organizations.values()),
                                    default_id=node.config.directory.default_id))
    plain = app.build(creds, store=node.store, clock=node.agency.clock, migrate=False)
    import base64
    header = "Basic " + base64.b64encode(f"{CENTRAL}:{PASSWORD}".encode()).decode()
    reply = call(plain, CENTRAL, PULL, HTTP_AUTHORIZATION=header)
    assert reply.error_code == "4001" and "HTTPS" in reply.error_text


def test_open_mode_allows_only_its_networks(store, clock, data_dir):
    single = live_config(free_port(), data_dir)
    one = Directory.build([single.directory.get(CENTRAL)], default_id=CENTRAL)
    cfg = dataclasses.replace(single, directory=one, open_networks=("10.20.0.0/16",))
    node = app.build(cfg, store=store, clock=clock, migrate=False)
    assert call(node, CENTRAL, PULL).error_code == "4001"
    assert call(node, CENTRAL, PULL, REMOTE_ADDR="10.20.3.4").ok()


def test_a_multi_organisation_node_cannot_run_open_beyond_loopback(data_dir):
    with pytest.raises(ConfigError, match="credentials"):
        dataclasses.replace(live_config(free_port(), data_dir), open_networks=("10.0.0.0/8",))
