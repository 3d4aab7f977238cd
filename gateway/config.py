"""The node's frozen configuration, its defaults, and the TOML file format.

Defaults are named constants with units (STYLE 7). This module parses text it
is given; reading files and the environment is the CLI's job. Every setting is
shown, with its default, in ``gateway.example.toml`` (a test keeps that file
and :data:`SETTINGS` equal).
"""
from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from gateway.core.network import directory as dirmod
from gateway.core.network.directory import Directory, Organization, PeerNode
from gateway.core.errors import ConfigError
from gateway.core.xml.contract import AGENCY_PATH, NODE_PATH  # noqa: F401 - part of the configuration's vocabulary
from gateway.core.xml.safe import MAX_BODY_BYTES, MAX_DEPTH, Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 8
DEFAULT_DATA_DIR = Path("var")
VISIBILITY_TIMEOUT = timedelta(minutes=10)     # a pulled, undeleted item is served again after this
OUTBOUND_STATUS_WINDOW = timedelta(days=30)    # OutboundStatusRequest lists letters sent this recently
OUTBOUND_STATUS_MAX = 1000                     # ... at most this many, newest first
POSTAGE_BAHT_PER_LETTER = 32.0                 # EMS, up to 20 g (Thailand Post, 2022); docs/registers.md
CHECKPOINT_INTERVAL = timedelta(hours=1)       # gateway serve signs a checkpoint of the evidence log this often
UNREGISTERED_WORKING_DAYS = 3                  # the console flags letters not registered after this many
RETENTION_KEEP_YEARS = 10                      # ระเบียบงานสารบรรณ ข้อ 57: ordinary letters at least 10 years

