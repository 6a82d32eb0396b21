"""Hierarchy assumptions, grounded on the entity terms whose ancestors the formulas read.

A Cedar entity hierarchy is acyclic and its ancestor sets are transitively closed. Rather than
quantify over all entities, we assume both for the readers: the entity terms whose ancestor
sets a compiled formula reads (the left of an `in`). No existing reader is its own ancestor,
and an existing reader's ancestors include those of each existing reader among them.

That is enough for every model to describe a real store: the decoder gives parents (the
model's ancestors among the entities it decodes) only to the entities the readers stand for,
so every path of the decoded hierarchy runs through readers, and the facts below make the
closure of each reader's parents exactly the ancestors the formulas saw. Every real store
satisfies the facts, so no real counterexample is excluded. Entity terms that only meet `==`
or stand as the ancestor in an `in` (most entity literals of a large store) need no facts at
all: asserting facts for every pair of them made the encoding quadratic in the literals.
"""

from __future__ import annotations

import z3

from cedar_smt.encoder.env import Notes, SymEnv


def acyclicity(env: SymEnv, t: z3.ExprRef, entity_type: str) -> z3.BoolRef:
    f = env.f
    own = env.ancestors(t, entity_type, entity_type)
    if own is None:
        return f.true
    return f.implies(env.exists(t, entity_type), f.not_(f.member(t, own)))


def transitivity(env: SymEnv, t1: z3.ExprRef, type1: str, t2: z3.ExprRef, type2: str) -> z3.BoolRef:
    """If `t2` is an existing ancestor of existing `t1`, its ancestors are `t1`'s too."""
    f = env.f
    if t1.eq(t2):
        return f.true
    of_type2 = env.ancestors(t1, type1, type2)
    if of_type2 is None:
        return f.true
    premise = f.and_(env.exists(t1, type1), env.exists(t2, type2), f.member(t2, of_type2))
    conclusions = []
    for type3 in env.ancestor_types(type2):
        above2 = env.ancestors(t2, type2, type3)
        if above2 is None:
            continue
        above1 = env.ancestors(t1, type1, type3)
        if above1 is None:
            conclusions.append(f.is_empty(above2))
        else:
            conclusions.append(f.subset(above2, above1))
    return f.implies(premise, f.and_(*conclusions))


def hierarchy_assumptions(env: SymEnv, notes: Notes | None = None) -> list[z3.BoolRef]:
    """Acyclicity and transitivity over the readers recorded while compiling (all of the
    environment's, or those of `notes`)."""
    readers = list((notes or env.notes).readers.values())
    out = [acyclicity(env, t, ty) for t, ty in readers]
    for t1, ty1 in readers:
        for t2, ty2 in readers:
            out.append(transitivity(env, t1, ty1, t2, ty2))
    return [a for a in out if not z3.is_true(a)]


def footprint_hierarchy_assumptions(env: SymEnv) -> list[z3.BoolRef]:
    """Acyclicity and transitivity over every pair of entity terms the formulas touch: what
    the encoding assumed before it was grounded on the readers. Quadratic in the entity
    literals of the policies; kept as the reference the tests compare the readers' facts
    with (analyzer/runner.py's plain path)."""
    terms = [(t, ty) for t, ty in env.footprint.values() if not env.is_action_type(ty)]
    out = [acyclicity(env, t, ty) for t, ty in terms]
    for t1, ty1 in terms:
        for t2, ty2 in terms:
            out.append(transitivity(env, t1, ty1, t2, ty2))
    return [a for a in out if not z3.is_true(a)]
