"""Cedar's two safety invariants, proved of a decision rule itself.

*Explicit permit*: a request is allowed only if some permit policy is satisfied.
*Forbid overrides permit*: if some forbid policy is satisfied, the request is denied.

`core.authorizer.decision_rule` is written once over a generic boolean algebra; here it runs
on Z3 booleans standing for "permit i is satisfied" and "forbid j is satisfied", for every
number of permits and forbids up to a bound, so the proof is about the very function the
concrete authorizer runs. A refuting assignment is replayed on Python booleans.
For a given policy set, the same invariants are the queries `explicit-permit` and
`forbid-overrides-permit` (analyzer/queries.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from cedar_smt.analyzer.results import InternalError, Verdict
from cedar_smt.core.authorizer import PYTHON_LOGIC, DecisionRule
from cedar_smt.encoder.authorizer import z3_logic
from cedar_smt.encoder.factory import Factory
from cedar_smt.encoder.solver import check, make_context, make_solver

INVARIANTS = ("explicit-permit", "forbid-overrides-permit")


@dataclass(frozen=True)
class RuleResult:
    """One invariant of a decision rule, over every set of up to `bound` permits and forbids."""

    invariant: str
    bound: int
    verdict: Verdict
    permits: tuple[bool, ...] = ()  # a refuting assignment: which permits are satisfied
    forbids: tuple[bool, ...] = ()
    allowed: bool | None = None  # what the rule decided on it

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "invariant": self.invariant,
            "bound": self.bound,
            "result": self.verdict.value,
        }
        if self.verdict is Verdict.REFUTED:
            out["counterexample"] = {
                "permits_satisfied": list(self.permits),
                "forbids_satisfied": list(self.forbids),
                "decision": "allow" if self.allowed else "deny",
            }
        return out

    def describe(self) -> str:
        if self.verdict is Verdict.HOLDS:
            return (
                f"{self.invariant}: holds for every set of up to {self.bound} permits and "
                f"{self.bound} forbids"
            )
        return (
            f"{self.invariant}: REFUTED with {len(self.permits)} permits "
            f"({sum(self.permits)} satisfied) and {len(self.forbids)} forbids "
            f"({sum(self.forbids)} satisfied): the rule decides "
            f"{'ALLOW' if self.allowed else 'DENY'}"
        )


def _violated(invariant: str, permits: list[Any], forbids: list[Any], allowed: Any, f: Any) -> Any:
    if invariant == "explicit-permit":
        return f.and_(allowed, f.not_(f.any(permits)))
    return f.and_(f.any(forbids), allowed)


class _PythonBools:
    """The factory's connectives on Python booleans, to replay assignments."""

    @staticmethod
    def and_(*xs: bool) -> bool:
        return all(xs)

    @staticmethod
    def not_(x: bool) -> bool:
        return not x

    @staticmethod
    def any(xs: list[bool]) -> bool:
        return any(xs)


def prove_rule(rule: DecisionRule, bound: int) -> list[RuleResult]:  # type: ignore[type-arg]
    """Each invariant for every policy set of up to `bound` permits and up to `bound` forbids."""
    ctx = make_context()
    f = Factory(ctx)
    results = []
    for invariant in INVARIANTS:
        found: RuleResult | None = None
        for n in range(bound + 1):
            for m in range(bound + 1):
                permits = [z3.Bool(f"permit{i}", ctx) for i in range(n)]
                forbids = [z3.Bool(f"forbid{j}", ctx) for j in range(m)]
                allowed = rule(permits, forbids, z3_logic(f))
                solver = make_solver(ctx)
                solver.add(_violated(invariant, permits, forbids, allowed, f))
                if check(solver) != z3.sat:
                    continue
                model = solver.model()
                p = tuple(z3.is_true(model.eval(x, model_completion=True)) for x in permits)
                q = tuple(z3.is_true(model.eval(x, model_completion=True)) for x in forbids)
                decided = bool(rule(list(p), list(q), PYTHON_LOGIC))
                if not _violated(invariant, list(p), list(q), decided, _PythonBools):
                    raise InternalError(
                        f"the rule's counterexample to {invariant} does not replay: "
                        f"permits {p}, forbids {q}"
                    )
                found = RuleResult(invariant, bound, Verdict.REFUTED, p, q, decided)
                break
            if found:
                break
        results.append(found or RuleResult(invariant, bound, Verdict.HOLDS))
    return results
