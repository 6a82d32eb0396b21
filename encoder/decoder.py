"""Decode a Z3 model into a concrete request and entity store.

The store holds only the entities whose data the formulas read (their existence, attributes,
ancestors or tags) that the model says exist, plus the request's action and its groups, so
that it loads without a schema. Only the entities the hierarchy's readers stand for get
parents (see encoder/enforcer.py): the model's ancestors of the others are never read. Sets are
finite in Cedar but a Z3 set may be infinite ("every string"): each set is decoded against
the elements that matter (the values the formulas compute and the elements of the other
decoded sets), and the caller replays the result through the concrete authorizer to confirm.
Entity ids that no policy names are renamed to short readable ones (`user1`, `doc1`): ids are
only ever compared for equality, so a one-to-one renaming that keeps the named ids changes
nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations, islice, product
from typing import Any

import z3

from cedar_smt.core.entities import Entities, Entity
from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.ext.decimal import Decimal
from cedar_smt.core.ext.ipaddr import IPAddr
from cedar_smt.core.request import Request
from cedar_smt.core.types import (
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
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.factory import is_value
from cedar_smt.encoder.sorts import normalize


class DecodeError(Exception):
    """A model the decoder cannot read: a bug in the encoding or the decoder."""


@dataclass(frozen=True)
class Counterexample:
    request: Request
    entities: Entities
    # the value of each slot of templates' symbolic links: (template key, slot, value)
    slots: tuple[tuple[str, str, EntityUID], ...] = ()
    # the keys of templates the set has no link of (`LinkSpace.optional`)
    absent: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.to_json(), "entities": self.entities.to_json()}


class Decoder:
    def __init__(self, env: SymEnv, model: z3.ModelRef, notes: Notes | None = None) -> None:
        self.env = env
        self.u = env.u
        self.model = model
        # the formulas whose model this is: decoding reads only what they read (a snapshot,
        # since reading the model applies store functions, which the environment records)
        self.notes = Notes.union([notes or env.notes])
        self.seen: dict[SchemaType, set[Value]] = defaultdict(set)
        self._computed: dict[SchemaType, set[Value]] = {}

    # values

    def eval(self, t: z3.ExprRef) -> z3.ExprRef:
        return self.settle(self.model.eval(t, model_completion=True))

    def settle(self, v: z3.ExprRef) -> z3.ExprRef:
        """The literal a closed term denotes.

        Model evaluation can stop short of a literal: it leaves, for one, an equality between
        two set expressions over enumerated entities unreduced (`If(A ∩ B = ∅, x, y)`). Such a
        term has no free constants, so a solver decides its conditions one by one.
        """
        if z3.is_app_of(v, z3.Z3_OP_ITE):
            return self.settle(v.arg(1) if self.decide(v.arg(0)) else v.arg(2))
        if _settled(v):
            return v
        if z3.is_app(v) and v.decl().kind() == z3.Z3_OP_DT_CONSTRUCTOR:
            return v.decl()(*(self.settle(a) for a in v.children()))
        if z3.is_bool(v):
            return z3.BoolVal(self.decide(v), self.u.ctx)
        raise DecodeError(f"the model gives no literal value to {v}")

    def decide(self, c: z3.ExprRef) -> bool:
        """Whether a closed condition holds."""
        for answer, claim in ((True, z3.Not(c)), (False, c)):
            solver = z3.Solver(ctx=self.u.ctx)
            solver.set(timeout=5000)
            solver.add(claim)
            if solver.check() == z3.unsat:
                return answer
        raise DecodeError(f"cannot decide the model's condition {c}")

    def value(self, t: z3.ExprRef, ty: SchemaType) -> Value:
        return self.literal(self.eval(t), ty)

    def literal(self, v: z3.ExprRef, ty: SchemaType) -> Value:
        out = self._literal(v, ty)
        self.seen[normalize(ty)].add(out)
        return out

    def _literal(self, v: z3.ExprRef, ty: SchemaType) -> Value:
        v = self.settle(v)
        match ty:
            case BoolType():
                return bool(z3.is_true(v))
            case LongType():
                return Long(v.as_signed_long())
            case StringType():
                return self.u.decode_string(v)
            case EntityType(name=name):
                es = self.u.entity_sort(name)
                if es.ids is not None:
                    index = next(i for i, c in enumerate(es.consts) if c.eq(v))
                    return EntityUID(name, es.ids[index])
                return EntityUID(name, self.u.decode_string(v.arg(0)))
            case SetType(element=e):
                return frozenset(self.set_elements(v, e))
            case RecordType():
                rs = self.u.record(ty)
                fields: dict[str, Value] = {}
                for (name, attr), arg in zip(rs.type.attributes, v.children(), strict=True):
                    if attr.required:
                        fields[name] = self.literal(arg, attr.type)
                    elif arg.decl().eq(self.u.option(attr.type).some):
                        fields[name] = self.literal(arg.arg(0), attr.type)
                return Record(fields)
            case ExtensionType(name="ipaddr"):
                v6, addr, prefix = v.children()
                return valid_ip(z3.is_true(v6), addr.as_long(), prefix.as_long())
            case ExtensionType(name="decimal"):
                return Decimal(v.as_signed_long())
            case ExtensionType(name="datetime"):
                return Datetime(v.as_signed_long())
            case ExtensionType(name="duration"):
                return Duration(v.as_signed_long())
        raise AssertionError(f"cannot decode {v} as {ty}")

    def set_elements(self, v: z3.ExprRef, elem: SchemaType) -> set[Value]:
        entries, default = self.array_entries(v)
        explicit: dict[Value, bool] = {}
        for index, member in entries:  # the outermost store comes first, and wins
            explicit.setdefault(self.literal(index, elem), z3.is_true(self.settle(member)))
        out = {value for value, member in explicit.items() if member}
        if default is False:
            return out
        if default is True:
            # every value but the listed absent ones: decoded as the values that matter, and
            # one more that nothing names, which stands for all the others
            domain = self.candidates(elem)
            spare = self.unused(elem, domain)
            if spare is not None:
                domain.add(spare)
            return out | {value for value in domain if explicit.get(value, True)}
        for candidate in self.candidates(elem):
            if z3.is_true(self.eval(z3.Select(v, self.u.value(candidate, elem)))):
                out.add(candidate)
        if not out:
            witness = self.member(v, elem)
            if witness is not None:
                out.add(witness)
        return out

    def member(self, v: z3.ExprRef, elem: SchemaType) -> Value | None:
        """Some member of a model set in no closed form, found by a small query on it alone."""
        x = z3.Const("member", v.domain())
        solver = z3.Solver(ctx=self.u.ctx)
        solver.set(timeout=5000)
        solver.add(z3.Select(v, x), self.env.wf(x, elem))
        if solver.check() != z3.sat:
            return None
        found = Decoder(self.env, solver.model(), self.notes)
        value = found.literal(found.eval(x), elem)
        self.seen[normalize(elem)].add(value)
        return value

    def array_entries(
        self, v: z3.ExprRef
    ) -> tuple[list[tuple[z3.ExprRef, z3.ExprRef]], bool | None]:
        """Explicit (index, member) entries of an array value, and its default if known."""
        entries: list[tuple[z3.ExprRef, z3.ExprRef]] = []
        while z3.is_store(v):
            entries.append((v.arg(1), v.arg(2)))
            v = v.arg(0)
        if z3.is_K(v):
            return entries, z3.is_true(self.settle(v.arg(0)))
        if z3.is_as_array(v):
            interp = self.model[z3.get_as_array_func(v)]
            listed = interp.as_list()
            entries.extend((row[0], row[1]) for row in listed[:-1])
            return entries, z3.is_true(self.settle(listed[-1]))
        return entries, None

    def candidates(self, ty: SchemaType) -> set[Value]:
        """Values of type `ty` that matter: computed by the formulas or already decoded."""
        key = normalize(ty)
        computed = self._computed.get(key)
        if computed is None:
            computed = self._computed[key] = set()
            for t, t_ty in self.notes.terms.values():
                if normalize(t_ty) == key:
                    v = self.eval(t)
                    if is_value(v) or z3.is_array(v):
                        computed.add(self._literal(v, ty))
        return computed | self.seen.get(key, set())

    def unused(self, ty: SchemaType, taken: set[Value]) -> Value | None:
        """A value of type `ty` that is not in `taken`, if the type has one."""
        return next((v for v in self.values_of(ty, len(taken) + 1) if v not in taken), None)

    def values_of(self, ty: SchemaType, n: int) -> Iterator[Value]:
        """Distinct values of type `ty`: at least `n` of them, or all if the type has fewer."""
        match ty:
            case BoolType():
                yield from (False, True)
            case LongType():
                yield from (Long(i) for i in range(n))
            case StringType():
                yield from (f"v{i}" for i in range(n))
            case EntityType(name=name):
                ids = self.u.entity_sort(name).ids
                yield from (EntityUID(name, i) for i in (ids or (f"e{i}" for i in range(n))))
            case SetType(element=e):
                elements = list(islice(self.values_of(e, n), n))
                for size in range(len(elements) + 1):
                    yield from (frozenset(c) for c in combinations(elements, size))
            case RecordType():
                choices = []
                for name, attr in ty.attributes:
                    values: list[Any] = list(islice(self.values_of(attr.type, n), n))
                    choices.append(
                        [(name, v) for v in values] + ([None] if not attr.required else [])
                    )
                for fields in product(*choices):
                    yield Record(dict(f for f in fields if f is not None))
            case ExtensionType(name="ipaddr"):
                yield from (IPAddr(False, i, 32) for i in range(n))
            case ExtensionType(name="decimal"):
                yield from (Decimal(i) for i in range(n))
            case ExtensionType(name="datetime"):
                yield from (Datetime(i) for i in range(n))
            case ExtensionType(name="duration"):
                yield from (Duration(i) for i in range(n))

    # the counterexample

    def decode(self) -> Counterexample:
        # each pass may find more values that matter, which the next pass decodes sets against
        for _ in range(6):
            before = self._seen_count()
            cx = self._decode()
            if self._seen_count() == before:
                break
        return cx

    def _seen_count(self) -> int:
        return sum(len(found) for found in self.seen.values())

    def _decode(self) -> Counterexample:
        env = self.env
        principal = self.value(env.principal, EntityType(env.env.principal))
        resource = self.value(env.resource, EntityType(env.env.resource))
        context = self.value(env.context, env.env.context)
        entities: dict[EntityUID, Entity] = {}
        readers = {self.value(t, EntityType(ty)) for t, ty in self.notes.readers.values()}
        for t, entity_type in self.notes.stored.values():
            if env.is_action_type(entity_type):
                continue
            uid = self.value(t, EntityType(entity_type))
            if not z3.is_true(self.eval(env.exists(t, entity_type))):
                continue
            assert isinstance(uid, EntityUID)
            entities[uid] = self.entity(t, uid, entities.get(uid), uid in readers)
        for uid in sorted(self.actions()):  # in an order no hash seed changes
            entities[uid] = Entity(uid, Record(), env.schema.action_ancestors(uid))
        assert isinstance(principal, EntityUID) and isinstance(resource, EntityUID)
        assert isinstance(context, Record)
        request = Request(principal, env.env.action, resource, context)
        fixed = {name for name in self.u.entity_sorts() if self.u.entity_sort(name).ids is not None}
        cx = Counterexample(request, Entities(entities.values()), *self.slots())
        return rename(cx, self.named_ids(), fixed)

    def slots(self) -> tuple[tuple[tuple[str, str, EntityUID], ...], tuple[str, ...]]:
        """The entity each slot of the templates' symbolic links holds, and the keys of the
        templates the set has no link of."""
        out = []
        absent: set[str] = set()
        for (key, name), link in sorted(self.notes.slots.items()):
            if link.present is not None and not z3.is_true(self.eval(link.present)):
                absent.add(key)
                continue
            i = 0
            if link.selector is not None:
                chosen = self.eval(link.selector)
                i = next(j for j, c in enumerate(link.choices) if c.eq(chosen))
            uid = self.value(link.consts[i], EntityType(link.types[i]))
            assert isinstance(uid, EntityUID)
            out.append((key, name, uid))
        return tuple(out), tuple(sorted(absent))

    def entity(self, t: z3.ExprRef, uid: EntityUID, known: Entity | None, reader: bool) -> Entity:
        env = self.env
        attrs = self.value(env.attrs(t, uid.type), env.attr_type(uid.type))
        parents: set[EntityUID] = set(known.parents) if known else set()
        for anc_type in env.ancestor_types(uid.type) if reader else ():
            ancs = env.ancestors(t, uid.type, anc_type)
            assert ancs is not None
            parents |= self.value(ancs, SetType(EntityType(anc_type)))  # type: ignore[arg-type]
        tags: dict[str, Value] = dict(known.tags) if known else {}
        tag_type = env.tags(uid.type)
        for owner, key, entity_type in self.notes.tag_queries.values():
            if (
                tag_type is None
                or entity_type != uid.type
                or self.value(owner, EntityType(entity_type)) != uid
            ):
                continue
            k = self.value(key, StringType())
            assert isinstance(k, str)
            k_term = self.u.string(k)
            if z3.is_true(self.eval(z3.IsMember(k_term, env.tag_keys(t, uid.type)))):
                tags[k] = self.value(env.tag_value(t, k_term, uid.type), tag_type)
        assert isinstance(attrs, Record)
        return Entity(uid, attrs, frozenset(parents), Record(tags))

    def actions(self) -> set[EntityUID]:
        """The request's action and every action the formulas name, with their groups."""
        env = self.env
        found = {env.env.action}
        for t, entity_type in self.notes.footprint.values():
            if env.is_action_type(entity_type):
                uid = self.value(t, EntityType(entity_type))
                assert isinstance(uid, EntityUID)
                found.add(uid)
        for uid in list(found):
            found |= env.schema.action_ancestors(uid)
        return found

    def named_ids(self) -> set[EntityUID]:
        """Entities the policies name: their ids must stay as they are."""
        named = set()
        # a term's literal is the same in every model; the cache holds the term, so that its
        # id is not given to another
        known = self.env.named_literals
        for key, (t, entity_type) in self.notes.footprint.items():
            entry = known.get(key)
            if entry is None:
                uid = self.literal(t, EntityType(entity_type)) if is_value(t) else None
                assert uid is None or isinstance(uid, EntityUID)
                entry = known[key] = (t, uid)
            if entry[1] is not None:
                named.add(entry[1])
        return named


