"""The symbolic authorizer: allow iff some permit is satisfied and no forbid is.

It runs core.authorizer's `decision_rule`, the same code the concrete authorizer runs, on
Z3 terms instead of Python booleans.
"""

from __future__ import annotations

from collections.abc import Iterable

import z3

from cedar_smt.core.authorizer import DecisionRule, Logic, decision_rule
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.typechecker import TypeCheckError, typecheck
from cedar_smt.encoder.compiler import compile
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Factory, Sym


def z3_logic(f: Factory) -> Logic[z3.BoolRef]:
    return Logic(any=f.any, both=lambda a, b: f.and_(a, b), negate=f.not_)


def compile_policy(policy: Policy, env: SymEnv) -> Sym:
    """The policy's expression as a term in `env` (it must validate in that environment); a
    template's slots are its symbolic link's (encoder/env.py `SymEnv.slot`)."""
    try:
        typed = typecheck(policy, env.env, env.schema)
    except TypeCheckError as err:
        raise EncodeError(f"does not validate for {env.env}: {err.message}", policy.id) from None
    try:
        with env.linking(policy):
            return compile(typed, env)
    except EncodeError as err:
        raise EncodeError(err.message, policy.id) from None


def satisfied(policies: Iterable[Policy], env: SymEnv) -> tuple[list[z3.BoolRef], list[z3.BoolRef]]:
    """Whether each permit, and each forbid, is satisfied."""
    f = env.f
    permits: list[z3.BoolRef] = []
    forbids: list[z3.BoolRef] = []
    for policy in policies:
        holds = f.satisfied(compile_policy(policy, env))
        (permits if policy.effect is Effect.PERMIT else forbids).append(holds)
    return permits, forbids


def is_authorized(
    policies: Iterable[Policy],
    env: SymEnv,
    rule: DecisionRule[z3.BoolRef] = decision_rule,
) -> z3.BoolRef:
    """The decision as a Z3 boolean: true iff the request is allowed."""
    permits, forbids = satisfied(policies, env)
    return rule(permits, forbids, z3_logic(env.f))
