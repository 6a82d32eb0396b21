"""Hierarchy assumptions, grounded on the entity terms the formulas touch.

A Cedar entity hierarchy is acyclic and its ancestor sets are transitively closed. Rather than
quantify over all entities, we assume both for the entity terms compiling actually produced
(the footprint): no existing entity is its own ancestor, and an existing entity's ancestors
include the ancestors of each of its existing ancestors. Every real entity store satisfies
these, so no real counterexample is excluded.
"""

from __future__ import annotations

import z3

from cedar_smt.encoder.env import SymEnv


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


def hierarchy_assumptions(env: SymEnv) -> list[z3.BoolRef]:
    """Acyclicity and transitivity over the footprint recorded while compiling."""
    terms = [(t, ty) for t, ty in env.footprint.values() if not env.is_action_type(ty)]
    out = [acyclicity(env, t, ty) for t, ty in terms]
    for t1, ty1 in terms:
        for t2, ty2 in terms:
            out.append(transitivity(env, t1, ty1, t2, ty2))
    return [a for a in out if not z3.is_true(a)]
