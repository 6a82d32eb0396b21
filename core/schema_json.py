"""Unresolved schema declarations, and the JSON schema format that reads into them.

Both schema formats read into the declarations defined here, with names kept as written;
core/schema.py then resolves them (namespaces, common types, builtins) into the model.
`read_json` reads the JSON format and `type_to_json` writes a resolved type back into it.
Twin: core/schema_cedar.py reads the Cedar schema syntax into the same declarations.

Where a declaration came from is a `Loc` for the Cedar syntax and a JSON path such as
`NS.entityTypes.User.shape` for the JSON format; `schema_error` puts either into the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

from cedar_smt.core.errors import Loc, SchemaError
from cedar_smt.core.json_text import MAX_JSON_DEPTH, decode, loc_at, skip_space, too_deep
from cedar_smt.core.types import (
    BOOL,
    EXTENSION_TYPE_NAMES,
    LONG,
    STRING,
    BoolType,
    EntityType,
    ExtensionType,
    LongType,
    RecordType,
    SchemaType,
    SetType,
    StringType,
)

Where: TypeAlias = "Loc | str | None"
Annotations: TypeAlias = tuple[tuple[str, str], ...]

IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
RESERVED_IDENTS = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has"})


def schema_error(message: str, at: Where) -> SchemaError:
    """A `SchemaError` at a place in Cedar text, or naming a path in a JSON schema (which
    `locate_json` turns into a place when the JSON text is at hand)."""
    if isinstance(at, Loc):
        return SchemaError(message, loc=at)
    err = SchemaError(f"{message} in {at}" if at else message)
    err.json_path = at or None
    return err


def locate_json(err: SchemaError, text: str) -> SchemaError:
    """Give an error naming a JSON path the place of that path's key in `text`."""
    if err.loc is None and err.json_path:
        pos = _key_offsets(text).get(err.json_path)
        if pos is not None:
            err.loc = loc_at(text, pos)
    elif err.loc is None and err.json_path == "":  # the whole schema: where it starts
        err.loc = loc_at(text, skip_space(text, 0))
    return err


def _key_offsets(text: str) -> dict[str, int]:
    """Where each object member's key starts, by its path (as `_child` spells paths).

    Members inside lists get no path: the schema's errors name the list. `text` is valid JSON.
    """
    out: dict[str, int] = {}

    def value(pos: int, path: str | None) -> int:
        pos = skip_space(text, pos)
        if text[pos] == "{":
            pos = skip_space(text, pos + 1)
            while text[pos] != "}":
                key, after = json.decoder.scanstring(  # type: ignore[attr-defined]
                    text, pos + 1
                )
                here = None if path is None else (_child(path, key) if path else key)
                if here is not None:
                    out.setdefault(here, pos)
                if path == "":  # a namespace: its errors name it in words
                    out.setdefault(_namespace_phrase(key), pos)
                pos = skip_space(text, value(skip_space(text, after) + 1, here))  # past `:`
                if text[pos] == ",":
                    pos = skip_space(text, pos + 1)
            return pos + 1
        if text[pos] == "[":
            pos = skip_space(text, pos + 1)
            while text[pos] != "]":
                pos = skip_space(text, value(pos, None))
                if text[pos] == ",":
                    pos = skip_space(text, pos + 1)
            return pos + 1
        return json.JSONDecoder().raw_decode(text, pos)[1]  # a string, number or literal

    value(0, "")
    return out


class RefKind(Enum):
    """Which declarations a type name may refer to."""

    TYPE = "type"  # Cedar syntax and JSON `EntityOrCommon`: common type, entity type, builtin
    COMMON = "common"  # JSON `{"type": "N"}`: common type or builtin
    ENTITY = "entity"  # JSON `Entity`: entity type (actions' types included)


@dataclass(frozen=True, slots=True)
class TypeRef:
    name: str  # as written: `N` is looked up in the declaring namespace first, `A::N` is exact
    kind: RefKind
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SetOf:
    element: RawType


@dataclass(frozen=True, slots=True)
class AttrDecl:
    name: str
    type: RawType
    required: bool = True
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RecordOf:
    attributes: tuple[AttrDecl, ...] = ()


RawType: TypeAlias = "TypeRef | SetOf | RecordOf | BoolType | LongType | StringType | ExtensionType"


