"""Schemas: both formats, name resolution, errors, and agreement with Cedar (cedarpy).

Cedar is the reference: every schema these tests accept, cedarpy accepts too, and every
schema they reject, cedarpy rejects. On Cedar's conformance schemas the model is also checked
against cedarpy's reading of the same text: entities and requests built from our model must
conform, and the action hierarchy must answer `action in` the same way.
"""

from __future__ import annotations

import glob
import json
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from cedar_smt.core.errors import SchemaError
from cedar_smt.core.schema import ActionDef, EntityTypeDef, Schema
from cedar_smt.core.types import (
    BOOL,
    LONG,
    STRING,
    Attribute,
    BoolType,
    EntityType,
    ExtensionType,
    LongType,
    RecordType,
    SchemaType,
    SetType,
    StringType,
)
from cedar_smt.core.values import EntityUID

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CORPUS = SHARED / "cedar-integration-tests" / "corpus-tests.tar.gz"


def record(**attrs: SchemaType | Attribute) -> RecordType:
    return RecordType.of(
        {k: a if isinstance(a, Attribute) else Attribute(a) for k, a in attrs.items()}
    )


def optional(ty: SchemaType) -> Attribute:
    return Attribute(ty, required=False)


def uid(text: str) -> EntityUID:
    kind, _, rest = text.rpartition("::")
    return EntityUID(kind, json.loads(rest))


def ns(entity_types: Any = None, actions: Any = None, **more: Any) -> dict[str, Any]:
    """A namespace of a JSON schema."""
    return {"entityTypes": entity_types or {}, "actions": actions or {}, **more}


def shape(**attributes: Any) -> dict[str, Any]:
    """The `shape` of an entity type in a JSON schema."""
    return {"shape": {"type": "Record", "attributes": attributes}}


def js(data: Any) -> str:
    return json.dumps(data)


def cedar_reads(text: str) -> cedarpy.Schema:
    if text.lstrip().startswith("{"):
        return cedarpy.Schema.from_json_str(text)
    return cedarpy.Schema.from_str(text)


# ---- what Cedar makes of our model ----


def _value(ty: SchemaType, schema: Schema) -> Any:
    """A JSON value of type `ty`, with every optional attribute left out."""
    match ty:
        case BoolType():
            return True
        case LongType():
            return 1
        case StringType():
            return "s"
        case EntityType(name):
            return {"__entity": _entity_ref(name, schema)}
        case SetType(element):
            return [_value(element, schema)]
        case RecordType():
            return {k: _value(a.type, schema) for k, a in ty.attributes if a.required}
        case ExtensionType(name):
            arg = {"decimal": "1.0", "ipaddr": "10.0.0.1", "datetime": "2024-01-01"}.get(name, "1h")
            return {"__extn": {"fn": "ip" if name == "ipaddr" else name, "arg": arg}}
    raise AssertionError(ty)


def _entity_ref(name: str, schema: Schema, default: str = "x") -> dict[str, str]:
    et = schema.entity_types.get(name)
    if et is None:  # the type of some actions
        return next(u for u in schema.actions if u.type == name).to_json()
    return {"type": name, "id": et.enum[0] if et.enum else default}


def disagreements(text: str) -> list[str]:
    """Where cedarpy, reading `text`, does not accept what our model of `text` says."""
    schema = Schema.from_str(text)
    theirs = cedar_reads(text)
    found = []

    def conforms(entity: dict[str, Any]) -> bool:
        try:
            cedarpy.Entities.from_json_str(json.dumps([entity]), theirs)
        except ValueError:
            return False
        return True

    for name, et in schema.entity_types.items():
        entity = {
            "uid": _entity_ref(name, schema),
            "attrs": _value(et.shape, schema),
            "parents": [_entity_ref(p, schema, "p") for p in sorted(et.member_of_types)],
        }
        if et.tags is not None:
            entity["tags"] = {"t": _value(et.tags, schema)}
        if not conforms(entity):
            found.append(f"entity of type `{name}` does not conform")
        if entity["attrs"]:
            del entity["attrs"][next(iter(entity["attrs"]))]
            if conforms(entity):
                found.append(f"`{name}` has an attribute Cedar does not require")

    policies = "\n".join(f"permit(principal, action in {u}, resource);" for u in schema.actions)
    for action in schema.actions.values():
        if not action.principal_types or not action.resource_types:
            continue
        request = {
            "principal": _entity_ref(action.principal_types[0], schema),
            "action": action.uid.to_json(),
            "resource": _entity_ref(action.resource_types[0], schema),
            "context": _value(action.context, schema),
        }
        answer = cedarpy.is_authorized(request, policies, "[]", theirs)
        if answer.diagnostics.errors:
            found.append(f"request for `{action.uid}` is invalid: {answer.diagnostics.errors}")
            continue
        ancestors = schema.action_ancestors(action.uid) | {action.uid}
        groups = {f"policy{i}" for i, u in enumerate(schema.actions) if u in ancestors}
        if set(answer.diagnostics.reasons) != groups:
            found.append(f"action groups of `{action.uid}` differ")
        others = sorted(set(schema.entity_types) - set(action.principal_types))
        if others:
            request["principal"] = _entity_ref(others[0], schema)
            if not cedarpy.is_authorized(request, policies, "[]", theirs).diagnostics.errors:
                found.append(f"`{action.uid}` also applies to principals of type `{others[0]}`")
    return found


