"""The policies of one request environment, compiled once and shared by every question asked
there.

A policy's compiled form depends only on what it says (its scopes and conditions), not on its
id, effect or place: two versions of a store, a policy set and the same set reordered, or the
many checks of a lint, compile each distinct policy once per environment. A policy whose scope
cannot match the environment is not satisfied there, and is not compiled at all. Each compiled
policy keeps the notes of its own terms (encoder/env.py), so a question about a few policies
assumes and decodes only what those policies need.

Policies that differ only in the entities their principal and resource scopes name (the links
of one template, and grants like `permit (principal == User::"a", action, resource in
Folder::"f")`) share a shape. The second policy of a shape compiles the shape once, with
placeholder entities, and each policy of it is then that term with the placeholders replaced
by its entities: in a scope an entity is only ever compared with the request's principal or
resource, so no term folds differently for one entity than for another of its type (enumerated
entity types, whose literals do fold, are left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3
from z3 import z3core

from cedar_smt.core.authorizer import DecisionRule, decision_rule
from cedar_smt.core.links import LinkSpace
from cedar_smt.core.policy import Effect, Policy, with_scope_entities
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.types import BOOL
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.authorizer import compile_policy, z3_logic
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Sym
from cedar_smt.encoder.sorts import Universe


def content(policy: Policy, links: LinkSpace | None = None) -> Any:
    """What a policy's compiled form depends on (for a template, also its link's key)."""
    if not policy.is_template:
        return policy.content
    return (policy.content, (links or LinkSpace()).key(policy))


@dataclass(frozen=True)
class Compiled:
    sym: Sym
    satisfied: z3.BoolRef
    notes: Notes
    applies: bool  # False: the scope cannot match this environment (never satisfied)


@dataclass(frozen=True)
class SetEncoding:
    """A policy set in one environment: its decision, and each permit's and forbid's term."""

    decision: z3.BoolRef
    permits: tuple[z3.BoolRef, ...]
    forbids: tuple[z3.BoolRef, ...]
    notes: Notes


_PLACEHOLDERS = ("?principal", "?resource")  # the ids of the placeholder entities


class _Substitution:
    """Terms with `sources` replaced by `targets` (of the same sorts), through Z3's C API: the
    Python `z3.substitute` checks the sorts of every pair on every call, most of the time of
    instantiating a shape."""

    def __init__(self, sources: Sequence[z3.ExprRef], targets: Sequence[z3.ExprRef]) -> None:
        n = self.n = len(sources)
        self.ctx = sources[0].ctx
        self.src = (z3.Ast * n)(*(t.as_ast() for t in sources))
        self.dst = (z3.Ast * n)(*(t.as_ast() for t in targets))
        self.keep = (sources, targets)  # the arrays do not hold references
        # by Python object: a shape's notes hold the same term objects several times
        self.done: dict[int, Any] = {id(a): b for a, b in zip(sources, targets, strict=True)}

    def __call__(self, t: Any) -> Any:
        found = self.done.get(id(t))
        if found is None:
            out = z3core.Z3_substitute(self.ctx.ref(), t.as_ast(), self.n, self.src, self.dst)
            found = self.done[id(t)] = type(t)(out, self.ctx)
        return found


# the key of an entry of each book of terms of Notes (`Notes.term_books`), from its value and
# its old key
_BOOK_KEYS: tuple[Any, ...] = (
    *[lambda v, k: v[0].get_id()] * 4,
    lambda v, k: (v[0].get_id(), k[1]),
    lambda v, k: (v[0].get_id(), v[1].get_id()),
)


@dataclass(frozen=True)
class _Shape:
    """A policy shape compiled with placeholder entities: each policy of the shape is its
    terms with the placeholders replaced."""

    compiled: Compiled
    placeholders: tuple[z3.ExprRef | None, ...]
    sources: tuple[z3.ExprRef, ...]  # the placeholders there are
    # each book of the notes, entry by entry in order, with whether it holds a placeholder
    books: tuple[tuple[tuple[Any, Any, bool], ...], ...]

    def instance(self, senv: SymEnv, named: tuple[EntityUID | None, ...]) -> Compiled:
        c = self.compiled
        if not c.applies:
            return c
        targets = [
            senv.uid_term(uid)
            for ph, uid in zip(self.placeholders, named, strict=True)
            if ph is not None and uid is not None
        ]
        sub = _Substitution(self.sources, targets)
        sym = Sym(sub(c.sym.value), sub(c.sym.err), c.sym.ty)
        books: list[dict[Any, Any]] = []
        for i, book in enumerate(self.books):
            out: dict[Any, Any] = {}
            for key, value, varies in book:
                if varies:
                    value = tuple(sub(t) if isinstance(t, z3.ExprRef) else t for t in value)
                    key = _BOOK_KEYS[i](value, key)
                out.setdefault(key, value)
            books.append(out)
        notes = Notes(*books)
        senv.absorb(notes)
        return Compiled(sym, sub(c.satisfied), notes, True)


class EnvEncoding:
    def __init__(self, universe: Universe, env: RequestEnv, links: LinkSpace | None = None) -> None:
        self.senv = SymEnv(universe, env, links)
        self.f = self.senv.f
        self._cache: dict[Any, Compiled | EncodeError] = {}
        # by shape: None once one policy of it is seen, the compiled shape from the second
        # (or False when it cannot be shared: a placeholder would not stand for every entity)
        self._shapes: dict[Any, _Shape | bool | None] = {}
        self.shared = True  # whether policies of one shape share its terms

    @property
    def env(self) -> RequestEnv:
        return self.senv.env

    def policy(self, policy: Policy) -> Compiled:
        """The policy compiled in this environment (raises EncodeError as compiling does)."""
        key = content(policy, self.senv.links)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._shared(policy) or self._compile(policy)
        if isinstance(found, EncodeError):
            raise EncodeError(found.message, policy.id)
        return found

    def _shared(self, policy: Policy) -> Compiled | None:
        """The policy as an instance of its shape, or None when it must be compiled alone."""
        # a template's slots are compiled as its link space says, not shared by shape
        found = policy.shape if self.shared and not policy.is_template else None
        if found is None:
            return None
        key, named = found
        if key not in self._shapes:
            self._shapes[key] = None  # the first of its shape: compiled alone
            return None
        compiled = self._shapes[key]
        if compiled is None:
            compiled = self._shapes[key] = self._compile_shape(policy, named) or False
        if compiled is False:
            return None
        assert isinstance(compiled, _Shape)
        return compiled.instance(self.senv, named)

    def _compile_shape(self, policy: Policy, named: tuple[EntityUID | None, ...]) -> _Shape | None:
        placeholders: list[EntityUID | None] = []
        for uid, name in zip(named, _PLACEHOLDERS, strict=True):
            if uid is not None and not self.senv.schema.interchangeable(uid.type):
                return None  # enumerated entities fold: `==` between two of them is decided
            placeholders.append(None if uid is None else EntityUID(uid.type, name))
        written = repr((policy.action, policy.conditions))
        if any(ph is not None and str(ph) in written for ph in placeholders):
            return None  # the policy names a placeholder itself
        general = with_scope_entities(policy, *placeholders)
        compiled = self._compile(general, apart=True)
        if isinstance(compiled, EncodeError):
            return None  # compiled alone, each policy says where it fails
        terms = tuple(None if ph is None else self.senv.uid_term(ph) for ph in placeholders)
        pairs = [(t, z3.FreshConst(t.sort())) for t in terms if t is not None]

        def varies(t: z3.ExprRef) -> bool:
            return not z3.substitute(t, *pairs).eq(t)

        books = tuple(
            tuple(
                (k, v, any(varies(t) for t in v if isinstance(t, z3.ExprRef))) for k, v in b.items()
            )
            for b in compiled.notes.term_books()
        )
        return _Shape(compiled, terms, tuple(t for t in terms if t is not None), books)

    def _compile(self, policy: Policy, apart: bool = False) -> Compiled | EncodeError:
        f = self.f
        if not applies(policy, self.env, self.senv.schema):
            return Compiled(Sym(f.false, f.false, BOOL), f.false, Notes(), False)
        try:
            with self.senv.recording(apart) as notes:
                sym = compile_policy(policy, self.senv)
        except EncodeError as err:
            return err
        return Compiled(sym, f.satisfied(sym), notes, True)

    def policy_set(
        self,
        policies: Iterable[Policy],
        rule: DecisionRule[z3.BoolRef] = decision_rule,
    ) -> SetEncoding:
        """The decision of `policies` under `rule`. Each side's terms are put in a fixed order
        (by term), so two orderings of the same policies give the very same decision term."""
        permits: list[z3.BoolRef] = []
        forbids: list[z3.BoolRef] = []
        notes: list[Notes] = []
        for p in policies:  # every policy counts, for rules other than Cedar's
            c = self.policy(p)
            (permits if p.effect is Effect.PERMIT else forbids).append(c.satisfied)
            notes.append(c.notes)
        permits.sort(key=lambda t: t.get_id())
        forbids.sort(key=lambda t: t.get_id())
        decision = rule(permits, forbids, z3_logic(self.f))
        return SetEncoding(decision, tuple(permits), tuple(forbids), Notes.union(notes))

    def notes(self, parts: Sequence[Notes]) -> Notes:
        """What the formulas of `parts` need, with what every formula of the environment does."""
        return Notes.union([self.senv.base, *parts])
