"""A generated client: JAX-WS RI (`wsimport`, Debian `jaxws`) on JDK 17 runs the interop flow.

The session fixture generates the client with ``wsimport`` from the ``?wsdl`` a node serves
(its own node, on a free loopback port, only when the cache is cold) and compiles it with
tests/interop/java/Client.java, running exactly the commands of tests/interop/java/BUILD.md.
The result is cached under ``.cache/interop/java-<cache_key>/`` so that a warm run only runs
``java``. Each flow test then runs the documented ``java`` command against the ``live`` node
(SQLite and PostgreSQL), on the WSDL's SOAP 1.1 and SOAP 1.2 ports, and checks what it printed
with interop_flow.check_flow.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.core.xml.envelope import OPERATIONS
from gateway.runtime import wiring as app
from gateway.testing.clock import FakeClock
from gateway.testing.fixtures import CENTRAL
from gateway.testing.live import LiveServer, free_port, live_config
from interop_flow import cache_key, check_flow, run_flow

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = ROOT / "tests" / "interop" / "java"
CLIENT = JAVA_DIR / "Client.java"
BUILD_MD = JAVA_DIR / "BUILD.md"
CACHE_ROOT = ROOT / ".cache" / "interop"
STACK = "jaxws-wsimport"
GENERATED = Path("th/gov/egif/ecms/agency/wsdl")  # the package of the WSDL's own namespace
BUILD_TIMEOUT_S = 300


def shell_block(heading: str) -> list[str]:
    """The lines of the ```sh block under ``## heading`` in BUILD.md (what the docs quote)."""
    text = BUILD_MD.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n.*?^```sh\n(.*?)^```", text, re.M | re.S)
    assert match, f"{BUILD_MD} has no ```sh block under '## {heading}'"
    return [line for line in match.group(1).splitlines() if line.strip()]


def require_tools() -> None:
    missing = [tool for tool in ("wsimport", "javac", "java", "bash") if shutil.which(tool) is None]
    if not Path("/usr/share/java/jaxws-rt.jar").is_file():
        missing.append("/usr/share/java/jaxws-rt.jar")
    if missing:
        pytest.fail(f"the JAX-WS interop test needs {', '.join(missing)}: install the Debian packages "
                    "`jaxws` and `openjdk-17-jdk-headless` (make system-deps)")


def build(wsdl: str, out: Path) -> None:
    """Run BUILD.md's build commands, one by one, with WSDL, OUT and CLIENT set."""
    env = {**os.environ, "WSDL": wsdl, "OUT": str(out), "CLIENT": str(CLIENT)}
    for line in shell_block("Build"):
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=ROOT, env=env, capture_output=True,
                              timeout=BUILD_TIMEOUT_S, encoding="utf-8", errors="replace")
        assert done.returncode == 0, (f"BUILD.md command failed ({done.returncode}): {line}\n"
                                      f"{done.stdout}\n{done.stderr}")


@dataclass(frozen=True)
class JavaClient:
    out: Path
    generated_now: bool
    seconds: float

    def command(self, *jvm_options: str) -> tuple[list[str], dict]:
        """BUILD.md's run command up to ``Client`` (the flow's options follow), and its environment."""
        [line] = shell_block("Run")
        words = shlex.split(line.replace("$OUT", str(self.out)))
        env = dict(os.environ)
        while "=" in words[0] and not words[0].startswith("-"):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        words = words[:words.index("Client") + 1]
        return [words[0], *jvm_options, *words[1:]], env