# ---- Cedar's conformance schemas ----


@cache
def conformance_schemas() -> dict[str, str]:
    if not CORPUS.exists():
        pytest.skip(f"Cedar's conformance tests are not at {SHARED}; clone them beside the repo")
    texts = {}
    with tarfile.open(CORPUS) as tar:
        for member in tar:
            if member.name.endswith(".cedarschema"):
                texts[member.name] = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    for pattern in ("cedar-integration-tests/sample-data/**/*", "cedar-examples/**/*"):
        for path in glob.glob(str(SHARED / pattern), recursive=True):
            if path.endswith(".cedarschema") or (
                path.endswith(".json") and "schema" in Path(path).name
            ):
                texts[path] = Path(path).read_text()
    return texts


@cache
def parsed_conformance_schemas() -> dict[str, Schema | SchemaError]:
    parsed: dict[str, Schema | SchemaError] = {}
    for name, text in conformance_schemas().items():
        try:
            parsed[name] = Schema.from_str(text, name)
        except SchemaError as e:
            parsed[name] = e
    return parsed


def test_every_conformance_schema_parses() -> None:
    parsed = parsed_conformance_schemas()
    assert len(parsed) > 5000
    failures = [e.render() for e in parsed.values() if isinstance(e, SchemaError)]
    assert not failures, "\n".join(failures[:10])


def test_conformance_schemas_round_trip_through_json() -> None:
    for name, schema in parsed_conformance_schemas().items():
        if isinstance(schema, Schema):
            as_json = schema.to_json()
            assert Schema.from_json(as_json) == schema, name
            cedarpy.Schema.from_json_str(json.dumps(as_json))


def test_model_of_conformance_schemas_agrees_with_cedar() -> None:
    texts = conformance_schemas()
    sample = sorted(texts)[::8] + [n for n in texts if not n.startswith("corpus-tests/")]
    problems = {name: found for name in sample if (found := disagreements(texts[name]))}
    assert not problems


# ---- the model of hand-written schemas ----

TYPE_CASES = [
    pytest.param(
        "namespace NS { type N = Long; entity N; entity E = {a: N}; }",
        "NS::E",
        record(a=LONG),
        id="a common type comes before an entity type of the same name",
    ),
    pytest.param(
        "namespace NS { entity N; entity E = {a: N}; }",
        "NS::E",
        record(a=EntityType("NS::N")),
        id="an unqualified name is looked up in its own namespace",
    ),
    pytest.param(
        "type N = String; namespace NS { entity E = {a: N}; }",
        "NS::E",
        record(a=STRING),
        id="then among common types of the empty namespace",
    ),
    pytest.param(
        "entity N; namespace NS { entity E = {a: N}; }",
        "NS::E",
        record(a=EntityType("N")),
        id="then among entity types of the empty namespace",
    ),
    pytest.param(
        "type N = Long; entity N; entity E = {a: N};",
        "E",
        record(a=LONG),
        id="the empty namespace also looks at common types first",
    ),
    pytest.param(
        "entity Long; entity E = {a: Long, b: __cedar::Long};",
        "E",
        record(a=EntityType("Long"), b=LONG),
        id="builtins come last, and `__cedar::` names them explicitly",
    ),
    pytest.param(
        "type decimal = String; entity E = {a: decimal, b: __cedar::decimal};",
        "E",
        record(a=STRING, b=ExtensionType("decimal")),
        id="a common type may take the name of an extension type",
    ),
    pytest.param(
        "entity E = {a: Bool, b: String, c: ipaddr, d: datetime, e: duration};",
        "E",
        record(
            a=BOOL,
            b=STRING,
            c=ExtensionType("ipaddr"),
            d=ExtensionType("datetime"),
            e=ExtensionType("duration"),
        ),
        id="builtin types",
    ),
    pytest.param(
        "namespace A { type T = Long; } namespace B { entity E = {a: A::T}; }",
        "B::E",
        record(a=LONG),
        id="a qualified name is absolute",
    ),
    pytest.param(
        "namespace M { entity U; type T = U; } namespace N { entity E = {a: M::T}; }",
        "N::E",
        record(a=EntityType("M::U")),
        id="a common type is resolved where it is declared",
    ),
    pytest.param(
        "type A = B; type B = Set<C>; type C = {x?: Long}; entity E = {a: A};",
        "E",
        record(a=SetType(record(x=optional(LONG)))),
        id="common types refer to common types",
    ),
    pytest.param(
        "namespace Set { entity E; } entity F = {a: Set<Set::E>};",
        "F",
        record(a=SetType(EntityType("Set::E"))),
        id="`Set` may begin a path",
    ),
    pytest.param(
        "namespace NS { entity E = {a: Action}; action x; }",
        "NS::E",
        record(a=EntityType("NS::Action")),
        id="the type of a namespace's actions is an entity type for attributes",
    ),
    pytest.param(
        "type T = Action; action x; namespace NS { entity E = {a: T}; action y; }",
        "NS::E",
        record(a=EntityType("Action")),
        id="a common type reaches the empty namespace's action type from a namespace with actions",
    ),
    pytest.param(
        "// a comment\nentity E = {\u3000a: Long, // and another\n  b?: String,\n};",
        "E",
        record(a=LONG, b=optional(STRING)),
        id="comments, Unicode white space, trailing commas",
    ),
    pytest.param(
        js({"": ns({"E": shape(a={"type": "C"})}, commonTypes={"C": {"type": "Bool"}})}),
        "E",
        record(a=BOOL),
        id="json: a type name that is no keyword names a common type or builtin",
    ),
    pytest.param(
        js({"": ns({"Long": {}, "E": shape(a={"type": "EntityOrCommon", "name": "Long"})})}),
        "E",
        record(a=EntityType("Long")),
        id="json: EntityOrCommon resolves like the Cedar syntax",
    ),
    pytest.param(
        js({"": ns({"Long": {}, "E": shape(a={"type": "Long"})})}),
        "E",
        record(a=LONG),
        id="json: `Long` is always the builtin",
    ),
]


