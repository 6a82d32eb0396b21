"""Semantic diff: every class of requests whose decision changes between two policy versions.

Policies are matched across versions by `@id` when they have one, else by identical text; the
report lists the added, removed and changed ones. Then, per request environment, a class of
requests is identified by which old and which new policies they satisfy: the solver finds a
request whose decision differs, the witness is decoded and replayed through the concrete
authorizer (which also gives the class), the class is blocked, and the search goes on until
no changed request remains. Each class says why its decision changed, in a sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from cedar_smt.analyzer.minimize import minimize
from cedar_smt.analyzer.results import Counterexample, InternalError, Verdict
from cedar_smt.analyzer.runner import decode_model, select_environments
from cedar_smt.core.ast import to_source
from cedar_smt.core.authorizer import Outcome, decision_rule, evaluate_policy, is_authorized
from cedar_smt.core.entities import Entities
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv
from cedar_smt.core.validator import request_environments
from cedar_smt.encoder.authorizer import compile_policy, z3_logic
from cedar_smt.encoder.decoder import Counterexample as Decoded
from cedar_smt.encoder.encoding import EnvEncoding
from cedar_smt.encoder.enforcer import footprint_hierarchy_assumptions, hierarchy_assumptions
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import make_solver
from cedar_smt.encoder.sorts import Universe

MAX_CLASSES = 64  # per environment; more is reported as unknown, never silently dropped


@dataclass(frozen=True)
class PolicyRef:
    """A policy of one version, as reports name it."""

    id: str
    name: str  # the @id annotation, or the id
    effect: str
    version: str  # "old" or "new"
    source: str | None
    line: int | None
    column: int | None

    @staticmethod
    def of(p: Policy, version: str) -> PolicyRef:
        return PolicyRef(
            p.id,
            p.display_name,
            p.effect.value,
            version,
            p.source,
            p.loc.line if p.loc else None,
            p.loc.column if p.loc else None,
        )

    @property
    def where(self) -> str:
        if self.line is None:
            return self.source or self.version
        return f"{self.source or self.version}:{self.line}"

    def __str__(self) -> str:
        return f"{self.effect} `{self.name}` ({self.where})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "effect": self.effect,
            "version": self.version,
            "file": self.source,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True)
class PolicyChange:
    kind: str  # "added", "removed", "changed" or "unchanged"
    old: PolicyRef | None
    new: PolicyRef | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": self.old.to_json() if self.old else None,
            "new": self.new.to_json() if self.new else None,
        }


@dataclass(frozen=True)
class ChangeClass:
    """Requests of one environment satisfying exactly these old and new policies."""

    transition: str  # "newly allowed" or "newly denied"
    old_satisfied: tuple[PolicyRef, ...]
    new_satisfied: tuple[PolicyRef, ...]
    responsible: tuple[PolicyRef, ...]
    explanation: str
    witness: Counterexample

    def to_json(self) -> dict[str, Any]:
        return {
            "transition": self.transition,
            "old_satisfied": [p.name for p in self.old_satisfied],
            "new_satisfied": [p.name for p in self.new_satisfied],
            "responsible": [p.to_json() for p in self.responsible],
            "explanation": self.explanation,
            "witness": self.witness.to_json(),
        }


@dataclass(frozen=True)
class EnvDiff:
    env: RequestEnv
    classes: tuple[ChangeClass, ...] = ()
    complete: bool = True  # False when the search stopped early (see reason)
    reason: str | None = None
    encode_seconds: float = 0.0
    solve_seconds: float = 0.0
    confirm_seconds: float = 0.0  # decoding, replaying and shrinking the witnesses

    @property
    def verdict(self) -> Verdict:
        if self.classes:
            return Verdict.REFUTED
        return Verdict.HOLDS if self.complete else Verdict.UNKNOWN

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principal_type": self.env.principal,
            "action": str(self.env.action),
            "resource_type": self.env.resource,
            "result": "changed" if self.classes else "unchanged" if self.complete else "unknown",
            "classes": [c.to_json() for c in self.classes],
        }
        if not self.complete:
            out["complete"] = False
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class DiffResult:
    changes: tuple[PolicyChange, ...] = ()
    environments: tuple[EnvDiff, ...] = ()
    old_label: str = "old"
    new_label: str = "new"

    @property
    def decisions_change(self) -> bool:
        return any(e.classes for e in self.environments)

    @property
    def complete(self) -> bool:
        return all(e.complete for e in self.environments)

    @property
    def classes(self) -> list[tuple[RequestEnv, ChangeClass]]:
        return [(e.env, c) for e in self.environments for c in e.classes]

    def to_json(self) -> dict[str, Any]:
        result = "changed" if self.decisions_change else "unchanged" if self.complete else "unknown"
        return {
            "query": "diff",
            "result": result,
            "old": self.old_label,
            "new": self.new_label,
            "policies": [c.to_json() for c in self.changes if c.kind != "unchanged"],
            "environments": [e.to_json() for e in self.environments],
        }


def _content(p: Policy) -> Any:
    """What a policy says, independent of its id and place."""
    return (p.effect, p.principal, p.action, p.resource, p.conditions, p.annotations)


def _text(p: Policy) -> str:
    return f"{p.effect.value} {to_source(p.to_expr())}"


def match_policies(old: Sequence[Policy], new: Sequence[Policy]) -> list[PolicyChange]:
    """Pair the versions' policies: by `@id`, else by identical text."""
    changes: list[PolicyChange] = []
    unmatched_new = list(new)
    by_id = {p.annotation_map.get("id"): p for p in new if p.annotation_map.get("id")}
    for p in old:
        ident = p.annotation_map.get("id")
        q = by_id.get(ident) if ident else None
        if q is None and not ident:
            q = next(
                (
                    x
                    for x in unmatched_new
                    if not x.annotation_map.get("id") and _text(x) == _text(p)
                ),
                None,
            )
        if q is None or q not in unmatched_new:
            changes.append(PolicyChange("removed", PolicyRef.of(p, "old"), None))
            continue
        unmatched_new.remove(q)
        kind = "unchanged" if _content(p) == _content(q) else "changed"
        changes.append(PolicyChange(kind, PolicyRef.of(p, "old"), PolicyRef.of(q, "new")))
    changes.extend(PolicyChange("added", None, PolicyRef.of(q, "new")) for q in unmatched_new)
    return changes


