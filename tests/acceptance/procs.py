"""Gateway processes for the acceptance tests: start, wait until healthy, kill -9, restart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

GATEWAY = [sys.executable, "-m", "gateway"]


class Proc:
    """One `gateway serve` or `gateway worker` process with its log file."""

    def __init__(self, name: str, args: list[str], config: Path, log_dir: Path, *, health_url: str = "") -> None:
        self.name = name
        self.args = args
        self.config = config
        self.log_path = log_dir / f"{name}.log"
        self.health_url = health_url
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self, wait: bool = True) -> "Proc":
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([*GATEWAY, *self.args, "--config", str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        if wait and self.health_url:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.health_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not become healthy:\n{self.tail()}")

    def kill9(self) -> None:
        """SIGKILL, no goodbye: the crash the gateway must survive."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def until(predicate, timeout: float, what: str, interval: float = 0.25):
    """``predicate()`` until it gives something true (and that value); the timeout fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def migrate(config: Path) -> None:
    subprocess.run([*GATEWAY, "migrate", "--config", str(config)], check=True, capture_output=True, timeout=120)


def wait_until_healthy(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until ``base``/healthz answers 200; the process's exit or the timeout fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the gateway at {base} did not become healthy:\n{output}")
        time.sleep(0.1)