def valid_ip(v6: bool, addr: int, prefix: int) -> IPAddr:
    """The address a model gives, made one Cedar can hold if it is not.

    The formulas constrain every address they read to be well formed; one they never read (an
    attribute of an entity in the store that no policy looks at) may be anything in the model,
    and any well-formed value serves as well.
    """
    width = 128 if v6 else 32
    return IPAddr(v6, addr % (1 << width), min(prefix, width))


def _settled(v: z3.ExprRef) -> bool:
    """A literal, or one built of literals and sets (the decoder reads sets in any form)."""
    if z3.is_array(v) or is_value(v):
        return True
    if z3.is_app(v) and v.decl().kind() == z3.Z3_OP_DT_CONSTRUCTOR:
        return all(_settled(a) for a in v.children())
    return False


def decode(env: SymEnv, model: z3.ModelRef, notes: Notes | None = None) -> Counterexample:
    """The request and entities a model of the formulas of `notes` (by default, all compiled in
    `env`) describes; replay them before trusting them.

    Any failure to read the model is a bug, raised as one DecodeError that names the cause.
    """
    try:
        return Decoder(env, model, notes).decode()
    except (DecodeError, RecursionError):
        raise
    except Exception as err:  # whatever breaks here is a bug to report
        raise DecodeError(f"cannot decode the solver's model: {type(err).__name__}: {err}") from err