def _explain(
    transition: str,
    old_sat: set[str],
    new_sat: set[str],
    old: Sequence[Policy],
    new: Sequence[Policy],
    changes: Sequence[PolicyChange],
) -> tuple[tuple[PolicyRef, ...], str]:
    """The policies that make the difference, and a sentence saying how."""
    counterpart: dict[tuple[str, str], PolicyChange] = {}
    for c in changes:
        if c.old:
            counterpart[("old", c.old.id)] = c
        if c.new:
            counterpart[("new", c.new.id)] = c
    gained = Effect.PERMIT if transition == "newly allowed" else Effect.FORBID
    lost = Effect.FORBID if transition == "newly allowed" else Effect.PERMIT
    parts: list[str] = []
    responsible: list[PolicyRef] = []
    for p in new:
        if p.effect is not gained or p.id not in new_sat:
            continue
        c = counterpart[("new", p.id)]
        ref = PolicyRef.of(p, "new")
        if c.kind == "added":
            parts.append(f"{ref} was added and applies")
        elif c.old is None or c.old.id not in old_sat:
            parts.append(f"{ref.effect} `{ref.name}` (changed, {ref.where}) now applies")
        else:
            continue
        responsible.append(ref)
    for p in old:
        if p.effect is not lost or p.id not in old_sat:
            continue
        c = counterpart[("old", p.id)]
        ref = PolicyRef.of(p, "old")
        if c.kind == "removed":
            parts.append(f"{ref} was removed")
        elif c.new is None or c.new.id not in new_sat:
            where = c.new.where if c.new else ref.where
            parts.append(f"{ref.effect} `{ref.name}` (changed, {where}) no longer applies")
        else:
            continue
        responsible.append(ref)
    if not parts:
        parts.append("the policies that decide it changed")
    return tuple(responsible), f"{transition}: " + " and ".join(parts)


def _satisfied(policies: Sequence[Policy], cx: Any) -> set[str]:
    return {
        p.id
        for p in policies
        if evaluate_policy(p, cx.request, cx.entities).outcome is Outcome.SATISFIED
    }


def _decision(terms: list[tuple[Policy, z3.BoolRef]], f: Any) -> z3.BoolRef:
    permits = [t for p, t in terms if p.effect is Effect.PERMIT]
    forbids = [t for p, t in terms if p.effect is Effect.FORBID]
    return decision_rule(permits, forbids, z3_logic(f))


