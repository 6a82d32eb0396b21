"""Entities and requests: reading Cedar's JSON, with and without a schema.

Bad input gets one message naming the entity and attribute; each bad case is also rejected
by cedarpy, and each good case accepted by it, so we never refuse data Cedar takes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cedar_smt.core import (
    Entities,
    EntitiesError,
    EntityUID,
    Long,
    Record,
    Request,
    RequestError,
    Schema,
)
from cedar_smt.core.ext.decimal import parse_decimal
from cedar_smt.core.ext.ipaddr import parse_ip
from cedar_smt.core.json_text import item_locations

SCHEMA_TEXT = """
entity Group in [Group];
entity User in [Group] = {
  name: String,
  age?: Long,
  manager?: User,
  addr?: ipaddr,
  scores?: Set<Long>,
  info?: { active: Bool },
  favorite?: Color,
} tags String;
entity Color enum ["red", "blue"];
action view appliesTo {
  principal: [User],
  resource: [Group, Color],
  context: { n: Long, limit?: decimal, shade?: Color },
};
action edit in [view];
"""
SCHEMA = Schema.from_str(SCHEMA_TEXT)


def user(attrs: dict[str, Any], parents: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"uid": {"type": "User", "id": "u"}, "attrs": attrs, "parents": parents or [], **extra}


GOOD = [
    ("minimal", [user({"name": "n"})]),
    ("implicit entity reference", [user({"name": "n", "manager": {"type": "User", "id": "m"}})]),
    (
        "explicit entity escape",
        [user({"name": "n", "manager": {"__entity": {"type": "User", "id": "m"}}})],
    ),
    ("extension value as a string", [user({"name": "n", "addr": "10.0.0.1"})]),
    (
        "extension escape",
        [user({"name": "n", "addr": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}})],
    ),
    ("extension as fn and arg", [user({"name": "n", "addr": {"fn": "ip", "arg": "10.0.0.1"}})]),
    ("nested record and set", [user({"name": "n", "info": {"active": True}, "scores": [1, 2]})]),
    ("tags", [user({"name": "n"}, tags={"dept": "eng"})]),
    ("parent of a declared type", [user({"name": "n"}, [{"type": "Group", "id": "g"}])]),
    ("enum entity", [{"uid": {"type": "Color", "id": "red"}, "attrs": {}, "parents": []}]),
    (
        "action entity as declared",
        [
            {
                "uid": {"type": "Action", "id": "edit"},
                "attrs": {},
                "parents": [{"type": "Action", "id": "view"}],
            }
        ],
    ),
    ("identical duplicates", [user({"name": "n"}), user({"name": "n"})]),
]

BAD = [
    # (case, entities, message)
    (
        "undeclared type",
        [{"uid": {"type": "Nope", "id": "x"}, "attrs": {}, "parents": []}],
        "entity type `Nope` is not declared in the schema",
    ),
    (
        "missing required attribute",
        [user({})],
        "expected the required attribute `name` to be present",
    ),
    (
        "undeclared attribute",
        [user({"name": "n", "x": 1})],
        "attribute `x` should not exist according to the schema",
    ),
    ("wrong attribute type", [user({"name": 1})], "expected a value of type String, found `1`"),
    (
        "wrong entity type",
        [user({"name": "n", "manager": {"type": "Group", "id": "g"}})],
        'expected an entity of type `User`, found `Group::"g"`',
    ),
    (
        "bad extension string",
        [user({"name": "n", "addr": "10.0.0"})],
        "error while evaluating `ipaddr` extension function",
    ),
    (
        "wrong extension type",
        [user({"name": "n", "addr": {"__extn": {"fn": "decimal", "arg": "1.0"}}})],
        "expected a value of type ipaddr",
    ),
    (
        "wrong element type",
        [user({"name": "n", "scores": ["a"]})],
        'expected a value of type Long, found `"a"`',
    ),
    (
        "undeclared parent type",
        [user({"name": "n"}, [{"type": "Color", "id": "red"}])],
        "is not allowed to have an ancestor of type `Color`",
    ),
    (
        "tag of the wrong type",
        [user({"name": "n"}, tags={"dept": 1})],
        "expected a value of type String, found `1`",
    ),
    (
        "enum id not declared",
        [{"uid": {"type": "Color", "id": "green"}, "attrs": {}, "parents": []}],
        "is not one of the ids of enumerated type `Color`",
    ),
    (
        "enum id not declared, in an attribute",
        [user({"name": "n", "favorite": {"type": "Color", "id": "green"}})],
        "`green` is not one of the ids of enumerated type `Color`",
    ),
    (
        "undeclared action",
        [{"uid": {"type": "Action", "id": "delete"}, "attrs": {}, "parents": []}],
        "it was not declared as an action in the schema",
    ),
    (
        "action with other parents",
        [
            {
                "uid": {"type": "Action", "id": "view"},
                "attrs": {},
                "parents": [{"type": "Action", "id": "edit"}],
            }
        ],
        "does not match its schema declaration",
    ),
    (
        "conflicting duplicates",
        [user({"name": "n"}), user({"name": "m"})],
        'duplicate entity entry `User::"u"`',
    ),
    (
        "hierarchy cycle",
        [
            {
                "uid": {"type": "Group", "id": "a"},
                "attrs": {},
                "parents": [{"type": "Group", "id": "b"}],
            },
            {
                "uid": {"type": "Group", "id": "b"},
                "attrs": {},
                "parents": [{"type": "Group", "id": "a"}],
            },
        ],
        "the entity hierarchy has a cycle",
    ),
    (
        "missing attrs field",
        [{"uid": {"type": "Group", "id": "a"}, "parents": []}],
        "missing field `attrs`",
    ),
    ("float", [user({"name": "n", "age": 1.5})], "expected a value of type Long, found `1.5`"),
    ("null", [user({"name": "n", "age": None})], "JSON `null`s are not allowed in Cedar"),
    ("long out of range", [user({"name": "n", "age": 2**63})], "does not fit in a 64-bit Long"),
    (
        "reserved type name",
        [{"uid": {"type": "A::if", "id": "x"}, "attrs": {}, "parents": []}],
        "uses the reserved identifier `if`",
    ),
]


@pytest.mark.parametrize(("case", "entities"), GOOD, ids=[c[0] for c in GOOD])
def test_good_entities(case: str, entities: list[Any]) -> None:
    store = Entities.from_json(json.dumps(entities), SCHEMA)
    assert EntityUID("Action", "view") in store  # actions come from the schema


@pytest.mark.parametrize(("case", "entities", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_entities(case: str, entities: list[Any], message: str) -> None:
    text = json.dumps(entities)
    with pytest.raises(EntitiesError) as info:
        Entities.from_json(text, SCHEMA, source="ents.json")
    err = info.value
    assert message in str(err)
    if err.loc is None:  # about the store as a whole
        assert str(err).startswith("ents.json: ")
    else:  # about one entity: the error points at it
        assert str(err).startswith(f"ents.json:{err.loc}: ")
        assert err.loc.start in [loc.start for loc in item_locations(text)]
        assert text[err.loc.start] == "{" or "expected an object" in message


def test_an_entity_error_names_the_line_and_column_of_that_entity() -> None:
    text = """[
  {"uid": {"type": "User", "id": "a"}, "attrs": {"name": "a"}, "parents": []},
    {"uid": {"type": "User", "id": "b"}, "attrs": {"name": 7}, "parents": []}
]"""
    with pytest.raises(EntitiesError) as info:
        Entities.from_json(text, SCHEMA, source="ents.json")
    assert str(info.value) == (
        'ents.json:3:5: entity `User::"b"`, attributes.name: expected a value of type String, '
        "found `7`"
    )
    assert info.value.render().endswith("\n      ^")


def test_schema_based_values() -> None:
    store = Entities.from_json(
        [
            user(
                {"name": "n", "addr": "10.0.0.1", "manager": {"type": "User", "id": "m"}},
                [{"type": "Group", "id": "g"}],
                tags={"t": "v"},
            ),
            {
                "uid": {"type": "Group", "id": "g"},
                "attrs": {},
                "parents": [{"type": "Group", "id": "h"}],
            },
        ],
        SCHEMA,
    )
    u = store[EntityUID("User", "u")]
    assert u.attrs["addr"] == parse_ip("10.0.0.1")
    assert u.attrs["manager"] == EntityUID("User", "m")
    assert u.tags == Record({"t": "v"})
    assert u.ancestors == {EntityUID("Group", "g"), EntityUID("Group", "h")}
    assert store[EntityUID("Action", "edit")].ancestors == {EntityUID("Action", "view")}


def test_schemaless_values() -> None:
    store = Entities.from_json(
        [
            user(
                {
                    "name": "n",
                    "ref": {"type": "User", "id": "m"},
                    "d": {"__extn": {"fn": "decimal", "arg": "1.5"}},
                }
            )
        ]
    )
    attrs = store[EntityUID("User", "u")].attrs
    assert attrs["ref"] == Record({"type": "User", "id": "m"})  # a record without a schema
    assert attrs["d"] == parse_decimal("1.5")
    assert EntityUID("Action", "view") not in store


def test_json_text_errors_have_a_location() -> None:
    with pytest.raises(EntitiesError) as info:
        Entities.from_json('[\n  {"uid": ,}\n]', source="ents.json")
    assert str(info.value).startswith("ents.json:2:11: entities is not valid JSON")


def test_duplicate_json_keys_are_rejected() -> None:
    with pytest.raises(EntitiesError, match="duplicate key `attrs`"):
        Entities.from_json(
            '[{"uid": {"type": "A", "id": "a"}, "attrs": {}, "attrs": {}, "parents": []}]'
        )


def req(**over: Any) -> dict[str, Any]:
    base = {
        "principal": {"type": "User", "id": "u"},
        "action": {"type": "Action", "id": "view"},
        "resource": 'Color::"red"',
        "context": {"n": 1, "limit": "0.5"},
    }
    return {**base, **over}


def test_request_forms_and_schema_context() -> None:
    r = Request.from_json(req(principal={"__entity": {"type": "User", "id": "u"}}), SCHEMA)
    assert r.principal == EntityUID("User", "u")
    assert r.resource == EntityUID("Color", "red")
    assert r.context == Record({"n": Long(1), "limit": parse_decimal("0.5")})


BAD_REQUESTS = [
    (
        "undeclared action",
        req(action={"type": "Action", "id": "nope"}),
        'request\'s action `Action::"nope"` is not declared in the schema',
    ),
    (
        "principal type not in appliesTo",
        req(principal={"type": "Group", "id": "g"}),
        'principal type `Group` is not valid for `Action::"view"`',
    ),
    (
        "resource type not in appliesTo",
        req(resource={"type": "User", "id": "u"}),
        'resource type `User` is not valid for `Action::"view"`',
    ),
    (
        "enum id not declared",
        req(resource='Color::"green"'),
        "is not one of the ids of enumerated type `Color`",
    ),
    (
        "enum id not declared, in the context",
        req(context={"n": 1, "shade": {"type": "Color", "id": "green"}}),
        'context: `Color::"green"` is not one of the ids of enumerated type `Color`',
    ),
    (
        "missing context attribute",
        req(context={}),
        "expected the required attribute `n` to be present",
    ),
    ("wrong context type", req(context={"n": "1"}), "expected a value of type Long"),
    ("bad entity reference", req(principal="User::u"), "is not an entity reference"),
    (
        "missing resource",
        {"principal": 'User::"u"', "action": 'Action::"view"'},
        "the request has no `resource`",
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests(case: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError) as info:
        Request.from_json(spec, SCHEMA)
    assert message in str(info.value)


def test_request_validation_can_be_skipped() -> None:
    r = Request.from_json(req(principal={"type": "Group", "id": "g"}), SCHEMA, validate=False)
    assert r.context["limit"] == parse_decimal("0.5")


cedarpy = pytest.importorskip("cedarpy")


def _cedar_accepts(entities: list[Any], request: dict[str, Any] | None = None) -> bool:
    spec = request or {
        "principal": 'User::"u"',
        "action": 'Action::"view"',
        "resource": 'Color::"red"',
        "context": {"n": 1},
    }
    result = cedarpy.is_authorized(
        spec, "permit(principal, action, resource);", entities, SCHEMA_TEXT
    )
    return result.decision.value == "Allow"


@pytest.mark.parametrize(("case", "entities"), GOOD, ids=[c[0] for c in GOOD])
def test_cedar_accepts_good_entities(case: str, entities: list[Any]) -> None:
    assert _cedar_accepts(entities)


@pytest.mark.parametrize(("case", "entities", "message"), BAD, ids=[c[0] for c in BAD])
def test_cedar_rejects_bad_entities(case: str, entities: list[Any], message: str) -> None:
    assert not _cedar_accepts(entities)


@pytest.mark.parametrize(
    ("case", "spec", "message"), BAD_REQUESTS[:-2], ids=[c[0] for c in BAD_REQUESTS[:-2]]
)
def test_cedar_rejects_bad_requests(case: str, spec: dict[str, Any], message: str) -> None:
    assert not _cedar_accepts([], spec)


ENUM_SCHEMA = """
entity Role enum ["admin", "staff"];
entity Member in [Role] = { roles: Set<Role> } tags Role;
action act appliesTo { principal: [Member], resource: [Member] };
"""


@pytest.mark.parametrize(
    "entity",
    [
        {"parents": [{"type": "Role", "id": "root"}]},
        {"attrs": {"roles": [{"type": "Role", "id": "admin"}, {"type": "Role", "id": "root"}]}},
        {"tags": {"level": {"type": "Role", "id": "root"}}},
    ],
    ids=["parent", "set attribute", "tag"],
)
def test_enumerated_ids_are_checked_wherever_an_entity_is_named(entity: dict[str, Any]) -> None:
    """Every reference to an entity of an enumerated type must use one of its ids."""
    item = {"uid": {"type": "Member", "id": "m"}, "attrs": {"roles": []}, "parents": [], **entity}
    schema = Schema.from_str(ENUM_SCHEMA)
    with pytest.raises(EntitiesError, match="`root` is not one of the ids of enumerated type"):
        Entities.from_json([item], schema)
    fixed = json.loads(json.dumps(item).replace('"root"', '"staff"'))
    assert len(Entities.from_json([fixed], schema)) >= 1


@pytest.mark.parametrize("depth", [124, 125, 126])
def test_json_nesting_is_read_as_deep_as_cedar_reads_it(depth: int) -> None:
    # three levels (the list, the entity, its attributes) hold `depth` nested lists
    text = (
        '[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": '
        + "[" * depth
        + "]" * depth
        + '}, "parents": []}]'
    )
    request = {"principal": 'T::"a"', "action": 'Action::"v"', "resource": 'T::"a"'}
    cedar = cedarpy.is_authorized(
        request | {"context": {}}, "permit(principal,action,resource);", text
    )
    cedar_reads = cedar.decision.value == "Allow"
    try:
        Entities.from_json(text)
        ours_reads = True
    except EntitiesError as err:
        assert "nested too deeply" in str(err)
        ours_reads = False
    assert ours_reads == cedar_reads == (depth + 3 <= 127)