@dataclass(frozen=True, slots=True)
class ActionRef:
    id: str
    type: str | None = None  # None: the `Action` type, looked up like an unqualified name
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class EntityDecl:
    name: str  # unqualified
    member_of: tuple[TypeRef, ...] = ()
    shape: RawType | None = None
    tags: RawType | None = None
    enum: tuple[str, ...] | None = None
    annotations: Annotations = ()
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ActionDecl:
    name: str
    member_of: tuple[ActionRef, ...] = ()
    principals: tuple[TypeRef, ...] = ()
    resources: tuple[TypeRef, ...] = ()
    context: RawType | None = None
    annotations: Annotations = ()
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CommonDecl:
    name: str  # unqualified
    type: RawType
    at: Where = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class NamespaceDecl:
    name: str  # "" for the empty namespace
    common_types: tuple[CommonDecl, ...] = ()
    entity_types: tuple[EntityDecl, ...] = ()
    actions: tuple[ActionDecl, ...] = ()
    at: Where = field(default=None, compare=False)


# ---- reading JSON ----


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the first key it saw twice."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.duplicate is None:
            obj.duplicate = key
        obj[key] = value
    return obj


def load_json(text: str) -> Any:
    """Decode JSON text; duplicate keys are kept for `read_json` to report where they are."""
    deep = too_deep(text)
    if deep is not None:
        raise SchemaError(
            f"invalid JSON: nested too deeply (Cedar reads at most {MAX_JSON_DEPTH} levels of "
            "lists and objects)",
            loc=deep,
        )
    return decode(text, _pairs, None, SchemaError)


def read_json(data: Any) -> tuple[NamespaceDecl, ...]:
    """The declarations of a decoded JSON schema: `{"NS": {"entityTypes": ..., ...}, ...}`."""
    if not isinstance(data, Mapping):
        err = SchemaError(
            "a JSON schema is an object of namespaces, "
            f'`{{"": {{"entityTypes": {{...}}, "actions": {{...}}}}}}`, not {_kind(data)}'
        )
        err.json_path = ""  # the whole text
        raise err
    return tuple(_namespace(name, body) for name, body in _map(data, "").items())


_NAMESPACE_FIELDS = ("commonTypes", "entityTypes", "actions", "annotations")
_ENTITY_FIELDS = ("memberOfTypes", "shape", "tags", "enum", "annotations")
_ENUM_FIELDS = ("enum", "annotations")
_ACTION_FIELDS = ("attributes", "appliesTo", "memberOf", "annotations")
_APPLIES_FIELDS = ("principalTypes", "resourceTypes", "context")
_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "Long": (),
    "String": (),
    "Boolean": (),
    "Set": ("element",),
    "Record": ("attributes", "additionalAttributes"),
    "Entity": ("name",),
    "EntityOrCommon": ("name",),
    "Extension": ("name",),
}
_ATTRIBUTE_FIELDS = ("required", "annotations")


def _namespace(name: str, body: Any) -> NamespaceDecl:
    if name:
        _name(name, "", "namespace")
    at = name
    here = _namespace_phrase(name)
    obj = _object(body, here, _NAMESPACE_FIELDS, required=("entityTypes", "actions"))
    if "annotations" in obj:
        if _annotations(obj["annotations"], _child(at, "annotations")) and not name:
            raise schema_error("the empty namespace cannot have annotations", "")
    commons_at = _child(at, "commonTypes")
    entities_at = _child(at, "entityTypes")
    actions_at = _child(at, "actions")
    return NamespaceDecl(
        name,
        common_types=tuple(
            _common(n, v, _child(commons_at, n))
            for n, v in _map(obj.get("commonTypes", {}), commons_at).items()
        ),
        entity_types=tuple(
            _entity(n, v, _child(entities_at, n))
            for n, v in _map(obj["entityTypes"], entities_at).items()
        ),
        actions=tuple(
            _action(n, v, _child(actions_at, n))
            for n, v in _map(obj["actions"], actions_at).items()
        ),
        at=at,
    )


def _namespace_phrase(name: str) -> str:
    """How errors about a namespace's own object name it."""
    return f"namespace `{name}`" if name else "the empty namespace"


def _common(name: str, body: Any, at: str) -> CommonDecl:
    _ident(name, at, "common type")
    ty = _type(body, at, extra=("annotations",))
    if "annotations" in body:
        _annotations(body["annotations"], _child(at, "annotations"))
    return CommonDecl(name, ty, at)


