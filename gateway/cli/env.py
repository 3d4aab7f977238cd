"""Configuration from the file, the environment and the flags: the only reader of the environment.

Every GATEWAY_* variable is named in ENVIRONMENT, which ``--help`` prints.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from gateway import config as configmod

ENVIRONMENT = {
    "GATEWAY_CONFIG": "configuration file (TOML); see gateway.example.toml",
    "GATEWAY_HOST": "address to listen on (overrides server.host)",
    "GATEWAY_PORT": "port to listen on (overrides server.port)",
    "GATEWAY_DATABASE": "database URL (overrides storage.database)",
    "GATEWAY_DATA_DIR": "data folder (overrides storage.data_dir)",
    "GATEWAY_URL": "base URL of the node the client commands talk to (default http://127.0.0.1:8080)",
    "GATEWAY_ORG": "OrganizationID the client commands act as",
    "GATEWAY_PASSWORD": "HTTP Basic password the client commands send (user = the OrganizationID)",
    "GATEWAY_P12_PASSWORD": "password protecting the PKCS#12 files `gateway pki` writes (default: none)",
}


def _epilog() -> str:
    lines = ["environment variables:"]
    lines += [f"  {name:<18} {text}" for name, text in ENVIRONMENT.items()]
    return "\n".join(lines)


def load_config(args: argparse.Namespace) -> configmod.Config:
    """The configuration: file (--config or GATEWAY_CONFIG), then environment, then flags."""
    path = getattr(args, "config", None) or os.environ.get("GATEWAY_CONFIG")
    if path:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"gateway: cannot read configuration {file}: {exc}") from exc
        cfg = configmod.from_toml(text, base_dir=file.resolve().parent)
    else:
        cfg = configmod.Config()
    overrides: dict = {}
    host = getattr(args, "host", None) or os.environ.get("GATEWAY_HOST")
    port = getattr(args, "port", None) or os.environ.get("GATEWAY_PORT")
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = int(port)
    if os.environ.get("GATEWAY_DATABASE"):
        overrides["database"] = os.environ["GATEWAY_DATABASE"]
    if os.environ.get("GATEWAY_DATA_DIR"):
        overrides["data_dir"] = Path(os.environ["GATEWAY_DATA_DIR"])
    if overrides:
        cfg = replace(cfg, **overrides)
        if not path and ("host" in overrides or "port" in overrides):
            # With no file the demo directory's URLs follow the listening address.
            url = f"http://{cfg.host}:{cfg.port}"
            cfg = replace(cfg, public_url=url, directory=configmod.demo_directory(url))
    return cfg


def env(name: str, default: str = "") -> str:
    """One GATEWAY_* variable (each is listed in ENVIRONMENT and so in --help)."""
    if name not in ENVIRONMENT:
        raise KeyError(f"{name} is not a documented GATEWAY_* variable")
    return os.environ.get(name, default)