@pytest.mark.parametrize("text, entity, expected", TYPE_CASES)
def test_name_resolution(text: str, entity: str, expected: RecordType) -> None:
    schema = Schema.from_str(text)
    assert schema.entity_types[entity].shape == expected
    assert Schema.from_json(schema.to_json()) == schema
    cedarpy.Schema.from_json_str(json.dumps(schema.to_json()))
    assert not disagreements(text)


OPTIONAL_LONG_JSON = {"type": "Long", "required": False, "annotations": {"doc": "x"}}

ENTITY_CASES = [
    pytest.param(
        'entity A, B in [C, D] = {x?: Long, "y z": String,} tags Set<String>; entity C, D;',
        [
            EntityTypeDef(
                "A",
                frozenset({"C", "D"}),
                record(x=optional(LONG), **{"y z": STRING}),
                SetType(STRING),
            ),
            EntityTypeDef(
                "B",
                frozenset({"C", "D"}),
                record(x=optional(LONG), **{"y z": STRING}),
                SetType(STRING),
            ),
        ],
        id="several names share one declaration",
    ),
    pytest.param(
        "entity A in C {x: Bool}; entity C;",
        [EntityTypeDef("A", frozenset({"C"}), record(x=BOOL))],
        id="`in` without brackets, record without `=`",
    ),
    pytest.param(
        "entity A in [] tags Long; entity B in B;",
        [EntityTypeDef("A", tags=LONG), EntityTypeDef("B", frozenset({"B"}))],
        id="empty parents, tags without a shape, a type in itself",
    ),
    pytest.param(
        'entity Color enum ["red", "green", "red"];',
        [EntityTypeDef("Color", enum=("red", "green"))],
        id="enumerated entity type",
    ),
    pytest.param(
        "namespace App { entity User in Group; } entity Group;",
        [EntityTypeDef("App::User", frozenset({"Group"}))],
        id="parents are found in the empty namespace",
    ),
    pytest.param(
        "entity E = {a: Long, a: String};",
        [EntityTypeDef("E", shape=record(a=STRING))],
        id="a repeated attribute replaces the earlier one, as in Cedar",
    ),
    pytest.param(
        '@doc("users") @internal entity E = {@doc("n") name: String};',
        [
            EntityTypeDef(
                "E", shape=record(name=STRING), annotations=(("doc", "users"), ("internal", ""))
            )
        ],
        id="annotations are kept on declarations",
    ),
    pytest.param(
        "entity entity; entity namespace = {in_: Long, type: Long, action: Long}; entity tags;",
        [EntityTypeDef("namespace", shape=record(in_=LONG, type=LONG, action=LONG))],
        id="keywords of the schema syntax are identifiers elsewhere",
    ),
    pytest.param(
        'entity E enum ["\\n\\r\\t\\\\\\0\\\'\\"", "\\x41\\x7f", "\\u{1F600}\\u{e9}"];',
        [EntityTypeDef("E", enum=("\n\r\t\\\0'\"", "A\x7f", "\U0001f600\u00e9"))],
        id="string escapes",
    ),
    pytest.param(
        js(
            {
                "NS": ns(
                    {
                        "E": {
                            "memberOfTypes": ["E", "NS::F"],
                            "shape": {"type": "C"},
                            "tags": {"type": "Extension", "name": "ipaddr"},
                        },
                        "F": {"enum": ["f"], "annotations": {"a": None}},
                    },
                    commonTypes={"C": {"type": "Record", "attributes": {"a": OPTIONAL_LONG_JSON}}},
                    annotations={"doc": "namespace"},
                )
            }
        ),
        [
            EntityTypeDef(
                "NS::E",
                frozenset({"NS::E", "NS::F"}),
                record(a=optional(LONG)),
                ExtensionType("ipaddr"),
            ),
            EntityTypeDef("NS::F", enum=("f",), annotations=(("a", ""),)),
        ],
        id="json: entity types",
    ),
]


