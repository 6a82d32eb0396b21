"""How Cedar types and values become Z3 sorts and terms, for one schema.

- `Bool` is a Z3 Bool; `Long`, `decimal`, `datetime` and `duration` are 64-bit bit-vectors
  (a decimal holds its value times 10^4, the others milliseconds); `String` is a Z3 string.
- Each entity type is its own sort: a datatype holding the id string, or, for enumerated
  entity types and action types, a finite enumeration of the declared ids.
- A record type is a datatype with one field per attribute; an optional attribute is an
  `Option` field, so `has` is "is present".
- A set is a Z3 set (an array to Bool); an `ipaddr` is a datatype (is IPv6, address as a
  128-bit vector, prefix length as an 8-bit vector).

Literal strings are built from code points, so no text is ever misread as a Z3 escape.

Each request environment has a universe in a fresh context of its own (so that its answer does
not depend on the environments analysed before it), but building the datatypes there was a
tenth of the time per environment on the example sets. So the sorts of every type the schema
declares are built once per process, in a context of their own, in one fixed order, and never
added to (`SchemaSorts`); a universe copies the ones it needs into its context
(`z3.AstRef.translate`), in the order it needs them, which is a quarter of the cost. What a
fresh context holds is then a function of the schema and the environment alone.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import ClassVar, TypeVar

import z3

from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.ext.decimal import Decimal
from cedar_smt.core.ext.ipaddr import IPAddr
from cedar_smt.core.schema import Schema
from cedar_smt.core.types import (
    BOOL,
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
from cedar_smt.core.values import EntityUID, Long, Record, Value
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Factory
from cedar_smt.encoder.solver import make_context

MAX_CHAR = 0x2FFFF  # the largest code point Z3's string theory represents
SURROGATES = (0xD800, 0xDFFF)
FREE_CHARS = 0x100000  # private-use plane: stands for surrogates a model picked freely
_ESCAPED = re.compile(r"\\u\{([0-9a-fA-F]+)\}")


@lru_cache(maxsize=4096)  # asked again for every attribute access a policy compiles
def normalize(t: SchemaType) -> SchemaType:
    """The type's representation: singleton booleans are plain `Bool`."""
    if isinstance(t, BoolType):
        return BOOL
    if isinstance(t, SetType):
        return SetType(normalize(t.element))
    if isinstance(t, RecordType):
        return RecordType(
            tuple((k, Attribute(normalize(a.type), a.required)) for k, a in t.attributes)
        )
    return t


@dataclass(frozen=True)
class RecordSort:
    sort: z3.DatatypeSortRef
    make: z3.FuncDeclRef
    fields: dict[str, z3.FuncDeclRef]
    type: RecordType

    def translate(self, ctx: z3.Context) -> RecordSort:
        fields = {k: f.translate(ctx) for k, f in self.fields.items()}
        return RecordSort(self.sort.translate(ctx), self.make.translate(ctx), fields, self.type)


@dataclass(frozen=True)
class OptionSort:
    sort: z3.DatatypeSortRef
    none: z3.ExprRef
    some: z3.FuncDeclRef
    is_some: z3.FuncDeclRef
    get: z3.FuncDeclRef

    def translate(self, ctx: z3.Context) -> OptionSort:
        return OptionSort(
            self.sort.translate(ctx),
            self.none.translate(ctx),
            self.some.translate(ctx),
            self.is_some.translate(ctx),
            self.get.translate(ctx),
        )


@dataclass(frozen=True)
class EntitySort:
    """The sort of one entity type; `ids` is set for finite (enum and action) types."""

    name: str
    sort: z3.SortRef
    make: z3.FuncDeclRef | None = None
    id_of: z3.FuncDeclRef | None = None
    ids: tuple[str, ...] | None = None
    consts: tuple[z3.ExprRef, ...] = ()

    def translate(self, ctx: z3.Context) -> EntitySort:
        return EntitySort(
            self.name,
            self.sort.translate(ctx),
            None if self.make is None else self.make.translate(ctx),
            None if self.id_of is None else self.id_of.translate(ctx),
            self.ids,
            tuple(c.translate(ctx) for c in self.consts),
        )


