"""Authorize a request: Deny if any forbid is satisfied, else Allow if any permit is, else Deny.

The decision rule is written once, generic over a boolean algebra (`Logic`), so that the
concrete authorizer runs it on Python booleans and the symbolic one (encoder/authorizer.py)
on Z3 terms: the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from cedar_smt.core.bulk import paused_gc
from cedar_smt.core.compiled import closure
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import EvaluationError
from cedar_smt.core.evaluator import evaluate
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.request import Request

B = TypeVar("B")


@dataclass(frozen=True)
class Logic(Generic[B]):
    """A boolean algebra: how to combine the truth values the decision rule talks about."""

    any: Callable[[Sequence[B]], B]
    both: Callable[[B, B], B]
    negate: Callable[[B], B]


PYTHON_LOGIC: Logic[bool] = Logic(any=any, both=lambda a, b: a and b, negate=lambda a: not a)


def decision_rule(permits: Sequence[B], forbids: Sequence[B], logic: Logic[B]) -> B:
    """Allow iff some permit is satisfied and no forbid is (Cedar's authorization rule)."""
    return logic.both(logic.any(permits), logic.negate(logic.any(forbids)))


DecisionRule = Callable[[Sequence[B], Sequence[B], Logic[B]], B]


class Outcome(Enum):
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not satisfied"
    ERROR = "error"


@dataclass(frozen=True)
class PolicyResult:
    outcome: Outcome
    error: str | None = None


@room_for_depth()
def evaluate_policy(
    policy: Policy, request: Request, entities: Entities, *, reference: bool = False
) -> PolicyResult:
    """Satisfied iff the policy's expression evaluates to `true`; any error skips it.

    Runs the policy's compiled closure, or with `reference`, core/evaluator.py itself.
    """
    try:
        if reference:
            value = evaluate(policy.to_expr(), request, entities)
        else:
            value = closure(policy)(request, entities)
    except EvaluationError as err:
        return PolicyResult(Outcome.ERROR, err.message)
    if value is True:
        return PolicyResult(Outcome.SATISFIED)
    return PolicyResult(Outcome.NOT_SATISFIED)


@dataclass(frozen=True)
class Response:
    decision: str  # "allow" or "deny"
    reasons: frozenset[str] = frozenset()
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


@room_for_depth()
def is_authorized(
    request: Request,
    policies: PolicySet | Iterable[Policy],
    entities: Entities,
    rule: DecisionRule[bool] = decision_rule,
) -> Response:
    """Cedar's authorization; `rule` replaces the decision rule (to study other rules).

    The first request to a policy set compiles its policies (core/compiled.py), with the
    collector paused (core/bulk.py): 70,000 policies compiled in 0.3 s instead of 1.7 s."""
    permits: list[str] = []
    forbids: list[str] = []
    errors: dict[str, str] = {}
    with paused_gc():
        for policy in policies:  # evaluate_policy, inlined: this is the hot path
            try:
                satisfied = closure(policy)(request, entities) is True
            except EvaluationError as err:
                errors[policy.id] = err.message
                continue
            if satisfied:
                (permits if policy.effect is Effect.PERMIT else forbids).append(policy.id)
    allowed = rule([True] * len(permits), [True] * len(forbids), PYTHON_LOGIC)
    reasons = permits if allowed else forbids
    return Response("allow" if allowed else "deny", frozenset(reasons), errors)