# (section, key) -> documentation; the example file must show exactly these.
SETTINGS: Mapping[tuple[str, str], str] = {
    ("node", "id"): "name of this node, used in logs and node-to-node messages",
    ("node", "public_url"): "base URL other parties use to reach this node",
    ("node", "default_organization"): "OrganizationID served at the bare /ecms-ws01/service2",
    ("server", "host"): "address to listen on",
    ("server", "port"): "TCP port to listen on",
    ("server", "threads"): "worker threads of the HTTP server",
    ("storage", "data_dir"): "folder for the SQLite database and other node data",
    ("storage", "database"): "empty for SQLite in data_dir, or a postgresql:// URL",
    ("limits", "max_body_bytes"): "largest request body accepted, in bytes",
    ("limits", "max_depth"): "deepest XML nesting accepted",
    ("policy", "allow_top_secret"): "accept secret code 004 (ลับที่สุด); the regulation says no",
    ("policy", "encrypt_secret"): "encrypt letters with secret code 002 (ลับ) and 003 (ลับมาก) to the receiving "
                                  "organisation's certificate when they leave this node (docs/secret-letters.md)",
    ("policy", "visibility_timeout_seconds"): "seconds before a pulled, undeleted item is served again",
    ("policy", "outbound_status_days"): "days of sent letters OutboundStatusRequest reports",
    ("registers", "postage_baht_per_letter"): "postage one letter sent by post would cost (baht): `gateway stats` "
                                              "counts it as saved for each letter delivered electronically",
    ("console", "unregistered_working_days"): "the console's dashboard lists letters delivered here and not "
                                              "registered (no AcceptLetterNotifier) after this many working days",
    ("evidence", "checkpoint_interval_seconds"): "how often `gateway serve` signs a checkpoint of the evidence log "
                                                 "(0: only `gateway evidence checkpoint`)",
    ("evidence", "tsa_url"): "RFC 3161 time-stamping authority that stamps every checkpoint (empty: signed only)",
    ("evidence", "tsa_certificate"): "PEM file: that authority's certificate, then its CA chain (pinned: its time "
                                     "stamps are checked against it)",
    ("retention", "keep_years"): "`gateway purge` removes finished letters with no activity for this many years",
    ("node", "certificate"): "PEM certificate of this node (signs node messages; default TLS certificate)",
    ("node", "key"): "PEM private key of this node",
    ("trust", "anchors"): "PEM files of the CA certificates every directory certificate must be issued by",
    ("trust", "legacy_signatures"): "accept rsa-sha1, SHA-1 digests, c14n with comments and bare RSAKeyValue",
    ("trust", "expiry_warning_days"): "warn (log at start-up, then daily) of certificates ending within these days",
    ("security", "agency_auth"): "'open' (allow-listed networks, no credentials) or 'credentials'",
    ("security", "open_networks"): "networks allowed in open mode (CIDR list)",
    ("security", "tls_proxy"): "TLS ends at a proxy in front that sets X-Forwarded-Proto (only it may reach the node)",
    ("security", "metrics_networks"): "networks that may read /metrics (CIDR list; default loopback)",
    ("tls", "certificate"): "PEM certificate to serve HTTPS with (empty: plain HTTP)",
    ("tls", "key"): "PEM private key of the HTTPS certificate",
    ("tls", "client_ca"): "PEM CA file to verify e-Saraban client certificates with (empty: none asked)",
    ("delivery", "retry_window_seconds"): "how long an item is retried before it is FAILED (default 5 days)",
    ("delivery", "retry_first_seconds"): "first retry delay; doubles per attempt, with jitter",
    ("delivery", "retry_max_seconds"): "longest delay between two attempts",
    ("delivery", "timeout_seconds"): "timeout of one push to a peer node",
    ("delivery", "clock_skew_seconds"): "node messages signed further than this from our clock are refused",
    ("delivery", "worker_poll_seconds"): "how often an idle worker looks for due items",
    ("delivery", "embedded_worker"): "serve also runs a delivery worker (off when separate `gateway worker`s run)",
    ("delivery", "worker_threads"): "pushes one worker (process or embedded) makes at the same time",
    ("directory_authority", "publish"): "this node publishes its directory as a signed snapshot",
    ("directory_authority", "node"): "id of the authority node whose snapshot this node uses (empty: none)",
    ("directory_authority", "url"): "the authority's node port URL",
    ("directory_authority", "certificate"): "PEM certificate the authority signs snapshots with (pinned)",
    ("directory_authority", "sync_interval_seconds"): "how often `gateway directory sync` runs; /readyz is unready "
                                                      "when the kept snapshot is 3 times older",
    ("logging", "format"): "'text' (lines for people) or 'json' (one JSON object per line, for a log collector)",
    ("metrics", "multiprocess_dir"): "folder where every process of the node (serve, workers) writes its counters, "
                                     "so /metrics adds them up; empty: each process counts alone",
}

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
RETRY_WINDOW = timedelta(days=5)            # DESIGN section 4: days, not minutes
RETRY_FIRST = timedelta(seconds=2)          # first retry after about this long (exponential, full jitter)
RETRY_MAX = timedelta(minutes=30)           # backoff stops growing here
DELIVERY_TIMEOUT = timedelta(seconds=30)    # one push to a peer
CLOCK_SKEW = timedelta(minutes=15)          # node messages signed further from our clock are refused
WORKER_POLL = timedelta(seconds=5)          # workers also look for due items this often
WORKER_THREADS = 4                          # concurrent pushes per worker
DIRECTORY_SYNC_INTERVAL = timedelta(days=1)  # `gateway directory sync` from a daily timer
LOG_FORMATS = ("text", "json")
AUTH_MODES = ("open", "credentials")
EXPIRY_WARNING = timedelta(days=30)         # certificates ending sooner are warned about (log, metrics, console)


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything a node needs to start; built once by the CLI."""

    node_id: str = "gateway"
    public_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    threads: int = DEFAULT_THREADS
    data_dir: Path = DEFAULT_DATA_DIR
    database: str = ""
    limits: Limits = field(default_factory=Limits)
    allow_top_secret: bool = False
    encrypt_secret: bool = True
    visibility_timeout: timedelta = VISIBILITY_TIMEOUT
    outbound_status_window: timedelta = OUTBOUND_STATUS_WINDOW
    postage_baht_per_letter: float = POSTAGE_BAHT_PER_LETTER
    retention_keep_years: int = RETENTION_KEEP_YEARS
    unregistered_working_days: int = UNREGISTERED_WORKING_DAYS
    checkpoint_interval: timedelta = CHECKPOINT_INTERVAL
    tsa_url: str = ""
    tsa_certificate: str = ""
    directory: Directory = field(default_factory=lambda: demo_directory(f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"))
    node_certificate: str = ""
    node_key: str = ""
    trust_anchors: tuple[str, ...] = ()
    legacy_signatures: bool = False
    expiry_warning: timedelta = EXPIRY_WARNING
    agency_auth: str = "open"
    open_networks: tuple[str, ...] = LOOPBACK_NETWORKS
    tls_proxy: bool = False
    metrics_networks: tuple[str, ...] = LOOPBACK_NETWORKS
    tls_certificate: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    retry_window: timedelta = RETRY_WINDOW
    retry_first: timedelta = RETRY_FIRST
    retry_max: timedelta = RETRY_MAX
    delivery_timeout: timedelta = DELIVERY_TIMEOUT
    clock_skew: timedelta = CLOCK_SKEW
    worker_poll: timedelta = WORKER_POLL
    embedded_worker: bool = True
    worker_threads: int = WORKER_THREADS
    publish_directory: bool = False
    authority_node: str = ""
    authority_url: str = ""
    authority_certificate: str = ""
    directory_sync_interval: timedelta = DIRECTORY_SYNC_INTERVAL
    log_format: str = "text"
    metrics_multiprocess_dir: str = ""

    def __post_init__(self) -> None:
        if not (0 < self.port < 65536):
            raise ConfigError(f"server.port {self.port} is not a TCP port")
        if self.expiry_warning <= timedelta(0):
            raise ConfigError("trust.expiry_warning_days must be at least 1")
        if self.threads < 1:
            raise ConfigError("server.threads must be at least 1")
        if self.worker_threads < 1:
            raise ConfigError("delivery.worker_threads must be at least 1")
        if self.database and not self.database.startswith(("postgresql://", "postgres://", "sqlite:")):
            raise ConfigError("storage.database must be empty, sqlite:PATH or a postgresql:// URL")
        if self.visibility_timeout <= timedelta(0):
            raise ConfigError("policy.visibility_timeout_seconds must be positive")
        if not 0 <= self.postage_baht_per_letter < 10_000:
            raise ConfigError("registers.postage_baht_per_letter must be between 0 and 10000 baht")
        if self.checkpoint_interval < timedelta(0):
            raise ConfigError("evidence.checkpoint_interval_seconds must be 0 or more")
        if bool(self.tsa_url) != bool(self.tsa_certificate):
            raise ConfigError("evidence.tsa_url and evidence.tsa_certificate go together (the authority's "
                              "certificate is pinned)")
        if not 1 <= self.unregistered_working_days <= 60:
            raise ConfigError("console.unregistered_working_days must be between 1 and 60")
        if self.retention_keep_years < 1:
            raise ConfigError("retention.keep_years must be at least 1")
        if self.agency_auth not in AUTH_MODES:
            raise ConfigError(f"security.agency_auth must be one of {AUTH_MODES}")
        for setting, networks in (("open_networks", self.open_networks), ("metrics_networks", self.metrics_networks)):
            for network in networks:
                try:
                    ipaddress.ip_network(network)
                except ValueError as exc:
                    raise ConfigError(f"security.{setting}: {exc}") from exc
        if self.agency_auth == "open" and len(self.directory.hosted()) > 1 and not all(
                ipaddress.ip_network(n).is_loopback for n in self.open_networks):
            # DESIGN section 6: only single-organisation legacy nodes may run open.
            raise ConfigError("a node hosting several organisations needs security.agency_auth = 'credentials' "
                              "(open mode is allowed there only for loopback networks)")
        if self.agency_auth == "credentials" and not self.tls_certificate and not self.tls_proxy:
            # Basic credentials are accepted over HTTPS only and client certificates need TLS: such a
            # node could never accept a login. Say so at start-up instead of refusing every request.
            raise ConfigError("security.agency_auth = 'credentials' needs TLS: set tls.certificate and tls.key, or "
                              "security.tls_proxy = true when a proxy in front terminates TLS")
        if self.agency_auth == "credentials":
            missing = [o.id for o in self.directory.hosted() if not o.password_hash]
            if missing and not self.tls_client_ca:
                raise ConfigError(f"agency_auth = 'credentials' needs password_hash (or tls.client_ca) for {missing}")
        if self.authority_node and not (self.authority_url and self.authority_certificate):
            raise ConfigError("directory_authority.node needs url and certificate (the snapshot is verified with it)")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"logging.format must be one of {LOG_FORMATS}, not {self.log_format!r}")
        if self.directory_sync_interval <= timedelta(0):
            raise ConfigError("directory_authority.sync_interval_seconds must be positive")
        if bool(self.tls_certificate) != bool(self.tls_key):
            raise ConfigError("tls.certificate and tls.key go together")
        if self.tls_client_ca and not self.tls_certificate:
            raise ConfigError("tls.client_ca needs tls.certificate and tls.key")

    @property
    def database_url(self) -> str:
        """The store URL: the configured one, or SQLite inside the data folder."""
        return self.database or f"sqlite:{self.data_dir / 'gateway.sqlite3'}"

    @property
    def node_url(self) -> str:
        """This node's node port, for [[nodes]] entries of its peers."""
        return self.public_url.rstrip("/") + NODE_PATH

    def agency_url(self, org_id: str | None = None) -> str:
        base = self.public_url.rstrip("/") + AGENCY_PATH
        return f"{base}/{org_id}" if org_id else base


