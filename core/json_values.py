"""Cedar's JSON value format: reading values, entity references and extension escapes.

Without a schema, a JSON object is a record unless it is an explicit escape:
`{"__entity": {"type", "id"}}` or `{"__extn": {"fn", "arg" | "args"}}`. With a schema type
to read against, entity references may be written `{"type", "id"}` and extension values as
plain strings (`"10.0.0.1"` for an `ipaddr`) or `{"fn", "arg"}` objects, and the value must
conform to the type.
"""

from __future__ import annotations

import re
from typing import Any

from cedar_smt.core.ast import ExtFun
from cedar_smt.core.errors import CedarError, EvaluationError
from cedar_smt.core.extensions import call
from cedar_smt.core.json_text import JsonValueError, show
from cedar_smt.core.parser import parse_entity_uid
from cedar_smt.core.types import (
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
from cedar_smt.core.values import (
    LONG_MAX,
    LONG_MIN,
    EntityUID,
    Long,
    Record,
    Value,
    to_cedar,
    type_name,
)

_SEGMENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has"})


def check_type_name(name: Any, where: str) -> str:
    """An entity type name: identifiers joined by `::`, none reserved, no `__cedar`."""
    if not isinstance(name, str):
        raise JsonValueError(f"{where}: entity type must be a string, found {show(name)}")
    segments = name.split("::")
    for seg in segments:
        if not _SEGMENT.fullmatch(seg):
            raise JsonValueError(f"{where}: `{name}` is not a valid entity type name")
        if seg in _RESERVED:
            raise JsonValueError(f"{where}: `{name}` uses the reserved identifier `{seg}`")
        if seg == "__cedar":
            raise JsonValueError(
                f"{where}: the name `{name}` contains `__cedar`, which is reserved"
            )
    return name


def _uid_object(obj: Any) -> EntityUID | None:
    if (
        isinstance(obj, dict)
        and isinstance(obj.get("type"), str)
        and isinstance(obj.get("id"), str)
    ):
        return EntityUID(obj["type"], obj["id"])
    return None


def uid_from_json(obj: Any, where: str, *, allow_string: bool = True) -> EntityUID:
    """An entity reference written `{"type", "id"}`, `{"__entity": {...}}` or `'T::"id"'`."""
    uid = None
    if isinstance(obj, dict):
        uid = _uid_object(obj.get("__entity")) if set(obj) == {"__entity"} else _uid_object(obj)
    elif isinstance(obj, str) and allow_string:
        try:
            uid = parse_entity_uid(obj)
        except CedarError as err:
            raise JsonValueError(f"{where}: {err.message}") from None
    if uid is None:
        raise JsonValueError(
            f'{where}: expected an entity reference like {{"type": "User", "id": "alice"}}, '
            f"found {show(obj)}"
        )
    check_type_name(uid.type, where)
    return uid


def _long(x: int, where: str) -> Long:
    if not LONG_MIN <= x <= LONG_MAX:
        raise JsonValueError(f"{where}: integer {x} does not fit in a 64-bit Long")
    return Long(x)


def _extension(obj: dict[str, Any], where: str) -> Value:
    spec = obj["__extn"]
    name = spec["fn"]
    raw_args = [spec["arg"]] if "arg" in spec else spec["args"]
    args = [value_from_json(a, f"{where}, argument of `{name}`") for a in raw_args]
    try:
        fn = ExtFun(name)
    except ValueError:
        raise JsonValueError(f"{where}: extension function `{name}` does not exist") from None
    try:
        return call(fn, args)
    except EvaluationError as err:
        raise JsonValueError(f"{where}: {err.message}") from None


def _is_extn_escape(obj: dict[str, Any]) -> bool:
    if set(obj) != {"__extn"} or not isinstance(obj["__extn"], dict):
        return False
    spec = obj["__extn"]
    return isinstance(spec.get("fn"), str) and ("arg" in spec or isinstance(spec.get("args"), list))


def _is_entity_escape(obj: dict[str, Any]) -> bool:
    return set(obj) == {"__entity"} and _uid_object(obj["__entity"]) is not None


def value_from_json(x: Any, where: str) -> Value:
    """A value read without a schema."""
    if isinstance(x, bool | str):
        return x
    if isinstance(x, int):
        return _long(x, where)
    if isinstance(x, list):
        return frozenset(value_from_json(e, where) for e in x)
    if isinstance(x, dict):
        if _is_entity_escape(x):
            return uid_from_json(x, where)
        if _is_extn_escape(x):
            return _extension(x, where)
        return Record({k: value_from_json(v, f"{where}.{k}") for k, v in x.items()})
    if x is None:
        raise JsonValueError(f"{where}: found a `null`; JSON `null`s are not allowed in Cedar")
    raise JsonValueError(f"{where}: {show(x)} is not a Cedar value (numbers must be integers)")


def _mismatch(expected: SchemaType, x: Any, where: str) -> JsonValueError:
    return JsonValueError(f"{where}: expected a value of type {expected}, found {show(x)}")


def value_from_json_typed(x: Any, t: SchemaType, where: str) -> Value:
    """A value read against the schema type it must have."""
    match t:
        case BoolType():
            if isinstance(x, bool):
                return x
        case LongType():
            if isinstance(x, int) and not isinstance(x, bool):
                return _long(x, where)
        case StringType():
            if isinstance(x, str):
                return x
        case EntityType(name=name):
            if isinstance(x, dict) and (_uid_object(x) or _is_entity_escape(x)):
                uid = uid_from_json(x, where, allow_string=False)
                if uid.type != name:
                    raise JsonValueError(
                        f"{where}: expected an entity of type `{name}`, found `{uid}`"
                    )
                return uid
        case ExtensionType(name=name):
            v = _extension_typed(x, name, where)
            if v is not None:
                return v
        case SetType(element=elem):
            if isinstance(x, list):
                return frozenset(value_from_json_typed(e, elem, where) for e in x)
        case RecordType():
            if isinstance(x, dict) and not _is_entity_escape(x) and not _is_extn_escape(x):
                return record_from_json_typed(x, t, where)
    if x is None:
        raise JsonValueError(f"{where}: found a `null`; JSON `null`s are not allowed in Cedar")
    raise _mismatch(t, x, where)


def _extension_typed(x: Any, name: str, where: str) -> Value | None:
    if isinstance(x, str):
        ctor = {"ipaddr": ExtFun.IP}.get(name) or ExtFun(name)
        try:
            v = call(ctor, [x])
        except EvaluationError as err:
            raise JsonValueError(f"{where}: {err.message}") from None
    elif isinstance(x, dict) and _is_extn_escape(x):
        v = _extension(x, where)
    elif isinstance(x, dict) and _is_extn_escape({"__extn": x}):
        v = _extension({"__extn": x}, where)
    else:
        return None
    if type_name(v) != name:
        raise JsonValueError(f"{where}: expected a value of type {name}, found `{to_cedar(v)}`")
    return v


def record_from_json_typed(x: dict[str, Any], t: RecordType, where: str) -> Record:
    attrs: dict[str, Attribute] = t.attrs
    out: dict[str, Value] = {}
    for k, v in x.items():
        attr = attrs.get(k)
        if attr is None:
            raise JsonValueError(
                f"{where}: attribute `{k}` should not exist according to the schema"
            )
        out[k] = value_from_json_typed(v, attr.type, f"{where}.{k}")
    for k, attr in attrs.items():
        if attr.required and k not in out:
            raise JsonValueError(f"{where}: expected the required attribute `{k}` to be present")
    return Record(out)


__all__ = [
    "JsonValueError",
    "check_type_name",
    "record_from_json_typed",
    "uid_from_json",
    "value_from_json",
    "value_from_json_typed",
]
