"""The agency-interface plan (A-cases) against our own node: every case passes.

The kit runs in-process against a live node on loopback (real HTTP, real signatures), on SQLite
and PostgreSQL. The node's clock is the fake clock; the kit shares it, so A19 waits out the
visibility timeout by advancing it. tests/acceptance/test_conformance_cli.py runs the same plan
through ``gateway conformance node`` against a ``gateway serve`` process on the real clock.
"""
from __future__ import annotations

import datetime as dt

import pytest

from gateway import config
from gateway.conformance import node_edges, node_plan, plan  # noqa: F401 - node_edges registers its cases
from gateway.conformance.agent import Agent
from gateway.core.trust import pki, signing
from gateway.testing.fixtures import CENTRAL, CHIANGMAI


def node_context(live, clock, data_dir, *, large_bytes=256 * 1024, signed=True) -> node_plan.NodeContext:
    signer = None
    if signed:
        orgs = data_dir / "pki" / "orgs"
        signer = signing.Signer(org_id=CENTRAL, key=pki.load_private_key((orgs / f"{CENTRAL}.key").read_bytes()),
                                certificate=pki.load_certificate((orgs / f"{CENTRAL}.pem").read_bytes()))
    return node_plan.NodeContext(
        sender=Agent(endpoint=live.endpoint(CENTRAL), org=CENTRAL, clock=clock, timeout=30),
        receiver=Agent(endpoint=live.endpoint(CHIANGMAI), org=CHIANGMAI, clock=clock, timeout=30),
        clock=clock, visibility_timeout=config.VISIBILITY_TIMEOUT.total_seconds(), max_wait=3600,
        large_bytes=large_bytes, signer=signer, sleep=lambda seconds: clock.advance(dt.timedelta(seconds=seconds)))


def run_plan(ctx, clock, only=()) -> plan.Report:
    report = plan.Report(plan="node", target={"endpoint": ctx.sender.endpoint}, started="")
    return plan.run(report, plan.select(plan.PLANS["node"], only), ctx, clock=clock)


def failures(report: plan.Report) -> dict[str, str]:
    return {o.case.id: f"{o.status}: {o.message}" for o in report.outcomes if o.status is not plan.Status.PASSED}


def test_every_case_passes_against_our_node(live, clock, data_dir):
    report = run_plan(node_context(live, clock, data_dir), clock)
    assert failures(report) == {}
    assert [o.case.id for o in report.outcomes] == [c.id for c in plan.PLANS["node"]]
    assert report.passed
    # Every case talked to the node, and its exchanges are kept for the reports.
    assert all(o.exchanges for o in report.outcomes)


def test_cases_are_numbered_titled_in_thai_and_english_and_placed_in_the_standard():
    cases = plan.PLANS["node"]
    assert [c.id for c in cases] == [f"A{n}" for n in range(1, len(cases) + 1)]
    for c in cases:
        assert c.title_en and c.title_th and c.section
        assert any("\u0e00" <= ch <= "\u0e7f" for ch in c.title_th), c.id   # Thai script
        assert all(r in {x.id for x in cases[: cases.index(c)]} for r in c.requires), c.id


def test_without_a_signing_key_or_a_timeout_those_cases_are_not_checkable(live, clock, data_dir):
    ctx = node_context(live, clock, data_dir, signed=False)
    ctx.visibility_timeout = None
    report = run_plan(ctx, clock, only=["A1", "A4", "A5", "A19", "A21"])
    statuses = {o.case.id: o.status for o in report.outcomes}
    assert statuses == {"A1": plan.Status.PASSED, "A4": plan.Status.PASSED, "A5": plan.Status.PASSED,
                        "A19": plan.Status.NOT_CHECKABLE, "A21": plan.Status.NOT_CHECKABLE}
    assert report.passed   # not checkable is not a failure


def test_a_case_whose_prerequisite_was_not_run_is_blocked(live, clock, data_dir):
    report = run_plan(node_context(live, clock, data_dir), clock, only=["A5"])
    (outcome,) = report.outcomes
    assert outcome.status is plan.Status.BLOCKED and "A4" in outcome.message
    assert not report.passed and outcome.exchanges == []


def test_an_unreachable_node_fails_every_case_and_the_run_goes_on(clock, data_dir):
    from gateway.testing.live import free_port
    dead = f"http://127.0.0.1:{free_port()}/ecms-ws01/service2"
    ctx = node_plan.NodeContext(sender=Agent(endpoint=f"{dead}/{CENTRAL}", org=CENTRAL, clock=clock, timeout=2),
                                receiver=Agent(endpoint=f"{dead}/{CHIANGMAI}", org=CHIANGMAI, clock=clock, timeout=2),
                                clock=clock)
    report = run_plan(ctx, clock, only=["A1", "A2", "A4"])
    assert [(o.case.id, o.status) for o in report.outcomes] == [
        ("A1", plan.Status.FAILED), ("A2", plan.Status.FAILED), ("A4", plan.Status.BLOCKED)]
    assert "no answer" in report.outcomes[0].message


@pytest.mark.parametrize("patterns, expected", [
    (["A1,A2"], ["A1", "A2"]), (["A2*"], ["A2", "A20", "A21", "A22", "A23", "A24", "A25", "A26"])])
def test_select_takes_ids_and_patterns(patterns, expected):
    assert [c.id for c in plan.select(plan.PLANS["node"], patterns)] == expected
    with pytest.raises(ValueError):
        plan.select(plan.PLANS["node"], ["Z9"])
