"""Cedar's JSON policy format and Cedar text, written and read as Cedar does (cedarpy).

Each construct is a named case of Cedar text. Cedar's JSON for it is what we must write; read
back, that JSON must give the policies our parser builds from the text; and the text we print
for those policies must give Cedar the same JSON. JSON-only forms (those Cedar reads but never
writes) state the text they mean. Malformed JSON policies state our message and its place, and
cedarpy must refuse them too. Then policies the differential random tests generate, with
their template links, and every policy of Cedar's integration suite and of cedar-examples go
through the same checks, the suite's requests answered alike from either form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeAlias

import pytest

import integration_suite as suite
from cedar_smt.core import Entities, ParseError, PolicySet, Request, Schema, is_authorized
from cedar_smt.core.errors import CedarError, LinkError
from cedar_smt.core.parser import parse_policies
from cedar_smt.core.policy import Policy
from cedar_smt.core.policy_json import (
    SINGLE_POLICY_ID,
    policies_from_json,
    policy_to_json,
)
from cedar_smt.core.policy_set import (
    policy_set_from_json,
    policy_set_to_cedar,
    policy_set_to_json,
)
from cedar_smt.core.policy_text import policy_to_cedar
from cedar_smt.core.values import EntityUID

cedarpy = pytest.importorskip("cedarpy")

HEAD = "permit(principal, action, resource)"

CONSTRUCTS = [
    # (name, Cedar text: a policy, or a condition's expression)
    ("permit", f"{HEAD};"),
    ("forbid", "forbid(principal, action, resource);"),
    ("principal ==", 'permit(principal == User::"alice", action, resource);'),
    ("principal in", 'permit(principal in Group::"admins", action, resource);'),
    ("principal is", "permit(principal is NS::User, action, resource);"),
    ("principal is in", 'permit(principal is User in Group::"g", action, resource);'),
    ("resource ==", 'permit(principal, action, resource == Photo::"a.jpg");'),
    ("resource is in", 'permit(principal, action, resource is Photo in Album::"x");'),
    ("action ==", 'permit(principal, action == Action::"view", resource);'),
    ("action in", 'permit(principal, action in NS::Action::"read", resource);'),
    ("action in a list", 'permit(principal, action in [Action::"a", Action::"b"], resource);'),
    ("action in a list of one", 'permit(principal, action in [Action::"a"], resource);'),
    ("action in an empty list", "permit(principal, action in [], resource);"),
    ("principal == slot", "permit(principal == ?principal, action, resource);"),
    ("principal in slot", "permit(principal in ?principal, action, resource);"),
    ("resource in slot", "permit(principal, action, resource in ?resource);"),
    ("is in slot", "permit(principal, action, resource is Doc in ?resource);"),
    ("both slots", "forbid(principal == ?principal, action, resource in ?resource);"),
    ("annotations", '@id("p1") @advice @empty("") @zz("a\\"b\\n") ' + f"{HEAD};"),
    ("reserved annotation name", '@if("x") ' + f"{HEAD};"),
    ("conditions", f"{HEAD} when {{ true }} unless {{ false }} when {{ 1 == 1 }};"),
    ("several policies", f"{HEAD}; forbid(principal == ?principal, action, resource); {HEAD};"),
    ("true", "true"),
    ("long", "1 == 9223372036854775807"),
    ("negative literal", "-1 == -9223372036854775808"),
    ("negated literal", "-(1) == - -1"),
    ("four negations", "----(-1) == ---1"),
    ("five negations", "-(-(-(-(-(1))))) == 0"),
    ("negative receiver", "(-5).isEmpty() || -5.isEmpty()"),
    ("strings", '"a\\n\\t\\r\\0\\\\\\"\'\\u{1F600}é\\u{7f}" == ""'),
    ("variables", "principal == action || resource == context"),
    ("entity", 'principal == NS::User::"al\\"ice"'),
    ("not", "!!!!true"),
    ("equality", "1 == 2"),
    ("inequality", "1 != 2"),
    ("not equal written out", "!(1 == 2)"),
    ("less", "1 < 2"),
    ("less or equal", "1 <= 2"),
    ("greater", "1 > 2"),
    ("greater or equal", "1 >= 2"),
    ("less written for greater", "2 < 1"),
    ("and or", "true && false || true && (false || true)"),
    ("arithmetic", "1 + 2 * 3 - 4 * (5 - 6) == -(7 + 8) * -9"),
    ("in", 'principal in Group::"g"'),
    ("in a set", 'principal in [Group::"a", Group::"b"]'),
    ("contains", "[1, 2].contains(1)"),
    ("containsAll", "[1].containsAll([1, 2])"),
    ("containsAny", "[1].containsAny([])"),
    ("isEmpty", "context.set.isEmpty()"),
    ("tags", 'principal.hasTag("t") && principal.getTag("t") == 1'),
    ("attributes", 'context.a["b c"].d["if"] == principal.name'),
    ("entity attribute", 'User::"a".name == "a"'),
    ("has", 'principal has name && context has "b c" && context has "if"'),
    ("has a path", "context has a.b.c"),
    ("has a path written out", "context has a && context.a has b"),
    ("has on a sum", "(1 + 2) has a"),
    ("like", 'principal.name like "a*b\\*c\\u{2a}\\\\"'),
    ("like nothing", 'principal.name like ""'),
    ("is", "principal is NS::User"),
    ("is in", 'principal is User in Group::"g"'),
    ("is and in written out", 'principal is User && principal in Group::"g"'),
    ("is in a set", 'resource is Doc in [Folder::"a"]'),
    ("if then else", "if context.a then 1 else 2 + 3"),
    ("if inside", "(if true then 1 else 2) + 3 == 4"),
    ("nested if", "if if true then false else true then 1 else if false then 2 else 3"),
    ("set", '[1, true, "s", User::"x", [], {}, [1, [2]]] == []'),
    ("record", '{b: 1, a: 2, "c d": {e: [3]}, "if": 4} == {}'),
    ("relations need parentheses", "(1 == 2) == (3 < 4) && !(principal in principal)"),
    ("like on a relation", '(1 == 2) like "x"'),
    ("decimal", 'decimal("1.23").lessThan(decimal("2.5"))'),
    ("decimal methods", 'decimal("1.0").greaterThanOrEqual(decimal("1.0"))'),
    ("ip", 'ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) && ip("::1").isLoopback()'),
    ("datetime", 'datetime("2024-01-01").offset(duration("1h")).toDate() == context.day'),
    ("duration", 'context.t.durationSince(datetime("2024-01-01")).toHours() > 1'),
    ("extension arity is checked when evaluated", "decimal(1, 2) == 1.lessThan()"),
    ("long condition", " && ".join(f"context.attribute{i} == {i}" for i in range(12))),
    ("long disjunction", " || ".join(f"context.attribute{i} == {i}" for i in range(12))),
]


def _policy_text(text: str) -> str:
    return text if text.rstrip().endswith(";") else f"{HEAD} when {{ {text} }};"


def _cedar_json(text: str) -> Any:
    return json.loads(cedarpy.policies_to_json_str(text))


def _by_id(policies: list[Policy] | tuple[Policy, ...]) -> dict[str, Policy]:
    return {p.id: p for p in policies}


def _check(text: str) -> list[str]:
    """Every way our JSON and text differ from Cedar's for a policy set's text (empty when they
    agree); the text must be one Cedar reads."""
    return _compare(_cedar_json(text), parse_policies(text))


def _compare(want: Any, ours: list[Policy]) -> list[str]:
    """Every way our JSON and text differ from Cedar's JSON `want` for the policies `ours`."""
    problems = []
    if policy_set_to_json(ours) != want:
        problems.append(f"JSON written: {json.dumps(policy_set_to_json(ours))}")
    read = policies_from_json(json.dumps(want))
    if _by_id(read.policies + read.templates) != _by_id(ours):
        problems.append("JSON read: policies differ from the parsed text's")
    if policy_set_to_json(PolicySet(read.policies, read.templates)) != want:
        problems.append("JSON read: not written back as read")
    printed = policy_set_to_cedar(ours)
    try:
        if _cedar_json(printed) != want:
            problems.append(f"text printed: Cedar reads it differently:\n{printed}")
    except ValueError as err:
        problems.append(f"text printed: Cedar refuses it ({err}):\n{printed}")
    if parse_policies(printed) != ours:
        problems.append(f"text printed: we read it differently:\n{printed}")
    return problems


