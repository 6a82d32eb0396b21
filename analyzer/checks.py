"""The Python API: one function per query, returning frozen `QueryResult`s.

Every function takes the operands, the schema, and the same options as the CLI: restrict
the request environments (`principal_type`, `action`, `resource_type`), a per-environment
`timeout` in seconds, `jobs` parallel processes, `entities_exist` to consider only requests
whose referenced entities are all in the store, and `on_done` called as each environment
finishes, and `assumptions`: Cedar conditions (strings, or `Assumption`s read from a file by
`read_assumptions`) every request is assumed to satisfy (analyzer/assumptions.py), and
`any_link=True` to analyse templates for every link (core/links.py): a policy set's templates,
and a template given as a policy, hold only if they hold for every link. `plain=True`
takes the reference path (analyzer/runner.py's `check_env`), which the
tests compare the fast one with. Policies must validate against the schema; otherwise
`AnalysisInputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cedar_smt.analyzer.assumptions import Assumptions, checked_assumptions, vacuous_environments
from cedar_smt.analyzer.queries import QUERIES
from cedar_smt.analyzer.results import AnalysisInputError, EnvResult, QueryResult
from cedar_smt.analyzer.runner import Operand, Problem, matching_environments, run, timeout_ms
from cedar_smt.core.errors import Loc, ParseError
from cedar_smt.core.links import LinkSpace, link_space
from cedar_smt.core.parser import parse_expr
from cedar_smt.core.policy import Condition, Effect, Policy, ScopeAny
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import TypeCheckError, typecheck
from cedar_smt.core.validator import Validator, request_environments

Policies = PolicySet | Iterable[Policy]


def _policies(policies: Policies) -> tuple[Policy, ...]:
    return tuple(policies)


def _templates(policies: Policies) -> tuple[Policy, ...]:
    return tuple(policies.templates.values()) if isinstance(policies, PolicySet) else ()


def any_link_operands(operands: Iterable[Operand], any_link: bool) -> list[Operand]:
    """With `any_link`, each operand's templates join its policies; without, a template among
    them is refused (its slots have no values)."""
    out = []
    for op in operands:
        if any_link:
            out.append(Operand(op.label, (*op.policies, *op.templates)))
            continue
        refuse_templates(op.policies, op.label, any_link)
        out.append(op)
    return out


def refuse_templates(policies: Iterable[Policy], label: str, any_link: bool) -> None:
    """Without `any_link`, a template among the policies has no values for its slots."""
    template = next((p for p in policies if p.is_template), None)
    if template is not None and not any_link:
        raise AnalysisInputError(
            f"`{template.display_name}` of `{label}` is a template: link it "
            "(--template-links) or analyse it for every link (--any-link, any_link=True)"
        )


def templates_link_space(operands: Iterable[Operand], schema: Schema, query: str) -> LinkSpace:
    """The link space of the operands' templates; for a question about policy sets, a set may
    have no link of a template (`LinkSpace.optional`); a question about a single policy is
    about one link of it, which is there."""
    optional = QUERIES[query].level == "set"
    return link_space([op.policies for op in operands], schema, optional)


MAX_LISTED_ERRORS = 20


def require_valid(
    policies: Iterable[Policy], schema: Schema, label: str, against: str = "the schema"
) -> None:
    """Refuse policies that do not validate, naming each error's file, line and policy."""
    validator = Validator(schema)
    # a policy whose scope matches no environment is dead, not wrong: it can be analysed
    failing = [
        (p, e) for p in policies for e in validator.policy_errors(p) if e.code != "never-applies"
    ]
    if not failing:
        return
    sources = sorted({p.source for p, _ in failing if p.source})
    named = ", ".join(f"`{s}`" for s in sources) if sources else label
    lines = [f"  {e}" for _, e in failing[:MAX_LISTED_ERRORS]]
    if len(failing) > MAX_LISTED_ERRORS:
        lines.append(f"  (and {len(failing) - MAX_LISTED_ERRORS} more)")
    raise AnalysisInputError(
        f"the policies of {named} do not validate against {against}, so they cannot be "
        "analysed:\n" + "\n".join(lines)
    )


def query_policy(text: str, schema: Schema) -> Policy:
    """`permit(principal, action, resource) when { <text> };`, checked against the schema.

    A syntax error is placed in `text` as written, in a source named `query`.
    """
    try:
        body = parse_expr(text)
    except ParseError as err:
        raise _query_syntax_error(err, text) from None
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


def _query_syntax_error(err: ParseError, text: str) -> AnalysisInputError:
    lines = text.splitlines() or [""]
    loc, message = err.loc, err.message
    if loc is None or loc.line > len(lines):  # the parser met the end of the query
        loc = Loc(len(lines), len(lines[-1]) + 1)
        message = message.replace("unexpected token `}`", "unexpected end of the query")
    message = message.replace("unexpected end of input", "unexpected end of the query")
    return AnalysisInputError(
        f"the query is not a Cedar condition: {message}", source="query", loc=loc, text=text
    )


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
    assumptions: Assumptions | None = None,
    any_link: bool = False,
) -> QueryResult:
    operands = any_link_operands(operands, any_link)
    for op in operands:
        require_valid(op.policies, schema, f"`{op.label}`")
    envs = matching_environments(schema, principal_type, action, resource_type)
    assumed = checked_assumptions(assumptions, schema)
    limit = timeout_ms(timeout)
    problem = Problem(
        query,
        tuple(operands),
        schema,
        condition,
        rule,
        limit,
        entities_exist,
        plain,
        assumed,
        vacuous_environments(assumed, schema, envs, limit),
        templates_link_space(operands, schema, query) if any_link else None,
    )
    return run(problem, envs, jobs, on_done)


def _one(policy: Policy, label: str) -> Operand:
    return Operand(label, (policy,))


def _set(policies: Policies, label: str) -> Operand:
    return Operand(label, _policies(policies), _templates(policies))


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