@pytest.mark.parametrize("text, expected", ENTITY_CASES)
def test_entity_types(text: str, expected: list[EntityTypeDef]) -> None:
    schema = Schema.from_str(text)
    for et in expected:
        assert schema.entity_types[et.name] == et
    assert Schema.from_json(schema.to_json()) == schema
    cedarpy.Schema.from_json_str(json.dumps(schema.to_json()))
    assert not disagreements(text)


ACTION_CASES = [
    pytest.param(
        "action view;",
        [ActionDef(uid('Action::"view"'))],
        id="an action without appliesTo applies to nothing",
    ),
    pytest.param(
        "entity User, Photo, Album; type Ctx = {ip: ipaddr};"
        "action view appliesTo { context: Ctx, resource: [Photo, Album], principal: User, };",
        [
            ActionDef(
                uid('Action::"view"'),
                principal_types=("User",),
                resource_types=("Album", "Photo"),
                context=record(ip=ExtensionType("ipaddr")),
            )
        ],
        id="appliesTo entries in any order, a common type as context",
    ),
    pytest.param(
        'namespace NS { entity U; action "read", write appliesTo {principal: U, resource: NS::U,'
        " context: {}}; }",
        [
            ActionDef(
                uid('NS::Action::"read"'), principal_types=("NS::U",), resource_types=("NS::U",)
            ),
            ActionDef(
                uid('NS::Action::"write"'), principal_types=("NS::U",), resource_types=("NS::U",)
            ),
        ],
        id="names as strings or identifiers, several per declaration",
    ),
    pytest.param(
        'namespace NS { action a in [b, "c", Action::"d", M::Action::"e"]; action b, c, d; }'
        " namespace M { action e; }",
        [
            ActionDef(
                uid('NS::Action::"a"'),
                frozenset(
                    {
                        uid('NS::Action::"b"'),
                        uid('NS::Action::"c"'),
                        uid('NS::Action::"d"'),
                        uid('M::Action::"e"'),
                    }
                ),
            )
        ],
        id="action groups: bare names and `Action::` are the namespace's own",
    ),
    pytest.param(
        'action all; namespace NS { action a in all; action b in Action::"all"; }',
        [
            ActionDef(uid('NS::Action::"a"'), frozenset({uid('Action::"all"')})),
            ActionDef(uid('NS::Action::"b"'), frozenset({uid('Action::"all"')})),
        ],
        id="action groups fall back to the empty namespace",
    ),
    pytest.param(
        "entity E; action a appliesTo {principal: E, resource: E} attributes {};",
        [ActionDef(uid('Action::"a"'), principal_types=("E",), resource_types=("E",))],
        id="empty action attributes are accepted",
    ),
    pytest.param(
        js(
            {
                "NS": ns(
                    {"E": {}},
                    {
                        "a": {
                            "memberOf": [{"id": "b"}, {"id": "b", "type": "NS::Action"}],
                            "appliesTo": {"principalTypes": [], "resourceTypes": ["E"]},
                        },
                        "b": {"appliesTo": None, "memberOf": None},
                    },
                )
            }
        ),
        [
            ActionDef(
                uid('NS::Action::"a"'),
                frozenset({uid('NS::Action::"b"')}),
                resource_types=("NS::E",),
            ),
            ActionDef(uid('NS::Action::"b"')),
        ],
        id="json: memberOf forms, and empty principalTypes",
    ),
]


@pytest.mark.parametrize("text, expected", ACTION_CASES)
def test_actions(text: str, expected: list[ActionDef]) -> None:
    schema = Schema.from_str(text)
    for action in expected:
        assert schema.actions[action.uid] == action
    assert Schema.from_json(schema.to_json()) == schema
    cedarpy.Schema.from_json_str(json.dumps(schema.to_json()))
    assert not disagreements(text)


