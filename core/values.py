"""Cedar values.

A value is one of: `bool`, `Long`, `str`, `EntityUID`, a `frozenset` of values (Cedar sets),
`Record`, or an extension value (`Decimal`, `IPAddr`, `Datetime`, `Duration`).

Longs are wrapped rather than plain `int` because Python equates `True == 1` and hashes them
alike, which would merge `[1, true]` into one element and make `1 == true` hold; Cedar keeps
them apart. Every other kind compares unequal across kinds by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.ext.decimal import Decimal
from cedar_smt.core.ext.ipaddr import IPAddr

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Long:
    value: int

    def __repr__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True, order=True)
class EntityUID:
    """An entity reference: its type name (namespaces joined with `::`) and its id."""

    type: str
    id: str

    def __str__(self) -> str:
        return f'{self.type}::"{escape_string(self.id)}"'

    def __repr__(self) -> str:
        return str(self)

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id}


class Record(Mapping[str, "Value"]):
    """An immutable, hashable map from attribute names to values."""

    __slots__ = ("_fields", "_hash")

    def __init__(self, fields: Mapping[str, Value] | None = None) -> None:
        self._fields: dict[str, Value] = dict(fields or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Value:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def get(self, key: str, default: Any = None) -> Any:
        return self._fields.get(key, default)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._fields == other._fields

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._fields.items()))
        return self._hash

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self._fields.items())
        return "{" + inner + "}"


Value: TypeAlias = (
    "bool | Long | str | EntityUID | frozenset[Value] | Record | Decimal | IPAddr | Datetime"
    " | Duration"
)

EXTENSION_TYPES = (Decimal, IPAddr, Datetime, Duration)


def type_name(v: Value) -> str:
    """The Cedar name of a value's type, as used in error messages."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Long):
        return "long"
    if isinstance(v, str):
        return "string"
    if isinstance(v, EntityUID):
        return f"(entity of type `{v.type}`)"
    if isinstance(v, frozenset):
        return "set"
    if isinstance(v, Record):
        return "record"
    if isinstance(v, Decimal):
        return "decimal"
    if isinstance(v, IPAddr):
        return "ipaddr"
    if isinstance(v, Datetime):
        return "datetime"
    if isinstance(v, Duration):
        return "duration"
    raise TypeError(f"not a Cedar value: {v!r}")


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", "\0": "\\0", '"': '\\"'}


def escape_string(s: str) -> str:
    """Render a string so that the Cedar policy parser reads it back unchanged."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    return "".join(out)


_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"})


def record_key(name: str) -> str:
    """A record key as Cedar text: bare when it is an identifier Cedar allows, else quoted."""
    if _IDENT.fullmatch(name) and name not in _RESERVED:
        return name
    return f'"{escape_string(name)}"'


def to_cedar(v: Value) -> str:
    """Render a value as a Cedar expression that evaluates to it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Long):
        return str(v.value)
    if isinstance(v, str):
        return f'"{escape_string(v)}"'
    if isinstance(v, EntityUID):
        return str(v)
    if isinstance(v, frozenset):
        return "[" + ", ".join(sorted(to_cedar(x) for x in v)) + "]"
    if isinstance(v, Record):
        return "{" + ", ".join(f"{record_key(k)}: {to_cedar(x)}" for k, x in v.items()) + "}"
    if isinstance(v, EXTENSION_TYPES):
        return v.to_cedar()
    raise TypeError(f"not a Cedar value: {v!r}")


def to_json(v: Value) -> Any:
    """Cedar's JSON form of a value, with explicit `__entity`/`__extn` escapes.

    The escapes make the JSON readable without a schema.
    """
    if isinstance(v, bool | str):
        return v
    if isinstance(v, Long):
        return v.value
    if isinstance(v, EntityUID):
        return {"__entity": v.to_json()}
    if isinstance(v, frozenset):
        return [to_json(x) for x in sorted(v, key=to_cedar)]
    if isinstance(v, Record):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, EXTENSION_TYPES):
        return {"__extn": v.to_json()}
    raise TypeError(f"not a Cedar value: {v!r}")
