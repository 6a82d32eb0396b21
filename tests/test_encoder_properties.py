"""Property tests: random well-typed expressions at random concrete points.

Hypothesis builds a Cedar condition over a fixed schema in which every operator, attribute
kind and extension type appears, and a random request and entity store conforming to the
schema (entities may be missing; numbers sit near the 64-bit limits). The condition, as a
policy, is compiled; pinned to the point, its outcome must be exactly the evaluator's.
Each test focuses on one family of operators (arithmetic, entities, collections,
extensions) so that it is exercised often; a last test mixes them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cedar_smt.core import Entities, PolicySet, Request, Schema
from cedar_smt.core.typechecker import RequestEnv, TypeCheckError, typecheck
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.authorizer import compile_policy
from cedar_smt.encoder.authorizer import is_authorized as symbolic_decision
from cedar_smt.encoder.concrete import disagreements
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.sorts import Universe

SCHEMA = Schema.from_str(
    """
    entity Group in [Group] = { level: Long };
    entity User in [Group] = {
      name: String,
      age?: Long,
      tags: Set<String>,
      manager?: User,
      dept: Group,
    } tags String;
    entity Doc = { owner: User, level: Long, readers: Set<User>, labels?: Set<String> };
    action view appliesTo {
      principal: [User],
      resource: [Doc],
      context: {
        n: Long,
        s: String,
        items: Set<Long>,
        d: decimal,
        addr: ipaddr,
        when: datetime,
        wait: duration,
        opt?: Long,
      },
    };
    """
)
ACTION = EntityUID("Action", "view")
ENV = RequestEnv("User", ACTION, "Doc", SCHEMA.actions[ACTION].context)
USERS = ["alice", "bob", "carol"]
GROUPS = ["g1", "g2", "g3"]
DOCS = ["d1", "d2"]
WORDS = ["", "a", "ab", "ba", "x*y", "日本"]
LONGS = [2**63 - 1, -(2**63), 2**62, 3037000500, -(2**63) + 1, 0, 1, -1, 7]  # extremes first

Strategy = st.SearchStrategy[str]
Sub = Callable[[str], Strategy]

LEAVES: dict[str, Strategy] = {
    "Bool": st.sampled_from(["true", "false", "principal has age", "context has opt"]),
    "Long": st.one_of(
        st.sampled_from(LONGS).map(lambda n: f"({n})"),
        st.sampled_from(
            [
                "context.n",
                "resource.level",
                "principal.dept.level",
                "(if principal has age then principal.age else 0)",
                "(if context has opt then context.opt else 1)",
            ]
        ),
    ),
    "String": st.one_of(
        st.sampled_from(WORDS).map(lambda w: f'"{w}"'),
        st.sampled_from(
            [
                "principal.name",
                "context.s",
                "resource.owner.name",
                '(if principal.hasTag("k") then principal.getTag("k") else "t")',
            ]
        ),
    ),
    "User": st.sampled_from(
        ["principal", "resource.owner", *(f'User::"{u}"' for u in [*USERS, "nobody"])]
    ),
    "Group": st.sampled_from(["principal.dept", *(f'Group::"{g}"' for g in GROUPS)]),
    "Doc": st.sampled_from(["resource", *(f'Doc::"{d}"' for d in DOCS)]),
    "SetString": st.sampled_from(['["a", "b"]', "principal.tags", '[""]']),
    "SetLong": st.sampled_from(["context.items", "[1, -1]", "[0]"]),
    "SetUser": st.sampled_from(["resource.readers", '[User::"alice", principal]']),
    "decimal": st.sampled_from(['decimal("1.5")', "context.d", 'decimal("-0.0001")']),
    "ipaddr": st.sampled_from(['ip("10.0.0.0/8")', "context.addr", 'ip("::1")']),
    "datetime": st.sampled_from(
        ["context.when", 'datetime("2024-01-01")', "context.when.toDate()"]
    ),
    "duration": st.sampled_from(['duration("1h")', "context.wait", 'duration("-2ms")']),
}


def binary(sub: Sub, left: str, right: str, template: str) -> Strategy:
    return st.tuples(sub(left), sub(right)).map(lambda p: template.format(*p))


def unary(sub: Sub, ty: str, template: str) -> Strategy:
    return sub(ty).map(template.format)


def family(name: str, sub: Sub) -> list[Strategy]:
    """The boolean operators of one family, over operands drawn from `sub(type)`."""
    if name == "arithmetic":
        comparisons = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
        return [
            st.tuples(sub("Long"), comparisons, sub("Long")).map(
                lambda p: f"({p[0]} {p[1]} {p[2]})"
            )
        ]
    if name == "entities":
        return [
            binary(sub, "User", "User", "({} == {})"),
            binary(sub, "User", "Group", "({} in {})"),
            binary(sub, "Group", "Group", "({} in {})"),
            binary(sub, "User", "SetUser", "({} in {})"),
            binary(sub, "SetUser", "User", "{}.contains({})"),
            unary(sub, "User", '({} in [Group::"g1", Group::"g2"])'),
            unary(sub, "User", "({} has manager)"),
            unary(sub, "User", '{}.hasTag("k")'),
            unary(sub, "User", "({} is User)"),
        ]
    if name == "collections":
        patterns = st.sampled_from(["a*", "*", "*b*", "", "x\\*y", "日*"])
        return [
            binary(sub, "String", "String", "({} == {})"),
            binary(sub, "SetString", "String", "{}.contains({})"),
            binary(sub, "SetLong", "SetLong", "{}.containsAll({})"),
            binary(sub, "SetString", "SetString", "{}.containsAny({})"),
            binary(sub, "SetLong", "SetLong", "({} == {})"),
            unary(sub, "SetLong", "{}.isEmpty()"),
            st.tuples(sub("String"), patterns).map(lambda p: f'({p[0]} like "{p[1]}")'),
            unary(sub, "Doc", '({0} has labels && {0}.labels.contains("a"))'),
        ]
    assert name == "extensions"
    return [
        binary(sub, "decimal", "decimal", "{}.lessThan({})"),
        binary(sub, "decimal", "decimal", "{}.greaterThanOrEqual({})"),
        binary(sub, "decimal", "decimal", "({} == {})"),
        binary(sub, "ipaddr", "ipaddr", "{}.isInRange({})"),
        binary(sub, "ipaddr", "ipaddr", "({} == {})"),
        unary(sub, "ipaddr", "({0}.isLoopback() || {0}.isMulticast() || {0}.isIpv4())"),
        binary(sub, "datetime", "datetime", "({} < {})"),
        binary(sub, "duration", "duration", "({} <= {})"),
        binary(sub, "duration", "Long", "({}.toSeconds() == {})"),
        binary(sub, "duration", "Long", "({}.toDays() != {})"),
    ]


FAMILIES = ("arithmetic", "entities", "collections", "extensions")


def expr(ty: str, depth: int, families: tuple[str, ...] = FAMILIES) -> Strategy:
    """Cedar text of an expression of type `ty`, using the boolean operators of `families`."""
    if depth <= 0:
        return LEAVES[ty]

    def sub(t: str) -> Strategy:
        return expr(t, depth - 1, families)

    compound: dict[str, list[Strategy]] = {
        "Bool": [
            binary(sub, "Bool", "Bool", "({} && {})"),
            binary(sub, "Bool", "Bool", "({} || {})"),
            unary(sub, "Bool", "!{}"),
            st.tuples(sub("Bool"), sub("Bool"), sub("Bool")).map(
                lambda p: f"(if {p[0]} then {p[1]} else {p[2]})"
            ),
            *(op for name in families for op in family(name, sub)),
        ],
        "Long": [
            st.tuples(sub("Long"), st.sampled_from(["+", "-", "*"]), sub("Long")).map(
                lambda p: f"({p[0]} {p[1]} {p[2]})"
            ),
            unary(sub, "Long", "(-{})"),
            st.tuples(sub("Bool"), sub("Long"), sub("Long")).map(
                lambda p: f"(if {p[0]} then {p[1]} else {p[2]})"
            ),
            unary(sub, "duration", "{}.toSeconds()"),
        ],
        "User": [unary(sub, "User", "(if {0} has manager then {0}.manager else {0})")],
        "Group": [unary(sub, "User", "{}.dept")],
        "datetime": [
            binary(sub, "datetime", "duration", "{}.offset({})"),
            unary(sub, "datetime", "{}.toDate()"),
        ],
        "duration": [
            binary(sub, "datetime", "datetime", "{}.durationSince({})"),
            unary(sub, "datetime", "{}.toTime()"),
        ],
    }
    # operators before leaves: Hypothesis favours the first choices
    return st.one_of(*compound.get(ty, []), LEAVES[ty])


def focused(name: str) -> Strategy:
    """A condition whose top operator is from one family, alone or joined to another."""

    def sub(t: str) -> Strategy:
        return expr(t, 2, (name,))

    core = st.one_of(*family(name, sub))
    other = expr("Bool", 1, (name,))
    joined = st.tuples(core, st.sampled_from(["&&", "||"]), other).map(
        lambda p: f"({p[0]} {p[1]} {p[2]})"
    )
    return st.one_of(core, joined)


@st.composite
def points(draw: Any) -> tuple[Request, Entities]:
    """A request and store conforming to the schema; some entities may be missing."""
    entities = []
    for i, g in enumerate(GROUPS):
        if draw(st.booleans()) or i == 0:
            parents = [{"type": "Group", "id": p} for p in GROUPS[i + 1 :] if draw(st.booleans())]
            entities.append(
                {
                    "uid": {"type": "Group", "id": g},
                    "attrs": {"level": draw(st.sampled_from(LONGS))},
                    "parents": parents,
                }
            )
    for u in USERS:
        if not draw(st.booleans()) and u != "alice":
            continue
        attrs: dict[str, Any] = {
            "name": draw(st.sampled_from(WORDS)),
            "tags": draw(st.lists(st.sampled_from(WORDS), max_size=3)),
            "dept": {"type": "Group", "id": draw(st.sampled_from(GROUPS))},
        }
        if draw(st.booleans()):
            attrs["age"] = draw(st.sampled_from(LONGS))
        if draw(st.booleans()):
            attrs["manager"] = {"type": "User", "id": draw(st.sampled_from(USERS))}
        parents = [{"type": "Group", "id": g} for g in GROUPS if draw(st.booleans())]
        tags = {"k": draw(st.sampled_from(WORDS))} if draw(st.booleans()) else {}
        entities.append(
            {"uid": {"type": "User", "id": u}, "attrs": attrs, "parents": parents, "tags": tags}
        )
    for d in DOCS:
        if not draw(st.booleans()) and d != "d1":
            continue
        doc: dict[str, Any] = {
            "owner": {"type": "User", "id": draw(st.sampled_from([*USERS, "nobody"]))},
            "level": draw(st.sampled_from(LONGS)),
            "readers": [{"type": "User", "id": r} for r in USERS if draw(st.booleans())],
        }
        if draw(st.booleans()):
            doc["labels"] = draw(st.lists(st.sampled_from(WORDS), max_size=2))
        entities.append({"uid": {"type": "Doc", "id": d}, "attrs": doc, "parents": []})
    context: dict[str, Any] = {
        "n": draw(st.sampled_from(LONGS)),
        "s": draw(st.sampled_from(WORDS)),
        "items": draw(st.lists(st.sampled_from(LONGS), max_size=3)),
        "d": draw(st.sampled_from(["1.5", "-0.0001", "922337203685477.5807", "0.0"])),
        "addr": draw(st.sampled_from(["10.1.2.3", "10.0.0.0/8", "::1", "224.0.0.1", "ff00::/8"])),
        "when": draw(
            st.sampled_from(["2024-01-01", "1969-12-31T23:59:59Z", "2024-06-30T12:00:00+0100"])
        ),
        "wait": draw(st.sampled_from(["1h", "-2ms", "9223372036854775807ms", "0ms", "-1d"])),
    }
    if draw(st.booleans()):
        context["opt"] = draw(st.sampled_from(LONGS))
    request = {
        "principal": {"type": "User", "id": draw(st.sampled_from([*USERS, "nobody"]))},
        "action": {"type": "Action", "id": "view"},
        "resource": {"type": "Doc", "id": draw(st.sampled_from(DOCS))},
        "context": context,
    }
    return Request.from_json(request, SCHEMA), Entities.from_json(entities, SCHEMA)


UNIVERSE = Universe(SCHEMA)


def check(condition: str, point: tuple[Request, Entities]) -> None:
    request, entities = point
    policies = PolicySet.from_str(f"permit(principal, action, resource) when {{ {condition} }};")
    (policy,) = policies
    try:
        typecheck(policy, ENV, SCHEMA)
    except TypeCheckError:
        assume(False)
    env = SymEnv(UNIVERSE, ENV)
    compiled = [(policy, compile_policy(policy, env))]
    assert disagreements(env, compiled, symbolic_decision(policies, env), request, entities) == []


agreement = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@agreement
@given(condition=focused("arithmetic"), point=points())
def test_arithmetic(condition: str, point: tuple[Request, Entities]) -> None:
    check(condition, point)


@agreement
@given(condition=focused("entities"), point=points())
def test_entities_and_hierarchy(condition: str, point: tuple[Request, Entities]) -> None:
    check(condition, point)


@agreement
@given(condition=focused("collections"), point=points())
def test_sets_and_strings(condition: str, point: tuple[Request, Entities]) -> None:
    check(condition, point)


@agreement
@given(condition=focused("extensions"), point=points())
def test_extensions(condition: str, point: tuple[Request, Entities]) -> None:
    check(condition, point)


@agreement
@given(condition=expr("Bool", 3), point=points())
def test_everything(condition: str, point: tuple[Request, Entities]) -> None:
    check(condition, point)
