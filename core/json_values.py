"""Cedar's JSON value format: reading values, entity references and extension escapes.

Without a schema, a JSON object is a record unless it is an explicit escape:
`{"__entity": {"type", "id"}}` or `{"__extn": {"fn", "arg" | "args"}}`. With a schema type
to read against, entity references may be written `{"type", "id"}` and extension values as
plain strings (`"10.0.0.1"` for an `ipaddr`) or `{"fn", "arg"}` objects, and the value must
conform to the type.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from cedar_smt.core.errors import CedarError, EvaluationError, Loc
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


class JsonValueError(CedarError):
    """A JSON value that is not a Cedar value (the caller re-raises it with its context)."""


def check_type_name(name: Any, where: str) -> str:
    """An entity type name: identifiers joined by `::`, none reserved, no `__cedar`."""
    if not isinstance(name, str):
        raise JsonValueError(f"{where}: entity type must be a string, found {_show(name)}")
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


def _show(x: Any) -> str:
    text = json.dumps(x, ensure_ascii=False)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


MAX_JSON_DEPTH = 127  # Cedar's JSON reader refuses lists and objects nested deeper

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NESTING = re.compile(_STRING.pattern + r"|[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def too_deep(text: str) -> Loc | None:
    """Where JSON text first nests lists and objects deeper than Cedar reads them, if it does.

    Checked before decoding: Python's decoder fails on deep nesting with a RecursionError.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None
    # first, fast: the deepest nesting, from the brackets outside strings
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return loc_at(text, m.start())
        elif c in "]}":
            depth -= 1
    return None


def loc_at(text: str, pos: int) -> Loc:
    """The line and column of character offset `pos` of `text`."""
    line = text.count("\n", 0, pos) + 1
    return Loc(line, pos - text.rfind("\n", 0, pos), pos, pos + 1)


def item_locations(text: str) -> list[Loc]:
    """Where each element of the JSON list `text` starts (`text` is valid JSON)."""
    decoder, out = json.JSONDecoder(), []
    pos = skip_space(text, 0)
    if text[pos : pos + 1] != "[":
        return out
    pos = skip_space(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        out.append(loc_at(text, pos))
        pos = skip_space(text, decoder.raw_decode(text, pos)[1])
        if text[pos : pos + 1] == ",":
            pos = skip_space(text, pos + 1)
    return out


def locate_item(err: CedarError, text: str | None, index: int) -> None:
    """Give an error about element `index` of the JSON list `text` (when the text is at hand
    and the error has no place yet) the place where that element starts."""
    if text is not None and err.loc is None:
        err.loc = item_locations(text)[index]


def member_locations(text: str) -> dict[str, Loc]:
    """Where each member's key of the JSON object `text` starts, and `""`: where the object
    does (`text` is valid JSON)."""
    decoder = json.JSONDecoder()
    pos = skip_space(text, 0)
    if text[pos : pos + 1] != "{":
        return {}
    out = {"": loc_at(text, pos)}
    pos = skip_space(text, pos + 1)
    while text[pos : pos + 1] == '"':
        key, after = json.decoder.scanstring(text, pos + 1)
        out[key] = loc_at(text, pos)  # the last of repeated keys is the one read
        after = skip_space(text, skip_space(text, after) + 1)  # past `:`
        pos = skip_space(text, decoder.raw_decode(text, after)[1])
        if text[pos : pos + 1] == ",":
            pos = skip_space(text, pos + 1)
    return out


def skip_space(text: str, pos: int) -> int:
    """The first offset from `pos` that is not JSON whitespace."""
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def loads(text: str, what: str) -> Any:
    """Parse JSON text, rejecting duplicate object keys and deep nesting as Cedar does."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise JsonValueError(f"{what}: duplicate key `{k}` in a JSON object")
            out[k] = v
        return out

    deep = too_deep(text)
    if deep is not None:
        raise JsonValueError(
            f"{what} is nested too deeply: Cedar reads at most {MAX_JSON_DEPTH} levels of "
            "lists and objects",
            loc=deep,
        )
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise JsonValueError(
            f"{what} is not valid JSON: {err.msg}", loc=Loc(err.lineno, err.colno)
        ) from None


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
        from cedar_smt.core.parser import parse_entity_uid

        try:
            uid = parse_entity_uid(obj)
        except CedarError as err:
            raise JsonValueError(f"{where}: {err.message}") from None
    if uid is None:
        raise JsonValueError(
            f'{where}: expected an entity reference like {{"type": "User", "id": "alice"}}, '
            f"found {_show(obj)}"
        )
    check_type_name(uid.type, where)
    return uid


def _long(x: int, where: str) -> Long:
    if not LONG_MIN <= x <= LONG_MAX:
        raise JsonValueError(f"{where}: integer {x} does not fit in a 64-bit Long")
    return Long(x)


def _extension(obj: dict[str, Any], where: str) -> Value:
    from cedar_smt.core.ast import ExtFun
    from cedar_smt.core.extensions import call

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
    raise JsonValueError(f"{where}: {_show(x)} is not a Cedar value (numbers must be integers)")


def _mismatch(expected: SchemaType, x: Any, where: str) -> JsonValueError:
    return JsonValueError(f"{where}: expected a value of type {expected}, found {_show(x)}")


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
    from cedar_smt.core.ast import ExtFun
    from cedar_smt.core.extensions import call

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
    "loads",
    "record_from_json_typed",
    "uid_from_json",
    "value_from_json",
    "value_from_json_typed",
]