def test_both_formats_read_into_the_same_model() -> None:
    cedar = """
        @doc("app")
        namespace App {
          type Ctx = {ip?: ipaddr};
          entity Group;
          entity User in [Group] = {name: String, groups: Set<Group>} tags Long;
          entity Kind enum ["a", "b"];
          action read;
          action write in read appliesTo {principal: User, resource: [Group, Kind], context: Ctx};
        }
    """
    as_json = {
        "App": {
            "annotations": {"doc": "app"},
            "commonTypes": {
                "Ctx": {
                    "type": "Record",
                    "attributes": {
                        "ip": {"type": "Extension", "name": "ipaddr", "required": False}
                    },
                }
            },
            "entityTypes": {
                "Group": {},
                "User": {
                    "memberOfTypes": ["Group"],
                    "tags": {"type": "Long"},
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "name": {"type": "String"},
                            "groups": {
                                "type": "Set",
                                "element": {"type": "Entity", "name": "Group"},
                            },
                        },
                    },
                },
                "Kind": {"enum": ["a", "b"]},
            },
            "actions": {
                "read": {},
                "write": {
                    "memberOf": [{"id": "read"}],
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Group", "Kind"],
                        "context": {"type": "Ctx"},
                    },
                },
            },
        }
    }
    assert (
        Schema.from_str(cedar) == Schema.from_json(as_json) == Schema.from_str(json.dumps(as_json))
    )


def test_to_json_writes_qualified_names_and_inlines_common_types() -> None:
    schema = Schema.from_str(
        "namespace NS { type C = {a: E}; entity E in F = {c: C}; entity F; action r in s"
        " appliesTo {principal: E, resource: F}; action s; }"
    )
    assert schema.to_json() == {
        "NS": {
            "entityTypes": {
                "E": {
                    "memberOfTypes": ["NS::F"],
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "c": {
                                "type": "Record",
                                "attributes": {"a": {"type": "Entity", "name": "NS::E"}},
                            }
                        },
                    },
                },
                "F": {},
            },
            "actions": {
                "r": {
                    "memberOf": [{"id": "s", "type": "NS::Action"}],
                    "appliesTo": {
                        "principalTypes": ["NS::E"],
                        "resourceTypes": ["NS::F"],
                        "context": {"type": "Record", "attributes": {}},
                    },
                },
                "s": {},
            },
        }
    }


def test_hierarchies_are_transitive() -> None:
    schema = Schema.from_str(
        "entity A in B; entity B in C; entity C in A; entity D;"
        "action a in b; action b in [c, d]; action c; action d in c;"
    )
    assert schema.entity_type_ancestors("A") == frozenset({"A", "B", "C"})
    assert schema.entity_type_ancestors("D") == frozenset()
    a, b, c, d = (uid(f'Action::"{n}"') for n in "abcd")
    assert schema.action_ancestors(a) == frozenset({b, c, d})
    assert schema.action_ancestors(c) == frozenset()
    assert schema.action_ancestors(a) is schema.action_ancestors(a)
    assert schema.is_action(a) and not schema.is_action(uid('Action::"e"'))


def test_declarations_keep_their_place() -> None:
    schema = Schema.from_str("entity A;\n  action view;")
    assert str(schema.entity_types["A"].loc) == "1:8"
    assert str(schema.actions[uid('Action::"view"')].loc) == "2:10"


def test_errors_render_with_the_file_and_a_caret() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_str("entity E = {a: Foo};", source="app.cedarschema")
    assert info.value.render() == (
        "app.cedarschema:1:16: unknown type `Foo`\n  entity E = {a: Foo};\n                 ^"
    )


# ---- schemas Cedar rejects ----

