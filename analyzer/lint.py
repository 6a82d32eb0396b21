"""The linter: policies that do nothing, or that can error.

Each finding has a stable rule code, the policy and its place, and a witness request where
there is one (a policy that can error is shown erroring). Findings are proofs: a check the
solver cannot decide is listed as undecided, never as a finding or as its absence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cedar_smt.analyzer.checks import require_valid
from cedar_smt.analyzer.diff import PolicyRef
from cedar_smt.analyzer.results import Counterexample, Interrupted, QueryResult, Verdict
from cedar_smt.analyzer.runner import Operand, Problem, run, timeout_ms
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.validator import request_environments


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    level: str  # SARIF level: "error", "warning" or "note"
    summary: str


RULES = {
    r.code: r
    for r in [
        Rule("L001", "dead-policy", "warning", "the policy never matches any request"),
        Rule("L002", "matches-everything", "note", "the policy matches every request it could"),
        Rule("L003", "redundant-policy", "warning", "removing the policy changes no decision"),
        Rule("L004", "shadowed-permit", "warning", "the permit can never lead to Allow"),
        Rule("L005", "shadowed-forbid", "note", "another forbid applies whenever this one does"),
        Rule(
            "L006",
            "may-error",
            "warning",
            "the policy can error (and is then skipped) even when the entities it reads exist",
        ),
    ]
}


@dataclass(frozen=True)
class Finding:
    code: str
    policy: PolicyRef
    message: str
    witness: Counterexample | None = None

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "rule": self.rule.name,
            "level": self.rule.level,
            "policy": self.policy.to_json(),
            "message": self.message,
        }
        if self.witness is not None:
            out["witness"] = self.witness.to_json()
        return out


@dataclass(frozen=True)
class Undecided:
    policy: PolicyRef
    check: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy.to_json(), "check": self.check, "reason": self.reason}


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...] = ()
    undecided: tuple[Undecided, ...] = ()
    label: str = "policies"
    interrupted: str | None = None  # the signal that stopped the run, e.g. "SIGINT"
    unlinted: tuple[PolicyRef, ...] = ()  # policies not (fully) linted, when interrupted

    @property
    def complete(self) -> bool:
        return not self.undecided and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        result = "findings" if self.findings else "clean" if self.complete else "unknown"
        out: dict[str, Any] = {
            "query": "lint",
            "result": result,
            "policies": self.label,
            "findings": [f.to_json() for f in self.findings],
            "undecided": [u.to_json() for u in self.undecided],
        }
        if self.interrupted:
            out["interrupted"] = self.interrupted
            out["unlinted"] = [p.to_json() for p in self.unlinted]
        return out


def _reason(result: QueryResult) -> str:
    reasons = {e.reason for e in result.environments if e.verdict is Verdict.UNKNOWN}
    return "; ".join(sorted(r for r in reasons if r))


def lint_policies(
    policies: Sequence[Policy],
    schema: Schema,
    *,
    label: str = "policies",
    timeout: float | None = None,
    on_policy: Callable[[Policy], None] | None = None,
    on_result: Callable[[str, QueryResult], None] | None = None,
) -> LintResult:
    """Findings for each policy of the set (its templates are not linted).

    `on_policy` is called after each policy is linted, `on_result` after each check with the
    check's query name and result (per-environment timings included).
    """
    policies = tuple(policies)
    limit_ms = timeout_ms(timeout)
    require_valid(policies, schema, f"`{label}`")
    envs = request_environments(schema)
    findings: list[Finding] = []
    undecided: list[Undecided] = []
    done = 0
    try:
        for p in policies:
            _lint_one(p, policies, schema, envs, label, limit_ms, findings, undecided, on_result)
            done += 1
            if on_policy:
                on_policy(p)
    except KeyboardInterrupt as err:
        stop = Interrupted.of(err)
        unlinted = tuple(PolicyRef.of(p, label) for p in policies[done:])
        partial = LintResult(tuple(findings), tuple(undecided), label, stop.signal_name, unlinted)
        raise Interrupted.of(err, partial) from None
    return LintResult(tuple(findings), tuple(undecided), label)


def _lint_one(
    p: Policy,
    policies: tuple[Policy, ...],
    schema: Schema,
    envs: list[RequestEnv],
    label: str,
    limit_ms: int | None,
    findings: list[Finding],
    undecided: list[Undecided],
    on_result: Callable[[str, QueryResult], None] | None,
) -> None:
    """Lint one policy of the set: its findings and the checks it cannot decide, appended."""
    forbids = [q for q in policies if q.effect is Effect.FORBID]
    ref = PolicyRef.of(p, label)
    own = [e for e in envs if applies(p, e, schema)]  # where its scope can match

    def ask(query: str, *operands: Sequence[Policy], entities_exist: bool = False) -> QueryResult:
        ops = tuple(
            Operand(o[0].display_name if len(o) == 1 else f"set{i}", tuple(o))
            for i, o in enumerate(operands)
        )
        problem = Problem(query, ops, schema, timeout_ms=limit_ms, entities_exist=entities_exist)
        result = run(problem, own)
        if on_result:
            on_result(query, result)
        if result.verdict is Verdict.UNKNOWN:
            undecided.append(Undecided(ref, query, _reason(result)))
        return result

    def proved(query: str, *operands: Sequence[Policy]) -> bool:
        return ask(query, *operands).verdict is Verdict.HOLDS

    if not own:
        message = "its scope matches no request environment of the schema"
        findings.append(Finding("L001", ref, message))
        return
    if proved("never-matches", [p]):
        findings.append(Finding("L001", ref, "no request satisfies its conditions"))
    else:
        if proved("always-matches", [p]):
            findings.append(Finding("L002", ref, "every request its scope allows satisfies it"))
        others = [q for q in policies if q is not p]
        if proved("equivalent", policies, others):
            message = "the other policies decide every request alike without it"
            findings.append(Finding("L003", ref, message))
        if p.effect is Effect.PERMIT and forbids and proved("always-denies", [p, *forbids]):
            findings.append(Finding("L004", ref, "whenever it applies, a forbid applies too"))
        other_forbids = [q for q in forbids if q is not p]
        as_permit = replace(p, effect=Effect.PERMIT)
        if (
            p.effect is Effect.FORBID
            and other_forbids
            and proved("always-denies", [as_permit, *other_forbids])
        ):
            message = "whenever it applies, another forbid applies too"
            findings.append(Finding("L005", ref, message))
    # a missing entity makes nearly every policy error: report the errors that remain
    # when every entity the request and the policy name is in the store
    errors = ask("never-errors", [p], entities_exist=True)
    refuted = [e for e in errors.environments if e.counterexample is not None]
    if refuted:
        message = (
            f"it can error even when every entity it reads exists, for example for {refuted[0].env}"
        )
        findings.append(Finding("L006", ref, message, refuted[0].counterexample))
