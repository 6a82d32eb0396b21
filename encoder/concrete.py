"""Pin a symbolic environment to one concrete request and entity store.

The assertions fix the symbolic request to the concrete one and the store functions to the
concrete entities (at every entity the store holds, and existence at every entity term the
formulas touch). Under them, each compiled policy has exactly one outcome, which must be
the concrete evaluator's: this is how the encoder is checked against core/evaluator.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import z3

from cedar_smt.core.authorizer import Outcome, evaluate_policy, is_authorized
from cedar_smt.core.entities import Entities
from cedar_smt.core.policy import Policy
from cedar_smt.core.request import Request
from cedar_smt.core.types import STRING, EntityType
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.enforcer import hierarchy_assumptions
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.factory import Factory, Sym
from cedar_smt.encoder.solver import check, make_solver


def pin(env: SymEnv, request: Request, entities: Entities) -> list[z3.BoolRef]:
    """Assertions that make `env` stand for exactly `request` and `entities`.

    Call it after compiling, so that the footprint is complete.
    """
    u, f = env.u, env.f
    out = [
        *pin_known(env, request.principal, request.resource),
        f.eq(env.context, u.value(request.context, env.env.context)),
    ]
    return [a for a in out if not z3.is_true(a)] + pin_entities(env, entities)


def pin_known(env: SymEnv, principal: EntityUID, resource: EntityUID) -> list[z3.BoolRef]:
    """Assertions fixing the request's principal and resource (the context stays free)."""
    u, f = env.u, env.f
    return [f.eq(env.principal, u.entity(principal)), f.eq(env.resource, u.entity(resource))]


def pin_entities(env: SymEnv, entities: Entities) -> list[z3.BoolRef]:
    """Assertions that make the store functions of `env` those of `entities`: at every entity
    the store holds, and existence at every entity term the formulas touch (an entity term not
    equal to a stored one does not exist). Call it after compiling."""
    u, f = env.u, env.f
    out: list[z3.BoolRef] = []
    used = set(env.used)  # pin only what the formulas look at
    stored: dict[str, list[z3.ExprRef]] = defaultdict(list)
    for uid, entity in entities.items():
        if env.is_action_type(uid.type) or uid.type not in env.schema.entity_types:
            continue
        term = u.entity(uid)
        stored[uid.type].append(term)
        if f"attrs_{uid.type}" in used:
            attrs = u.value(entity.attrs, env.attr_type(uid.type))
            out.append(f.eq(env.attrs(term, uid.type), attrs))
        for anc_type in env.ancestor_types(uid.type):
            if f"ancs_{uid.type}_{anc_type}" not in used:
                continue
            ancs = env.ancestors(term, uid.type, anc_type)
            assert ancs is not None
            members = [u.entity(a) for a in sorted(entity.ancestors) if a.type == anc_type]
            out.append(f.eq(ancs, u.set_of(members, EntityType(anc_type))))
        tag_type = env.tags(uid.type)
        if tag_type is not None and f"tagKeys_{uid.type}" in used:
            keys = [u.string(k) for k in sorted(entity.tags)]
            out.append(f.eq(env.tag_keys(term, uid.type), u.set_of(keys, STRING)))
            for k, v in entity.tags.items():
                out.append(f.eq(env.tag_value(term, u.string(k), uid.type), u.value(v, tag_type)))
    for t, entity_type in list(env.footprint.values()):
        if not env.is_action_type(entity_type):
            there = [f.eq(t, e) for e in stored.get(entity_type, [])]
            out.append(f.eq(env.exists(t, entity_type), f.or_(*there)))
    return [a for a in out if not z3.is_true(a)]


def _outcome_differs(f: Factory, s: Sym, outcome: Outcome) -> z3.BoolRef:
    if outcome is Outcome.ERROR:
        return f.not_(s.err)
    if outcome is Outcome.SATISFIED:
        return f.or_(s.err, f.not_(s.value))
    return f.or_(s.err, s.value)


def disagreements(
    env: SymEnv,
    compiled: Sequence[tuple[Policy, Sym]],
    decision: z3.BoolRef,
    request: Request,
    entities: Entities,
    timeout_ms: int = 60_000,
) -> list[str]:
    """How the encoding, pinned to `request` and `entities`, differs from the evaluator.

    Empty when, under the pins, each policy's term has exactly the evaluator's outcome
    (satisfied, not satisfied or error) and the decision term the authorizer's decision.
    """
    f = env.f
    solver = make_solver(env.u.ctx, timeout_ms)
    solver.add(*pin(env, request, entities))
    solver.add(*hierarchy_assumptions(env), *env.input_assumptions())
    consistent = check(solver)
    if consistent != z3.sat:
        return [f"the pinned environment is not satisfiable ({consistent})"]
    labels, differs = [], []
    for policy, s in compiled:
        outcome = evaluate_policy(policy, request, entities).outcome
        labels.append(f"{policy.id} ({outcome.value})")
        differs.append(_outcome_differs(f, s, outcome))
    allowed = is_authorized(request, [p for p, _ in compiled], entities).allowed
    labels.append(f"decision ({'allow' if allowed else 'deny'})")
    differs.append(f.not_(decision) if allowed else decision)
    result = check(solver, f.or_(*differs))
    if result == z3.unsat:
        return []
    if result != z3.sat:
        return [f"could not decide whether the encoding agrees ({result})"]
    model = solver.model()
    return [
        f"{label}: the encoding allows another outcome"
        for label, d in zip(labels, differs, strict=True)
        if z3.is_true(model.eval(d, model_completion=True))
    ]