BAD_CEDAR = [
    ("entity E = {a: Foo};", "unknown type `Foo`", "1:16"),
    ("entity E tags Foo;", "unknown type `Foo`", "1:15"),
    ("entity E = {a: NS::Foo};", "unknown type `NS::Foo`", "1:16"),
    ("entity E = {a: Boolean};", "unknown type `Boolean`", "1:16"),
    ("entity E = {a: __cedar::Foo};", "unknown type `__cedar::Foo`", "1:16"),
    ("namespace NS { type T = Long; } entity E = {a: T};", "unknown type `T`", "1:48"),
    ("entity E = {a: Action};", "unknown type `Action`", "1:16"),
    ("entity E in F;", "unknown entity type `F`", "1:13"),
    ("entity E in [E, F];", "unknown entity type `F`", "1:17"),
    ("entity E in Action; action x;", "unknown entity type `Action`", "1:13"),
    (
        "type C = {}; entity E; action a appliesTo {principal: C, resource: E};",
        "unknown entity type `C`",
        "1:55",
    ),
    ("entity E;\naction a in b;", 'unknown action `Action::"b"`', "2:13"),
    ("namespace NS { action b in [c]; }", 'unknown action `NS::Action::"c"`', "1:29"),
    ('namespace NS { action a; } action b in Action::"a";', 'unknown action `Action::"a"`', "1:40"),
    ("entity E;\nentity E;", "duplicate declaration of entity type `E`", "2:8"),
    ("entity E, E;", "duplicate declaration of entity type `E`", "1:11"),
    ("type T = Long; type T = String;", "duplicate declaration of common type `T`", "1:21"),
    ('action a; action "a";', 'duplicate declaration of action `Action::"a"`', "1:18"),
    ("namespace A {} namespace A {}", "duplicate namespace `A`", "1:26"),
    ("action a in a;", 'cycle in the action hierarchy: `Action::"a"` -> `Action::"a"`', "1:8"),
    (
        "action a in b; action b in c; action c in a;",
        'cycle in the action hierarchy: `Action::"a"` -> `Action::"b"` -> `Action::"c"` -> '
        '`Action::"a"`',
        "1:8",
    ),
    ("type A = B; type B = A;", "cycle among common types: `A` -> `B` -> `A`", "1:6"),
    ("type A = {x: Set<A>};", "cycle among common types: `A` -> `A`", "1:6"),
    ("type Long = String;", "`Long` is a builtin type name and cannot name a common type", "1:6"),
    ("type Set = Long;", "`Set` is a builtin type name and cannot name a common type", "1:6"),
    ("type Record = Long;", "`Record` is a builtin type name and cannot name a common type", "1:6"),
    ("entity __cedar;", "`__cedar` uses `__cedar`, which is reserved for builtin types", "1:8"),
    (
        "namespace A::__cedar { entity E; }",
        "`A::__cedar` uses `__cedar`, which is reserved for builtin types",
        "1:11",
    ),
    ("entity in;", "`in` is a reserved identifier", "1:8"),
    ("entity E = {if: Long};", "`if` is a reserved identifier", "1:13"),
    ("namespace A::true {}", "`true` is a reserved identifier", "1:14"),
    ("entity Action;", "`Action` is the type of actions and cannot name an entity type", "1:8"),
    (
        "entity T; namespace NS { entity T; }",
        "`NS::T` shadows `T`, declared in the empty namespace",
        "1:33",
    ),
    (
        "type T = Long; namespace NS { type T = Long; }",
        "`NS::T` shadows `T`, declared in the empty namespace",
        "1:36",
    ),
    (
        "action a; namespace NS { action a; }",
        '`NS::Action::"a"` shadows `Action::"a"`, declared in the empty namespace',
        "1:33",
    ),
    ("entity E enum [];", "`enum` must list at least one entity id", "1:10"),
    (
        "entity E; action a appliesTo {principal: [], resource: E};",
        "`principal` must list at least one entity type",
        "1:31",
    ),
    (
        "entity E; action a appliesTo {principal: E};",
        "`appliesTo` needs a `resource` entry",
        "1:20",
    ),
    (
        "entity E; action a appliesTo {resource: E};",
        "`appliesTo` needs a `principal` entry",
        "1:20",
    ),
    (
        "entity E; action a appliesTo {principal: E, resource: E, principal: E};",
        "duplicate `principal` in `appliesTo`",
        "1:58",
    ),
    (
        "entity E; type C = Long; action a appliesTo {principal: E, resource: E, context: C};",
        'the context of action `Action::"a"` must be a record type, not `Long`',
        "1:82",
    ),
    ('@doc("a") @doc("b") entity E;', "duplicate annotation `@doc`", "1:12"),
    ('entity E = {"\\a": Long};', "invalid escape `\\a` in string", "1:14"),
    ('entity E enum ["ok", "x\\x80"];', "invalid escape `\\x80` in string", "1:24"),
    ('entity E enum ["\\u{D800}"];', "invalid escape `\\u{D800}` in string", "1:17"),
    ('entity E enum ["\\u{110000}"];', "invalid escape `\\u{110000}` in string", "1:17"),
    ('entity E enum ["\\u0041"];', "invalid escape `\\u` in string", "1:17"),
    ('entity E enum ["a\nb\\q"];', "invalid escape `\\q` in string", "2:2"),
    ("entity E = {a: Long}", "unexpected end of input, expected `;` or `tags`", "1:21"),
    ("entity E = {a: Long}\nentity F;", "unexpected `entity`, expected `;` or `tags`", "2:1"),
    ("entity E = {a: };", "unexpected `}`, expected `Set`, `{` or an identifier", "1:16"),
    ("entity E = {a: Set<Long,>};", "unexpected `,`, expected `>`", "1:24"),
    ("entity E in [F,]; entity F;", "unexpected `]`, expected an identifier", "1:16"),
    ("action a in [];", "unexpected `]`, expected a string or an identifier", "1:14"),
    (
        "entity E; action a appliesTo {};",
        "unexpected `}`, expected `context`, `principal` or `resource`",
        "1:31",
    ),
    ("entity E = {a: Long} /* no */;", "unexpected character `/`, expected `;` or `tags`", "1:22"),
    (
        "entity E = {a: 'x'};",
        "unexpected character `'`, expected `Set`, `{` or an identifier",
        "1:16",
    ),
    (
        "namespace NS { namespace M {} }",
        "unexpected `namespace`, expected `@`, `action`, `entity`, `type` or `}`",
        "1:16",
    ),
    ("type A::B = Long;", "unexpected `::`, expected `=`", "1:7"),
    ("action a attributes {a: 1};", "unexpected `a`, expected `}`", "1:22"),
    (
        "entity E;;",
        "unexpected `;`, expected `@`, `action`, `entity`, `namespace`, `type` or end of input",
        "1:10",
    ),
]


