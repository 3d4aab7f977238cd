"""A conformance case, a plan of them, and the runner that plays a plan against a target.

A case is data: a stable ID (``A1``), a title in Thai and English, the section of the standard
it checks, its prerequisite (in words, and the IDs of the cases whose result it needs), and a
predicate: a function of the run's context that returns when the target conforms, raises
:class:`Failed` (with what was expected and what came) when it does not, and
:class:`NotCheckable` when the target cannot be checked for it here (for example a visibility
timeout longer than the run may wait). Each case's HTTP exchanges are recorded for the reports.
"""
from __future__ import annotations

import enum
import fnmatch
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from gateway.adapters.esaraban import Exchange
from gateway.ports import Clock


class Failed(Exception):
    """The target does not conform: the message says what was expected and what came."""


class NotCheckable(Exception):
    """The target cannot be checked for this case here; the message says why."""


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_CHECKABLE = "not-checkable"
    BLOCKED = "blocked"        # a prerequisite case did not pass; not run
    ERROR = "error"            # the case itself broke (a bug of the kit, or the target unreachable)


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    plan: str
    title_en: str
    title_th: str
    section: str                                   # of the standard, e.g. "3.2.1", or "transport"
    prerequisite: str = ""                         # in words, for the reports
    requires: tuple[str, ...] = ()                 # case IDs whose PASSED result this one needs
    check: Callable[[Any], None] = field(repr=False, compare=False, default=lambda ctx: None)


@dataclass(kw_only=True)
class Outcome:
    case: Case
    status: Status
    message: str = ""
    seconds: float = 0.0
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(kw_only=True)
class Report:
    """One run of a plan against one target."""

    plan: str
    target: dict[str, str]                         # what was checked: endpoint(s), organisations
    started: str                                   # ISO 8601, Asia/Bangkok
    finished: str = ""
    kit_version: str = ""
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Exit status 0: every case that ran passed (not-checkable cases did not run to a verdict)."""
        return all(o.status in (Status.PASSED, Status.NOT_CHECKABLE) for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        found = {s.value: 0 for s in Status}
        for outcome in self.outcomes:
            found[outcome.status.value] += 1
        return found


PLANS: dict[str, list[Case]] = {}


def case(plan: str, id: str, *, en: str, th: str, section: str, prerequisite: str = "",
         requires: Iterable[str] = ()) -> Callable[[Callable[[Any], None]], Case]:
    """Register the decorated predicate as case ``id`` of ``plan`` (IDs are unique and never reused)."""
    def register(check: Callable[[Any], None]) -> Case:
        cases = PLANS.setdefault(plan, [])
        if any(c.id == id for c in cases):
            raise ValueError(f"case {id} is defined twice in plan {plan}")
        made = Case(id=id, plan=plan, title_en=en, title_th=th, section=section, prerequisite=prerequisite,
                    requires=tuple(requires), check=check)
        cases.append(made)
        return made
    return register


def select(cases: list[Case], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Case]:
    """The cases to run: ``only`` and ``skip`` take IDs or patterns (``A1``, ``A2*``), comma lists allowed."""
    def patterns(values: Iterable[str]) -> list[str]:
        return [p.strip().upper() for v in values for p in v.split(",") if p.strip()]
    wanted, unwanted = patterns(only), patterns(skip)
    known = {c.id for c in cases}
    for pattern in wanted + unwanted:
        if not any(fnmatch.fnmatchcase(i, pattern) for i in known):
            raise ValueError(f"no case matches {pattern!r} (cases: {', '.join(c.id for c in cases)})")
    return [c for c in cases
            if (not wanted or any(fnmatch.fnmatchcase(c.id, p) for p in wanted))
            and not any(fnmatch.fnmatchcase(c.id, p) for p in unwanted)]


class Recording:
    """A run's context: the runner sets ``recorder`` before each case, and every agent the context
    plays records into it (subclasses name them in :meth:`agents`)."""

    _recorder: object = None

    def agents(self) -> Iterable[Any]:
        return ()

    @property
    def recorder(self) -> object:
        return self._recorder

    @recorder.setter
    def recorder(self, value: object) -> None:
        self._recorder = value
        for agent in self.agents():
            agent.recorder = value


class Recorder:
    """Collects the exchanges of the case that is running (the context's transport appends to it)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def add(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        return exchange


def run(report: Report, cases: list[Case], ctx: Any, *, clock: Clock,
        progress: Callable[[Outcome, int, int], None] = lambda outcome, index, total: None) -> Report:
    """Play ``cases`` in order against ``ctx`` (which has a ``recorder``); outcomes go into ``report``."""
    results: dict[str, Status] = {}
    for index, current in enumerate(cases, start=1):
        missing = [r for r in current.requires if results.get(r) is not Status.PASSED]
        if missing:
            outcome = Outcome(case=current, status=Status.BLOCKED,
                              message=f"needs {', '.join(missing)} to pass first"
                                      + ("" if all(r in results for r in missing) else " (not selected)"))
        else:
            ctx.recorder = Recorder()
            started = clock.now()
            try:
                current.check(ctx)
                status, message = Status.PASSED, ""
            except Failed as exc:
                status, message = Status.FAILED, str(exc)
            except NotCheckable as exc:
                status, message = Status.NOT_CHECKABLE, str(exc)
            except Exception as exc:  # noqa: BLE001 - a broken case is reported, the run goes on
                status = Status.ERROR
                message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            outcome = Outcome(case=current, status=status, message=message,
                              seconds=(clock.now() - started).total_seconds(), exchanges=ctx.recorder.exchanges)
        results[current.id] = outcome.status
        report.outcomes.append(outcome)
        progress(outcome, index, len(cases))
    return report


def expect(condition: bool, message: str) -> None:
    """A predicate's check: :class:`Failed` with ``message`` unless ``condition``."""
    if not condition:
        raise Failed(message)


def expect_equal(what: str, expected: object, got: object) -> None:
    if expected != got:
        raise Failed(f"{what}: expected {expected!r}, got {got!r}")
