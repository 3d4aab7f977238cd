"""docs/connect.md quotes the interop programs and their build commands exactly as the suite runs them.

Each stack's program in tests/interop/<stack>/ marks one region (``BEGIN connect.md`` ...
``END connect.md``) that the guide shows as its minimal program, and each stack's BUILD.md holds
the shell commands the interop test runs; a change to either that the guide does not follow
fails here.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "connect.md"
PROGRAMS = {
    "php": "client.php",
    "java": "Client.java",
    "dotnet": "Client.cs",
    "zeep": "client.py",
    "node": "client.js",
}


def region(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().endswith("BEGIN connect.md")]
    ends = [i for i, line in enumerate(lines) if line.strip().endswith("END connect.md")]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], f"{path}: one BEGIN/END connect.md region"
    return textwrap.dedent("\n".join(lines[starts[0] + 1:ends[0]])).strip("\n")


@pytest.mark.parametrize("stack", sorted(PROGRAMS))
def test_guide_shows_the_program_region_the_suite_runs(stack):
    text = region(ROOT / "tests" / "interop" / stack / PROGRAMS[stack])
    assert len(text.splitlines()) >= 10, "the region is the minimal program: client, endpoint, send, fault"
    assert text in GUIDE.read_text(encoding="utf-8"), f"docs/connect.md does not quote the {stack} program's region"


@pytest.mark.parametrize("stack", sorted(PROGRAMS))
def test_guide_shows_every_build_command(stack):
    build = (ROOT / "tests" / "interop" / stack / "BUILD.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", build, re.S)
    assert blocks, f"{stack}/BUILD.md has no ```sh block"
    guide = GUIDE.read_text(encoding="utf-8")
    for block in blocks:
        assert f"```sh\n{block}```" in guide, f"docs/connect.md does not show {stack}/BUILD.md's commands:\n{block}"


def test_every_stack_has_a_section_and_the_readme_links_the_guide():
    guide = GUIDE.read_text(encoding="utf-8")
    for title in ("PHP", "Java", ".NET", "Python", "Node.js"):
        assert f"\n## {title}" in guide
    assert "](docs/connect.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