_S = TypeVar("_S", "EntitySort", "RecordSort", "OptionSort")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class Universe:
    """The Z3 sorts, literals and store functions for one schema, in a context of its own.

    The sorts of the schema's types are copies of its `SchemaSorts` (see above); with
    `shared=False`, every sort is built here."""

    def __init__(self, schema: Schema, ctx: z3.Context | None = None, shared: bool = True) -> None:
        self.schema = schema
        self.ctx = ctx or make_context()
        self.f = Factory(self.ctx)
        self._shared = SchemaSorts.of(schema) if shared else None
        self._entities: dict[str, EntitySort] = {}
        self._records: dict[RecordType, RecordSort] = {}
        self._options: dict[SchemaType, OptionSort] = {}
        self._uids: dict[EntityUID, z3.ExprRef] = {}  # each entity literal built once
        self._functions: dict[str, z3.FuncDeclRef] = {}
        self._actions: dict[str, list[EntityUID]] = {}
        # the names of the sorts built here follow those of the shared ones
        self._count = 0 if self._shared is None else self._shared.names
        self._high_chars: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{_UNSAFE.sub('_', base)}!{self._count}"

    # sorts

    def sort(self, t: SchemaType) -> z3.SortRef:
        match t:
            case BoolType():
                return z3.BoolSort(self.ctx)
            case LongType():
                return self.bv64
            case StringType():
                return z3.StringSort(self.ctx)
            case EntityType(name=name):
                return self.entity_sort(name).sort
            case SetType(element=e):
                return self.set_sort(self.sort(e))
            case RecordType():
                return self.record(t).sort
            case ExtensionType(name="ipaddr"):
                return self.ipaddr.sort
            case ExtensionType():
                return self.bv64
        raise AssertionError(f"no sort for {t!r}")

    def set_sort(self, element: z3.SortRef) -> z3.ArraySortRef:
        # z3.SetSort would build its Bool range in the default context
        return z3.ArraySort(element, z3.BoolSort(self.ctx))

    @cached_property
    def bv64(self) -> z3.BitVecSortRef:
        return z3.BitVecSort(64, self.ctx)

    def actions_of_type(self, name: str) -> list[EntityUID]:
        found = self._actions.get(name)
        if found is None:
            found = self._actions[name] = sorted(u for u in self.schema.actions if u.type == name)
        return found

    def entity_sort(self, name: str) -> EntitySort:
        found = self._entities.get(name)
        if found is not None:
            return found
        if self._shared is not None and name in self._shared.entities:
            found = self._entities[name] = self._shared.copy(self._shared.entities[name], self.ctx)
            return found
        actions = self.actions_of_type(name)
        decl = self.schema.entity_types.get(name)
        ids: tuple[str, ...] | None = None
        if actions:
            ids = tuple(a.id for a in actions)
        elif decl is not None and decl.enum is not None:
            ids = tuple(sorted(set(decl.enum)))
        if ids is not None:
            names = [self.fresh(f"{name}_{i}") for i in range(len(ids))]
            sort, consts = z3.EnumSort(self.fresh(name), names, self.ctx)
            found = EntitySort(name, sort, ids=ids, consts=tuple(consts))
        else:
            dt = z3.Datatype(self.fresh(name), self.ctx)
            dt.declare(
                self.fresh(f"mk_{name}"), (self.fresh(f"id_{name}"), z3.StringSort(self.ctx))
            )
            sort = dt.create()
            found = EntitySort(name, sort, make=sort.constructor(0), id_of=sort.accessor(0, 0))
        self._entities[name] = found
        return found

    def entity_sorts(self) -> list[str]:
        """The entity types given a sort so far."""
        return list(self._entities)

    def record(self, t: RecordType) -> RecordSort:
        t = normalize(t)  # type: ignore[assignment]
        found = self._records.get(t)
        if found is not None:
            return found
        if self._shared is not None and t in self._shared.records:
            found = self._records[t] = self._shared.copy(self._shared.records[t], self.ctx)
            return found
        dt = z3.Datatype(self.fresh("Record"), self.ctx)
        fields = []
        for name, attr in t.attributes:
            field_sort = self.sort(attr.type)
            if not attr.required:
                field_sort = self.option(attr.type).sort
            fields.append((self.fresh(f"f_{name}"), field_sort))
        dt.declare(self.fresh("mk_record"), *fields)
        sort = dt.create()
        accessors = {name: sort.accessor(0, i) for i, (name, _) in enumerate(t.attributes)}
        found = RecordSort(sort, sort.constructor(0), accessors, t)
        self._records[t] = found
        return found

    def option(self, t: SchemaType) -> OptionSort:
        t = normalize(t)
        found = self._options.get(t)
        if found is not None:
            return found
        if self._shared is not None and t in self._shared.options:
            found = self._options[t] = self._shared.copy(self._shared.options[t], self.ctx)
            return found
        dt = z3.Datatype(self.fresh("Option"), self.ctx)
        dt.declare(self.fresh("none"))
        dt.declare(self.fresh("some"), (self.fresh("value"), self.sort(t)))
        sort = dt.create()
        found = OptionSort(
            sort,
            sort.constructor(0)(),
            sort.constructor(1),
            sort.recognizer(1),
            sort.accessor(1, 0),
        )
        self._options[t] = found
        return found

    @cached_property
    def ipaddr(self) -> RecordSort:
        if self._shared is not None:
            return self._shared.copy(self._shared.ipaddr, self.ctx)
        dt = z3.Datatype(self.fresh("IPAddr"), self.ctx)
        bits = [("v6", z3.BoolSort(self.ctx)), ("addr", z3.BitVecSort(128, self.ctx))]
        bits.append(("prefix", z3.BitVecSort(8, self.ctx)))
        dt.declare(self.fresh("mk_ip"), *[(self.fresh(n), s) for n, s in bits])
        sort = dt.create()
        fields = {name: sort.accessor(0, i) for i, (name, _) in enumerate(bits)}
        return RecordSort(sort, sort.constructor(0), fields, RecordType())

    def function(self, name: str, *sorts: z3.SortRef) -> z3.FuncDeclRef:
        """An uninterpreted function of the store, created once per name."""
        found = self._functions.get(name)
        if found is None:
            found = self._functions[name] = z3.Function(self.fresh(name), *sorts)
        return found

    # literals

    def string(self, s: str) -> z3.SeqRef:
        out = []
        for ch in s:
            code = self.char_code(ch)
            out.append(ch if 0x20 <= code < 0x7F and ch != "\\" else f"\\u{{{code:x}}}")
        return z3.StringVal("".join(out), self.ctx)

    def char_code(self, ch: str) -> int:
        """The solver's code for a character.

        Z3 represents code points up to U+2FFFF. Cedar strings are only ever compared for
        equality and matched by `like`, so any one-to-one renaming of characters keeps their
        meaning: characters above U+2FFFF get codes among the surrogates, which no Cedar
        string can hold.
        """
        code = ord(ch)
        if SURROGATES[0] <= code <= SURROGATES[1]:
            raise EncodeError(f"the string holds the lone surrogate U+{code:X}")
        if code <= MAX_CHAR:
            return code
        found = self._high_chars.get(ch)
        if found is None:
            found = SURROGATES[0] + len(self._high_chars)
            if found > SURROGATES[1]:
                raise EncodeError("more than 2048 distinct characters above U+2FFFF")
            self._high_chars[ch] = found
        return found

    def char_of(self, code: int) -> str:
        """The character a solver code stands for (the inverse of `char_code`)."""
        if not SURROGATES[0] <= code <= SURROGATES[1]:
            return chr(code)
        for ch, c in self._high_chars.items():
            if c == code:
                return ch
        # a code the model chose freely: give it a character no literal uses
        candidate = FREE_CHARS + code - SURROGATES[0]
        while chr(candidate) in self._high_chars:
            candidate += SURROGATES[1] - SURROGATES[0] + 1
        return chr(candidate)

    def decode_string(self, t: z3.ExprRef) -> str:
        """The Python string of a Z3 string literal from a model."""
        text = t.as_string()
        return _ESCAPED.sub(lambda m: self.char_of(int(m.group(1), 16)), text)

    def long(self, n: int) -> z3.BitVecNumRef:
        return z3.BitVecVal(n, 64, self.ctx)

    def entity(self, uid: EntityUID) -> z3.ExprRef:
        found = self._uids.get(uid)
        if found is None:
            found = self._uids[uid] = self._entity(uid)
        return found

    def _entity(self, uid: EntityUID) -> z3.ExprRef:
        es = self.entity_sort(uid.type)
        if es.ids is not None:
            if uid.id not in es.ids:
                raise EncodeError(f"`{uid}` is not declared in the schema")
            return es.consts[es.ids.index(uid.id)]
        assert es.make is not None
        # through Z3's C API: the Python call checks and coerces its argument, which took most
        # of the time of naming the thousands of entities of a store's grants
        name = self.string(uid.id)  # held until the application is made: the array is not
        args = (z3.Ast * 1)(name.as_ast())
        made = z3.z3core.Z3_mk_app(self.ctx.ref(), es.make.as_func_decl(), 1, args)
        return z3.DatatypeRef(made, self.ctx)

    def value(self, v: Value, t: SchemaType) -> z3.ExprRef:
        """The term for a concrete value of type `t`."""
        match t:
            case BoolType():
                assert isinstance(v, bool)
                return self.f.bool(v)
            case LongType():
                assert isinstance(v, Long)
                return self.long(v.value)
            case StringType():
                assert isinstance(v, str)
                return self.string(v)
            case EntityType():
                assert isinstance(v, EntityUID)
                return self.entity(v)
            case SetType(element=e):
                assert isinstance(v, frozenset)
                return self.set_of([self.value(x, e) for x in sorted(v, key=repr)], e)
            case RecordType():
                assert isinstance(v, Record)
                rs = self.record(t)
                args = []
                for name, attr in rs.type.attributes:
                    if attr.required:
                        args.append(self.value(v[name], attr.type))
                    else:
                        opt = self.option(attr.type)
                        present = name in v
                        args.append(
                            opt.some(self.value(v[name], attr.type)) if present else opt.none
                        )
                return rs.make(*args)
            case ExtensionType(name="ipaddr"):
                assert isinstance(v, IPAddr)
                return self.ip(v)
            case ExtensionType():
                assert isinstance(v, Decimal | Datetime | Duration)
                return self.long(v.value if isinstance(v, Decimal) else v.ms)
        raise AssertionError(f"no term for {v!r}: {t}")

    def ip(self, v: IPAddr) -> z3.ExprRef:
        return self.ipaddr.make(
            self.f.bool(v.is_v6),
            z3.BitVecVal(v.addr, 128, self.ctx),
            z3.BitVecVal(v.prefix, 8, self.ctx),
        )

    def set_of(self, elems: list[z3.ExprRef], element_type: SchemaType) -> z3.ArrayRef:
        s = z3.EmptySet(self.sort(element_type))
        for e in elems:
            s = z3.SetAdd(s, e)
        return s