@pytest.mark.parametrize("text, message, where", BAD_CEDAR)
def test_bad_cedar_schemas(text: str, message: str, where: str) -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_str(text)
    assert (info.value.message, str(info.value.loc)) == (message, where)
    with pytest.raises(ValueError):
        cedarpy.Schema.from_str(text)


BAD_JSON = [
    (
        {"": ns({"E": shape(a={"type": "Foo"})})},
        "unknown type `Foo` in entityTypes.E.shape.attributes.a",
    ),
    (
        {"": ns({"E": shape(a={"type": "Entity", "name": "Action"})})},
        "unknown entity type `Action` in entityTypes.E.shape.attributes.a",
    ),
    (
        {"": ns({"E": {}}), "NS": ns({"F": shape(a={"type": "Entity", "name": "G"})})},
        "unknown entity type `G` in NS.entityTypes.F.shape.attributes.a",
    ),
    (
        {"": ns({"E": {"memberOfTypes": ["F"]}})},
        "unknown entity type `F` in entityTypes.E.memberOfTypes",
    ),
    (
        {
            "": ns(
                {"E": {}}, {"a": {"appliesTo": {"principalTypes": ["E"], "resourceTypes": ["X"]}}}
            )
        },
        "unknown entity type `X` in actions.a.appliesTo.resourceTypes",
    ),
    (
        {"": ns({"E": {}}, {"a": {"memberOf": [{"id": "b"}]}})},
        'unknown action `Action::"b"` in actions.a.memberOf',
    ),
    (
        {"": ns({"E": {}}, {"a": {"memberOf": [{"id": "b", "type": "E"}]}, "b": {}})},
        'unknown action `E::"b"` in actions.a.memberOf',
    ),
    (
        {"": ns({}, {"a": {"memberOf": [{"id": "a"}]}})},
        'cycle in the action hierarchy: `Action::"a"` -> `Action::"a"` in actions.a',
    ),
    (
        {"": ns(commonTypes={"A": {"type": "B"}, "B": {"type": "A"}})},
        "cycle among common types: `A` -> `B` -> `A` in commonTypes.A",
    ),
    (
        {"": ns(commonTypes={"A": {"type": "Entity", "name": "E"}})},
        "unknown entity type `E` in commonTypes.A",
    ),
    (
        {"": ns(commonTypes={"Long": {"type": "String"}})},
        "`Long` is a builtin type name and cannot name a common type in commonTypes.Long",
    ),
    (
        {"": ns(commonTypes={"__cedar": {"type": "String"}})},
        "`__cedar` uses `__cedar`, which is reserved for builtin types in commonTypes.__cedar",
    ),
    ({"": ns({"in": {}})}, "`in` is a reserved identifier in entityTypes.in"),
    (
        {"": ns({"A::E": {}})},
        'invalid entity type name `A::E`: expected an identifier in entityTypes."A::E"',
    ),
    ({"A B": ns()}, "invalid namespace name `A B`"),
    (
        {"": ns({"E": {}}), "NS": ns({"E": {}})},
        "`NS::E` shadows `E`, declared in the empty namespace in NS.entityTypes.E",
    ),
    (
        {"": ns({"Action": {}})},
        "`Action` is the type of actions and cannot name an entity type in entityTypes.Action",
    ),
    ({"": ns({"E": {"enum": []}})}, "`enum` must list at least one entity id in entityTypes.E"),
    (
        {"": ns({"E": {"enum": ["a"], "memberOfTypes": []}})},
        "unknown field `memberOfTypes` of an enumerated entity type (expected `enum`, "
        "`annotations`) in entityTypes.E",
    ),
    (
        {"": ns({"E": {"shape": {"type": "Long"}}})},
        "the shape of entity type `E` must be a record type, not `Long` in entityTypes.E",
    ),
    (
        {
            "": ns(
                {"E": {}},
                {
                    "a": {
                        "appliesTo": {
                            "principalTypes": ["E"],
                            "resourceTypes": ["E"],
                            "context": {"type": "Set", "element": {"type": "Long"}},
                        }
                    }
                },
            )
        },
        'the context of action `Action::"a"` must be a record type, not `Set<Long>` in actions.a',
    ),
    (
        {
            "": ns(
                {"E": {"shape": {"type": "Record", "attributes": {}, "additionalAttributes": True}}}
            )
        },
        "records with `additionalAttributes: true` are not supported in "
        "entityTypes.E.shape.additionalAttributes",
    ),
    (
        {"": ns({}, {"a": {"attributes": {}}})},
        "action attributes are not supported in actions.a.attributes",
    ),
    (
        {"": ns({"E": shape(a={"type": "Extension", "name": "Foo"})})},
        "unknown extension type `Foo` in entityTypes.E.shape.attributes.a.name",
    ),
    (
        {"": ns({"E": shape(a={"type": "Long", "required": "no"})})},
        "expected true or false, found a string in entityTypes.E.shape.attributes.a.required",
    ),
    (
        {"": ns({"E": shape(a={"type": "Set"})})},
        "missing field `element` in entityTypes.E.shape.attributes.a",
    ),
    (
        {"": ns({"E": shape(a={"type": "Long", "name": "x"})})},
        "unknown field `name` (expected `type`, `required`, `annotations`) in "
        "entityTypes.E.shape.attributes.a",
    ),
    (
        {"": ns({"E": {"shape": {"type": "Record", "attributes": {}, "required": True}}})},
        "unknown field `required` (expected `type`, `attributes`, `additionalAttributes`) in "
        "entityTypes.E.shape",
    ),
    (
        {"": ns({"E": {}}, {"a": {"appliesTo": {"principalTypes": ["E"]}}})},
        "missing field `resourceTypes` in actions.a.appliesTo",
    ),
    ({"": {"entityTypes": {}}}, "missing field `actions` in the empty namespace"),
    (
        {"NS": {"actions": {}, "entityTypes": {}, "foo": 1}},
        "unknown field `foo` (expected `commonTypes`, `entityTypes`, `actions`, `annotations`) in "
        "namespace `NS`",
    ),
    (
        {"": ns({"E": {"annotations": {"a b": "x"}}})},
        "invalid annotation name `a b` in entityTypes.E.annotations",
    ),
    (
        {"": ns({"E": {"memberOfTypes": "F"}})},
        "expected a list, found a string in entityTypes.E.memberOfTypes",
    ),
    ({"": []}, "expected an object, found a list in the empty namespace"),
    (
        {"": ns(annotations={"doc": "x"})},
        "the empty namespace cannot have annotations",
    ),
]


