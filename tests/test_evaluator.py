"""The evaluator, rule by rule: each row names the Cedar rule it pins down.

A row gives an expression and either the value it evaluates to (written as Cedar) or the kind
of error it raises. Every row is also run through cedarpy, which must agree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cedar_smt.core import Entities, Request, evaluate, is_authorized, parse_expr
from cedar_smt.core.compiled import compile_expr
from cedar_smt.core.errors import ErrorKind, EvaluationError
from cedar_smt.core.policy_set import PolicySet

ENTITIES: list[dict[str, Any]] = [
    {
        "uid": {"type": "User", "id": "alice"},
        "attrs": {
            "name": "Alice",
            "age": 30,
            "manager": {"__entity": {"type": "User", "id": "bob"}},
            "address": {"city": "Paris"},
            "roles": ["admin", "dev"],
        },
        "parents": [{"type": "Group", "id": "staff"}],
        "tags": {"dept": "eng"},
    },
    {"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": []},
    {
        "uid": {"type": "Group", "id": "staff"},
        "attrs": {},
        "parents": [{"type": "Group", "id": "all"}],
    },
    {"uid": {"type": "Group", "id": "all"}, "attrs": {}, "parents": []},
]
REQUEST = {
    "principal": {"type": "User", "id": "alice"},
    "action": {"type": "Action", "id": "view"},
    "resource": {"type": "Doc", "id": "missing"},
    "context": {"n": 1, "s": "x", "max": 9223372036854775807, "flag": True},
}

E = ErrorKind
CASES: list[tuple[str, str, str | ErrorKind]] = [
    # (rule, expression, expected value as Cedar text, or the error kind)
    ("&& short-circuits on false", 'false && (1 + "x")', "false"),
    ("&& short-circuits: no type check of the right side", "false && 1", "false"),
    ("&& checks its right operand is a bool", "true && 1", E.TYPE_ERROR),
    ("&& checks its left operand is a bool", "1 && true", E.TYPE_ERROR),
    ("|| short-circuits on true", "true || context.nope", "true"),
    ("|| checks its right operand is a bool", "false || 1", E.TYPE_ERROR),
    ("if evaluates only the taken branch", "if true then 1 else context.nope", "1"),
    ("if needs a bool condition", 'if "x" then 1 else 2', E.TYPE_ERROR),
    ("! needs a bool", "!1", E.TYPE_ERROR),
    ("== is false across types", '1 == "1"', "false"),
    ("== does not equate true and 1", "true == 1", "false"),
    ("a set keeps true and 1 apart", "[true, 1].contains(1) && [1, true] != [1]", "true"),
    ("== on sets ignores order and duplicates", "[1, 2, 2] == [2, 1]", "true"),
    ("== on records", '{a: 1, b: "x"} == {b: "x", a: 1}', "true"),
    ("== on entities", 'principal == User::"alice"', "true"),
    ("== on extension values", 'decimal("1.50") == decimal("1.5")', "true"),
    ("ip equality keeps the host bits", 'ip("10.0.0.1/8") == ip("10.0.0.0/8")', "false"),
    ("< on longs", "1 < 2 && !(2 < 1) && 2 <= 2", "true"),
    ("< needs comparable operands", '1 < "2"', E.TYPE_ERROR),
    ("< does not order decimals", 'decimal("1.0") < decimal("2.0")', E.TYPE_ERROR),
    ("< orders datetimes", 'datetime("2024-01-01") < datetime("2024-01-02")', "true"),
    ("< orders durations", 'duration("1h") < duration("61m")', "true"),
    (
        "< does not mix datetime and duration",
        'datetime("2024-01-01") < duration("1h")',
        E.TYPE_ERROR,
    ),
    ("+ overflows", "context.max + 1", E.ARITH_BOUNDS),
    ("- overflows", "-9223372036854775808 - 1", E.ARITH_BOUNDS),
    ("* overflows", "context.max * 2", E.ARITH_BOUNDS),
    ("unary - overflows on the minimum", "-(-9223372036854775808)", E.ARITH_BOUNDS),
    ("arithmetic", "2 * 3 - 10 + -1", "-5"),
    ("+ needs longs", '1 + "1"', E.TYPE_ERROR),
    ("in is reflexive", 'principal in User::"alice"', "true"),
    ("in is transitive", 'principal in Group::"all"', "true"),
    ("in is false for an unrelated entity", 'principal in User::"bob"', "false"),
    ("in is false for an entity not in the store", 'resource in Group::"all"', "false"),
    ("in is reflexive for an entity not in the store", 'resource in Doc::"missing"', "true"),
    ("in a set of entities", 'principal in [User::"bob", Group::"staff"]', "true"),
    ("in a set needs entities only", 'principal in [Group::"staff", 1]', E.TYPE_ERROR),
    ("in needs an entity on the left", '1 in Group::"all"', E.TYPE_ERROR),
    ("in needs an entity or set on the right", 'principal in "x"', E.TYPE_ERROR),
    ("has on an entity", "principal has name && !(principal has nope)", "true"),
    ("has on an entity not in the store is false", "resource has name", "false"),
    ("has on a record", "context has n && !(context has m)", "true"),
    ("has on a long is a type error", "context.n has a", E.TYPE_ERROR),
    (
        "has a path short-circuits",
        "principal has address.city && !(principal has nope.city)",
        "true",
    ),
    ("attribute of an entity", 'principal.address.city == "Paris"', "true"),
    ("attribute through an entity reference", 'principal.manager == User::"bob"', "true"),
    ("missing attribute of an entity", "principal.nope", E.ATTR_DOES_NOT_EXIST),
    ("missing attribute of a record", "context.nope", E.ATTR_DOES_NOT_EXIST),
    ("attribute of an entity not in the store", "resource.name", E.ENTITY_DOES_NOT_EXIST),
    ("attribute of a set is a type error", "principal.roles.size", E.TYPE_ERROR),
    ("contains", 'principal.roles.contains("admin")', "true"),
    ("containsAll", "[1, 2, 3].containsAll([1, 3]) && ![1].containsAll([1, 2])", "true"),
    ("containsAny", "[1, 2].containsAny([2, 5]) && ![1].containsAny([])", "true"),
    ("isEmpty", "[].isEmpty() && ![1].isEmpty()", "true"),
    ("contains needs a set", '"abc".contains("a")', E.TYPE_ERROR),
    ("containsAll needs a set argument", "[1].containsAll(1)", E.TYPE_ERROR),
    ("like with wildcards", '"pancakes" like "pan*s" && "" like "*" && !("ab" like "a")', "true"),
    ("like with an escaped star", r'"a*b" like "a\*b" && !("axb" like "a\*b")', "true"),
    ("like is case sensitive", '!("ABC" like "abc")', "true"),
    ("like needs a string", '1 like "1"', E.TYPE_ERROR),
    ("is tests the entity type", "principal is User && !(principal is Group)", "true"),
    ("is with a namespace", 'A::B::"x" is A::B && !(A::B::"x" is B)', "true"),
    ("is needs an entity", "1 is User", E.TYPE_ERROR),
    ("is in", 'principal is User in Group::"all"', "true"),
    ("hasTag", 'principal.hasTag("dept") && !principal.hasTag("x")', "true"),
    ("hasTag on an entity not in the store is false", 'resource.hasTag("dept")', "false"),
    ("getTag", 'principal.getTag("dept")', '"eng"'),
    ("getTag of a missing tag", 'principal.getTag("x")', E.TAG_DOES_NOT_EXIST),
    ("getTag on an entity not in the store", 'resource.getTag("x")', E.TAG_DOES_NOT_EXIST),
    ("getTag needs a string", "principal.getTag(1)", E.TYPE_ERROR),
    ("errors propagate out of sets", "[1, context.nope]", E.ATTR_DOES_NOT_EXIST),
    ("errors propagate out of records", "{a: context.nope}", E.ATTR_DOES_NOT_EXIST),
    ("a bad decimal is an extension error", 'decimal("1.23456")', E.EXTENSION_ERROR),
    ("a bad ip is an extension error", 'ip("1.2.3")', E.EXTENSION_ERROR),
    ("an extension function checks its argument type", "decimal(1)", E.TYPE_ERROR),
    ("an extension function checks its argument count", 'ip("1.2.3.4").isIpv4(1)', E.TYPE_ERROR),
    ("decimal comparisons", 'decimal("-0.5").lessThan(decimal("0.0"))', "true"),
    (
        "ip ranges",
        'ip("10.1.2.3").isInRange(ip("10.0.0.0/8")) && ip("127.0.0.2").isLoopback()',
        "true",
    ),
    (
        "datetime arithmetic",
        'datetime("2024-01-01").offset(duration("1d")) == datetime("2024-01-02")',
        "true",
    ),
    (
        "offset overflows",
        'datetime("9999-01-01").offset(duration("9223372036854775807ms"))',
        E.EXTENSION_ERROR,
    ),
    (
        "durationSince",
        'datetime("2024-01-02").durationSince(datetime("2024-01-01")).toHours()',
        "24",
    ),
    # core/compiled.py computes calls on literals once: their errors stay where they are
    ("a bad literal call not reached is no error", 'false && ip("1.2.3").isIpv4()', "false"),
    ("a bad literal call in the branch not taken", 'if true then 1 else decimal("x")', "1"),
    ("a bad literal call reached errors", 'true && ip("1.2.3").isIpv4()', E.EXTENSION_ERROR),
    (
        "a literal call nested in a literal call",
        'ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))',
        "true",
    ),
    ("a literal call beside the request", 'context.s == "x" && ip("10.0.0.1").isIpv4()', "true"),
    ("toDate and toTime", 'datetime("2024-01-01T10:00:00Z").toTime() == duration("10h")', "true"),
    ("duration conversions truncate", 'duration("-1999ms").toSeconds()', "-1"),
]


@pytest.fixture(scope="module")
def store() -> tuple[Request, Entities]:
    return Request.from_json(REQUEST), Entities.from_json(ENTITIES)


def _run(text: str, store: tuple[Request, Entities]) -> Any:
    """The value, from the reference evaluator; the compiled closure must agree."""
    request, entities = store
    expr = parse_expr(text)
    try:
        value = evaluate(expr, request, entities)
    except EvaluationError as err:
        with pytest.raises(EvaluationError) as compiled_err:
            compile_expr(expr)(request, entities)
        assert (compiled_err.value.kind, str(compiled_err.value)) == (err.kind, str(err))
        raise
    assert compile_expr(expr)(request, entities) == value
    return value


@pytest.mark.parametrize(("rule", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(
    rule: str, text: str, expected: str | ErrorKind, store: tuple[Request, Entities]
) -> None:
    if isinstance(expected, ErrorKind):
        with pytest.raises(EvaluationError) as info:
            _run(text, store)
        assert info.value.kind is expected
    else:
        assert _run(text, store) == _run(expected, store)


def test_skip_on_error_and_forbid_overrides() -> None:
    policies = PolicySet.from_str(
        "permit(principal, action, resource);\n"
        "forbid(principal, action, resource) when { context.nope };\n"
        "forbid(principal, action, resource) when { context.flag };\n"
        "permit(principal, action, resource) when { 1 };"
    )
    request, entities = Request.from_json(REQUEST), Entities.from_json(ENTITIES)
    response = is_authorized(request, policies, entities)
    assert response.decision == "deny"
    assert response.reasons == {"policy2"}
    assert set(response.errors) == {"policy1", "policy3"}
    assert "does not have the attribute `nope`" in response.errors["policy1"]


def test_default_deny_and_allow_reasons() -> None:
    request, entities = Request.from_json(REQUEST), Entities.from_json(ENTITIES)
    assert is_authorized(request, PolicySet(), entities).decision == "deny"
    both = PolicySet.from_str(
        "permit(principal, action, resource);\npermit(principal is User, action, resource);"
    )
    response = is_authorized(request, both, entities)
    assert (response.decision, response.reasons) == ("allow", {"policy0", "policy1"})


cedarpy = pytest.importorskip("cedarpy")


@pytest.mark.parametrize(("rule", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cedar_agrees(rule: str, text: str, expected: str | ErrorKind) -> None:
    if isinstance(expected, ErrorKind):
        policy = f"permit(principal, action, resource) when {{ {text} }};"
    else:
        policy = f"permit(principal, action, resource) when {{ ({text}) == ({expected}) }};"
    result = cedarpy.is_authorized(REQUEST, policy, json.dumps(ENTITIES))
    if isinstance(expected, ErrorKind):
        assert result.decision.value == "Deny" and len(result.diagnostics.errors) == 1
    else:
        assert result.decision.value == "Allow", result.diagnostics.errors