@pytest.fixture(scope="session")
def java_client(data_dir) -> JavaClient:
    """The wsimport client, generated from a served WSDL and compiled once per cache key."""
    require_tools()
    out = CACHE_ROOT / f"java-{cache_key(CLIENT, BUILD_MD)}"
    if (out / "classes" / "Client.class").is_file() and (out / "src" / GENERATED / "ECMSAgencyService.java").is_file():
        return JavaClient(out, generated_now=False, seconds=0.0)
    from gateway.store.memory import MemoryStore
    store = MemoryStore()
    store.migrate()
    port = free_port()
    server = LiveServer(app.build(live_config(port, data_dir), store=store, clock=FakeClock(), migrate=False), port)
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    partial = CACHE_ROOT / f"{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    try:
        build(server.endpoint(CENTRAL) + "?wsdl", partial)
    finally:
        server.stop()
        store.close()
    seconds = time.monotonic() - started
    try:
        partial.rename(out)
    except OSError:  # another session finished the same key first
        shutil.rmtree(partial, ignore_errors=True)
    for stale in CACHE_ROOT.glob("java-*"):  # clients of older contracts or sources
        if stale != out and ".partial-" not in stale.name:
            shutil.rmtree(stale, ignore_errors=True)
    return JavaClient(out, generated_now=True, seconds=seconds)


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_wsimport_client_runs_the_whole_flow(live, java_client, tmp_path, soap12):
    command, env = java_client.command()
    flow, out = run_flow(live, command, tmp_path, soap12=soap12, cwd=java_client.out, env=env, timeout=60)
    check_flow(out, live, flow, stack=STACK, soap12=soap12)
    assert out["stackVersion"].startswith("JAX-WS RI 2.")
    assert out["unknownReceiver"]["mechanism"] == "th.gov.egif.ecms.agency.wsdl.ErrorDetailFault.getFaultInfo()"
    # The SOAP fault code (read with a JAX-WS SOAPHandler: the generated exception carries only the detail).
    assert out["unknownReceiver"]["faultCode"].rpartition(":")[2] == ("Sender" if soap12 else "Client")


def _normalised_sources(src: Path) -> dict[str, str]:
    """Every generated source, with the WSDL URL it was generated from (its port differs per node) blanked."""
    url = re.compile(r"http://127\.0\.0\.1:\d+/")
    return {str(p.relative_to(src)): url.sub("http://NODE/", p.read_text(encoding="utf-8"))
            for p in sorted(src.rglob("*.java"))}


def test_client_is_wsimport_output_of_the_served_wsdl_and_the_run_loads_it(live, java_client, tmp_path):
    src = java_client.out / "src"
    port_type = (src / GENERATED / "ECMSAgencyPortType.java").read_text(encoding="utf-8")
    assert "This class was generated by the JAX-WS RI." in port_type
    assert set(re.findall(r'@WebMethod\(operationName = "(\w+)"\)', port_type)) == set(OPERATIONS.values())
    service = (src / GENERATED / "ECMSAgencyService.java").read_text(encoding="utf-8")
    assert "getECMSAgencySoap11()" in service and "getECMSAgencySoap12()" in service
    fault = (src / GENERATED / "ErrorDetailFault.java").read_text(encoding="utf-8")
    assert "extends Exception" in fault and "import th.gov.egif.ecms.agency._1.ErrorDetail;" in fault and "public ErrorDetail getFaultInfo()" in fault
    assert not list(JAVA_DIR.rglob("*.xjb")) and not (JAVA_DIR / "src").exists(), "no binding files, no kept sources"

    # The cached sources are exactly what wsimport makes of the WSDL this node serves now.
    fresh = tmp_path / "fresh"
    (fresh / "src").mkdir(parents=True)
    (fresh / "classes").mkdir()
    [wsimport] = [line for line in shell_block("Build") if line.startswith("wsimport ")]
    env = {**os.environ, "WSDL": live.endpoint(CENTRAL) + "?wsdl", "OUT": str(fresh)}
    done = subprocess.run(["bash", "-euc", wsimport], env=env, capture_output=True, timeout=120, encoding="utf-8")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _normalised_sources(fresh / "src") == _normalised_sources(src)

    # The run loads the generated classes from the cache (and the JAX-WS RI from the Debian jars).
    log = tmp_path / "classload.log"
    command, env = java_client.command(f"-Xlog:class+load=info:file={log}")
    flow, out = run_flow(live, command, tmp_path, soap12=False, cwd=java_client.out, env=env, timeout=60)
    check_flow(out, live, flow, stack=STACK, soap12=False)
    sources = dict(re.findall(r"\] (\S+) source: (\S+)", log.read_text(encoding="utf-8")))
    classes = f"file:{java_client.out / 'classes'}/"
    for name in ("Client", "th.gov.egif.ecms.agency.wsdl.ECMSAgencyService", "th.gov.egif.ecms.agency.wsdl.ECMSAgencyPortType",
                 "th.gov.egif.ecms.agency.wsdl.ErrorDetailFault", "th.gov.egif.ecms.agency._1.ErrorDetail",
                 "th.gov.egif.data.standard.governmentdocument._1.GovernmentDocumentType"):
        assert sources.get(name) == classes, (name, sources.get(name))
    assert sources["com.sun.xml.ws.client.WSServiceDelegate"] == "file:/usr/share/java/jaxws-rt.jar"