@pytest.mark.parametrize(("name", "text"), CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_construct(name: str, text: str) -> None:
    assert _check(_policy_text(text)) == []


def test_the_printed_text_is_laid_out_for_reading() -> None:
    text = (
        '@id("p") forbid(principal in Group::"g", action in [Action::"a", Action::"b"], '
        'resource is Doc in Folder::"f") when { context.a != 1 && context has b.c && '
        'context.level > 3 && principal is User in Group::"x" && resource.owner == principal }'
        " unless { !context.ok };"
    )
    assert policy_set_to_cedar(parse_policies(text)) == (
        '@id("p")\n'
        "forbid (\n"
        '  principal in Group::"g",\n'
        '  action in [Action::"a", Action::"b"],\n'
        '  resource is Doc in Folder::"f"\n'
        ")\n"
        "when {\n"
        "  context.a != 1 &&\n"
        "  context has b.c &&\n"
        "  context.level > 3 &&\n"
        '  principal is User in Group::"x" &&\n'
        "  resource.owner == principal\n"
        "}\n"
        "unless { !context.ok };\n"
    )


def test_a_policy_set_prints_static_policies_then_templates_and_refuses_links() -> None:
    ps = PolicySet.from_str(f"forbid(principal == ?principal, action, resource); {HEAD};")
    assert policy_set_to_cedar(ps) == (
        "permit (principal, action, resource);\n\n"
        "forbid (principal == ?principal, action, resource);\n"
    )
    ps.link("policy0", "linked", {"?principal": EntityUID("User", "a")})
    with pytest.raises(LinkError, match="cannot express template links"):
        policy_set_to_cedar(ps)
    assert policy_to_cedar(ps["linked"]) == ('forbid (principal == User::"a", action, resource);\n')


def test_links_are_written_and_read_as_cedar_does() -> None:
    ps = PolicySet.from_str("permit(principal in ?principal, action, resource == ?resource);")
    ps.link("policy0", "l", {"?principal": EntityUID("G", "g"), "?resource": EntityUID("R", "r")})
    written = policy_set_to_json(ps)
    assert written["staticPolicies"] == {}
    assert written["templateLinks"] == [
        {
            "templateId": "policy0",
            "newId": "l",
            "values": {
                "?principal": {"__entity": {"type": "G", "id": "g"}},
                "?resource": {"__entity": {"type": "R", "id": "r"}},
            },
        }
    ]
    text = json.dumps(written)
    assert cedarpy.policies_from_json_str(text).startswith('permit(principal in G::"g"')
    read = policy_set_from_json(text)
    assert list(read) == list(ps) and read.templates == ps.templates
    assert policy_set_to_json(read) == written


# JSON Cedar reads but never writes: (name, the JSON of a policy, the Cedar text it means)
P = {"effect": "permit", "principal": {"op": "All"}, "action": {"op": "All"}}
P |= {"resource": {"op": "All"}, "conditions": []}
USER = {"type": "User", "id": "a"}


def _when(body: Any) -> dict[str, Any]:
    return P | {"conditions": [{"kind": "when", "body": body}]}


CONTEXT = {"Var": "context"}

JSON_ONLY = [
    ("`all` for `All`", P | {"principal": {"op": "all"}}, f"{HEAD};"),
    (
        "escaped scope entity",
        P | {"principal": {"op": "==", "entity": {"__entity": USER}}},
        'permit(principal == User::"a", action, resource);',
    ),
    (
        "extra members of a scope",
        P | {"principal": {"op": "in", "entity": USER, "slot": "x"}},
        'permit(principal in User::"a", action, resource);',
    ),
    (
        "extra members of an entity",
        P | {"principal": {"op": "==", "entity": USER | {"x": 1}}},
        'permit(principal == User::"a", action, resource);',
    ),
    ("no annotations member", P, f"{HEAD};"),
    (
        "an action in a list of one",
        P | {"action": {"op": "in", "entities": [{"type": "Action", "id": "a"}]}},
        'permit(principal, action in Action::"a", resource);',
    ),
    (
        "a set value",
        _when({"Value": [1, {"b": 2, "a": [True]}, {"__entity": USER}]}),
        '[1, {a: [true], b: 2}, User::"a"]',
    ),
    (
        "an extension value",
        _when({"Value": {"__extn": {"fn": "decimal", "arg": "1.0"}}}),
        'decimal("1.0")',
    ),
    (
        "an extension value with args",
        _when(
            {
                "Value": {
                    "__extn": {
                        "fn": "isInRange",
                        "args": [
                            {"__extn": {"fn": "ip", "arg": "1.2.3.4"}},
                            {"__extn": {"fn": "ip", "arg": "1.0.0.0/8"}},
                        ],
                    }
                }
            }
        ),
        'ip("1.2.3.4").isInRange(ip("1.0.0.0/8"))',
    ),
    (
        "a record shaped almost like an escape",
        _when({"Value": {"__entity": {"type": "U"}, "__extn": "x"}}),
        '{"__entity": {type: "U"}, "__extn": "x"}',
    ),
    (
        "an escape with extra members",
        _when({"Value": {"__entity": {"type": "U", "id": "x", "more": 1}}}),
        'U::"x"',
    ),
    (
        "has with a list",
        _when({"has": {"left": CONTEXT, "attr": ["a", "b c", "if"]}}),
        'context has a && context.a has "b c" && context.a["b c"] has "if"',
    ),
    ("has with a list of one", _when({"has": {"left": CONTEXT, "attr": ["a"]}}), "context has a"),
    (
        "pattern literals of several characters and wildcard objects",
        _when(
            {
                "like": {
                    "left": CONTEXT,
                    "pattern": [{"Literal": "ab*"}, {"Wildcard": None}, {"Literal": ""}],
                }
            }
        ),
        'context like "ab\\**"',
    ),
    (
        "a template with no slots",
        {
            "staticPolicies": {},
            "templates": {"t": P},
            "templateLinks": [{"templateId": "t", "newId": "l", "values": {}}],
        },
        f"{HEAD};",
    ),
]


@pytest.mark.parametrize(("name", "obj", "text"), JSON_ONLY, ids=[c[0] for c in JSON_ONLY])
def test_json_only_form(name: str, obj: dict[str, Any], text: str) -> None:
    document = obj if "staticPolicies" in obj else _set({"p": obj})
    cedarpy.policies_from_json_str(json.dumps(document))  # Cedar reads it
    ps = policy_set_from_json(json.dumps(document))
    (ours,) = list(ps)
    (meant,) = parse_policies(_policy_text(text))
    assert _content(ours) == _content(meant)


def _set(static: dict[str, Any], templates: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"staticPolicies": static, "templates": templates or {}, "templateLinks": []}


def _content(p: Policy) -> tuple[Any, ...]:
    return (p.effect, p.principal, p.action, p.resource, p.conditions, p.annotations)


def test_a_single_policy_is_read_as_cedars_cli_reads_it() -> None:
    read = policies_from_json(json.dumps(P | {"annotations": {"id": "x"}}))
    (policy,) = read.policies
    assert policy.id == SINGLE_POLICY_ID and policy.annotation_map == {"id": "x"}
    template = P | {"principal": {"op": "==", "slot": "?principal"}}
    read = policies_from_json(json.dumps(template))
    assert read.policies == () and [t.id for t in read.templates] == [SINGLE_POLICY_ID]
    assert policy_to_json(read.templates[0]) == template


def test_policies_read_from_a_file_know_their_place() -> None:
    text = json.dumps(_set({"a": P, "b": P}, {"t": P}), indent=2)
    read = policies_from_json(text, source="ps.json")
    assert [(p.id, p.location) for p in read.policies + read.templates] == [
        ("a", "ps.json:3"),
        ("b", "ps.json:16"),
        ("t", "ps.json:31"),
    ]


# Malformed JSON policies: (name, JSON text, message, where the error is placed: the first
# occurrence of that text, or "" for no place); cedarpy refuses each too


def _policy_json(**parts: Any) -> str:
    return json.dumps(P | parts)


def _when_json(body: Any) -> str:
    return json.dumps(_when(body))


def _link_json(link: dict[str, Any]) -> str:
    return json.dumps(_set({}) | {"templateLinks": [link]})


ERRORS = [
    ("not JSON", '{"effect": ', "policies is not valid JSON", ""),
    ("not an object", "[]", "expected a policy set or a policy (a JSON object), found `[]`", "["),
    (
        "neither a set nor a policy",
        '{"policies": {}}',
        "expected a policy set (`staticPolicies`, `templates`, `templateLinks`) or a policy",
        "{",
    ),
    (
        "both a set and a policy",
        '{"staticPolicies": {}, "effect": "permit"}',
        "the object has members of both a policy set and a policy",
        "{",
    ),
    (
        "a set without links",
        '{"staticPolicies": {}, "templates": {}}',
        "a policy set has no `templateLinks`",
        "{",
    ),
    (
        "an unknown member of a set",
        '{"staticPolicies": {}, "templates": {}, "templateLinks": [], "more": 1}',
        "unknown member `more` in a policy set",
        '"more"',
    ),
    (
        "a policy that is not an object",
        '{"staticPolicies": {"p": []}, "templates": {}, "templateLinks": []}',
        "policy `p`: a policy must be a JSON object, found `[]`",
        "[]",
    ),
    (
        "a policy without a scope",
        _policy_json(action=None).replace('"action": null, ', ""),
        "a policy has no `action`",
        "{",
    ),
    (
        "an unknown member of a policy",
        _policy_json(actions={"op": "All"}),
        "unknown member `actions` in a policy",
        '"actions"',
    ),
    (
        "an unknown effect",
        _policy_json(effect="allow"),
        '`effect` must be `permit` or `forbid`, found `"allow"`',
        '"allow"',
    ),
    (
        "an unknown scope operator",
        _policy_json(principal={"op": "ALL"}),
        "unknown operator `ALL` in the `principal` scope",
        '"ALL"',
    ),
    (
        "`in` a list for the principal",
        _policy_json(principal={"op": "in", "entities": []}),
        "the `principal` scope needs an `entity` or a `slot`",
        '{"op": "in"',
    ),
    (
        "`is` for the action",
        _policy_json(action={"op": "is", "entity_type": "A"}),
        "`is` is not allowed in the action scope",
        '"is"',
    ),
    (
        "an action that is not an action",
        _policy_json(action={"op": "==", "entity": {"type": "A", "id": "x"}}),
        'expected an action (an entity of type `Action`), found `A::"x"`',
        '{"type": "A"',
    ),
    (
        "a slot in the action scope",
        _policy_json(action={"op": "==", "slot": "?principal"}),
        "template slots are not allowed in the action scope",
        '"?principal"',
    ),
    (
        "the wrong slot",
        _policy_json(principal={"op": "==", "slot": "?resource"}),
        "expected the slot `?principal`, found `?resource`",
        '"?resource"',
    ),
    (
        "a slot in a static policy",
        json.dumps(_set({"p": P | {"principal": {"op": "==", "slot": "?principal"}}})),
        "policy `p`: a static policy cannot have template slots",
        '"p"',
    ),
    (
        "an invalid entity type",
        _policy_json(principal={"op": "is", "entity_type": "A::if"}),
        "`A::if` uses the reserved identifier `if`",
        '"A::if"',
    ),
    (
        "an entity reference written as text",
        _policy_json(principal={"op": "==", "entity": 'User::"a"'}),
        'expected an entity reference like {"type": "User", "id": "alice"}',
        '"User::',
    ),
    (
        "an entity id that is not a string",
        _policy_json(principal={"op": "==", "entity": {"type": "User", "id": 1}}),
        "an entity id must be a string, found `1`",
        "1}",
    ),
    (
        "a bad annotation name",
        _policy_json(annotations={"a b": "x"}),
        "`a b` is not a valid annotation name",
        '"a b"',
    ),
    (
        "a bad annotation value",
        _policy_json(annotations={"a": 1}),
        "annotation `a` must be a string or null",
        "1}",
    ),
    (
        "an unknown condition kind",
        _policy_json(conditions=[{"kind": "if", "body": {}}]),
        '`kind` must be `when` or `unless`, found `"if"`',
        '"if"',
    ),
    (
        "an empty expression",
        _when_json({}),
        "expected an expression (a JSON object with one operator), found `{}`",
        "{}",
    ),
    (
        "two operators",
        _when_json({"Value": 1, "Var": "context"}),
        "an expression has one operator, found `Value` and `Var`",
        '{"Value"',
    ),
    ("an unknown operator", _when_json({"foo": [{"Value": 1}]}), "unknown operator `foo`", '"foo"'),
    (
        "an unknown variable",
        _when_json({"Var": "Principal"}),
        '`"Principal"` is not a variable',
        '"Principal"',
    ),
    (
        "a slot in a condition",
        _when_json({"Slot": "?principal"}),
        "found template slot ?principal in a `when` clause",
        '"?principal"',
    ),
    (
        "an operand missing",
        _when_json({"==": {"left": {"Value": 1}}}),
        "`==` has no `right`",
        '{"left"',
    ),
    (
        "an operand too many",
        _when_json({"!": {"arg": {"Value": 1}, "x": 1}}),
        "unknown member `x` in `!`",
        '"x"',
    ),
    (
        "a float",
        _when_json({"Value": 1.5}),
        "`1.5` is not a Cedar value (numbers must be integers)",
        "1.5",
    ),
    (
        "a big integer",
        _when_json({"Value": 2**63}),
        "integer 9223372036854775808 does not fit in a 64-bit Long",
        "9223372036854775808",
    ),
    (
        "a null",
        _when_json({"Value": [None]}),
        "found a `null`; JSON `null`s are not allowed in Cedar",
        "null",
    ),
    (
        "an escape of an invalid entity type",
        _when_json({"Value": {"__entity": {"type": "1a", "id": "x"}}}),
        "`1a` is not a valid entity type name",
        '"1a"',
    ),
    (
        "the removed `__expr` escape",
        _when_json({"Value": {"__expr": "1"}}),
        "the `__expr` escape is no longer supported",
        '{"__expr"',
    ),
    (
        "arguments not in a list",
        _when_json({"decimal": {"Value": "1.0"}}),
        "the arguments of `decimal` must be a JSON list",
        '{"Value": "1.0"}',
    ),
    (
        "an empty `has` path",
        _when_json({"has": {"left": CONTEXT, "attr": []}}),
        "`attr` must be a string or a non-empty list of strings, found `[]`",
        "[]}",
    ),
    (
        "an attribute that is not a string",
        _when_json({".": {"left": CONTEXT, "attr": 1}}),
        "`attr` must be a string, found `1`",
        "1}",
    ),
    (
        "a pattern that is a string",
        _when_json({"like": {"left": CONTEXT, "pattern": "*"}}),
        "a `like` pattern must be a JSON list",
        '"*"',
    ),
    (
        "a pattern element that is neither",
        _when_json({"like": {"left": CONTEXT, "pattern": ["*"]}}),
        'expected `"Wildcard"` or `{"Literal": "..."}`, found `"*"`',
        '"*"',
    ),
    (
        "a set that is an object",
        _when_json({"Set": {}}),
        "`Set` must be a JSON list, found `{}`",
        "{}",
    ),
    (
        "a missing else",
        _when_json({"if-then-else": {"if": CONTEXT, "then": CONTEXT}}),
        "`if-then-else` has no `else`",
        '{"if"',
    ),
    (
        "a duplicate key",
        _when_json({"Record": {}}).replace("{}", '{"a": 1, "a": 2}'),
        "duplicate key `a`",
        "",
    ),
    (
        "a policy and a template with one id",
        json.dumps(_set({"p": P}, {"p": P})),
        "`p` is the id of a static policy and of a template",
        '"p": {"effect": "permit", "principal": {"op": "All"}, "action": {"op": "All"}, '
        '"resource": {"op": "All"}, "conditions": []}}, "templateLinks"',
    ),
    (
        "a link with an unknown member",
        _link_json({"templateId": "t", "newId": "l", "values": {}, "x": 1}),
        "template link 0: unknown member `x` in a template link",
        '"x"',
    ),
    (
        "a link with an unknown slot",
        _link_json({"templateId": "t", "newId": "l", "values": {"?x": USER}}),
        "template link 0: `?x` is not a template slot",
        '"?x"',
    ),
    (
        "a link value that is a string",
        _link_json({"templateId": "t", "newId": "l", "values": {"?principal": 'User::"a"'}}),
        "template link 0: expected an entity reference",
        '"User::',
    ),
]


@pytest.mark.parametrize(("name", "text", "message", "place"), ERRORS, ids=[c[0] for c in ERRORS])
def test_malformed_json_is_refused_at_its_place(
    name: str, text: str, message: str, place: str
) -> None:
    with pytest.raises(ParseError) as info:
        policies_from_json(text, source="p.json")
    err = info.value
    assert message in err.message
    if not place:
        return
    assert err.loc is not None and err.loc.start == text.index(place)
    assert str(err).startswith(f"p.json:{err.loc.line}:{err.loc.column}: ")
    _, line, caret = err.render().splitlines()
    assert line[caret.index("^")] == text[err.loc.start]  # the caret under the place


def test_an_error_names_the_file_line_and_column() -> None:
    text = json.dumps(_set({"p": _when({"&&": {"left": CONTEXT, "rigth": CONTEXT}})}), indent=2)
    with pytest.raises(ParseError) as info:
        policies_from_json(text, source="policies.json")
    assert info.value.render() == (
        "policies.json:22:15: policy `p`: unknown member `rigth` in `&&`; expected `left` or "
        "`right`\n"
        '                "rigth": {\n'
        "                ^"
    )


@pytest.mark.parametrize(("name", "text", "message", "place"), ERRORS, ids=[c[0] for c in ERRORS])
def test_cedar_refuses_malformed_json(name: str, text: str, message: str, place: str) -> None:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and "effect" in document:  # cedarpy reads sets only
        text = json.dumps(_set({"p": document}))
    with pytest.raises(ValueError):
        cedarpy.policies_from_json_str(text)


# JSON Cedar reads but we refuse, each for a reason: (name, JSON of a condition, our message)
REFUSED_ON_PURPOSE = [
    # partial evaluation's unknowns: our parser refuses `unknown("x")` too
    ("the partial-evaluation function", {"unknown": [{"Value": "x"}]}, "`unknown` is not"),
    # no such function: Cedar reads it and errors on every request; its text (`foo("x")`)
    # parses nowhere
    (
        "an escape of an unknown function",
        {"Value": {"__extn": {"fn": "foo", "arg": "x"}}},
        "`foo` is not a valid extension function",
    ),
    # a method with no receiver: Cedar reads it and errors on every request; it has no text
    ("a method with no receiver", {"lessThan": []}, "`lessThan` is a method"),
    (
        "an escape of a method with no receiver",
        {"Value": {"__extn": {"fn": "isIpv4", "args": []}}},
        "`isIpv4` is a method",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "message"), REFUSED_ON_PURPOSE, ids=[c[0] for c in REFUSED_ON_PURPOSE]
)
def test_json_refused_on_purpose(name: str, body: Any, message: str) -> None:
    text = json.dumps(_set({"p": _when(body)}))
    try:
        cedarpy.policies_from_json_str(text)  # Cedar reads it
    except BaseException as err:
        # and for a method escape with no receiver, panics when printing it
        assert type(err).__name__ == "PanicException", err
    with pytest.raises(ParseError, match=message):
        policies_from_json(text)


LINK_ERRORS = [
    ("an unknown template", "t2", {}, "template link 0: `t2` is no template's id"),
    ("a static policy", "p", {}, "template link 0: `p` is a static policy"),
    ("a missing slot value", "t", {}, "missing values for ?principal"),
    (
        "an extra slot value",
        "t",
        {"?principal": USER, "?resource": USER},
        "values for slots the template does not have: ?resource",
    ),
]


@pytest.mark.parametrize(
    ("name", "template", "values", "message"), LINK_ERRORS, ids=[c[0] for c in LINK_ERRORS]
)
def test_links_that_cannot_be_made_are_refused_at_their_place(
    name: str, template: str, values: dict[str, Any], message: str
) -> None:
    t = P | {"principal": {"op": "==", "slot": "?principal"}}
    document = _set({"p": P}, {"t": t})
    document["templateLinks"] = [{"templateId": template, "newId": "l", "values": values}]
    text = json.dumps(document, indent=1)
    with pytest.raises(LinkError) as info:
        policy_set_from_json(text, source="p.json")
    assert message in info.value.message
    err = info.value
    assert err.loc is not None and err.loc.start == text.index('{\n   "templateId"')
    assert str(err).startswith(f"p.json:{err.loc.line}:{err.loc.column}: template link 0: ")
    if name != "a static policy":  # Cedar panics there
        with pytest.raises(ValueError):
            cedarpy.policies_from_json_str(text)


# Policies the differential random tests generate: every scope form, templates and links


@pytest.mark.parametrize("first", range(0, 160, 40))
def test_generated_policies_and_links(first: int) -> None:
    from drt.generators import generate

    problems: list[str] = []
    for seed in range(first, first + 40):
        case = generate(seed)
        text = case.policies_text
        try:
            _cedar_json(text)
        except ValueError:  # some are meant to be wrong: then we refuse them too
            with pytest.raises(CedarError):
                parse_policies(text)
            continue
        problems += [f"seed {seed}: {p}" for p in _check(text)]
        ps = PolicySet.from_str(text)
        ps.link_json(list(case.links))
        written = json.dumps(policy_set_to_json(ps))
        cedarpy.policies_from_json_str(written)  # Cedar reads our links
        read = policy_set_from_json(written)
        if list(read) != list(ps) or read.templates != ps.templates:
            problems.append(f"seed {seed}: the linked policies read back differ")
    assert problems == []


# Every policy Cedar's integration suite and cedar-examples have


Source: TypeAlias = Callable[[], "suite.SuiteTest | str"]


def _sources() -> list[tuple[str, Source]]:
    """(name, what reads a suite test or a policy file's text), for every policy text there is."""
    out: list[tuple[str, Source]] = []
    if suite.EXAMPLES.is_dir():
        for path in sorted(suite.EXAMPLES.rglob("*.cedar")):
            out.append((str(path.relative_to(suite.EXAMPLES)), path.read_text))
    if suite.available():
        out += [(t.name, lambda t=t: t) for t in suite.handwritten_tests()]
        out += [(name, partial(suite.corpus_test, name)) for name in suite.corpus_names()]
    return out


CHUNKS = 12  # tests of a few seconds each, which `pytest -n` spreads over its workers


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_policy_of_the_suite_and_the_examples(chunk: int) -> None:
    sources = _sources()
    if not sources:
        pytest.skip("neither ../shared/cedar-integration-tests nor ../shared/cedar-examples")
    problems: list[str] = []
    for name, read in sources[chunk::CHUNKS]:
        test = read()
        text = test if isinstance(test, str) else test.policies
        try:
            want = _cedar_json(text)
        except ValueError:  # texts Cedar refuses are skipped only if we refuse them too
            try:
                parse_policies(text)
            except CedarError:
                continue
            problems.append(f"{name}: Cedar refuses the text, we read it")
            continue
        ours = parse_policies(text)
        problems += [f"{name}: {p}" for p in _compare(want, ours)]
        if not isinstance(test, str):
            problems += [f"{name}: {p}" for p in _same_answers(test, ours, want)]
    assert problems == []


def _same_answers(test: suite.SuiteTest, ours: list[Policy], cedar_json: Any) -> list[str]:
    """The policies read from Cedar's JSON answer the test's requests as those read from text."""
    schema = Schema.from_str(test.schema)
    from_text = PolicySet(ours)
    from_json = policy_set_from_json(cedar_json)
    entities = Entities.from_json(test.entities, schema)
    problems = []
    for spec in test.requests:
        request = Request.from_json(spec, schema, validate=spec.get("validateRequest", True))
        a = is_authorized(request, from_text, entities)
        b = is_authorized(request, from_json, entities)
        if (a.decision, a.reasons, a.errors) != (b.decision, b.reasons, b.errors):
            problems.append(f"{spec['description']}: {a} from text, {b} from JSON")
    return problems