def _entity(name: str, body: Any, at: str) -> EntityDecl:
    _ident(name, at, "entity type")
    probe = _object(body, at, _ENTITY_FIELDS)
    annotations = _annotations(probe.get("annotations", {}), _child(at, "annotations"))
    if "enum" in probe:
        _object(body, at, _ENUM_FIELDS, what="an enumerated entity type")
        ids_at = _child(at, "enum")
        ids = tuple(_string(v, ids_at) for v in _list(probe["enum"], ids_at))
        return EntityDecl(name, enum=ids, annotations=annotations, at=at)
    parents_at = _child(at, "memberOfTypes")
    return EntityDecl(
        name,
        member_of=tuple(
            TypeRef(_name(_string(v, parents_at), parents_at), RefKind.ENTITY, parents_at)
            for v in _list(probe.get("memberOfTypes", []), parents_at)
        ),
        shape=_type(probe["shape"], _child(at, "shape")) if "shape" in probe else None,
        tags=_type(probe["tags"], _child(at, "tags")) if "tags" in probe else None,
        annotations=annotations,
        at=at,
    )


def _action(name: str, body: Any, at: str) -> ActionDecl:
    obj = _object(body, at, _ACTION_FIELDS)
    if obj.get("attributes") is not None:
        raise schema_error("action attributes are not supported", _child(at, "attributes"))
    annotations = _annotations(obj.get("annotations", {}), _child(at, "annotations"))
    parents_at = _child(at, "memberOf")
    members = obj.get("memberOf")
    parents = tuple(
        _action_ref(v, parents_at) for v in _list([] if members is None else members, parents_at)
    )
    applies = obj.get("appliesTo")
    if applies is None:
        return ActionDecl(name, parents, annotations=annotations, at=at)
    applies_at = _child(at, "appliesTo")
    applies = _object(applies, applies_at, _APPLIES_FIELDS, required=_APPLIES_FIELDS[:2])
    return ActionDecl(
        name,
        parents,
        principals=_entity_refs(applies["principalTypes"], _child(applies_at, "principalTypes")),
        resources=_entity_refs(applies["resourceTypes"], _child(applies_at, "resourceTypes")),
        context=(
            _type(applies["context"], _child(applies_at, "context"))
            if "context" in applies
            else None
        ),
        annotations=annotations,
        at=at,
    )


def _action_ref(value: Any, at: str) -> ActionRef:
    obj = _object(value, at, ("id", "type"), required=("id",))
    kind = obj.get("type")  # null, as in Cedar, is as good as absent
    return ActionRef(
        _string(obj["id"], at),
        None if kind is None else _name(_string(kind, at), at),
        at,
    )


def _entity_refs(value: Any, at: str) -> tuple[TypeRef, ...]:
    return tuple(TypeRef(_name(_string(v, at), at), RefKind.ENTITY, at) for v in _list(value, at))


def _type(value: Any, at: str, extra: tuple[str, ...] = ()) -> RawType:
    obj = _map(value, at)
    if "type" not in obj:
        raise schema_error("missing field `type`", at)
    kind = _string(obj["type"], _child(at, "type"))
    _object(obj, at, ("type", *_TYPE_FIELDS.get(kind, ()), *extra))
    if kind in ("Entity", "EntityOrCommon", "Extension") and "name" not in obj:
        raise schema_error("missing field `name`", at)
    match kind:
        case "Long":
            return LONG
        case "String":
            return STRING
        case "Boolean":
            return BOOL
        case "Set":
            if "element" not in obj:
                raise schema_error("missing field `element`", at)
            return SetOf(_type(obj["element"], _child(at, "element")))
        case "Record":
            return _record(obj, at)
        case "Entity" | "EntityOrCommon":
            name_at = _child(at, "name")
            ref = RefKind.ENTITY if kind == "Entity" else RefKind.TYPE
            return TypeRef(_name(_string(obj["name"], name_at), name_at), ref, at)
        case "Extension":
            ext = _string(obj["name"], _child(at, "name"))
            if ext not in EXTENSION_TYPE_NAMES:
                raise schema_error(f"unknown extension type `{ext}`", _child(at, "name"))
            return ExtensionType(ext)
        case _:
            return TypeRef(_name(kind, _child(at, "type")), RefKind.COMMON, at)


