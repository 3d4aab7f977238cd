"""The layers are folders, and these rules hold on them (docs/architecture.md).

Import direction: cli -> conformance -> runtime -> adapters -> operations -> (pipeline, store,
ports, telemetry) -> core. Each rule below is keyed on a folder prefix, so a
new module is classified by where it is put, never by a hand-kept list.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "gateway"

# Third-party imports allowed in the pure layers (besides the standard library).
PURE_THIRD_PARTY = {"lxml", "signxml", "cryptography"}
# Layers, lowest first. A module may import its own layer and those below it.
LAYERS = ["core", "ports", "pipeline", "store", "telemetry", "operations", "adapters", "runtime", "conformance", "cli"]
# Who may import each driver (path prefixes inside gateway/).
DRIVERS = {
    "spyne": ("adapters/soap/",),
    "zeep": ("adapters/peer.py",),
    "psycopg": ("store/postgres.py",),
    "psycopg_pool": ("store/postgres.py",),
    "sqlite3": ("store/sqlite.py",),
    "cheroot": ("runtime/serve.py",),
    "requests": ("adapters/peer.py", "adapters/esaraban.py", "adapters/tsa.py"),
    "rfc3161_client": ("adapters/tsa.py",),
    "asn1crypto": ("adapters/tsa.py",),
}
CONCRETE = ("gateway.store.sqlite", "gateway.store.postgres", "gateway.store.memory")
CLOCK_READS = ("datetime.now(", "dt.datetime.now(", "time.time(", "time.monotonic(", "date.today(", "utcnow(")
CLOCK_ADAPTERS = ("adapters/clock.py", "testing/clock.py")
# Not part of a running node: starts a throwaway PostgreSQL server for the tests and the bench, so it
# reads the environment (USER), polls with time.monotonic and talks to the server with psycopg.
TEST_INFRASTRUCTURE = ("testing/pgcluster.py",)


def modules():
    for path in sorted(PKG.rglob("*.py")):
        yield path.relative_to(PKG).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


MODULES = list(modules())
IDS = [rel for rel, _ in MODULES]


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def layer_of(name: str) -> str | None:
    """The layer of a module path (``core/xml/safe.py``) or dotted name (``gateway.core.xml``)."""
    first = name.removeprefix("gateway.").replace(".", "/").split("/")[0].removesuffix(".py")
    if first == "config":
        return "ports"        # frozen configuration values: usable from ports upwards, never by core
    return first if first in LAYERS or first in ("testing", "__init__", "__main__") else None


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("gateway.") or n == "gateway"}


@pytest.mark.parametrize("rel,tree", MODULES, ids=IDS)
def test_imports_go_down_the_layers(rel, tree):
    layer = layer_of(rel)
    if layer in (None, "testing", "__init__", "__main__"):
        return
    for name in ours(imported(tree)):
        target = layer_of(name)
        if target is None or target in ("__init__",):
            continue
        assert target != "testing", f"{rel} imports the test fakes ({name}); only tests and the bench may"
        if target in LAYERS:
            assert LAYERS.index(target) <= LAYERS.index(layer), \
                f"{rel} ({layer}) imports {name} ({target}), which is above it"


@pytest.mark.parametrize("rel,tree", [(r, t) for r, t in MODULES if r.startswith(("core/", "pipeline/"))],
                         ids=[r for r in IDS if r.startswith(("core/", "pipeline/"))])
def test_core_and_pipeline_import_only_core(rel, tree):
    for name in imported(tree):
        top = name.split(".")[0]
        if top == "gateway":
            assert name.startswith("gateway.core") or name == "gateway", f"{rel} imports {name}"
        elif top not in sys.stdlib_module_names and top != "__future__":
            assert top in PURE_THIRD_PARTY, f"{rel} imports {top}; core and pipeline use only {PURE_THIRD_PARTY}"


@pytest.mark.parametrize("rel,tree", [(r, t) for r, t in MODULES if r.startswith("operations/")],
                         ids=[r for r in IDS if r.startswith("operations/")])
def test_operations_never_import_adapters(rel, tree):
    bad = {n for n in imported(tree) if n.startswith(("gateway.adapters", "gateway.runtime", "gateway.cli"))}
    assert not bad, f"{rel} imports {bad}"


@pytest.mark.parametrize("rel,tree", MODULES, ids=IDS)
def test_each_driver_has_its_adapter(rel, tree):
    if rel in TEST_INFRASTRUCTURE:
        return
    top = {n.split(".")[0] for n in imported(tree)}
    for driver, allowed in DRIVERS.items():
        if driver in top:
            assert rel.startswith(allowed), f"{rel} imports {driver}; only {allowed} may"


@pytest.mark.parametrize("rel,tree", MODULES, ids=IDS)
def test_only_the_composition_root_names_concrete_stores_and_adapters(rel, tree):
    if rel == "runtime/wiring.py" or rel.startswith(("store/", "testing/")):
        return
    names = imported(tree)
    assert not {n for n in names if n.startswith(CONCRETE)}, f"{rel} names a concrete store"
    if rel.startswith(("adapters/", "cli/", "conformance/")):
        return  # adapters compose their own parts; the CLI's client commands and the kit are e-Saraban clients
    assert not {n for n in names if n.startswith("gateway.adapters")}, f"{rel} names a concrete adapter"


@pytest.mark.parametrize("rel,tree", MODULES, ids=IDS)
def test_only_the_cli_reads_the_environment(rel, tree):
    if rel.startswith("cli/") or rel in TEST_INFRASTRUCTURE:
        return
    source = ast.unparse(tree)
    assert "os.environ" not in source and "getenv" not in source, rel


@pytest.mark.parametrize("rel,tree", MODULES, ids=IDS)
def test_nothing_reads_the_clock_but_the_clock_adapter(rel, tree):
    if rel in CLOCK_ADAPTERS or rel in TEST_INFRASTRUCTURE:
        return
    source = ast.unparse(tree)
    for call in CLOCK_READS:
        assert call not in source, f"{rel} reads the clock ({call}); take `now` from the Clock port"


def test_the_rules_see_every_layer():
    """A rule keyed on a folder that no longer exists would pass vacuously."""
    found = {layer_of(rel) for rel in IDS}
    assert set(LAYERS) - {"ports", "telemetry"} <= found, found
    assert all(layer_of(rel) is not None for rel in IDS), [rel for rel in IDS if layer_of(rel) is None]


def test_modules_stay_small_and_the_top_level_short():
    sizes = {rel: len((PKG / rel).read_text(encoding="utf-8").splitlines()) for rel in IDS}
    assert not {r: n for r, n in sizes.items() if n > 500}, "split modules by concern before 500 lines"
    top = [p.name for p in PKG.iterdir() if p.suffix == ".py"]
    assert len(top) <= 10, top
