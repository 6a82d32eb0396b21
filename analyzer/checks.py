"""The Python API: one function per query, returning frozen `QueryResult`s.

Every function takes the operands, the schema, and the same options as the CLI: restrict
the request environments (`principal_type`, `action`, `resource_type`), a per-environment
`timeout` in seconds, `jobs` parallel processes, `entities_exist` to consider only requests
whose referenced entities are all in the store, and `on_done` called as each environment
finishes. `plain=True` takes the reference path (analyzer/runner.py's `check_env`), which the
tests compare the fast one with. Policies must validate against the schema; otherwise
`AnalysisInputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cedar_smt.analyzer.results import EnvResult, QueryResult
from cedar_smt.analyzer.runner import Operand, Problem, run, select_environments
from cedar_smt.core.errors import CedarError, ParseError
from cedar_smt.core.parser import parse_expr
from cedar_smt.core.policy import Condition, Effect, Policy, ScopeAny
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import TypeCheckError, typecheck
from cedar_smt.core.validator import Validator, request_environments

Policies = PolicySet | Iterable[Policy]


class AnalysisInputError(CedarError):
    """Policies, queries or options an analysis cannot take."""


def _policies(policies: Policies) -> tuple[Policy, ...]:
    return tuple(policies)


def require_valid(policies: Iterable[Policy], schema: Schema, label: str) -> None:
    validator = Validator(schema)
    # a policy whose scope matches no environment is dead, not wrong: it can be analysed
    errors = [e for p in policies for e in validator.policy_errors(p) if e.code != "never-applies"]
    if errors:
        listed = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise AnalysisInputError(
            f"{label} do not validate against the schema, so they cannot be analysed: "
            f"{listed}{more}"
        )


def query_policy(text: str, schema: Schema) -> Policy:
    """`permit(principal, action, resource) when { <text> };`, checked against the schema."""
    try:
        body = parse_expr(text)
    except ParseError as err:
        raise AnalysisInputError(f"the query is not a Cedar condition: {err}") from None
    policy = Policy(
        id="query",
        effect=Effect.PERMIT,
        principal=ScopeAny(),
        action=ScopeAny(),
        resource=ScopeAny(),
        conditions=(Condition("when", body),),
        text=text,
    )
    problems = []
    for env in request_environments(schema):
        try:
            typecheck(policy, env, schema)
            return policy
        except TypeCheckError as err:
            problems.append(err.message)
    first = problems[0] if problems else "the schema has no request environments"
    raise AnalysisInputError(f"the query does not typecheck in any request environment: {first}")


def _run(
    query: str,
    operands: list[Operand],
    schema: Schema,
    *,
    condition: Policy | None = None,
    rule: str | None = None,
    principal_type: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    on_done: Callable[[EnvResult], None] | None = None,
    entities_exist: bool = False,
    plain: bool = False,
) -> QueryResult:
    for op in operands:
        require_valid(op.policies, schema, f"the policies of `{op.label}`")
    envs = select_environments(request_environments(schema), principal_type, action, resource_type)
    if not envs:
        raise AnalysisInputError("no request environment of the schema matches the given filters")
    timeout_ms = None if timeout is None else max(1, int(timeout * 1000))
    problem = Problem(
        query, tuple(operands), schema, condition, rule, timeout_ms, entities_exist, plain
    )
    return run(problem, envs, jobs, on_done)


def _one(policy: Policy, label: str) -> Operand:
    return Operand(label, (policy,))


def _set(policies: Policies, label: str) -> Operand:
    return Operand(label, _policies(policies))


def check_never_errors(policy: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff the policy never errors."""
    return _run("never-errors", [_one(policy, policy.id)], schema, **options)


def check_always_matches(policy: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff the policy is satisfied by every request."""
    return _run("always-matches", [_one(policy, policy.id)], schema, **options)


def check_never_matches(policy: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff the policy is satisfied by no request."""
    return _run("never-matches", [_one(policy, policy.id)], schema, **options)


def _two(a: Policy, b: Policy) -> list[Operand]:
    labels = (a.id, b.id) if a.id != b.id else ("first", "second")
    return [_one(a, labels[0]), _one(b, labels[1])]


def check_matches_equivalent(a: Policy, b: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff the two policies are satisfied by exactly the same requests."""
    return _run("matches-equivalent", _two(a, b), schema, **options)


def check_matches_implies(a: Policy, b: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff every request satisfying `a` satisfies `b`."""
    return _run("matches-implies", _two(a, b), schema, **options)


def check_matches_disjoint(a: Policy, b: Policy, schema: Schema, **options: Any) -> QueryResult:
    """Holds iff no request satisfies both policies."""
    return _run("matches-disjoint", _two(a, b), schema, **options)


def check_always_allows(
    policies: Policies, schema: Schema, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff the policies allow every request."""
    return _run("always-allows", [_set(policies, label)], schema, **options)


def check_always_denies(
    policies: Policies, schema: Schema, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff the policies deny every request."""
    return _run("always-denies", [_set(policies, label)], schema, **options)


def _pair(a: Policies, b: Policies, labels: tuple[str, str]) -> list[Operand]:
    return [_set(a, labels[0]), _set(b, labels[1])]


def check_equivalent(
    a: Policies,
    b: Policies,
    schema: Schema,
    labels: tuple[str, str] = ("first", "second"),
    **options: Any,
) -> QueryResult:
    """Holds iff both policy sets decide every request the same way."""
    return _run("equivalent", _pair(a, b, labels), schema, **options)


def check_implies(
    a: Policies,
    b: Policies,
    schema: Schema,
    labels: tuple[str, str] = ("first", "second"),
    **options: Any,
) -> QueryResult:
    """Holds iff every request `a` allows, `b` allows too (`b` subsumes `a`)."""
    return _run("implies", _pair(a, b, labels), schema, **options)


def check_disjoint(
    a: Policies,
    b: Policies,
    schema: Schema,
    labels: tuple[str, str] = ("first", "second"),
    **options: Any,
) -> QueryResult:
    """Holds iff no request is allowed by both policy sets."""
    return _run("disjoint", _pair(a, b, labels), schema, **options)


def check_never_allows(
    policies: Policies, schema: Schema, query: str, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff the policies allow no request meeting `query` (a Cedar condition)."""
    condition = query_policy(query, schema)
    return _run("never-allows", [_set(policies, label)], schema, condition=condition, **options)


def check_always_allows_when(
    policies: Policies, schema: Schema, query: str, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff the policies allow every request meeting `query` (a Cedar condition)."""
    condition = query_policy(query, schema)
    return _run(
        "always-allows-when", [_set(policies, label)], schema, condition=condition, **options
    )


def check_explicit_permit(
    policies: Policies, schema: Schema, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff a request is allowed only when some permit policy is satisfied."""
    return _run("explicit-permit", [_set(policies, label)], schema, **options)


def check_forbid_overrides_permit(
    policies: Policies, schema: Schema, label: str = "policies", **options: Any
) -> QueryResult:
    """Holds iff a request is denied whenever some forbid policy is satisfied."""
    return _run("forbid-overrides-permit", [_set(policies, label)], schema, **options)
