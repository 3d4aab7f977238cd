"""Configuration: the TOML format, its defaults and its errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway import config
from gateway.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway.example.toml"


def test_example_file_parses_and_shows_every_setting():
    text = EXAMPLE.read_text(encoding="utf-8")
    cfg = config.from_toml(text, base_dir=ROOT)
    section = None
    shown = set()
    for line in text.splitlines():
        header = re.match(r"^\[(\w+)\]$", line)
        if header:
            section = header.group(1)
        key = re.match(r"^(\w+) = ", line)
        if key and section:
            shown.add((section, key.group(1)))
    assert set(config.SETTINGS) <= shown
    assert cfg.directory.default_id == "2000100000"
    assert cfg.directory.is_hosted("2000350000") and not cfg.directory.is_hosted("2000340000")
    assert cfg.directory.get("2000340000").ecms_url.startswith("https://khonkaen")


def test_example_defaults_equal_the_code_defaults():
    cfg = config.from_toml(EXAMPLE.read_text(encoding="utf-8"), base_dir=ROOT)
    default = config.Config()
    for name in ("host", "port", "threads", "limits", "allow_top_secret", "visibility_timeout",
                 "outbound_status_window"):
        assert getattr(cfg, name) == getattr(default, name), name


def test_no_file_means_the_demo_node_with_data_in_var():
    cfg = config.Config()
    assert cfg.database_url == "sqlite:var/gateway.sqlite3"
    hosted = {o.id: o.th_name for o in cfg.directory.hosted()}
    assert hosted["2000350000"] == "สำนักงานศึกษาธิการจังหวัดเชียงใหม่"
    assert cfg.agency_url("2000350000") == "http://127.0.0.1:8080/ecms-ws01/service2/2000350000"


@pytest.mark.parametrize("text,message", [
    ("[server]\nport = 0\n", "port"),
    ("[server]\nprot = 80\n", "unknown setting server.prot"),
    ("[srever]\n", "unknown configuration section"),
    ("[server]\nport = '80'\n", "server.port must be int"),
    ("[policy]\nallow_top_secret = 1\n", "allow_top_secret must be bool"),
    ("[storage]\ndatabase = 'mysql://x'\n", "storage.database"),
    ("[[organizations]]\nid = '123'\nth_name = 'x'\n", "10 digits"),
    ("[[organizations]]\nid = '2000100000'\n", "th_name"),
    ("[node]\ndefault_organization = '2000999999'\n", "default organisation"),
    ("not toml = = \n", "not valid TOML"),
])
def test_configuration_errors_name_the_setting(text, message):
    with pytest.raises(ConfigError, match=message):
        config.from_toml(text)


def test_relative_paths_follow_the_file(tmp_path):
    cfg = config.from_toml("[storage]\ndata_dir = 'data'\n", base_dir=tmp_path)
    assert cfg.database_url == f"sqlite:{tmp_path / 'data' / 'gateway.sqlite3'}"


def test_the_development_pki_keeps_the_other_nodes_of_the_directory(tmp_path):
    """A development node that knows other nodes still knows them once its own keys are made."""
    from dataclasses import replace
    from gateway.core.network.directory import Directory, PeerNode
    from gateway.runtime import files
    from gateway.testing.clock import FakeClock
    demo = config.Config(data_dir=tmp_path)
    peer = PeerNode(id="moe-r15", url="http://127.0.0.1:9/ecms-ws01/node")
    with_peer = replace(demo, directory=Directory.build(demo.directory.organizations.values(),
                                                        default_id=demo.directory.default_id, nodes=[peer]))
    made = files.ensure_development_pki(with_peer, FakeClock())
    assert made.directory.nodes == {"moe-r15": peer}
    assert all(o.certificate for o in made.directory.hosted())