def demo_directory(public_url: str) -> Directory:
    """The demo organisations, all hosted here, each with its own endpoint."""
    base = public_url.rstrip("/") + AGENCY_PATH
    return Directory.build(
        (Organization(id=i, th_name=th, en_name=en, ecms_url=f"{base}/{i}", node="gateway", hosted=True)
         for i, th, en in dirmod.DEMO_ORGANIZATIONS),
        default_id=dirmod.DEMO_DEFAULT,
    )


def from_toml(text: str, *, base_dir: Path = Path(".")) -> Config:
    """Build a Config from the TOML text of a configuration file.

    Relative paths are taken relative to ``base_dir`` (the file's folder).
    Unknown sections or keys are errors, so a typo never silently falls back
    to a default.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration is not valid TOML: {exc}") from exc
    known_sections = {s for s, _ in SETTINGS} | {"organizations", "directory", "nodes"}
    for section, value in raw.items():
        if section not in known_sections:
            raise ConfigError(f"unknown configuration section [{section}]")
        if section in ("organizations", "directory", "nodes"):
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"[{section}] must be a table")
        for key in value:
            if (section, key) not in SETTINGS:
                raise ConfigError(f"unknown setting {section}.{key}")

    def get(section: str, key: str, default: Any, kind: type) -> Any:
        value = raw.get(section, {}).get(key, default)
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(f"{section}.{key} must be {kind.__name__}, not {value!r}")
        return value

    host = get("server", "host", DEFAULT_HOST, str)
    port = get("server", "port", DEFAULT_PORT, int)
    public_url = get("node", "public_url", f"http://{host}:{port}", str)
    node_id = get("node", "id", "gateway", str)
    data_dir = Path(get("storage", "data_dir", str(DEFAULT_DATA_DIR), str))
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    database = get("storage", "database", "", str)
    if database.startswith("sqlite:"):
        path = Path(database[len("sqlite:"):])
        database = f"sqlite:{path if path.is_absolute() else base_dir / path}"

    def path(section: str, key: str) -> str:
        value = get(section, key, "", str)
        if value and not Path(value).is_absolute():
            value = str(base_dir / value)
        return value

    def strings(section: str, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = raw.get(section, {}).get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{section}.{key} must be a list of strings")
        return tuple(value)

    def seconds(key: str, default: timedelta) -> timedelta:
        value = raw.get("delivery", {}).get(key, default.total_seconds())
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"delivery.{key} must be a positive number of seconds")
        return timedelta(seconds=value)

    directory = _directory(raw, public_url, node_id,
                           get("node", "default_organization", "", str), base_dir)
    limits = Limits(max_bytes=get("limits", "max_body_bytes", MAX_BODY_BYTES, int),
                    max_depth=get("limits", "max_depth", MAX_DEPTH, int))
    return Config(
        node_id=node_id,
        public_url=public_url,
        host=host,
        port=port,
        threads=get("server", "threads", DEFAULT_THREADS, int),
        data_dir=data_dir,
        database=database,
        limits=limits,
        allow_top_secret=get("policy", "allow_top_secret", False, bool),
        encrypt_secret=get("policy", "encrypt_secret", True, bool),
        visibility_timeout=timedelta(seconds=get("policy", "visibility_timeout_seconds",
                                                 int(VISIBILITY_TIMEOUT.total_seconds()), int)),
        outbound_status_window=timedelta(days=get("policy", "outbound_status_days",
                                                  OUTBOUND_STATUS_WINDOW.days, int)),
        postage_baht_per_letter=_baht(raw.get("registers", {}).get("postage_baht_per_letter",
                                                                   POSTAGE_BAHT_PER_LETTER)),
        retention_keep_years=get("retention", "keep_years", RETENTION_KEEP_YEARS, int),
        unregistered_working_days=get("console", "unregistered_working_days", UNREGISTERED_WORKING_DAYS, int),
        checkpoint_interval=timedelta(seconds=get("evidence", "checkpoint_interval_seconds",
                                                  int(CHECKPOINT_INTERVAL.total_seconds()), int)),
        tsa_url=get("evidence", "tsa_url", "", str),
        tsa_certificate=path("evidence", "tsa_certificate"),
        directory=directory,
        node_certificate=path("node", "certificate"),
        node_key=path("node", "key"),
        trust_anchors=tuple(str(p if Path(p).is_absolute() else base_dir / p)
                            for p in strings("trust", "anchors", ())),
        legacy_signatures=get("trust", "legacy_signatures", False, bool),
        expiry_warning=timedelta(days=get("trust", "expiry_warning_days", EXPIRY_WARNING.days, int)),
        agency_auth=get("security", "agency_auth", "open", str),
        open_networks=strings("security", "open_networks", LOOPBACK_NETWORKS),
        tls_proxy=get("security", "tls_proxy", False, bool),
        metrics_networks=strings("security", "metrics_networks", LOOPBACK_NETWORKS),
        tls_certificate=path("tls", "certificate"),
        tls_key=path("tls", "key"),
        tls_client_ca=path("tls", "client_ca"),
        retry_window=seconds("retry_window_seconds", RETRY_WINDOW),
        retry_first=seconds("retry_first_seconds", RETRY_FIRST),
        retry_max=seconds("retry_max_seconds", RETRY_MAX),
        delivery_timeout=seconds("timeout_seconds", DELIVERY_TIMEOUT),
        clock_skew=seconds("clock_skew_seconds", CLOCK_SKEW),
        worker_poll=seconds("worker_poll_seconds", WORKER_POLL),
        embedded_worker=get("delivery", "embedded_worker", True, bool),
        worker_threads=get("delivery", "worker_threads", WORKER_THREADS, int),
        publish_directory=get("directory_authority", "publish", False, bool),
        authority_node=get("directory_authority", "node", "", str),
        authority_url=get("directory_authority", "url", "", str),
        authority_certificate=path("directory_authority", "certificate"),
        directory_sync_interval=timedelta(seconds=get("directory_authority", "sync_interval_seconds",
                                                      int(DIRECTORY_SYNC_INTERVAL.total_seconds()), int)),
        log_format=get("logging", "format", "text", str),
        metrics_multiprocess_dir=path("metrics", "multiprocess_dir"),
    )


def _baht(value: Any) -> float:
    """registers.postage_baht_per_letter: a number of baht (20 or 19.5)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"registers.postage_baht_per_letter must be a number of baht, not {value!r}")
    return float(value)


