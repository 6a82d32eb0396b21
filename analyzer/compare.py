"""Comparing two versions of a policy set: equivalent, less or more permissive, incomparable.

Per request environment, two implication checks (analyzer/checks.py's `check_implies`): does
NEW allow only what OLD allows, and does OLD allow only what NEW allows? Both hold:
equivalent; only the first: NEW is less permissive; only the second: more permissive;
neither: incomparable, with a counterexample each way. Each check is three-valued, so a
comparison is too: a check the solver could not decide makes the environment `unknown`, with
the reason and the verdicts it could still be, never one of the four. Every counterexample
has been replayed through core's authorizer (analyzer/runner.py's `confirm`).

The overall verdict combines the two directions over all environments, each as the other
analyses do (refuted where any environment refutes it, else unknown where any is unknown,
else holds): equivalent everywhere is equivalent, only equivalent or less permissive is less
permissive, only equivalent or more permissive is more permissive, both kinds is
incomparable; an undecided check leaves it unknown unless the decided ones settle it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cedar_smt.analyzer.checks import check_implies
from cedar_smt.analyzer.diff import PolicyChange, PolicyRef, match_policies
from cedar_smt.analyzer.links import relink
from cedar_smt.analyzer.results import (
    Counterexample,
    Dependence,
    EnvResult,
    Interrupted,
    QueryResult,
    Verdict,
    combined,
    env_json,
    overall,
    with_run_notes,
)
from cedar_smt.core.authorizer import is_authorized
from cedar_smt.core.policy import Policy
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv


class Comparison(Enum):
    EQUIVALENT = "equivalent"
    LESS = "less-permissive"  # NEW allows only what OLD allows, and not all of it
    MORE = "more-permissive"  # NEW allows all that OLD allows, and more
    INCOMPARABLE = "incomparable"
    UNKNOWN = "unknown"


# (does NEW allow only what OLD allows?, does OLD allow only what NEW allows?) -> comparison
_DECIDED = {
    (Verdict.HOLDS, Verdict.HOLDS): Comparison.EQUIVALENT,
    (Verdict.HOLDS, Verdict.REFUTED): Comparison.LESS,
    (Verdict.REFUTED, Verdict.HOLDS): Comparison.MORE,
    (Verdict.REFUTED, Verdict.REFUTED): Comparison.INCOMPARABLE,
}


def combine(new_within_old: Verdict, old_within_new: Verdict) -> Comparison:
    """The comparison the two implication verdicts give; unknown unless both are decided."""
    return _DECIDED.get((new_within_old, old_within_new), Comparison.UNKNOWN)


def possible(new_within_old: Verdict, old_within_new: Verdict) -> list[Comparison]:
    """The comparisons still possible: an undecided check may go either way."""

    def values(v: Verdict) -> list[Verdict]:
        return [Verdict.HOLDS, Verdict.REFUTED] if v is Verdict.UNKNOWN else [v]

    return [_DECIDED[(a, b)] for a in values(new_within_old) for b in values(old_within_new)]


@dataclass(frozen=True)
class Difference:
    """A request the versions decide differently, and the policies that decide it."""

    direction: str  # "less-permissive" (OLD allows, NEW denies) or "more-permissive"
    counterexample: Counterexample  # decisions keyed OLD's label first, then NEW's
    new_policies: tuple[PolicyRef, ...]  # NEW's policies that decide it (its reasons)
    old_policies: tuple[PolicyRef, ...]  # OLD's policies that decided it (its reasons)


@dataclass(frozen=True)
class EnvComparison:
    env: RequestEnv
    new_within_old: EnvResult  # does NEW allow only what OLD allows?
    old_within_new: EnvResult  # does OLD allow only what NEW allows?
    differences: tuple[Difference, ...] = ()

    @property
    def result(self) -> Comparison:
        return combine(self.new_within_old.verdict, self.old_within_new.verdict)

    @property
    def dependence(self) -> Dependence | None:
        """What the checks that hold here needed of the assumptions."""
        checks = (self.new_within_old, self.old_within_new)
        return combined([c.dependence for c in checks if c.verdict is Verdict.HOLDS])

    @property
    def reason(self) -> str | None:
        """Why the environment is unknown, and what it may still be."""
        if self.result is not Comparison.UNKNOWN:
            return None
        why = [
            f"{what}: {r.reason}"
            for what, r in (
                ("whether NEW allows only what OLD allows", self.new_within_old),
                ("whether OLD allows only what NEW allows", self.old_within_new),
            )
            if r.verdict is Verdict.UNKNOWN
        ]
        could = possible(self.new_within_old.verdict, self.old_within_new.verdict)
        return "; ".join(why) + " (it may be " + " or ".join(c.value for c in could) + ")"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**env_json(self.env), "result": self.result.value}
        if self.reason is not None:
            out["reason"] = self.reason
        assumed = self.new_within_old.assumed
        if assumed is not None:
            out["assumptions"] = list(assumed)
        dependence = self.dependence
        if dependence is not None:
            out.update(dependence.to_json())
        out["counterexamples"] = [d.counterexample.to_json() for d in self.differences]
        return out


@dataclass(frozen=True)
class CompareResult:
    environments: tuple[EnvComparison, ...] = ()
    changes: tuple[PolicyChange, ...] = ()  # policies added, removed, changed (as diff pairs them)
    old_label: str = "old"
    new_label: str = "new"
    files: tuple[tuple[str, str], ...] = ()  # (old file, new file) pairs compared
    interrupted: str | None = None  # the signal that stopped the run, e.g. "SIGINT"
    unfinished: tuple[RequestEnv, ...] = ()  # environments not compared, when interrupted
    assumptions: tuple[Any, ...] = ()  # the domain assumptions (analyzer/assumptions.py)

    @property
    def dependence(self) -> Dependence | None:
        """What the checks that hold needed of the assumptions, over every environment."""
        return combined([e.dependence for e in self.environments])

    def _direction(self, pick: Callable[[EnvComparison], EnvResult]) -> Verdict:
        left = [Verdict.UNKNOWN] if self.interrupted else []
        return overall([pick(e).verdict for e in self.environments] + left)

    @property
    def new_within_old(self) -> Verdict:
        """Whether NEW allows only what OLD allows, over every environment."""
        return self._direction(lambda e: e.new_within_old)

    @property
    def old_within_new(self) -> Verdict:
        """Whether OLD allows only what NEW allows, over every environment."""
        return self._direction(lambda e: e.old_within_new)

    @property
    def result(self) -> Comparison:
        return combine(self.new_within_old, self.old_within_new)

    @property
    def possible(self) -> list[Comparison]:
        return possible(self.new_within_old, self.old_within_new)

    @property
    def differences(self) -> list[tuple[RequestEnv, Difference]]:
        return [(e.env, d) for e in self.environments for d in e.differences]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": "compare",
            "result": self.result.value,
            "environments": [e.to_json() for e in self.environments],
        }
        return with_run_notes(
            out, self.assumptions, self.dependence, self.interrupted, self.unfinished
        )


def _difference(
    direction: str,
    found: Counterexample,
    old: Sequence[Policy],
    new: Sequence[Policy],
    labels: tuple[str, str],
) -> Difference:
    """The counterexample with OLD's decision first, and the policies deciding it each side."""
    old, new = relink(old, found.links), relink(new, found.links)
    old_response = is_authorized(found.request, old, found.entities)
    new_response = is_authorized(found.request, new, found.entities)
    decisions = {labels[0]: old_response.decision, labels[1]: new_response.decision}
    details = {label: found.details.get(label, {}) for label in labels}
    cx = Counterexample(found.request, found.entities, decisions, details, found.links)
    return Difference(
        direction,
        cx,
        tuple(PolicyRef.of(p, "new") for p in new if p.id in new_response.reasons),
        tuple(PolicyRef.of(p, "old") for p in old if p.id in old_response.reasons),
    )


