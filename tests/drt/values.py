"""Pools of interesting values, and random values of a schema type in Cedar's JSON forms.

The pools put numbers near the 64-bit limits, strings with wildcards, quotes, backslashes and
non-ASCII letters, strings that parse as extension values, and extension literals on both
sides of their validity rules (decimal places and range, IP prefixes, calendar dates, unit
order), so that arithmetic overflows and constructors fail where the policies reach them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .schemas import Prim, Rec, Ref, SchemaModel, SetOf, Type

MAX = 2**63 - 1
MIN = -(2**63)
SMALL_LONGS = (0, 1, -1, 2, 3, 7, 10, 42, 100, 1000, -5)
BIG_LONGS = (MAX, MIN, MAX - 1, MIN + 1, 2**62, 2**32, 3037000499, 3037000500, -3037000500)
STRINGS = (
    "", "a", "ab", "abc", "ba", "aab", "A", "*", "a*b", "x y", "\\", '"', "日本", "a\nb",
    "1.5", "10.0.0.1", "2024-01-01", "1h", "-0.25", "😀", "\t'\x00", "ü",
)  # fmt: skip
IDS = ("a", "b", "c", "d", "", "x y", 'q"t', "ü", "*", "😀", "\\")

VALID_EXT = {
    "decimal": (
        "0.0", "1.5", "-1.5", "12.3456", "0.0001", "1.0", "-0.0", "922337203685477.5807",
        "-922337203685477.5808", "1.50", "0.0000",
    ),
    "ipaddr": (
        "10.0.0.1", "10.0.0.0/8", "127.0.0.1", "::1", "ff02::1", "192.168.1.0/24", "224.0.0.1",
        "0.0.0.0/0", "2001:db8::/32", "127.0.0.0/8", "fe80::1/64", "10.0.0.1/32", "::1/128",
        "10.0.0.9/8",
    ),
    "datetime": (
        "2024-01-01", "1970-01-01", "2024-02-29T12:00:00Z", "2024-01-01T23:59:59.999Z",
        "2024-01-01T10:00:00+0130", "2024-01-01T10:00:00.500-0800", "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999Z", "0001-01-01", "2024-01-01T00:00:00Z",
        "2024-01-01T08:30:00Z", "2024-01-01T00:00:00.000+0000",
    ),
    "duration": (
        "1h", "-1h", "1d2h3m4s5ms", "0ms", "90m", "1s", "-2d", "9223372036854775807ms",
        "-9223372036854775808ms", "106751991167d", "24h", "60m", "3600s", "1d",
    ),
}  # fmt: skip
INVALID_EXT = {
    "decimal": ("1", "1.23456", "922337203685477.5808", "abc", "1.", ".5", "1e3"),
    "ipaddr": ("10.0.0.256", "1.2.3", "::g", "10.0.0.1/33", "010.0.0.1", "", "::ffff:10.0.0.1"),
    "datetime": ("2024-13-01", "2024-02-30", "24-01-01", "2024-01-01T25:00:00Z", "2024-01-01 10"),
    "duration": ("1", "1h1d", "", "1.5h", "h", "9223372036854775808ms"),
}
EXT_CONSTRUCTOR = {
    "decimal": "decimal",
    "ipaddr": "ip",
    "datetime": "datetime",
    "duration": "duration",
}


@dataclass(frozen=True)
class World:
    """The schema plus the entity ids each type draws from (some never make it to the store)."""

    schema: SchemaModel
    ids: dict[str, tuple[str, ...]]

    def uid(self, rng: random.Random, entity: str) -> dict[str, str]:
        """An entity of the type; the first id is drawn most, so that references meet."""
        ids = self.ids[entity]
        eid = ids[0] if rng.random() < 0.4 else rng.choice(ids)
        return {"type": self.schema.qualify(entity), "id": eid}


def make_world(rng: random.Random, schema: SchemaModel) -> World:
    ids = {}
    for e in schema.entities:
        if e.enum is not None:
            ids[e.name] = e.enum
        else:
            common = ["a", "b", "c"][: rng.randint(2, 3)]
            odd = rng.sample(IDS[3:], rng.randint(0, 2))
            ids[e.name] = tuple(dict.fromkeys(common + odd))
    return World(schema, ids)


def long_value(rng: random.Random) -> int:
    return rng.choice(BIG_LONGS) if rng.random() < 0.35 else rng.choice(SMALL_LONGS)


def ext_literal(rng: random.Random, name: str, valid: bool = True) -> str:
    return rng.choice(VALID_EXT[name] if valid else INVALID_EXT[name])


def entity_json(rng: random.Random, uid: dict[str, str]) -> dict[str, Any]:
    """An entity reference: schema-based JSON takes the bare form too."""
    return {"__entity": uid} if rng.random() < 0.5 else dict(uid)


def value_json(rng: random.Random, world: World, t: Type, depth: int = 0) -> Any:
    """A JSON value conforming to `t` (optional record attributes present about half the time)."""
    match t:
        case Prim("Bool"):
            return rng.random() < 0.5
        case Prim("Long"):
            return long_value(rng)
        case Prim("String"):
            return rng.choice(STRINGS)
        case Prim(name):
            arg = ext_literal(rng, name)
            if rng.random() < 0.5:
                return arg
            return {"__extn": {"fn": EXT_CONSTRUCTOR[name], "arg": arg}}
        case Ref(entity):
            return entity_json(rng, world.uid(rng, entity))
        case SetOf(elem):
            return [value_json(rng, world, elem, depth + 1) for _ in range(rng.randint(0, 3))]
        case Rec(attrs):
            return {
                a.name: value_json(rng, world, a.type, depth + 1)
                for a in attrs
                if a.required or rng.random() < 0.5
            }
    raise AssertionError(t)


def wrong_value(rng: random.Random, t: Type) -> Any:
    """A JSON value that does not conform to `t` (for inputs both engines must refuse)."""
    match t:
        case Prim("Long"):
            return rng.choice(["1", True, 1.5, MAX + 1])
        case Prim("Bool") | Prim("String") | Ref() | Rec():
            return rng.choice([7, [1]])
        case Prim(name):
            other = rng.choice([n for n in EXT_CONSTRUCTOR if n != name])
            wrong_fn = {"__extn": {"fn": EXT_CONSTRUCTOR[other], "arg": ext_literal(rng, other)}}
            return rng.choice(
                [{"__extn": {"fn": EXT_CONSTRUCTOR[name], "arg": "bad"}}, 3, wrong_fn]
            )
        case SetOf(_):
            return rng.choice([{"a": 1}, "s"])
    raise AssertionError(t)