def _directory(raw: Mapping[str, Any], public_url: str, node_id: str, default_id: str,
               base_dir: Path) -> Directory:
    hosted = raw.get("organizations")
    if hosted is None:
        base = demo_directory(public_url)
        hosted_orgs = [replace(o, node=node_id) for o in base.organizations.values()]
        default_id = default_id or base.default_id
    else:
        if not isinstance(hosted, list) or not hosted:
            raise ConfigError("[[organizations]] must list at least one hosted organisation")
        base_url = public_url.rstrip("/") + AGENCY_PATH
        hosted_orgs = [_org(entry, "organizations", hosted=True, node=node_id,
                            url=f"{base_url}/{entry.get('id', '')}", base_dir=base_dir) for entry in hosted]
    others = raw.get("directory", [])
    if not isinstance(others, list):
        raise ConfigError("[[directory]] must be an array of tables")
    remote = [_org(entry, "directory", hosted=False, node="", url="", base_dir=base_dir) for entry in others]
    return Directory.build([*hosted_orgs, *remote], default_id=default_id, nodes=_nodes(raw, base_dir))


_NODE_KEYS = {"id", "url", "certificate"}


def _nodes(raw: Mapping[str, Any], base_dir: Path) -> list[PeerNode]:
    entries = raw.get("nodes", [])
    if not isinstance(entries, list):
        raise ConfigError("[[nodes]] must be an array of tables")
    peers = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - _NODE_KEYS or not {"id", "url"} <= set(entry):
            raise ConfigError(f"each [[nodes]] entry has id, url and certificate (got {sorted(entry)})")
        cert = entry.get("certificate", "")
        peers.append(PeerNode(id=entry["id"], url=entry["url"],
                              certificate=str(base_dir / cert) if cert and not Path(cert).is_absolute() else cert))
    return peers