def compare_policies(
    old: Sequence[Policy],
    new: Sequence[Policy],
    schema: Schema,
    *,
    labels: tuple[str, str] = ("old", "new"),
    files: Sequence[tuple[str, str]] = (),
    on_done: Callable[[EnvResult], None] | None = None,
    **options: Any,
) -> CompareResult:
    """How NEW compares with OLD in each request environment, and overall.

    `options` are `check_implies`'s (environment filters, `timeout` per check and
    environment, `jobs`, `entities_exist`, `plain`, `assumptions`); `on_done` is called after
    each of the two checks in each environment.
    """
    old, new = tuple(old), tuple(new)
    if labels[0] == labels[1]:
        labels = ("old", "new")
    runs: list[QueryResult] = []
    stop: Interrupted | None = None
    try:
        # does NEW allow only what OLD allows?
        runs.append(
            check_implies(new, old, schema, (labels[1], labels[0]), on_done=on_done, **options)
        )
        # does OLD allow only what NEW allows?
        runs.append(check_implies(old, new, schema, labels, on_done=on_done, **options))
    except Interrupted as err:
        if isinstance(err.partial, QueryResult):
            runs.append(err.partial)
        stop = err
    changes = tuple(match_policies(old, new))
    pairs = tuple(files) or ((labels[0], labels[1]),)
    envs: list[RequestEnv] = []
    for r in runs:
        envs.extend(e.env for e in r.environments if e.env not in envs)
        envs.extend(e for e in r.unfinished if e not in envs)
    done = [{e.env: e for e in r.environments} for r in runs]
    compared = []
    for env in envs:
        if len(done) < 2 or env not in done[0] or env not in done[1]:
            continue
        within_old, within_new = done[0][env], done[1][env]
        differences = []
        if within_new.counterexample is not None:
            differences.append(
                _difference("less-permissive", within_new.counterexample, old, new, labels)
            )
        if within_old.counterexample is not None:
            differences.append(
                _difference("more-permissive", within_old.counterexample, old, new, labels)
            )
        compared.append(EnvComparison(env, within_old, within_new, tuple(differences)))
    assumed = runs[0].assumptions if runs else ()
    if stop is None:
        return CompareResult(tuple(compared), changes, *labels, files=pairs, assumptions=assumed)
    finished = {c.env for c in compared}
    partial = CompareResult(
        tuple(compared),
        changes,
        *labels,
        files=pairs,
        interrupted=stop.signal_name,
        unfinished=tuple(e for e in envs if e not in finished),
        assumptions=assumed,
    )
    raise Interrupted(stop.signum, partial) from None


__all__ = ["CompareResult", "Comparison", "Difference", "EnvComparison", "compare_policies"]
