"""Import direction (DESIGN section 5): the core does no I/O, each driver has one importer."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "gateway"

CORE = {"errors", "ns", "config", "codelists", "clock", "xmlsafe", "contract", "letter", "state", "records",
        "envelope", "directory", "exchange", "signing", "pki", "nodemsg", "retry", "snapshot"}
ADAPTERS = {"store", "service", "wsgi", "app", "cli", "client", "agency", "peer", "worker", "relay"}
DRIVERS = {
    "spyne": {"service.py"},
    "zeep": {"peer.py"},
    "psycopg": {"store/postgres.py"},
    "psycopg_pool": {"store/postgres.py"},
    "sqlite3": {"store/sqlite.py"},
    "cheroot": {"cli.py"},
    "requests": {"client.py", "peer.py"},
}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"))


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("rel,tree", list(modules()), ids=[r for r, _ in modules()])
def test_import_rules(rel, tree):
    names = imported(tree)
    top = {n.split(".")[0] for n in names}
    ours = {n.split(".")[1] for n in names if n.startswith("gateway.") and n.count(".") >= 1}
    module = rel[:-3].split("/")[0]
    if module in CORE:
        assert not (ours & ADAPTERS), f"core module {rel} imports adapters {ours & ADAPTERS}"
    for driver, allowed in DRIVERS.items():
        if driver in top:
            assert rel in allowed, f"{rel} imports {driver}; only {sorted(allowed)} may"
    if module in {"errors", "ns"}:
        assert not ours, f"leaf {rel} imports {ours}"


@pytest.mark.parametrize("rel,tree", list(modules()), ids=[r for r, _ in modules()])
def test_only_app_names_concrete_stores(rel, tree):
    if rel in ("app.py",) or rel.startswith("store/"):
        return
    assert not {n for n in imported(tree) if n.startswith(("gateway.store.sqlite", "gateway.store.postgres"))}, rel


@pytest.mark.parametrize("rel,tree", list(modules()), ids=[r for r, _ in modules()])
def test_only_the_cli_reads_the_environment(rel, tree):
    if rel == "cli.py":
        return
    source = ast.unparse(tree)
    assert "os.environ" not in source and "getenv" not in source, rel


@pytest.mark.parametrize("rel,tree", [(r, t) for r, t in modules() if r[:-3] in CORE - {"clock"}],
                         ids=[r for r, _ in modules() if r[:-3] in CORE - {"clock"}])
def test_core_never_reads_the_clock(rel, tree):
    source = ast.unparse(tree)
    for call in ("datetime.now(", "time.time(", "date.today(", "utcnow("):
        assert call not in source, f"{rel} reads the clock ({call}); take `now` as an argument"
