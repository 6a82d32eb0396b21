"""The symbolic request and entity store of one request environment.

The request's action is concrete; principal, resource and context are Z3 constants of the
environment's types. The store is, per entity type `T` of the schema:

- `exists_T : T -> Bool`, whether the entity is in the store (Cedar errors on the attributes
  of a missing entity and gives it no ancestors);
- `attrs_T : T -> record`, its attributes;
- `ancs_T_A : T -> Set<A>`, its ancestors of type `A`, for each type `A` the schema allows;
- `tagKeys_T : T -> Set<String>` and `tagVals_T : T x String -> V`, when `T` has tags.

Actions always exist and their ancestors come from the schema, so for the (concrete) action
of the request everything about them folds to constants.

While compiling, the environment records the entity terms the formulas touch (the footprint:
the entities a counterexample holds), among them the terms whose ancestors the formulas read
(the readers: what the hierarchy assumptions are about), and the input terms whose values need
well-formedness assumptions (an `ipaddr` prefix is at most 32 or 128).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import z3

from cedar_smt.core.ast import Var
from cedar_smt.core.links import LinkSpace, slot_types
from cedar_smt.core.policy import Policy
from cedar_smt.core.typechecker import RequestEnv
from cedar_smt.core.types import EntityType, ExtensionType, RecordType, SchemaType
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Factory, Sym
from cedar_smt.encoder.sorts import Universe

_TWO_32 = 2**32


@dataclass(frozen=True)
class SlotTerms:
    """One slot of a template's symbolic link: one entity constant per type the slot may take,
    and which of them the link chose (`selector`, absent when there is one type)."""

    key: str
    slot: str
    types: tuple[str, ...]
    consts: tuple[z3.ExprRef, ...]
    selector: z3.ExprRef | None = None
    choices: tuple[z3.ExprRef, ...] = ()
    # whether the set has the link at all (`LinkSpace.optional`), shared by the key's slots
    present: z3.BoolRef | None = None

    def chosen(self, i: int, f: Factory) -> z3.BoolRef:
        """Whether the link gives the slot the `i`-th type."""
        if self.selector is None:
            return f.true
        return f.eq(self.selector, self.choices[i])


@dataclass
class Notes:
    """What compiling recorded about the terms of some formulas (all of an environment's, or
    one policy's): enough to assume what they need and to decode a model of them."""

    footprint: dict[int, tuple[z3.ExprRef, str]] = field(default_factory=dict)
    readers: dict[int, tuple[z3.ExprRef, str]] = field(default_factory=dict)
    # the entity terms whose store data (existence, attributes, ancestors, tags) is read
    stored: dict[int, tuple[z3.ExprRef, str]] = field(default_factory=dict)
    inputs: dict[int, tuple[z3.ExprRef, SchemaType]] = field(default_factory=dict)
    # by term and type: one bit-vector term can be a Long, a decimal, a datetime and a
    # duration (`duration("1s").toMilliseconds()` is the term of `duration("1s")`)
    terms: dict[tuple[int, SchemaType], tuple[z3.ExprRef, SchemaType]] = field(default_factory=dict)
    tag_queries: dict[tuple[int, int], tuple[z3.ExprRef, z3.ExprRef, str]] = field(
        default_factory=dict
    )
    # the symbolic links of templates, by template key and slot
    slots: dict[tuple[str, str], SlotTerms] = field(default_factory=dict)

    def term_books(self) -> tuple[dict[Any, Any], ...]:
        """The books of terms, in this order: footprint, readers, stored, inputs, terms,
        tag_queries (all but the slots)."""
        return (
            self.footprint,
            self.readers,
            self.stored,
            self.inputs,
            self.terms,
            self.tag_queries,
        )

    @staticmethod
    def union(parts: Iterable[Notes]) -> Notes:
        out = Notes()
        for n in parts:
            out.footprint.update(n.footprint)
            out.readers.update(n.readers)
            out.stored.update(n.stored)
            out.inputs.update(n.inputs)
            out.terms.update(n.terms)
            out.tag_queries.update(n.tag_queries)
            out.slots.update(n.slots)
        return out


class SymEnv:
    def __init__(self, universe: Universe, env: RequestEnv, links: LinkSpace | None = None) -> None:
        self.u = universe
        self.f = universe.f
        self.env = env
        self.principal = z3.Const("principal", universe.entity_sort(env.principal).sort)
        self.action = universe.entity(env.action)
        self.resource = z3.Const("resource", universe.entity_sort(env.resource).sort)
        self.context = z3.Const("context", universe.record(env.context).sort)
        self.notes = Notes()  # everything compiled in this environment
        self._recording: list[Notes] = []  # and what the compilations under way record
        self._apart: list[int] = []  # where recordings apart from the environment's begin
        self.used: set[str] = set()  # the store functions the formulas apply
        # each application built once: the hierarchy assumptions ask for the same ones often
        self._applied: dict[
            tuple[str, tuple[int, ...]], tuple[z3.ExprRef, tuple[z3.ExprRef, ...]]
        ] = {}
        self._ancestor_types: dict[str, list[str]] = {}
        # the entity literal each footprint term is, if it is one (the decoder asks each time)
        self.named_literals: dict[int, tuple[z3.ExprRef, EntityUID | None]] = {}
        self._action_ancestors: dict[tuple[int, str], tuple[z3.ExprRef, z3.ExprRef]] = {}
        self.links = links or LinkSpace()  # the templates' keys and their slots' types
        self._slots: dict[tuple[str, str], SlotTerms] = {}
        self._present: dict[str, z3.BoolRef] = {}
        self._template: Policy | None = None  # the template being compiled
        self.note_input(self.context, env.context)
        self.base = Notes.union([self.notes])  # what every formula of the environment needs

    @property
    def schema(self):  # type: ignore[no-untyped-def]
        return self.u.schema

    # what compiling records (see Notes)

    @contextmanager
    def recording(self, apart: bool = False) -> Iterator[Notes]:
        """Record what the formulas compiled inside the block note, on top of `self.notes`
        (`apart`: only in the block's own notes, for formulas that are not the environment's
        own, such as a policy shape whose placeholders stand for entities)."""
        notes = Notes()
        if apart:
            self._apart.append(len(self._recording))
        self._recording.append(notes)
        try:
            yield notes
        finally:
            self._recording.pop()
            if apart:
                self._apart.pop()

    def _books(self) -> list[Notes]:
        if self._apart:
            return self._recording[self._apart[-1] :]
        return [self.notes, *self._recording]

    def absorb(self, notes: Notes) -> None:
        """Record `notes` as if their formulas had been compiled here and now."""
        for book in self._books():
            for mine, theirs in zip(book.term_books(), notes.term_books(), strict=True):
                for k, v in theirs.items():
                    mine.setdefault(k, v)

    @property
    def footprint(self) -> dict[int, tuple[z3.ExprRef, str]]:
        return self.notes.footprint

    @property
    def readers(self) -> dict[int, tuple[z3.ExprRef, str]]:
        return self.notes.readers

    @property
    def stored(self) -> dict[int, tuple[z3.ExprRef, str]]:
        return self.notes.stored

    @property
    def inputs(self) -> dict[int, tuple[z3.ExprRef, SchemaType]]:
        return self.notes.inputs

    @property
    def terms(self) -> dict[tuple[int, SchemaType], tuple[z3.ExprRef, SchemaType]]:
        return self.notes.terms

    @property
    def tag_queries(self) -> dict[tuple[int, int], tuple[z3.ExprRef, z3.ExprRef, str]]:
        return self.notes.tag_queries

    def _store(self, t: z3.ExprRef, entity_type: str) -> None:
        for n in self._books():
            n.stored.setdefault(t.get_id(), (t, entity_type))

    def var(self, v: Var) -> Sym:
        match v:
            case Var.PRINCIPAL:
                return self.f.some(self.principal, EntityType(self.env.principal))
            case Var.ACTION:
                return self.f.some(self.action, EntityType(self.env.action.type))
            case Var.RESOURCE:
                return self.f.some(self.resource, EntityType(self.env.resource))
            case Var.CONTEXT:
                return self.f.some(self.context, self.env.context)
        raise AssertionError(v)

    def note(self, s: Sym) -> None:
        """Remember a compiled term: its value may matter when decoding a model."""
        i = s.value.get_id()
        for n in self._books():
            n.terms.setdefault((i, s.ty), (s.value, s.ty))
            if isinstance(s.ty, EntityType):
                n.footprint.setdefault(i, (s.value, s.ty.name))

    def note_input(self, t: z3.ExprRef, ty: SchemaType) -> None:
        if _needs_wf(ty):
            for n in self._books():
                n.inputs.setdefault(t.get_id(), (t, ty))

    # templates' symbolic links

    @contextmanager
    def linking(self, policy: Policy) -> Iterator[None]:
        """Compile `policy` inside the block: if it is a template, its slots are its link's."""
        self._template = policy if policy.is_template else None
        try:
            yield
        finally:
            self._template = None

    def slot(self, name: str) -> SlotTerms:
        """The symbolic value of slot `name` of the template being compiled. Templates of the
        same key (core/links.py) share it; its entities need not be in the store, so they are
        not in the footprint, but they are values the decoder must consider."""
        template = self._template
        if template is None:
            raise EncodeError(f"template slot {name}: link the template before analyzing it")
        key = self.links.key(template)
        found = self._slots.get((key, name))
        if found is None:
            types = self.links.slot_types(key, name)
            if types is None:
                types = slot_types(template, name, self.schema)
            found = self._slots[(key, name)] = self._slot_terms(key, name, types)
        for n in self._books():
            n.slots.setdefault((key, name), found)
            for t, ty in zip(found.consts, found.types, strict=True):
                n.terms.setdefault((t.get_id(), EntityType(ty)), (t, EntityType(ty)))
        return found

    def link_present(self, key: str) -> z3.BoolRef | None:
        """Whether the set has the link of templates of `key` (None: it always has)."""
        if not self.links.optional:
            return None
        found = self._present.get(key)
        if found is None:
            found = self._present[key] = z3.Bool(self.u.fresh(f"link {key} present"), self.u.ctx)
        return found

    def _slot_terms(self, key: str, name: str, types: tuple[str, ...]) -> SlotTerms:
        u = self.u
        base = f"link {key} {name}"
        consts = tuple(z3.Const(u.fresh(f"{base} {t}"), u.entity_sort(t).sort) for t in types)
        present = self.link_present(key)
        if len(types) <= 1:
            return SlotTerms(key, name, types, consts, present=present)
        sort, choices = z3.EnumSort(
            u.fresh(f"{base} type"), [u.fresh(f"{base} is {t}") for t in types], u.ctx
        )
        selector = z3.Const(u.fresh(f"{base} type"), sort)
        return SlotTerms(key, name, types, consts, selector, tuple(choices), present)

    # the store

    def is_action_type(self, name: str) -> bool:
        return bool(self.u.actions_of_type(name))

    def exists(self, t: z3.ExprRef, entity_type: str) -> z3.BoolRef:
        if self.is_action_type(entity_type):
            return self.f.true
        self._store(t, entity_type)
        return self.apply(f"exists_{entity_type}", z3.BoolSort(self.u.ctx), t)

    def apply(self, name: str, out: z3.SortRef, *args: z3.ExprRef) -> z3.ExprRef:
        """Apply the store function `name` (of the argument sorts, to `out`)."""
        self.used.add(name)
        key = (name, tuple(a.get_id() for a in args))
        found = self._applied.get(key)
        if found is None:  # the arguments are kept alive with the result, so ids stay theirs
            term = self.u.function(name, *(a.sort() for a in args), out)(*args)
            found = self._applied[key] = (term, args)
        return found[0]

    def attrs(self, t: z3.ExprRef, entity_type: str) -> z3.ExprRef:
        shape = self.attr_type(entity_type)
        self._store(t, entity_type)
        out = self.apply(f"attrs_{entity_type}", self.u.record(shape).sort, t)
        self.note_input(out, shape)
        return out

    def attr_type(self, entity_type: str) -> RecordType:
        decl = self.schema.entity_types.get(entity_type)
        return decl.shape if decl is not None else RecordType()

    def ancestor_types(self, entity_type: str) -> list[str]:
        found = self._ancestor_types.get(entity_type)
        if found is None:
            if self.is_action_type(entity_type):
                found = sorted({a.type for a in self.schema.actions})
            else:
                found = sorted(self.schema.entity_type_ancestors(entity_type))
            self._ancestor_types[entity_type] = found
        return found

    def read_ancestors(
        self, t: z3.ExprRef, entity_type: str, ancestor_type: str
    ) -> z3.ExprRef | None:
        """`ancestors`, for a formula: `t` becomes one of the readers of the hierarchy."""
        if not self.is_action_type(entity_type):
            for n in self._books():
                n.readers.setdefault(t.get_id(), (t, entity_type))
        return self.ancestors(t, entity_type, ancestor_type)

    def ancestors(self, t: z3.ExprRef, entity_type: str, ancestor_type: str) -> z3.ExprRef | None:
        """The set of `t`'s ancestors of type `ancestor_type`, or None when there can be none."""
        if ancestor_type not in self.ancestor_types(entity_type):
            return None
        if self.is_action_type(entity_type):
            return self.action_ancestors(t, entity_type, ancestor_type)
        out_sort = self.u.set_sort(self.u.entity_sort(ancestor_type).sort)
        self._store(t, entity_type)
        return self.apply(f"ancs_{entity_type}_{ancestor_type}", out_sort, t)

    def action_ancestors(self, t: z3.ExprRef, entity_type: str, ancestor_type: str) -> z3.ExprRef:
        key = (t.get_id(), ancestor_type)
        found = self._action_ancestors.get(key)
        if found is None:  # kept with `t`, so that its id is not given to another term
            found = self._action_ancestors[key] = (
                t,
                self._ancestors_of_action(t, entity_type, ancestor_type),
            )
        return found[1]

    def _ancestors_of_action(
        self, t: z3.ExprRef, entity_type: str, ancestor_type: str
    ) -> z3.ExprRef:
        result: z3.ExprRef | None = None
        for uid in reversed(self.u.actions_of_type(entity_type)):
            ancestors = [
                self.u.entity(a)
                for a in sorted(self.schema.action_ancestors(uid))
                if a.type == ancestor_type
            ]
            s = self.u.set_of(ancestors, EntityType(ancestor_type))
            lit = self.u.entity(uid)
            if t.eq(lit):
                return s
            result = s if result is None else self.f.ite(self.f.eq(t, lit), s, result)
        assert result is not None
        return result

    def tags(self, entity_type: str) -> SchemaType | None:
        decl = self.schema.entity_types.get(entity_type)
        return decl.tags if decl is not None else None

    def note_tag_query(self, t: z3.ExprRef, key: z3.ExprRef, entity_type: str) -> None:
        """Remember that a formula asks about tag `key` of `t`: decoding must consider it."""
        for n in self._books():
            n.tag_queries.setdefault((t.get_id(), key.get_id()), (t, key, entity_type))

    def tag_keys(self, t: z3.ExprRef, entity_type: str) -> z3.ExprRef:
        sort = self.u.set_sort(z3.StringSort(self.u.ctx))
        self._store(t, entity_type)
        return self.apply(f"tagKeys_{entity_type}", sort, t)

    def tag_value(self, t: z3.ExprRef, key: z3.ExprRef, entity_type: str) -> z3.ExprRef:
        ty = self.tags(entity_type)
        assert ty is not None
        self._store(t, entity_type)
        out = self.apply(f"tagVals_{entity_type}", self.u.sort(ty), t, key)
        self.note_input(out, ty)
        return out

    def uid_term(self, uid: EntityUID) -> z3.ExprRef:
        return self.u.entity(uid)

    # well-formedness of inputs

    def wf(self, t: z3.ExprRef, ty: SchemaType) -> z3.BoolRef:
        """Values of type `ty` that Cedar can hold (an `ipaddr` prefix fits its version)."""
        f = self.f
        if isinstance(ty, ExtensionType) and ty.name == "ipaddr":
            ip = self.u.ipaddr.fields
            v6, addr, prefix = ip["v6"](t), ip["addr"](t), ip["prefix"](t)
            return f.or_(
                f.and_(v6, z3.ULE(prefix, 128)),
                f.and_(f.not_(v6), z3.ULE(prefix, 32), z3.ULT(addr, _TWO_32)),
            )
        if isinstance(ty, RecordType):
            rs = self.u.record(ty)
            parts = []
            for name, attr in rs.type.attributes:
                if not _needs_wf(attr.type):
                    continue
                field = rs.fields[name](t)
                if attr.required:
                    parts.append(self.wf(field, attr.type))
                else:
                    opt = self.u.option(attr.type)
                    parts.append(f.implies(opt.is_some(field), self.wf(opt.get(field), attr.type)))
            return f.and_(*parts)
        return f.true

    def existence_assumptions(self, notes: Notes | None = None) -> list[z3.BoolRef]:
        """Every entity the formulas touch is in the store."""
        footprint = list((notes or self.notes).footprint.values())
        return [self.exists(t, ty) for t, ty in footprint if not self.is_action_type(ty)]

    def input_assumptions(self, notes: Notes | None = None) -> list[z3.BoolRef]:
        return [self.wf(t, ty) for t, ty in (notes or self.notes).inputs.values()]


def _needs_wf(ty: SchemaType) -> bool:
    if isinstance(ty, ExtensionType):
        return ty.name == "ipaddr"
    if isinstance(ty, RecordType):
        return any(_needs_wf(a.type) for _, a in ty.attributes)
    return False
