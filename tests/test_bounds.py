"""Bounded readers: deep, long and large input is read as Cedar reads it, or refused with one
located message; never a `RecursionError`, a traceback or minutes of work.

Every public entry point runs at Python's default recursion limit here (the CLI raises it;
a library caller does not), on input as deep as Cedar's own parser reads.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator

import pytest

from cedar_smt.core import (
    Entities,
    EntitiesError,
    EntityUID,
    ParseError,
    PolicySet,
    Request,
    Schema,
    is_authorized,
    parse_expr,
    typecheck,
    validate,
)
from cedar_smt.core import entities as entities_module
from cedar_smt.core import parser as parser_module
from cedar_smt.core.ast import GetAttr, to_source
from cedar_smt.core.validator import request_environments

SCHEMA = Schema.from_str(
    "entity User; action view appliesTo { principal: User, resource: User, context: {} };"
)
REQUEST = Request.from_json(
    {"principal": 'User::"a"', "action": 'Action::"view"', "resource": 'User::"b"'}, SCHEMA
)


@pytest.fixture(autouse=True)
def default_recursion_limit() -> Iterator[None]:
    """Python's default limit, whatever another test (the CLI) has set in this process."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


def policy(condition: str) -> str:
    return f"permit(principal, action, resource) when {{ {condition} }};"


DEEP = {
    "a flat chain of 10,000 `&&`": " && ".join(["true"] * 10_000),
    "a flat chain of 10,000 `||`": " || ".join(["false"] * 9_999 + ["true"]),
    "650 nested parentheses": "(" * 650 + "true" + ")" * 650,
    "650 nested sets": "[" * 650 + "1" + "]" * 650 + " == " + "[" * 650 + "1" + "]" * 650,
    "650 nested records": "{a: " * 650 + "1" + "}" * 650 + " has a",
    "5,000 chained `if`": "if false then false else " * 5_000 + "true",
    "4,000 nested `if`": "if true then " * 4_000 + "true" + " else false" * 4_000,
}


@pytest.mark.parametrize("condition", DEEP.values(), ids=DEEP.keys())
def test_deep_policies_are_read_checked_and_evaluated(condition: str) -> None:
    policies = PolicySet.from_str(policy(condition))
    assert is_authorized(REQUEST, policies, Entities([])).decision == "allow"
    assert validate(policies, SCHEMA).passed
    (env,) = request_environments(SCHEMA)
    assert typecheck(policies["policy0"], env, SCHEMA).ty is not None
    printed = to_source(parse_expr(condition))
    assert to_source(parse_expr(printed)) == printed


def test_nesting_deeper_than_the_parser_reads_is_refused_where_it_goes_too_deep() -> None:
    text = policy("(" * 20_000 + "true" + ")" * 20_000)
    with pytest.raises(ParseError) as info:
        PolicySet.from_str(text, source="deep.cedar")
    assert str(info.value) == (
        "deep.cedar:1:10045: the expression nests too deeply: cedar-smt reads at most 10,000 "
        "levels of parentheses, brackets, braces and `if`"
    )


def test_attribute_chains_are_read_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every access of a chain is placed at the whole chain; re-placing the shorter chains at
    each link made reading 4,000 links take 12 s (8 million nodes built)."""
    built = []

    def counted(*args: object) -> GetAttr:
        built.append(1)
        return GetAttr(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(parser_module, "GetAttr", counted)
    (p,) = PolicySet.from_str(policy("context" + ".a" * 4_000 + " == 1"))
    assert len(built) == 4_000
    chain = p.conditions[0].body.left  # type: ignore[union-attr]
    assert chain.loc == chain.arg.loc and chain.loc.end - chain.loc.start == len("context") + 8_000


def test_json_nested_as_deeply_as_cedar_reads_it() -> None:
    deep = "[" * 120 + "]" * 120
    entities = Entities.from_json(
        f'[{{"uid": {{"type": "User", "id": "a"}}, "attrs": {{"x": {deep}}}, "parents": []}}]'
    )
    assert len(entities) == 1
    request = Request.from_json(
        json.loads(
            f'{{"principal": "User::\\"a\\"", "action": "Action::\\"view\\"", '
            f'"resource": "User::\\"b\\"", "context": {{"x": {deep}}}}}'
        )
    )
    assert "x" in request.context


def test_deep_records_in_a_cedar_schema() -> None:
    schema = Schema.from_str(
        "entity User = " + "{a: " * 2_000 + "Long" + "}" * 2_000 + ";"
        " action view appliesTo { principal: User, resource: User };"
    )
    assert "User" in schema.entity_types


def _layered_store(entities: int, levels: int, parents: int) -> list[dict[str, object]]:
    """`levels` levels of entities, each with `parents` parents in the level above."""
    width = entities // levels
    return [
        {
            "uid": {"type": "G", "id": f"{level}-{i}"},
            "attrs": {},
            "parents": [
                {"type": "G", "id": f"{level - 1}-{(7 * i + 13 * k) % width}"}
                for k in range(parents if level else 0)
            ],
        }
        for level in range(levels)
        for i in range(width)
    ]


def test_ancestors_are_found_when_asked_for_not_all_at_once() -> None:
    """In 50 levels of two parents each, the ancestors of every entity together are some 500
    times the store (2.5 billion for 100,000 entities, which took 18.8 GB before); a store
    finds an entity's ancestors when asked, and they are what a search of the parents finds."""
    items = _layered_store(10_000, 50, 2)
    store = Entities.from_json(json.dumps(items))
    assert store._closed == {}  # nothing computed yet
    parents = {(i["uid"]["id"]): [p["id"] for p in i["parents"]] for i in items}  # type: ignore[index]

    def above(uid: str) -> set[str]:
        seen, todo = set(), list(parents[uid])
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(parents[p])
        return seen

    for uid in ("49-0", "49-17", "30-5", "1-3", "0-0", "25-100"):
        found = store.ancestors_or_empty(EntityUID("G", uid))
        assert {a.id for a in found} == above(uid)
    policies = PolicySet.from_str('permit(principal in G::"0-5", action, resource);')
    request = Request.from_json(
        {"principal": 'G::"49-7"', "action": 'Action::"a"', "resource": 'G::"0-0"'}
    )
    expected = "allow" if "0-5" in above("49-7") else "deny"
    assert is_authorized(request, policies, store).decision == expected


def test_ancestors_kept_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entities_module, "ANCESTORS_KEPT", 5_000)
    store = Entities.from_json(json.dumps(_layered_store(2_000, 20, 2)))
    for i in range(100):
        store.ancestors_or_empty(EntityUID("G", f"19-{i}"))
        assert store._kept <= 5_000 or len(store._closed) == 1
    assert store._kept == sum(len(e.ancestors) for e in store._closed.values())


def test_a_cycle_is_found_in_a_large_store() -> None:
    items = _layered_store(10_000, 100, 2)
    items[0]["parents"] = [{"type": "G", "id": "99-0"}]
    with pytest.raises(EntitiesError, match="the entity hierarchy has a cycle containing"):
        Entities.from_json(items)


def test_a_store_pickles_without_the_ancestors_it_found() -> None:
    """Analyses send stores to worker processes: a store travels without its remembered
    ancestors, and finds them again where it arrives."""
    store = Entities.from_json(json.dumps(_layered_store(200, 10, 2)))
    uid = EntityUID("G", "9-3")
    ancestors = store.ancestors_or_empty(uid)
    copy = pickle.loads(pickle.dumps(store))
    assert copy._closed == {} and copy.ancestors_or_empty(uid) == ancestors
