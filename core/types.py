"""Schema types: the types a schema gives to attributes, tags and contexts.

These are the declared types of the schema language (`Long`, `Set<User>`, `{ a?: String }`),
not the richer types the validator infers for expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class BoolType:
    def __str__(self) -> str:
        return "Bool"


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
LONG = LongType()
STRING = StringType()
