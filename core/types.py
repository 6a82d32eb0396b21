"""Cedar types: the types a schema declares and the validator infers.

A schema declares `Long`, `Set<User>`, `{ a?: String }` and so on. The validator uses the same
types plus the singleton booleans `True` and `False` (`BoolType(True)`, `BoolType(False)`),
which let it see that `principal is Group` can never hold for a `User`. `lub` joins two types
in Cedar's strict mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class BoolType:
    """`Bool`, or with `value` set, the singleton type of `true` or of `false`."""

    value: bool | None = None

    def __str__(self) -> str:
        return "Bool" if self.value is None else str(self.value)


@dataclass(frozen=True, slots=True)
class LongType:
    def __str__(self) -> str:
        return "Long"


@dataclass(frozen=True, slots=True)
class StringType:
    def __str__(self) -> str:
        return "String"


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class SetType:
    element: SchemaType

    def __str__(self) -> str:
        return f"Set<{self.element}>"


@dataclass(frozen=True, slots=True)
class Attribute:
    type: SchemaType
    required: bool = True


@dataclass(frozen=True)
class RecordType:
    """A record type; attributes are kept sorted by name so equal records compare equal."""

    attributes: tuple[tuple[str, Attribute], ...] = ()

    @staticmethod
    def of(attrs: dict[str, Attribute]) -> RecordType:
        return RecordType(tuple(sorted(attrs.items())))

    def get(self, name: str) -> Attribute | None:
        return self.attrs.get(name)

    @cached_property
    def attrs(self) -> dict[str, Attribute]:
        return dict(self.attributes)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}{'' if a.required else '?'}: {a.type}" for k, a in self.attributes)
        return "{" + inner + "}"


EXTENSION_TYPE_NAMES = ("decimal", "ipaddr", "datetime", "duration")


@dataclass(frozen=True, slots=True)
class ExtensionType:
    name: str  # one of EXTENSION_TYPE_NAMES

    def __str__(self) -> str:
        return self.name


SchemaType: TypeAlias = (
    "BoolType | LongType | StringType | EntityType | SetType | RecordType | ExtensionType"
)

BOOL = BoolType()
TRUE = BoolType(True)
FALSE = BoolType(False)
LONG = LongType()
STRING = StringType()


def _lub_attr(a: Attribute, b: Attribute) -> Attribute | None:
    """Strict mode joins an attribute only with one of the same optionality."""
    if a.required != b.required:
        return None
    t = lub(a.type, b.type)
    return None if t is None else Attribute(t, a.required)


def lub(a: SchemaType, b: SchemaType) -> SchemaType | None:
    """The least upper bound of two types, or None when they have none (strict mode)."""
    if isinstance(a, BoolType) and isinstance(b, BoolType):
        return a if a == b else BOOL
    if isinstance(a, SetType) and isinstance(b, SetType):
        elem = lub(a.element, b.element)
        return None if elem is None else SetType(elem)
    if isinstance(a, RecordType) and isinstance(b, RecordType):
        if [k for k, _ in a.attributes] != [k for k, _ in b.attributes]:
            return None
        attrs = []
        for (k, x), (_, y) in zip(a.attributes, b.attributes, strict=True):
            joined = _lub_attr(x, y)
            if joined is None:
                return None
            attrs.append((k, joined))
        return RecordType(tuple(attrs))
    return a if a == b else None


def is_subtype(a: SchemaType, b: SchemaType) -> bool:
    return lub(a, b) == b