def diff_environment(
    old: Sequence[Policy],
    new: Sequence[Policy],
    changes: Sequence[PolicyChange],
    env: RequestEnv,
    universe: Universe,
    timeout_ms: int | None = None,
    labels: tuple[str, str] = ("old", "new"),
    plain: bool = False,
) -> EnvDiff:
    """Every class of changed decisions in one environment (`plain`: the reference path of
    analyzer/runner.py, every policy compiled afresh and hierarchy facts on every pair of
    entity terms)."""
    start = time.perf_counter()
    try:
        if plain:
            senv = SymEnv(universe, env)
            f = senv.f
            old_terms = [(p, f.satisfied(compile_policy(p, senv))) for p in old]
            new_terms = [(p, f.satisfied(compile_policy(p, senv))) for p in new]
            old_decision, new_decision = _decision(old_terms, f), _decision(new_terms, f)
        else:
            enc = EnvEncoding(universe, env)
            senv, f = enc.senv, enc.f
            old_set, new_set = enc.policy_set(old), enc.policy_set(new)
            old_terms = [(p, enc.policy(p).satisfied) for p in old]
            new_terms = [(p, enc.policy(p).satisfied) for p in new]
            old_decision, new_decision = old_set.decision, new_set.decision
    except EncodeError as err:
        return EnvDiff(env, complete=False, reason=f"unsupported: {err}")
    solving = confirming = 0.0
    differs = f.not_(f.eq(old_decision, new_decision))
    encoded = time.perf_counter() - start
    if z3.is_false(differs):
        return EnvDiff(env, encode_seconds=encoded)
    if plain:
        notes = senv.notes
        hierarchy = footprint_hierarchy_assumptions(senv)
    else:
        notes = enc.notes([old_set.notes, new_set.notes])
        hierarchy = hierarchy_assumptions(senv, notes)
    solver = make_solver(universe.ctx, timeout_ms)
    solver.add(*hierarchy, *senv.input_assumptions(notes), differs)
    classes: list[ChangeClass] = []
    seen: set[tuple[frozenset[str], frozenset[str]]] = set()
    while True:
        t0 = time.perf_counter()
        answer = solver.check()
        solving += time.perf_counter() - t0
        timing: dict[str, Any] = {
            "encode_seconds": encoded,
            "solve_seconds": solving,
            "confirm_seconds": confirming,
        }
        if answer == z3.unsat:
            return EnvDiff(env, tuple(classes), **timing)
        if answer != z3.sat:
            why = solver.reason_unknown()
            return EnvDiff(env, tuple(classes), False, f"the solver stopped: {why}", **timing)
        if len(classes) >= MAX_CLASSES:
            reason = f"more than {MAX_CLASSES} classes"
            return EnvDiff(env, tuple(classes), False, reason, **timing)
        t0 = time.perf_counter()
        cx = decode_model(senv, solver.model(), notes)
        old_sat, new_sat = _satisfied(old, cx), _satisfied(new, cx)
        old_resp = is_authorized(cx.request, old, cx.entities)
        new_resp = is_authorized(cx.request, new, cx.entities)
        signature = (frozenset(old_sat), frozenset(new_sat))
        if old_resp.allowed == new_resp.allowed or signature in seen:
            raise InternalError(
                f"the diff witness in {env} does not replay as a new class of changed "
                f"decisions: {cx.to_json()}"
            )

        def same_class(request: Request, entities: Entities, signature: Any = signature) -> bool:
            point = Decoded(request, entities)
            return bool(
                (frozenset(_satisfied(old, point)), frozenset(_satisfied(new, point))) == signature
            )

        request, entities = minimize(cx.request, cx.entities, same_class)
        cx = Decoded(request, entities)
        seen.add(signature)
        transition = "newly allowed" if new_resp.allowed else "newly denied"
        responsible, sentence = _explain(transition, old_sat, new_sat, old, new, changes)
        witness = Counterexample(
            cx.request,
            cx.entities,
            {labels[0]: old_resp.decision, labels[1]: new_resp.decision},
        )
        classes.append(
            ChangeClass(
                transition,
                tuple(PolicyRef.of(p, "old") for p in old if p.id in old_sat),
                tuple(PolicyRef.of(p, "new") for p in new if p.id in new_sat),
                responsible,
                sentence,
                witness,
            )
        )
        # block this class (the policies that cannot apply here are in every class alike)
        same = [f.eq(t, f.bool(p.id in old_sat)) for p, t in old_terms if not z3.is_false(t)]
        same += [f.eq(t, f.bool(p.id in new_sat)) for p, t in new_terms if not z3.is_false(t)]
        solver.add(f.not_(f.and_(*same)))
        confirming += time.perf_counter() - t0


def diff_policies(
    old: Sequence[Policy],
    new: Sequence[Policy],
    schema: Schema,
    *,
    labels: tuple[str, str] = ("old", "new"),
    principal_type: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    timeout: float | None = None,
    on_done: Callable[[EnvDiff], None] | None = None,
    plain: bool = False,
) -> DiffResult:
    """Every class of requests whose decision differs between `old` and `new`, per environment."""
    from cedar_smt.analyzer.checks import AnalysisInputError, require_valid

    old, new = tuple(old), tuple(new)
    require_valid(old, schema, f"the policies of `{labels[0]}`")
    require_valid(new, schema, f"the policies of `{labels[1]}`")
    envs = select_environments(request_environments(schema), principal_type, action, resource_type)
    if not envs:
        raise AnalysisInputError("no request environment of the schema matches the given filters")
    changes = match_policies(old, new)
    universe = Universe(schema)
    timeout_ms = None if timeout is None else max(1, int(timeout * 1000))
    results = []
    for env in envs:
        results.append(
            diff_environment(old, new, changes, env, universe, timeout_ms, labels, plain)
        )
        if on_done:
            on_done(results[-1])
    return DiffResult(tuple(changes), tuple(results), *labels)


__all__ = [
    "ChangeClass",
    "DiffResult",
    "EnvDiff",
    "PolicyChange",
    "PolicyRef",
    "diff_policies",
    "match_policies",
]