def decode_context(env: SymEnv, model: z3.ModelRef, notes: Notes | None = None) -> Record:
    """The context a model gives, its entities with the ids the model gives them: unlike
    `decode`, nothing is renamed, since the context is replayed against a store whose
    entities the formulas were pinned to (encoder/concrete.py)."""
    try:
        decoder = Decoder(env, model, notes)
        decoder.decode()
        context = decoder.value(env.context, env.env.context)
    except (DecodeError, RecursionError):
        raise
    except Exception as err:  # whatever breaks here is a bug to report
        raise DecodeError(f"cannot decode the solver's model: {type(err).__name__}: {err}") from err
    assert isinstance(context, Record)
    return context


_WORD = re.compile(r"[^a-z0-9]+")


def rename(cx: Counterexample, keep: set[EntityUID], fixed_types: set[str]) -> Counterexample:
    """Give unnamed entities short readable ids, one-to-one and distinct from the named ones.

    Entities in `keep`, and of the `fixed_types` (enumerated and action types), keep theirs.
    """
    mapping: dict[EntityUID, EntityUID] = {}
    taken = {(u.type, u.id) for u in keep}
    counters: dict[str, int] = defaultdict(int)

    def new_id(uid: EntityUID) -> EntityUID:
        if uid in keep or uid.type in fixed_types:
            return uid
        if uid not in mapping:
            base = _WORD.sub("", uid.type.split("::")[-1].lower()) or "entity"
            while True:
                counters[uid.type] += 1
                candidate = (uid.type, f"{base}{counters[uid.type]}")
                if candidate not in taken:
                    break
            taken.add(candidate)
            mapping[uid] = EntityUID(*candidate)
        return mapping[uid]

    for uid in [cx.request.principal, cx.request.resource, *sorted(cx.entities)]:
        new_id(uid)
    for _, _, uid in cx.slots:
        new_id(uid)

    def walk(v: Value) -> Any:
        if isinstance(v, EntityUID):
            return new_id(v)
        if isinstance(v, frozenset):
            return frozenset(walk(x) for x in v)
        if isinstance(v, Record):
            return Record({k: walk(x) for k, x in v.items()})
        return v

    request = Request(
        walk(cx.request.principal),
        cx.request.action,
        walk(cx.request.resource),
        walk(cx.request.context),
    )
    entities = [
        Entity(walk(e.uid), walk(e.attrs), walk(e.parents), walk(e.tags))
        for e in cx.entities.values()
    ]
    slots = tuple((key, name, new_id(uid)) for key, name, uid in cx.slots)
    return Counterexample(request, Entities(entities), slots, cx.absent)
