"""Answers to verification queries: frozen records, three-valued.

An answer is `holds`, `refuted` (with a counterexample Cedar confirms) or `unknown` (with the
reason: a timeout, a construct the encoder cannot represent). Unknown is never folded into
holds: a query holds overall only when it holds in every request environment.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import CedarError
from cedar_smt.core.policy_json import TemplateLink
from cedar_smt.core.request import Request
from cedar_smt.core.typechecker import RequestEnv


class Verdict(Enum):
    HOLDS = "holds"
    REFUTED = "refuted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Counterexample:
    """A request and the entities it needs, with what each side decided on it."""

    request: Request
    entities: Entities
    decisions: dict[str, str] = field(default_factory=dict)  # label -> "allow"/"deny"/outcome
    details: dict[str, Any] = field(default_factory=dict)  # label -> reasons and errors
    # templates analysed for every link: the links the counterexample is about
    links: tuple[TemplateLink, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = {
            "request": self.request.to_json(),
            "entities": self.entities.to_json(),
            "decisions": dict(self.decisions),
        }
        if self.links:
            out["links"] = [link.to_json() for link in self.links]
        return out


@dataclass(frozen=True)
class Dependence:
    """Which domain assumptions an answer needed (analyzer/assumptions.py): `none` (it holds
    without them, proved by an unsat core without them), `depends` (on those of `on`: they
    were in the core), `may-depend` (the solver gave no core: on any of `on`), or `vacuous`
    (no request of the environment satisfies the assumptions `on`)."""

    kind: str
    on: tuple[str, ...] = ()

    def describe(self) -> str:
        ids = ", ".join(self.on)
        plural = "s" if len(self.on) != 1 else ""
        if self.kind == "depends":
            return f"under assumption{plural} {ids}"
        if self.kind == "may-depend":
            return f"may depend on assumption{plural} {ids}: the solver gave no unsat core"
        if self.kind == "vacuous":
            return f"vacuously: no request of this environment satisfies assumption{plural} {ids}"
        return "without the assumptions"

    def to_json(self) -> dict[str, Any]:
        return {"dependence": self.kind, "depends_on": list(self.on)}


def combined(dependences: list[Dependence | None]) -> Dependence | None:
    """What answers over several environments (or checks) need together."""
    given = [d for d in dependences if d is not None]
    if not given:
        return None
    on = sorted({i for d in given if d.kind != "none" for i in d.on}, key=lambda i: int(i[1:]))
    kinds = {d.kind for d in given}
    kind = next((k for k in ("may-depend", "depends", "vacuous") if k in kinds), "none")
    if kind == "vacuous" and len(kinds) > 1:  # some environments hold otherwise
        kind = "depends"
    return Dependence(kind, tuple(on))


@dataclass(frozen=True)
class EnvResult:
    env: RequestEnv
    verdict: Verdict
    reason: str | None = None
    counterexample: Counterexample | None = None
    encode_seconds: float = 0.0
    solve_seconds: float = 0.0
    confirm_seconds: float = 0.0  # decoding, replaying and shrinking the counterexample
    assumed: tuple[str, ...] | None = None  # the assumptions applying here, when any are given
    dependence: Dependence | None = None  # for `holds` under assumptions: which it needed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**env_json(self.env), "result": self.verdict.value}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.assumed is not None:
            out["assumptions"] = list(self.assumed)
        if self.dependence is not None:
            out.update(self.dependence.to_json())
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample.to_json()
        return out


def overall(verdicts: list[Verdict]) -> Verdict:
    """Refuted if any environment is; else unknown if any is; else holds."""
    if Verdict.REFUTED in verdicts:
        return Verdict.REFUTED
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.HOLDS


@dataclass(frozen=True)
class QueryResult:
    query: str
    environments: tuple[EnvResult, ...] = ()
    description: str = ""
    interrupted: str | None = None  # the signal that stopped the run, e.g. "SIGINT"
    unfinished: tuple[RequestEnv, ...] = ()  # environments not analysed, when interrupted
    assumptions: tuple[Any, ...] = ()  # the domain assumptions (analyzer/assumptions.py)

    @property
    def verdict(self) -> Verdict:
        unfinished = [Verdict.UNKNOWN] if self.interrupted else []
        return overall([e.verdict for e in self.environments] + unfinished)

    @property
    def dependence(self) -> Dependence | None:
        """What the environments that hold needed of the assumptions, together."""
        holding = [e for e in self.environments if e.verdict is Verdict.HOLDS]
        return combined([e.dependence for e in holding])

    @property
    def holds(self) -> bool:
        return self.verdict is Verdict.HOLDS

    @property
    def counterexamples(self) -> list[Counterexample]:
        return [e.counterexample for e in self.environments if e.counterexample is not None]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "result": self.verdict.value,
            "environments": [e.to_json() for e in self.environments],
        }
        return with_run_notes(
            out, self.assumptions, self.dependence, self.interrupted, self.unfinished
        )


def with_run_notes(
    out: dict[str, Any],
    assumptions: Sequence[Any],
    dependence: Dependence | None,
    interrupted: str | None,
    unfinished: Sequence[RequestEnv],
) -> dict[str, Any]:
    """A result's JSON with what its run assumed and needed, and where it was stopped: the
    same members for query results, diff and compare."""
    if assumptions:
        out["assumptions"] = [a.to_json() for a in assumptions]
        if dependence is not None:
            out.update(dependence.to_json())
    if interrupted:
        out["interrupted"] = interrupted
        out["unfinished"] = [env_json(e) for e in unfinished]
    return out


def env_json(env: RequestEnv) -> dict[str, str]:
    return {
        "principal_type": env.principal,
        "action": str(env.action),
        "resource_type": env.resource,
    }


class AnalysisInputError(CedarError):
    """Policies, queries or options an analysis cannot take."""


class InternalError(Exception):
    """The tool contradicted itself (a counterexample Cedar does not confirm): a bug."""


class Interrupted(KeyboardInterrupt):
    """An analysis stopped by a signal; `partial` holds what it had finished, if anything.

    A KeyboardInterrupt, so that code catching Ctrl-C catches it too; `of` turns one raised by
    Python's own SIGINT handler into this, keeping the signal of one that already is.
    """

    def __init__(self, signum: int = signal.SIGINT, partial: Any = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.partial = partial

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @staticmethod
    def of(err: KeyboardInterrupt, partial: Any = None) -> Interrupted:
        return Interrupted(getattr(err, "signum", signal.SIGINT), partial)