class SchemaSorts:
    """The sorts of every type a schema declares (entity types, action types, attribute,
    context and tag records, their options, `ipaddr`), built once per process in a context of
    their own, in a fixed order, and never added to (see above)."""

    KEPT = 8  # schemas whose sorts a process keeps (a fleet has many)
    _kept: ClassVar[OrderedDict[int, tuple[Schema, SchemaSorts]]] = OrderedDict()
    _lock: ClassVar[threading.Lock] = threading.Lock()  # a context is for one thread at a time

    def __init__(self, schema: Schema) -> None:
        u = Universe(schema, shared=False)
        names = sorted(schema.entity_types) + sorted({a.type for a in schema.actions})
        for name in names:
            u.entity_sort(name)
        for name in sorted(schema.entity_types):
            decl = schema.entity_types[name]
            u.record(decl.shape)
            if decl.tags is not None:
                u.sort(decl.tags)
        for uid in sorted(schema.actions):
            u.record(schema.actions[uid].context)
        self.universe = u  # keeps the context
        self.entities = dict(u._entities)
        self.records = dict(u._records)
        self.options = dict(u._options)
        self.ipaddr = u.ipaddr
        self.names: int = u._count

    @classmethod
    def of(cls, schema: Schema) -> SchemaSorts:
        """The schema's sorts, built at the first call with this schema or an equal one (a
        worker process gets a copy of the schema with each environment)."""
        with cls._lock:
            found = cls._kept.get(id(schema))
            if found is None or found[0] is not schema:
                found = next((k for k in cls._kept.values() if k[0] == schema), None)
            found = (schema, cls(schema) if found is None else found[1])
            cls._kept[id(schema)] = found  # the schema kept alive keeps its id its own
            cls._kept.move_to_end(id(schema))
            while len(cls._kept) > cls.KEPT:
                cls._kept.popitem(last=False)
            return found[1]

    def copy(self, sort: _S, ctx: z3.Context) -> _S:
        """One of these sorts, in `ctx`."""
        with self._lock:
            return sort.translate(ctx)
