"""The validator, one rule per row; every row is also validated by cedarpy, which must agree.

A row names the rule, gives a policy, and the message we must report (None when the policy
is valid). The schema is the same for every row.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cedar_smt.core import ParseError, PolicySet, Schema, validate
from cedar_smt.core.ast import GetAttr, HasAttr, children
from cedar_smt.core.policy import ScopeAny, ScopeInSet
from cedar_smt.core.typechecker import (
    RequestEnv,
    TypeCheckError,
    action_may_match,
    type_errors,
    typecheck,
)
from cedar_smt.core.types import BOOL, FALSE, LONG, TRUE, EntityType
from cedar_smt.core.validator import request_environments
from cedar_smt.core.values import EntityUID

SCHEMA_TEXT = """
entity Group in [Group];
entity User in [Group] = {
  name: String,
  age?: Long,
  tags: Set<String>,
  manager?: User,
  address: { city: String, zip?: String },
  ip?: ipaddr,
  since?: datetime,
} tags String;
entity Doc = { owner: User, level: Long, readers: Set<User> };
entity Folder in [Folder];
entity Color enum ["red", "blue"];
action view appliesTo {
  principal: [User],
  resource: [Doc],
  context: { token: String, retries?: Long },
};
action edit in [view] appliesTo { principal: [User], resource: [Doc, Folder] };
action admin;
"""
SCHEMA = Schema.from_str(SCHEMA_TEXT)


def when(condition: str, scope: str = "principal, action, resource") -> str:
    return f"permit({scope}) when {{ {condition} }};"


RULES: list[tuple[str, str, str | None]] = [
    # --- the policy must be boolean
    ("a condition must be boolean", when("1"), "unexpected type: expected Bool but saw Long"),
    ("&& needs booleans", when("1 && true"), "unexpected type: expected Bool but saw Long"),
    ("|| needs booleans", when('false || "x"'), "unexpected type: expected Bool but saw String"),
    ("! needs a boolean", when("!principal"), "unexpected type: expected Bool but saw User"),
    (
        "if needs a boolean condition",
        when("if 1 then true else false"),
        "expected Bool but saw Long",
    ),
    (
        "if branches must have compatible types",
        when('(if principal has age then 1 else "a") == 1'),
        "the types Long and String are not compatible",
    ),
    ("unary - needs a long", when("-principal.name == 1"), "expected Long but saw String"),
    # --- short-circuits the types can prove
    ("false && x does not look at x", when("false && 1"), None),
    ("true || x does not look at x", when("true || 1"), None),
    ("if true does not look at the else branch", when('if true then true else "x"'), None),
    ("if false does not look at the then branch", when("if false then 1 else true"), None),
    ("is can be proved false, and then && stops", when("principal is Group && 1"), None),
    # --- equality
    ("== between literals is decided", when('1 == "a"'), None),
    (
        "&& and || of two boolean literals are literals to ==",
        when("if (true || false) == (false && true) then 1 && true else true"),
        None,
    ),
    (
        "a short-circuited || is not a literal to ==",
        when('if (true || principal.name == "a") == false then 1 && true else true'),
        "unexpected type: expected Bool but saw Long",
    ),
    (
        "a short-circuited && is not a literal to ==",
        when("if (false && 1 == 2) == true then 1 && true else true"),
        "unexpected type: expected Bool but saw Long",
    ),
    ("== between entities of different types is false", when("principal == resource"), None),
    (
        "== between incompatible types",
        when("resource.level == principal.name"),
        "the types Long and String are not compatible",
    ),
    ("== between records of different shapes", when("{a: 1} == {b: 1}"), "are not compatible"),
    (
        "== between an extension value and a long",
        when('ip("1.2.3.4") == 1'),
        "the types Long and ipaddr are not compatible",
    ),
    # --- arithmetic and comparison
    (
        "+ needs longs",
        when("principal.name + 1 == 1"),
        "unexpected type: expected Long but saw String",
    ),
    (
        "< needs longs, datetimes or durations",
        when('decimal("1.0") < decimal("2.0")'),
        "expected Long, datetime or duration but saw decimal",
    ),
    ("< on datetimes", when('datetime("2024-01-01") < datetime("2024-01-02")'), None),
    ("< between a long and a string", when('resource.level < "x"'), "expected Long but saw String"),
    # --- sets
    (
        "set literals must not be empty",
        when("[] == [1]"),
        "empty set literals are forbidden in policies",
    ),
    (
        "set elements must have one type",
        when('[1, "a"] == [1]'),
        "the types Long and String are not compatible",
    ),
    (
        "set of entities of different types",
        when('principal in [Group::"a", Doc::"b"]'),
        "are not compatible",
    ),
    (
        "contains needs a compatible element",
        when("principal.tags.contains(1)"),
        "the types Long and String are not compatible",
    ),
    (
        "containsAll needs a set",
        when('principal.tags.containsAll("a")'),
        "unexpected type: expected a set but saw String",
    ),
    ("isEmpty needs a set", when("principal.name.isEmpty()"), "expected a set but saw String"),
    ("like needs a string", when('resource.level like "1*"'), "expected String but saw Long"),
    # --- attributes
    ("a required attribute", when('principal.name == "a"'), None),
    (
        "an undeclared attribute",
        when("principal.nope"),
        "attribute `nope` on entity type `User` not found",
    ),
    (
        "an optional attribute needs has",
        when("principal.age > 1"),
        "unable to guarantee safety of access to optional attribute `age` on entity type `User`",
    ),
    ("has makes an optional attribute safe", when("principal has age && principal.age > 1"), None),
    (
        "has a path makes nested attributes safe",
        when('principal has address.zip && principal.address.zip == ""'),
        None,
    ),
    (
        "optional attribute of a record",
        when('principal.address.zip == ""'),
        "optional attribute `address.zip` on entity type `User`",
    ),
    (
        "capabilities flow into the then branch",
        when("if principal has age then principal.age > 1 else false"),
        None,
    ),
    (
        "capabilities do not flow past ||",
        when("principal has age || principal.age > 1"),
        "optional attribute `age`",
    ),
    (
        "capabilities do not flow into the else branch",
        when("if principal has age then true else principal.age > 1"),
        "optional attribute `age`",
    ),
    (
        "both branches of || give a capability",
        when("(principal has age || principal has age) && principal.age > 1"),
        None,
    ),
    ("has on an undeclared attribute is false", when("principal has nope"), None),
    (
        "an attribute through an optional entity",
        when('principal has manager && principal.manager.name == ""'),
        None,
    ),
    (
        "context attributes",
        when('context.token == ""', 'principal, action == Action::"view", resource'),
        None,
    ),
    (
        "an optional context attribute",
        when("context.retries > 1", 'principal, action == Action::"view", resource'),
        'optional attribute `retries` in the context of `Action::"view"`',
    ),
    (
        "a context attribute another action lacks",
        when('context.token == ""'),
        'attribute `token` in the context of `Action::"edit"` not found',
    ),
    (
        "actions have no attributes",
        when("action.nope"),
        "attribute `nope` on entity type `Action` not found",
    ),
    ("has on an action is false", when("action has nope"), None),
    (
        "attribute of a long",
        when("resource.level.x == 1"),
        "unexpected type: expected an entity or record but saw Long",
    ),
    # --- tags
    (
        "getTag needs hasTag",
        when('principal.getTag("t") == ""'),
        'unable to guarantee safety of access to tag `"t"` on entity type `User`',
    ),
    (
        "hasTag makes getTag safe",
        when('principal.hasTag("t") && principal.getTag("t") == ""'),
        None,
    ),
    (
        "getTag on a type without tags",
        when('resource.hasTag("t") && resource.getTag("t") == ""'),
        None,
    ),
    (
        "getTag on a type without tags, unguarded",
        when('resource.getTag("t") == ""'),
        'unable to guarantee safety of access to tag `"t"` on entity type `Doc`',
    ),
    ("hasTag needs a string", when("principal.hasTag(1)"), "expected String but saw Long"),
    # --- in, is and entity types
    ("in between unrelated types is false", when('resource in Group::"g"'), None),
    (
        "in needs an entity",
        when('1 in Group::"g"'),
        "unexpected type: expected an entity but saw Long",
    ),
    (
        "in needs an entity or a set on the right",
        when('principal in "g"'),
        "expected an entity or a set of entities but saw String",
    ),
    ("is needs an entity", when("1 is User"), "unexpected type: expected an entity but saw Long"),
    (
        "an undeclared entity type",
        when('principal == Nope::"x"'),
        "unrecognized entity type `Nope`",
    ),
    (
        "an undeclared entity type, even where typing stops",
        when('false && principal == Nope::"x"'),
        "unrecognized entity type `Nope`",
    ),
    ("is with an undeclared type", when("principal is Nope"), "unrecognized entity type `Nope`"),
    ("is with an action type", when("action is Action"), None),
    (
        "an undeclared action",
        when('action == Action::"fly"'),
        'unrecognized action `Action::"fly"`',
    ),
    (
        "records that differ in an attribute's optionality have no upper bound",
        when('principal.address == {city: "x", zip: "y"}'),
        "the types {city: String, zip: String} and {city: String, zip?: String} are not compatible",
    ),
    ("an enumerated entity", when('Color::"red" == Color::"blue"'), None),
    (
        "an undeclared enumerated entity",
        when('Color::"green" == Color::"red"'),
        '`Color::"green"` is not one of the entities of the enumerated type `Color`',
    ),
    # --- extension functions
    (
        "extension constructors need literals",
        when('decimal(principal.name) == decimal("1.0")'),
        "extension constructors may only be called on a single string literal",
    ),
    (
        "extension constructors need valid literals",
        when('ip("1.2.3").isIpv4()'),
        "invalid argument to `ip`",
    ),
    (
        "extension methods check their argument types",
        when('ip("1.2.3.4").isInRange(decimal("1.0"))'),
        "unexpected type: expected ipaddr but saw decimal",
    ),
    (
        "extension methods check their receiver",
        when("principal.name.isIpv4()"),
        "unexpected type: expected ipaddr but saw String",
    ),
    (
        "extension values from attributes",
        when("principal has ip && principal.ip.isLoopback()"),
        None,
    ),
    (
        "datetime methods",
        when(
            'principal has since && principal.since.offset(duration("1h")) > datetime("2024-01-01")'
        ),
        None,
    ),
    # --- scopes
    (
        "scope matching no environment",
        'permit(principal, action == Action::"view", resource is Folder);',
        "this policy can never apply",
    ),
    (
        "action without appliesTo",
        'permit(principal, action == Action::"admin", resource);',
        "this policy can never apply",
    ),
    (
        "empty action list",
        "permit(principal, action in [], resource);",
        "empty set literals are forbidden in policies",
    ),
    (
        "scope with an undeclared entity type",
        "permit(principal is Nope, action, resource);",
        "unrecognized entity type `Nope`",
    ),
    (
        "action groups in scopes",
        'permit(principal, action in Action::"view", resource is Folder);',
        None,
    ),
    (
        "templates typecheck for any linked entity",
        "permit(principal in ?principal, action, resource == ?resource);",
        None,
    ),
]


@pytest.mark.parametrize(("rule", "policy", "message"), RULES, ids=[r[0] for r in RULES])
def test_rule(rule: str, policy: str, message: str | None) -> None:
    result = validate(PolicySet.from_str(policy, source="p.cedar"), SCHEMA)
    if message is None:
        assert result.passed, [str(e) for e in result.errors]
    else:
        assert not result.passed
        assert any(message in e.message for e in result.errors), [str(e) for e in result.errors]
        assert all(e.policy_id == "policy0" and e.source == "p.cedar" for e in result.errors)


# Cedar goes on after a type error: every mistake is reported once, and the parts around a part
# whose type a mistake leaves unknown do not report it again.
EVERY_ERROR = [
    (
        when('principal.nope == 1 && resource.level + "a" > 0 && principal.age like "x"'),
        [
            "1:44 attribute `nope` on entity type `User` not found",
            "1:67 attribute `level` on entity type `Folder` not found",
            "1:84 unexpected type: expected Long but saw String; Cedar does not concatenate "
            "strings",
            "1:95 unable to guarantee safety of access to optional attribute `age` on entity "
            "type `User`; test it with `has` first",
            "1:95 unexpected type: expected String but saw Long",
        ],
    ),
    (
        when("principal.nope.more.andmore < principal.nope"),
        [
            "1:44 attribute `nope` on entity type `User` not found",
            "1:74 attribute `nope` on entity type `User` not found",
        ],
    ),
    (
        when('if principal.name then 1 else "s"'),
        [
            "1:44 the types Long and String are not compatible",
            "1:47 unexpected type: expected Bool but saw String",
        ],
    ),
    (  # a failing conjunct drops what its `has` proved, as in Cedar
        when('principal has age && principal.age > "1" && principal.age == 2'),
        [
            "1:81 unexpected type: expected Long but saw String",
            "1:88 unable to guarantee safety of access to optional attribute `age` on entity "
            "type `User`; test it with `has` first",
        ],
    ),
    (  # the context differs per action: one error for each
        when("context.missing"),
        [
            '1:44 attribute `missing` in the context of `Action::"edit"` not found',
            '1:44 attribute `missing` in the context of `Action::"view"` not found',
        ],
    ),
    (
        when("principal.name.isInRange(1)"),
        [
            "1:44 unexpected type: expected ipaddr but saw String",
            "1:69 unexpected type: expected ipaddr but saw Long",
        ],
    ),
    (
        when('principal.name < true && [1, "a"].contains(2)'),
        [
            "1:44 unexpected type: expected Long, datetime or duration but saw String",
            "1:61 unexpected type: expected Long, datetime or duration but saw True",
            "1:73 the types Long and String are not compatible",
        ],
    ),
    (  # an unknown type is named where it is written, not again in each environment
        when(
            'Usr::"x".attr && principal == Usr::"y"',
            "principal is Usr, action, resource",
        ),
        [
            "1:1 unrecognized entity type `Usr`",
            "1:1 this policy can never apply: no action in the schema accepts the principal and "
            "resource types its scope allows",
            "1:51 unrecognized entity type `Usr`",
            "1:81 unrecognized entity type `Usr`",
        ],
    ),
    (  # `e is T in E` names `e` twice: `e is T && e in E`; so does Cedar, twice
        when('Usr::"x" is User in principal'),
        ["1:44 unrecognized entity type `Usr`", "1:44 unrecognized entity type `Usr`"],
    ),
    (  # and checks `e` twice, with different advice: two errors in Cedar too
        when('principal.name is User in Group::"g"'),
        [
            "1:44 unexpected type: expected an entity but saw String; `is` tests the type of "
            "entities only",
            "1:44 unexpected type: expected an entity but saw String; try `contains` to test "
            "membership in a set",
        ],
    ),
    (  # a clash in each environment, whichever way round, told once per pair of types
        when("principal.tags.contains(resource) || resource.level.contains(1)"),
        [
            "1:44 the types Doc and String are not compatible",
            "1:44 the types Folder and String are not compatible",
            "1:81 unexpected type: expected a set but saw Long",
            "1:81 attribute `level` on entity type `Folder` not found",
        ],
    ),
]


@pytest.mark.parametrize(("policy", "expected"), EVERY_ERROR)
def test_every_error_is_reported_once(policy: str, expected: list[str]) -> None:
    errors = validate(PolicySet.from_str(policy), SCHEMA).errors
    assert [f"{e.loc or '-'} {e.message}" for e in errors] == expected


def test_errors_name_the_policy_annotation_and_place() -> None:
    text = '@id("adults")\npermit(principal, action, resource)\nwhen { principal.age > 17 };'
    (error,) = validate(PolicySet.from_str(text, source="p.cedar"), SCHEMA).errors
    assert (error.policy_id, error.annotation_id, str(error.loc)) == ("policy0", "adults", "3:8")
    assert str(error).startswith("p.cedar:3:8: `adults` (policy0): unable to guarantee safety")


def test_request_environments_are_the_applies_to_cross_product() -> None:
    envs = request_environments(SCHEMA)
    assert [str(e) for e in envs] == [
        'User, Action::"edit", Doc',
        'User, Action::"edit", Folder',
        'User, Action::"view", Doc',
    ]
    assert envs[2].context.get("retries").required is False  # type: ignore[union-attr]


def test_typed_expression_for_the_encoder() -> None:
    (policy,) = PolicySet.from_str(when("principal has age && principal.age > 1"))
    env = RequestEnv(
        "User",
        EntityUID("Action", "view"),
        "Doc",
        SCHEMA.actions[EntityUID("Action", "view")].context,
    )
    typed = typecheck(policy, env, SCHEMA)
    assert typed.ty == BOOL
    nodes = []
    pending = [typed]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(children(node))
    assert all(n.ty is not None for n in nodes)  # type: ignore[attr-defined]
    has = next(n for n in nodes if isinstance(n, HasAttr))
    get = next(n for n in nodes if isinstance(n, GetAttr))
    assert (has.ty, get.ty, get.arg.ty) == (BOOL, LONG, EntityType("User"))


def test_typing_drops_what_cannot_matter() -> None:
    (policy,) = PolicySet.from_str(when("principal is Group && principal.nope == 1"))
    env = request_environments(SCHEMA)[0]
    typed = typecheck(policy, env, SCHEMA)
    assert typed.ty == FALSE
    (always,) = PolicySet.from_str('permit(principal, action == Action::"edit", resource);')
    assert typecheck(always, env, SCHEMA).ty == TRUE


def test_typecheck_raises_with_location() -> None:
    (policy,) = PolicySet.from_str(when("principal.nope"))
    with pytest.raises(TypeCheckError) as info:
        typecheck(policy, request_environments(SCHEMA)[0], SCHEMA)
    assert str(info.value.loc) == "1:44"


def test_a_scope_alone_types_without_errors_unless_its_action_is_a_list() -> None:
    """The validator does not type a policy without conditions whose action's scope is not a
    list (`_may_have_type_errors`): typing such a policy finds no error it would report, in
    any environment, as here on the scopes of generated policies and templates."""
    drt = pytest.importorskip("drt.generators")
    checked = 0
    for seed in range(150):
        case = drt.generate(seed)
        schema = Schema.from_str(case.schema)
        try:
            parsed = PolicySet.from_str(case.policies_text)
        except ParseError:  # a few generated sets are meant not to parse
            continue
        for policy in [*parsed, *parsed.templates.values()]:
            if isinstance(policy.action, ScopeInSet):
                continue
            scope = replace(policy, conditions=())
            action = replace(scope, principal=ScopeAny(), resource=ScopeAny())
            for env in request_environments(schema):
                errors = [e for e in type_errors(scope, env, schema)[1] if not e.silent]
                assert errors == [], (policy.text, env)
                # and where the action's scope is known not to match, typing says `false`
                if not action_may_match(policy.action, env, schema):
                    assert type_errors(action, env, schema)[0].ty == FALSE
            checked += 1
    assert checked > 300


cedarpy = pytest.importorskip("cedarpy")


@pytest.mark.parametrize(("rule", "policy", "message"), RULES, ids=[r[0] for r in RULES])
def test_cedar_agrees(rule: str, policy: str, message: str | None) -> None:
    result = cedarpy.validate_policies(policy, SCHEMA_TEXT)
    assert result.validation_passed == (message is None)
    assert len(result.errors) == len(validate(PolicySet.from_str(policy), SCHEMA).errors)


@pytest.mark.parametrize(("policy", "expected"), EVERY_ERROR)
def test_cedar_reports_as_many_errors(policy: str, expected: list[str]) -> None:
    assert len(cedarpy.validate_policies(policy, SCHEMA_TEXT).errors) == len(expected)
