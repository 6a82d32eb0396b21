"""Every query on a table of named cases with known answers.

Each refuted case's counterexamples are replayed through cedarpy (Cedar's Rust engine), with
and without the schema, and must get the decisions (or policy outcomes) the analysis reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cedar_smt import analyzer
from cedar_smt.analyzer import QueryResult, Verdict
from cedar_smt.core import PolicySet, Schema

cedarpy = pytest.importorskip("cedarpy")

SCHEMA_TEXT = """
entity Team in [Team];
entity User in [Team] = { level: Long, email?: String };
entity Doc = { owner: User, public: Bool, readers: Team };
action read, write appliesTo {
  principal: [User],
  resource: [Doc],
  context: { n: Long, mfa: Bool },
};
action admin appliesTo { principal: [User], resource: [Team], context: { n: Long, mfa: Bool } };
"""
SCHEMA = Schema.from_str(SCHEMA_TEXT)

OWNER = "permit(principal, action, resource is Doc) when { resource.owner == principal };"
READERS = (
    'permit(principal, action == Action::"read", resource) when { principal in resource.readers };'
)
PUBLIC = 'permit(principal, action == Action::"read", resource) when { resource.public };'
READ_BOTH = (
    'permit(principal, action == Action::"read", resource)\n'
    "when { principal in resource.readers || resource.public };"
)
NO_MFA = "forbid(principal, action, resource is Doc) when { !context.mfa };"
ADMINS = 'permit(principal in Team::"admins", action, resource);'

Case = tuple[str, str, tuple[str, ...], dict[str, Any], Verdict]
CASES: list[Case] = [
    # (name, query, operands (policy texts), options, expected verdict)
    (
        "splitting a disjunction into two permits is a refactoring",
        "equivalent",
        (READ_BOTH, READERS + PUBLIC),
        {},
        Verdict.HOLDS,
    ),
    (
        "moving a type test from the scope to the condition is a refactoring",
        "equivalent",
        (
            OWNER,
            "permit(principal, action, resource)\n"
            "when { resource is Doc && resource.owner == principal };",
        ),
        {},
        Verdict.HOLDS,
    ),
    (
        "dropping a permit is not equivalent",
        "equivalent",
        (READ_BOTH, READERS),
        {},
        Verdict.REFUTED,
    ),
    (
        "adding a forbid is not equivalent",
        "equivalent",
        (OWNER, OWNER + NO_MFA),
        {},
        Verdict.REFUTED,
    ),
    ("a narrower set is subsumed", "implies", (READERS, READ_BOTH), {}, Verdict.HOLDS),
    ("a wider set is not subsumed", "implies", (READ_BOTH, READERS), {}, Verdict.REFUTED),
    ("a forbid only narrows", "implies", (OWNER + NO_MFA, OWNER), {}, Verdict.HOLDS),
    ("readers and owners can overlap", "disjoint", (READERS, OWNER), {}, Verdict.REFUTED),
    (
        "different actions never overlap",
        "disjoint",
        (
            'permit(principal, action == Action::"read", resource);',
            'permit(principal, action == Action::"write", resource);',
        ),
        {},
        Verdict.HOLDS,
    ),
    ("only forbids: always denies", "always-denies", (NO_MFA,), {}, Verdict.HOLDS),
    ("no policies: always denies", "always-denies", ("",), {}, Verdict.HOLDS),
    ("a permit that can match: not always denies", "always-denies", (OWNER,), {}, Verdict.REFUTED),
    (
        "a permit that can never match: always denies",
        "always-denies",
        ("permit(principal, action, resource) when { context.n > 5 && context.n < 3 };",),
        {},
        Verdict.HOLDS,
    ),
    (
        "an unconditional permit: always allows",
        "always-allows",
        ("permit(principal, action, resource);",),
        {},
        Verdict.HOLDS,
    ),
    (
        "an unconditional permit with a forbid: not always allows",
        "always-allows",
        ("permit(principal, action, resource);" + NO_MFA,),
        {},
        Verdict.REFUTED,
    ),
    (
        "never allows writes without MFA",
        "never-allows",
        (OWNER + NO_MFA,),
        {"query": 'action == Action::"write" && !context.mfa'},
        Verdict.HOLDS,
    ),
    (
        "does allow writes with MFA",
        "never-allows",
        (OWNER + NO_MFA,),
        {"query": 'action == Action::"write"'},
        Verdict.REFUTED,
    ),
    (
        "always allows owners with MFA",
        "always-allows-when",
        (OWNER + NO_MFA,),
        {"query": "resource is Doc && resource.owner == principal && context.mfa"},
        Verdict.HOLDS,
    ),
    (
        "does not always allow owners",
        "always-allows-when",
        (OWNER + NO_MFA,),
        {"query": "resource is Doc && resource.owner == principal"},
        Verdict.REFUTED,
    ),
    (
        "explicit permit holds for any policy set",
        "explicit-permit",
        (OWNER + NO_MFA + ADMINS,),
        {},
        Verdict.HOLDS,
    ),
    (
        "forbid overrides permit for any policy set",
        "forbid-overrides-permit",
        (OWNER + NO_MFA + ADMINS,),
        {},
        Verdict.HOLDS,
    ),
    (
        "the buggy rule allows without a permit",
        "explicit-permit",
        (OWNER,),
        {"rule": "examples/invariants/buggy_rule.py:deny_if_forbidden_else_allow"},
        Verdict.REFUTED,
    ),
    (
        "overflow is an error",
        "never-errors",
        ("permit(principal, action, resource) when { context.n + 1 > 0 };",),
        {},
        Verdict.REFUTED,
    ),
    (
        "overflow in multiplication is an error",
        "never-errors",
        ("permit(principal, action, resource) when { context.n * context.n >= 0 };",),
        {},
        Verdict.REFUTED,
    ),
    (
        "attributes of a missing entity are an error",
        "never-errors",
        ("permit(principal, action, resource) when { principal.level > 2 };",),
        {},
        Verdict.REFUTED,
    ),
    (
        "an optional attribute under `has` still needs the entity",
        "never-errors",
        (
            "permit(principal, action, resource)\n"
            'when { principal has email && principal.email == "" };',
        ),
        {},
        Verdict.HOLDS,
    ),
    (
        "no arithmetic, no attributes: never errors",
        "never-errors",
        ("permit(principal, action, resource) when { context.n > 0 || context.mfa };",),
        {},
        Verdict.HOLDS,
    ),
    (
        "a condition that is always true matches everything",
        "always-matches",
        ("permit(principal, action, resource) when { context.n == context.n };",),
        {},
        Verdict.HOLDS,
    ),
    (
        "a condition on context does not match everything",
        "always-matches",
        ("permit(principal, action, resource) when { context.mfa };",),
        {},
        Verdict.REFUTED,
    ),
    (
        "a contradiction never matches",
        "never-matches",
        ("permit(principal, action, resource) when { context.mfa && !context.mfa };",),
        {},
        Verdict.HOLDS,
    ),
    ("a reachable condition can match", "never-matches", (PUBLIC,), {}, Verdict.REFUTED),
    (
        "two spellings of a policy match the same requests",
        "matches-equivalent",
        (
            "permit(principal, action, resource) when { !(context.n <= 3) };",
            "permit(principal, action, resource) when { context.n > 3 };",
        ),
        {},
        Verdict.HOLDS,
    ),
    (
        "a stricter bound matches fewer requests",
        "matches-equivalent",
        (
            "permit(principal, action, resource) when { context.n > 3 };",
            "permit(principal, action, resource) when { context.n > 4 };",
        ),
        {},
        Verdict.REFUTED,
    ),
    (
        "a stricter bound implies a looser one",
        "matches-implies",
        (
            "permit(principal, action, resource) when { context.n > 4 };",
            "permit(principal, action, resource) when { context.n > 3 };",
        ),
        {},
        Verdict.HOLDS,
    ),
    (
        "a looser bound does not imply a stricter one",
        "matches-implies",
        (
            "permit(principal, action, resource) when { context.n > 3 };",
            "permit(principal, action, resource) when { context.n > 4 };",
        ),
        {},
        Verdict.REFUTED,
    ),
    (
        "disjoint ranges never both match",
        "matches-disjoint",
        (
            "permit(principal, action, resource) when { context.n > 4 };",
            "permit(principal, action, resource) when { context.n < 2 };",
        ),
        {},
        Verdict.HOLDS,
    ),
    (
        "overlapping ranges can both match",
        "matches-disjoint",
        (
            "permit(principal, action, resource) when { context.n > 4 };",
            "permit(principal, action, resource) when { context.n < 9 };",
        ),
        {},
        Verdict.REFUTED,
    ),
]

CHECKS = {
    "equivalent": analyzer.check_equivalent,
    "implies": analyzer.check_implies,
    "disjoint": analyzer.check_disjoint,
    "always-allows": analyzer.check_always_allows,
    "always-denies": analyzer.check_always_denies,
    "never-allows": analyzer.check_never_allows,
    "always-allows-when": analyzer.check_always_allows_when,
    "explicit-permit": analyzer.check_explicit_permit,
    "forbid-overrides-permit": analyzer.check_forbid_overrides_permit,
    "never-errors": analyzer.check_never_errors,
    "always-matches": analyzer.check_always_matches,
    "never-matches": analyzer.check_never_matches,
    "matches-equivalent": analyzer.check_matches_equivalent,
    "matches-implies": analyzer.check_matches_implies,
    "matches-disjoint": analyzer.check_matches_disjoint,
}
POLICY_LEVEL = {
    "never-errors",
    "always-matches",
    "never-matches",
    "matches-equivalent",
    "matches-implies",
    "matches-disjoint",
}


def run_case(query: str, texts: tuple[str, ...], options: dict[str, Any]) -> QueryResult:
    sets = [PolicySet.from_str(t) for t in texts]
    if query in POLICY_LEVEL:
        operands = [next(iter(s)) for s in sets]
        return CHECKS[query](*operands, SCHEMA)
    if len(sets) == 2:
        return CHECKS[query](*sets, SCHEMA, labels=("a", "b"), **options)
    return CHECKS[query](sets[0], SCHEMA, label="a", **options)


def replay_with_cedarpy(query: str, texts: tuple[str, ...], result: QueryResult) -> None:
    """Each counterexample gets, from cedarpy, the decisions (or outcomes) the analysis claims."""
    assert result.counterexamples, "a refuted query must show counterexamples"
    for cx in result.counterexamples:
        request = cx.request.to_json()
        entities = cx.entities.to_json()
        non_actions = [e for e in entities if not e["uid"]["type"].endswith("Action")]
        for text, (label, claimed) in zip(texts, list(cx.decisions.items()), strict=False):
            for ents, schema in ((entities, None), (non_actions, SCHEMA_TEXT)):
                answer = cedarpy.is_authorized(request, text, json.dumps(ents), schema)
                errors = " ".join(answer.diagnostics.errors)
                assert "failed to parse" not in errors and "failed to build" not in errors, errors
                if query in POLICY_LEVEL:
                    outcome = (
                        "error"
                        if answer.diagnostics.errors
                        else "satisfied"
                        if answer.diagnostics.reasons
                        else "not satisfied"
                    )
                    assert outcome == claimed, (label, cx.to_json())
                elif "rule" not in json.dumps(label):
                    assert answer.decision.value.lower() == claimed, (label, cx.to_json())


@pytest.mark.parametrize(
    ("name", "query", "texts", "options", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_query(
    name: str, query: str, texts: tuple[str, ...], options: dict[str, Any], expected: Verdict
) -> None:
    result = run_case(query, texts, options)
    assert result.verdict is expected, [
        str(e.env) + ": " + e.verdict.value for e in result.environments
    ]
    assert all(e.verdict is not Verdict.UNKNOWN for e in result.environments)
    if expected is Verdict.REFUTED and "rule" not in options:
        replay_with_cedarpy(query, texts, result)


def test_unknown_is_reported_never_folded_into_holds() -> None:
    """A timeout too short to decide anything gives unknown, with the reason."""
    hard = (
        "permit(principal, action, resource) when "
        "{ context.n * context.n * context.n == 1234567890123 * context.n + 98765 };"
    )
    result = analyzer.check_never_matches(
        next(iter(PolicySet.from_str(hard))), SCHEMA, timeout=0.001
    )
    unknown = [e for e in result.environments if e.verdict is Verdict.UNKNOWN]
    assert unknown and all("timeout" in (e.reason or "") for e in unknown)
    assert result.verdict is not Verdict.HOLDS


def test_environment_filters_and_results_per_environment() -> None:
    result = analyzer.check_always_denies(PolicySet.from_str(OWNER), SCHEMA, action="read")
    assert [str(e.env) for e in result.environments] == ['User, Action::"read", Doc']
    with pytest.raises(analyzer.AnalysisInputError, match="no request environment"):
        analyzer.check_always_denies(PolicySet.from_str(OWNER), SCHEMA, principal_type="Nope")


def test_invalid_policies_and_queries_are_rejected() -> None:
    with pytest.raises(analyzer.AnalysisInputError, match="do not validate"):
        analyzer.check_always_denies(
            PolicySet.from_str("permit(principal, action, resource) when { principal.nope };"),
            SCHEMA,
        )
    with pytest.raises(analyzer.AnalysisInputError, match="not a Cedar condition"):
        analyzer.check_never_allows(PolicySet.from_str(OWNER), SCHEMA, query="principal ==")
    with pytest.raises(analyzer.AnalysisInputError, match="does not typecheck in any"):
        analyzer.check_never_allows(PolicySet.from_str(OWNER), SCHEMA, query="principal.nope")


def test_a_query_that_fails_to_typecheck_somewhere_is_unknown_there() -> None:
    result = analyzer.check_never_allows(PolicySet.from_str(OWNER), SCHEMA, query="resource.public")
    by_resource = {e.env.resource: e for e in result.environments}
    assert by_resource["Team"].verdict is Verdict.UNKNOWN
    assert "the query cannot be encoded here" in (by_resource["Team"].reason or "")
    assert result.verdict is Verdict.REFUTED


def test_decision_rule_proofs() -> None:
    from cedar_smt.analyzer.runner import load_rule
    from cedar_smt.core.authorizer import decision_rule

    assert all(r.verdict is Verdict.HOLDS for r in analyzer.prove_rule(decision_rule, 3))
    buggy = load_rule("examples/invariants/buggy_rule.py:deny_if_forbidden_else_allow")
    explicit, overrides = analyzer.prove_rule(buggy, 3)
    assert explicit.verdict is Verdict.REFUTED and explicit.allowed and not any(explicit.permits)
    assert overrides.verdict is Verdict.HOLDS


@pytest.mark.parametrize(
    "condition",
    [
        "!resource.photos.isEmpty()",
        "!resource.photos.isEmpty() && principal.photos == resource.photos",
        "!resource.photos.isEmpty() && principal.photos != resource.photos",
        "resource.photos.containsAll(principal.photos) && principal.photos != resource.photos",
        "!resource.albums.isEmpty() && !principal.albums.containsAll(resource.albums)",
        "resource.albums.contains(principal.photos) && !resource.albums.contains(resource.photos)",
        "principal.albums == resource.albums && principal.photos != resource.photos",
    ],
)
def test_counterexample_sets_hold_members_no_formula_names(condition: str) -> None:
    """A set the formulas see only through `isEmpty` or `==` still decodes with members that
    keep the counterexample true: it replays, and cedarpy agrees."""
    schema_text = """
    entity Photo;
    entity U = { photos: Set<Photo>, albums: Set<Set<Photo>> };
    action act appliesTo { principal: [U], resource: [U] };
    """
    text = f"permit(principal, action, resource) when {{ {condition} }};"
    result = analyzer.check_always_denies(PolicySet.from_str(text), Schema.from_str(schema_text))
    assert result.verdict is Verdict.REFUTED
    found = [e.counterexample for e in result.environments if e.counterexample is not None]
    assert found
    for cx in found:
        answer = cedarpy.is_authorized(
            cx.request.to_json(), text, cx.entities.to_json(), schema_text
        )
        assert answer.decision.value == "Allow", cx.to_json()


ENUM_SETS_SCHEMA = """
entity Photo enum ["a", "b"];
entity Team;
entity U = { s: Set<Photo>, t: Set<Photo>, k: Long };
action act appliesTo { principal: [U], resource: [U] };
"""
BRANCH_ON_ENUM_SETS = '(if principal.s.containsAny(principal.t) then Team::"b" else Team::"a")'


@pytest.mark.parametrize(
    ("check", "text", "claimed"),
    [
        (
            analyzer.check_always_denies,
            f'permit(principal, action, resource) when {{ {BRANCH_ON_ENUM_SETS} == Team::"b" }};',
            "Allow",
        ),
        (
            analyzer.check_never_errors,
            "permit(principal, action, resource) when "
            f'{{ {BRANCH_ON_ENUM_SETS} == Team::"b" && principal.k + 1 > 0 }};',
            None,
        ),
        (
            analyzer.check_always_denies,
            "permit(principal, action, resource) when { (if principal.s.containsAny(principal.t) "
            'then [Photo::"a"] else [Photo::"b"]).contains(Photo::"a") && principal.k > 0 };',
            "Allow",
        ),
    ],
    ids=["always-denies", "never-errors", "a set chosen"],
)
def test_counterexample_decodes_values_chosen_by_a_set_test(
    check: Any, text: str, claimed: str | None
) -> None:
    """Z3's model leaves a test between sets of enumerated entities unreduced inside a value
    the formulas compute; the decoder decides it and the counterexample replays."""
    policies = PolicySet.from_str(text)
    operand = policies if claimed else next(iter(policies))
    result = check(operand, Schema.from_str(ENUM_SETS_SCHEMA))
    assert result.verdict is Verdict.REFUTED
    for cx in result.counterexamples:
        answer = cedarpy.is_authorized(
            cx.request.to_json(), text, cx.entities.to_json(), ENUM_SETS_SCHEMA
        )
        if claimed:
            assert answer.decision.value == claimed, cx.to_json()
        else:
            assert answer.diagnostics.errors, cx.to_json()


@pytest.mark.parametrize(
    "condition",
    [
        'resource.age.contains(duration("1s").toMilliseconds())',
        'duration("1s") > duration("0s") && resource.age.contains(1000)',
        'resource.times.contains(datetime("1970-01-01T00:00:01Z")) && resource.age.contains(1000)',
    ],
)
def test_counterexample_sets_hold_a_long_written_as_another_type(condition: str) -> None:
    """A Long and a duration or datetime of the same number of milliseconds are one term to
    the solver; a set decoded against the values that matter still gets the Long."""
    schema_text = """
    entity U = { age: Set<Long>, times: Set<datetime> };
    action act appliesTo { principal: [U], resource: [U] };
    """
    text = f"permit(principal, action, resource) when {{ {condition} }};"
    result = analyzer.check_always_denies(PolicySet.from_str(text), Schema.from_str(schema_text))
    assert result.verdict is Verdict.REFUTED
    for cx in result.counterexamples:
        answer = cedarpy.is_authorized(
            cx.request.to_json(), text, cx.entities.to_json(), schema_text
        )
        assert answer.decision.value == "Allow", cx.to_json()