def _record(obj: Mapping[str, Any], at: str) -> RecordOf:
    if "attributes" not in obj:
        raise schema_error("missing field `attributes`", at)
    additional = obj.get("additionalAttributes", False)
    if not isinstance(additional, bool):
        raise schema_error(
            f"expected true or false, found {_kind(additional)}",
            _child(at, "additionalAttributes"),
        )
    if additional:
        raise schema_error(
            "records with `additionalAttributes: true` are not supported",
            _child(at, "additionalAttributes"),
        )
    attrs_at = _child(at, "attributes")
    attributes = []
    for name, body in _map(obj["attributes"], attrs_at).items():
        attr_at = _child(attrs_at, name)
        ty = _type(body, attr_at, extra=_ATTRIBUTE_FIELDS)
        required = body.get("required", True)
        if not isinstance(required, bool):
            raise schema_error(
                f"expected true or false, found {_kind(required)}", _child(attr_at, "required")
            )
        if "annotations" in body:
            _annotations(body["annotations"], _child(attr_at, "annotations"))
        attributes.append(AttrDecl(name, ty, required, attr_at))
    return RecordOf(tuple(attributes))


def _annotations(value: Any, at: str) -> Annotations:
    out = []
    for key, text in _map(value, at).items():
        if not IDENT.fullmatch(key):
            raise schema_error(f"invalid annotation name `{key}`", at)
        out.append((key, "" if text is None else _string(text, _child(at, key))))
    return tuple(out)


def _ident(name: str, at: str, what: str) -> str:
    if not IDENT.fullmatch(name):
        raise schema_error(f"invalid {what} name `{name}`: expected an identifier", at)
    if name in RESERVED_IDENTS:
        raise schema_error(f"`{name}` is a reserved identifier", at)
    return name


def _name(name: str, at: str, what: str = "type") -> str:
    """Check a possibly qualified name, `A::B::C`, as Cedar writes it (no spaces)."""
    for part in name.split("::"):
        if not IDENT.fullmatch(part):
            raise schema_error(f"invalid {what} name `{name}`", at)
        if part in RESERVED_IDENTS:
            raise schema_error(f"`{part}` is a reserved identifier", at)
    return name


def _child(at: str, key: str) -> str:
    part = key if IDENT.fullmatch(key) else json.dumps(key, ensure_ascii=False)
    return f"{at}.{part}" if at else part


def _kind(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
    return "an object"


def _map(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise schema_error(f"expected an object, found {_kind(value)}", at)
    duplicate = getattr(value, "duplicate", None)
    if duplicate is not None:
        raise schema_error(f"duplicate key `{duplicate}`", at)
    return value


def _object(
    value: Any,
    at: str,
    fields: tuple[str, ...],
    required: tuple[str, ...] = (),
    what: str = "",
) -> Mapping[str, Any]:
    obj = _map(value, at)
    for key in obj:
        if key not in fields:
            expected = ", ".join(f"`{f}`" for f in fields)
            where = f" of {what}" if what else ""
            raise schema_error(f"unknown field `{key}`{where} (expected {expected})", at)
    for key in required:
        if key not in obj:
            raise schema_error(f"missing field `{key}`", at)
    return obj


def _list(value: Any, at: str) -> list[Any]:
    if not isinstance(value, list):
        raise schema_error(f"expected a list, found {_kind(value)}", at)
    return value


def _string(value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise schema_error(f"expected a string, found {_kind(value)}", at)
    return value


# ---- writing JSON ----


def type_to_json(ty: SchemaType, aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A resolved type in the JSON format; entity type names are fully qualified.

    `aliases` names common types to write in place of some entity types, for names that the
    namespace being written would otherwise read as something else.
    """
    match ty:
        case BoolType():
            return {"type": "Boolean"}
        case LongType():
            return {"type": "Long"}
        case StringType():
            return {"type": "String"}
        case EntityType(name):
            if aliases and name in aliases:
                return {"type": aliases[name]}
            return {"type": "Entity", "name": name}
        case SetType(element):
            return {"type": "Set", "element": type_to_json(element, aliases)}
        case RecordType():
            attributes: dict[str, Any] = {}
            for name, attr in ty.attributes:
                attributes[name] = type_to_json(attr.type, aliases)
                if not attr.required:
                    attributes[name]["required"] = False
            return {"type": "Record", "attributes": attributes}
        case ExtensionType(name):
            return {"type": "Extension", "name": name}


def mentions(ty: SchemaType, entity_type: str) -> bool:
    """Whether `ty` refers to `entity_type` anywhere inside it."""
    match ty:
        case EntityType(name):
            return name == entity_type
        case SetType(element):
            return mentions(element, entity_type)
        case RecordType():
            return any(mentions(a.type, entity_type) for _, a in ty.attributes)
        case _:
            return False