_ORG_KEYS = {"id", "th_name", "en_name", "ecms_url", "node", "via", "certificate", "key", "password_hash"}
_HOSTED_ONLY = {"key", "password_hash"}


def _org(entry: Any, section: str, *, hosted: bool, node: str, url: str, base_dir: Path) -> Organization:
    if not isinstance(entry, dict):
        raise ConfigError(f"each [[{section}]] entry must be a table")
    unknown = set(entry) - _ORG_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in [[{section}]]")
    for key in entry:
        if not isinstance(entry[key], str):
            raise ConfigError(f"[[{section}]] {key} must be a string")
    if "id" not in entry or "th_name" not in entry:
        raise ConfigError(f"each [[{section}]] entry needs id and th_name")
    if not hosted and _HOSTED_ONLY & set(entry):
        raise ConfigError(f"[[directory]] {entry['id']}: {sorted(_HOSTED_ONLY & set(entry))} belong to hosted "
                          "organisations only")

    def file(key: str) -> str:
        value = entry.get(key, "")
        return str(base_dir / value) if value and not Path(value).is_absolute() else value

    return Organization(
        id=entry["id"], th_name=entry["th_name"], en_name=entry.get("en_name", ""),
        ecms_url=entry.get("ecms_url", url) if not hosted else url,
        node=entry.get("node", node), via=entry.get("via", ""), hosted=hosted, certificate=file("certificate"),
        key=file("key"),
        password_hash=entry.get("password_hash", ""),
    )