@pytest.mark.parametrize("data, message", BAD_JSON)
def test_bad_json_schemas(data: Any, message: str) -> None:
    text = json.dumps(data)
    with pytest.raises(SchemaError) as info:
        Schema.from_json(data)
    assert str(info.value) == message
    with pytest.raises(SchemaError) as info:
        Schema.from_str(text)
    err = info.value
    assert err.message == message
    if err.json_path:  # read from text, the error points at the key the path ends with
        assert err.loc is not None and err.loc.line == 1
        key = json.decoder.scanstring(text, err.loc.start + 1)[0]
        named = (key, json.dumps(key), f"namespace `{key}`" if key else "the empty namespace")
        assert err.json_path == named[2] or err.json_path.rsplit(".", 1)[-1] in named
    with pytest.raises(ValueError):
        cedarpy.Schema.from_json_str(text)


@pytest.mark.parametrize(
    "text, message, where",
    [
        (
            '{"": {"entityTypes": {}, "actions": {}}',
            "invalid JSON: expecting ',' delimiter",
            "1:40",
        ),
        (
            '{"": {"entityTypes": {"E": {}, "E": {}}, "actions": {}}}',
            "duplicate key `E` in entityTypes",
            "1:7",
        ),
    ],
)
def test_bad_json_text(text: str, message: str, where: str) -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_str(text)
    assert (info.value.message, str(info.value.loc)) == (message, where)
    with pytest.raises(ValueError):
        cedarpy.Schema.from_json_str(text)


def test_a_json_schema_error_names_the_line_and_column_of_the_member_it_is_about(
    tmp_path: Path,
) -> None:
    text = """{
  "App": {
    "entityTypes": {
      "User": {
        "shape": {
          "type": "Record",
          "attributes": { "name": { "type": "String" }, "age": { "type": "Lon" } }
        }
      }
    },
    "actions": {
      "view": { "appliesTo": { "principalTypes": ["User"], "resourceTypes": ["Usr"] } }
    }
  }
}
"""
    path = tmp_path / "app.cedarschema.json"
    path.write_text(text)
    with pytest.raises(SchemaError) as info:
        Schema.from_file(str(path))
    assert str(info.value) == (
        f"{path}:7:57: unknown type `Lon` in App.entityTypes.User.shape.attributes.age"
    )
    assert info.value.render().endswith("\n" + " " * 58 + "^")
    fixed = text.replace('"Lon"', '"Long"')
    with pytest.raises(SchemaError) as info:
        Schema.from_str(fixed, source="app.json")
    assert str(info.value) == (
        "app.json:12:60: unknown entity type `Usr` in App.actions.view.appliesTo.resourceTypes"
    )
    # a schema given as data has no text to point into: the path alone names the place
    with pytest.raises(SchemaError) as info:
        Schema.from_json(json.loads(fixed))
    assert info.value.loc is None and str(info.value).endswith(
        "in App.actions.view.appliesTo.resourceTypes"
    )
