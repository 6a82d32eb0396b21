"""The policies of one request environment, compiled once and shared by every question asked
there.

A policy's compiled form depends only on what it says (its scopes and conditions), not on its
id, effect or place: two versions of a store, a policy set and the same set reordered, or the
many checks of a lint, compile each distinct policy once per environment. A policy whose scope
cannot match the environment is not satisfied there, and is not compiled at all. Each compiled
policy keeps the notes of its own terms (encoder/env.py), so a question about a few policies
assumes and decodes only what those policies need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from cedar_smt.core.authorizer import DecisionRule, decision_rule
from cedar_smt.core.links import LinkSpace
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.types import BOOL
from cedar_smt.encoder.authorizer import compile_policy, z3_logic
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Sym
from cedar_smt.encoder.sorts import Universe


def content(policy: Policy, links: LinkSpace | None = None) -> tuple[Any, ...]:
    """What a policy's compiled form depends on (for a template, also its link's key)."""
    key = (links or LinkSpace()).key(policy) if policy.is_template else None
    return (policy.principal, policy.action, policy.resource, policy.conditions, key)


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


class EnvEncoding:
    def __init__(self, universe: Universe, env: RequestEnv, links: LinkSpace | None = None) -> None:
        self.senv = SymEnv(universe, env, links)
        self.f = self.senv.f
        self._cache: dict[tuple[Any, ...], Compiled | EncodeError] = {}

    @property
    def env(self) -> RequestEnv:
        return self.senv.env

    def policy(self, policy: Policy) -> Compiled:
        """The policy compiled in this environment (raises EncodeError as compiling does)."""
        key = content(policy, self.senv.links)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compile(policy)
        if isinstance(found, EncodeError):
            raise EncodeError(found.message, policy.id)
        return found

    def _compile(self, policy: Policy) -> Compiled | EncodeError:
        f = self.f
        if not applies(policy, self.env, self.senv.schema):
            return Compiled(Sym(f.false, f.false, BOOL), f.false, Notes(), False)
        try:
            with self.senv.recording() as notes:
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
