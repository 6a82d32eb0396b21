"""Access review against an entity store: principals and resources are the store's entities
(their attributes, tags and hierarchy as in the store), the action one of the schema's, and
the context any context the schema allows.

Each (principal, action, resource) is `always` allowed, `sometimes` (with a witness context,
replayed through core's authorizer before anyone sees it), `never`, or `unknown` (with the
reason; never folded into never). core/grounded.py reduces each policy to true, false or a
residual condition on the context without the solver; only residuals reach Z3, each distinct
residual decision once per action (`_Decider`). `plain_grant` is the reference the tests
compare this with: one query over the whole policy set, pinned to the triple and the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import z3

from cedar_smt.analyzer.results import AnalysisInputError, InternalError
from cedar_smt.core.ast import Expr, UnaryApp, UnaryOp, to_source
from cedar_smt.core.authorizer import decision_rule, is_authorized
from cedar_smt.core.entities import Entities
from cedar_smt.core.grounded import Facts, GroundedPolicies, set_bits
from cedar_smt.core.policy import Condition, Effect, Policy, ScopeAny
from cedar_smt.core.request import Request
from cedar_smt.core.residual import Irreducible
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.validator import request_environments
from cedar_smt.core.values import EntityUID, Record, to_json
from cedar_smt.encoder.authorizer import compile_policy, z3_logic
from cedar_smt.encoder.concrete import pin_entities, pin_known
from cedar_smt.encoder.decoder import DecodeError, decode_context
from cedar_smt.encoder.encoding import EnvEncoding
from cedar_smt.encoder.enforcer import footprint_hierarchy_assumptions, hierarchy_assumptions
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import check, make_solver
from cedar_smt.encoder.sorts import Universe

SIMPLE_CONDITION = 200  # a condition on the context longer than this is not shown


class Access(Enum):
    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NEVER = "never"
    UNKNOWN = "unknown"


RANK = {Access.NEVER: 0, Access.SOMETIMES: 1, Access.ALWAYS: 2}


@dataclass(frozen=True)
class Grant:
    """The answer for one (principal, action, resource): `policies` are the permits that can
    grant it (always, sometimes), or the forbids that deny it (never)."""

    principal: EntityUID
    action: EntityUID
    resource: EntityUID
    access: Access
    policies: tuple[str, ...] = ()
    witness: Record | None = None  # a context the store and the policies allow
    condition: str | None = None  # allowed exactly when this Cedar expression is true
    reason: str | None = None  # why unknown

    def to_json(self, *, fixed: Sequence[str] = ()) -> dict[str, Any]:
        """The answer as JSON; `fixed` names the parts a query holds fixed (left out)."""
        out: dict[str, Any] = {
            part: getattr(self, part).to_json()
            for part in ("principal", "action", "resource")
            if part not in fixed
        }
        out["access"] = self.access.value
        out["policies"] = list(self.policies)
        if self.witness is not None:
            out["witness"] = {"context": to_json(self.witness)}
        if self.condition is not None:
            out["condition"] = self.condition
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class WhoCan:
    action: EntityUID
    resource: EntityUID
    principals: tuple[Grant, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": "who-can",
            "action": self.action.to_json(),
            "resource": self.resource.to_json(),
            "principals": [g.to_json(fixed=("action", "resource")) for g in self.principals],
        }


@dataclass(frozen=True)
class WhatCan:
    principal: EntityUID
    accesses: tuple[Grant, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": "what-can",
            "principal": self.principal.to_json(),
            "accesses": [g.to_json(fixed=("principal",)) for g in self.accesses],
        }


@dataclass(frozen=True)
class Change:
    """One triple whose answer a change of policies changes."""

    old: Grant
    new: Grant
    responsible: tuple[str, ...]  # the changed policies that apply to the triple

    @property
    def transition(self) -> str:
        return f"{self.old.access.value} -> {self.new.access.value}"

    @property
    def gains(self) -> bool | None:
        """True for more access, False for less, None when either side is unknown."""
        if self.old.access not in RANK or self.new.access not in RANK:
            return None
        return RANK[self.new.access] > RANK[self.old.access]

    def to_json(self) -> dict[str, Any]:
        out = {
            "principal": self.old.principal.to_json(),
            "action": self.old.action.to_json(),
            "resource": self.old.resource.to_json(),
            "old": self.old.to_json(fixed=("principal", "action", "resource")),
            "new": self.new.to_json(fixed=("principal", "action", "resource")),
        }
        return out


@dataclass(frozen=True)
class ChangeGroup:
    """The changes the same changed policies are responsible for."""

    policies: tuple[str, ...]
    changes: tuple[Change, ...]

    @property
    def transitions(self) -> dict[str, int]:
        return dict(sorted(Counter(c.transition for c in self.changes).items()))

    def summary(self) -> str:
        parts = []
        for gains, verb in ((True, "grants"), (False, "removes")):
            chosen = [c for c in self.changes if c.gains is gains]
            if chosen:
                who = len({c.old.principal for c in chosen})
                what = len({c.old.resource for c in chosen})
                parts.append(
                    f"{verb} {who} principal{'s' if who != 1 else ''} "
                    f"{'new access to' if gains else 'access to'} "
                    f"{what} resource{'s' if what != 1 else ''}"
                )
        unknown = sum(1 for c in self.changes if c.gains is None)
        if unknown:
            parts.append(f"{unknown} change{'s' if unknown != 1 else ''} involve unknown answers")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "policies": list(self.policies),
            "summary": self.summary(),
            "transitions": self.transitions,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class AccessDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]
    groups: tuple[ChangeGroup, ...]
    triples: int = 0  # triples looked at (those some changed policy applies to)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for g in self.groups for c in g.changes)

    @property
    def transitions(self) -> dict[str, int]:
        return dict(sorted(Counter(c.transition for c in self.changes).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "query": "access-diff",
            "added": list(self.added),
            "removed": list(self.removed),
            "modified": list(self.modified),
            "transitions": self.transitions,
            "groups": [g.to_json() for g in self.groups],
        }


@dataclass(frozen=True)
class _Answer:
    access: Access
    witness: Record | None = None
    condition: str | None = None
    reason: str | None = None


def _residual_policy(expr: Expr) -> Policy:
    return Policy(
        "residual", Effect.PERMIT, ScopeAny(), ScopeAny(), ScopeAny(), (Condition("when", expr),)
    )


def _reason(solver: Any, timeout_ms: int | None) -> str:
    why = solver.reason_unknown()
    if "timeout" in why or "canceled" in why:
        return f"timeout: the solver gave up after {(timeout_ms or 0) / 1000:g}s"
    return f"the solver could not decide: {why}"


def _classify(
    senv: SymEnv,
    decision: z3.BoolRef,
    assumptions: Sequence[z3.BoolRef],
    notes: Any,
    timeout_ms: int | None,
) -> _Answer:
    """Always iff `decision` is valid under the assumptions, never iff it is unsatisfiable,
    else sometimes with a model's context as the witness."""
    f = senv.f
    if z3.is_false(decision):
        return _Answer(Access.NEVER)
    solver = make_solver(senv.u.ctx, timeout_ms)
    solver.add(*assumptions)
    some = check(solver, decision)
    if some == z3.unsat:
        return _Answer(Access.NEVER)
    if some != z3.sat:
        return _Answer(Access.UNKNOWN, reason=_reason(solver, timeout_ms))
    try:
        witness = decode_context(senv, solver.model(), notes)
    except DecodeError as err:
        raise InternalError(f"in environment {senv.env}: {err}") from err
    if z3.is_true(decision):
        return _Answer(Access.ALWAYS, witness)
    every = check(solver, f.not_(decision))
    if every == z3.unsat:
        return _Answer(Access.ALWAYS, witness)
    if every != z3.sat:
        return _Answer(
            Access.UNKNOWN,
            witness,
            reason="allowed for some contexts (see the witness); whether for all could not be "
            f"decided: {_reason(solver, timeout_ms)}",
        )
    return _Answer(Access.SOMETIMES, witness)


def _condition(permits: Sequence[Expr] | None, forbids: Sequence[Expr]) -> str | None:
    parts = []
    if permits is not None:
        text = " || ".join(to_source(e) for e in permits)
        parts.append(f"({text})" if len(permits) > 1 and forbids else text)
    parts.extend(_negated(e) for e in forbids)
    condition = " && ".join(parts)
    return condition if len(condition) <= SIMPLE_CONDITION else None


def _negated(e: Expr) -> str:
    """`!e` as text; `!!x` shown as `x` (a residual is typed Bool, so they agree)."""
    if isinstance(e, UnaryApp) and e.op is UnaryOp.NOT:
        return to_source(e.arg)
    return f"!{to_source(e)}"


class _Decider:
    """The residual decisions of one action, compiled in one environment (residuals mention
    only the context, whose type is the action's) and each decided once."""

    def __init__(
        self, universe: Universe, env: RequestEnv, entities: Entities, timeout_ms: int | None
    ) -> None:
        self.enc = EnvEncoding(universe, env)
        self.entities = entities
        self.timeout_ms = timeout_ms
        self._answers: dict[tuple[frozenset[Expr] | None, frozenset[Expr]], _Answer] = {}
        self._pins: tuple[tuple[int, int], list[z3.BoolRef]] = ((-1, -1), [])

    def decide(self, permits: frozenset[Expr] | None, forbids: frozenset[Expr]) -> _Answer:
        """`permits` None: some permit holds whatever the context. Raises EncodeError."""
        key = (permits, forbids)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self._decide(permits, forbids)
        return found

    def _decide(self, permits: frozenset[Expr] | None, forbids: frozenset[Expr]) -> _Answer:
        enc, f = self.enc, self.enc.f
        ordered_permits = None if permits is None else sorted(permits, key=to_source)
        ordered_forbids = sorted(forbids, key=to_source)
        ps = [enc.policy(_residual_policy(e)) for e in ordered_permits or ()]
        fs = [enc.policy(_residual_policy(e)) for e in ordered_forbids]
        some_permit = f.true if permits is None else f.any([c.satisfied for c in ps])
        decision = f.and_(some_permit, f.not_(f.any([c.satisfied for c in fs])))
        notes = enc.notes([c.notes for c in (*ps, *fs)])
        senv = enc.senv
        assumptions = [*hierarchy_assumptions(senv, notes), *senv.input_assumptions(notes)]
        if notes.stored or notes.footprint:
            assumptions += self._store_pins()
        answer = _classify(senv, decision, assumptions, notes, self.timeout_ms)
        if answer.access is Access.SOMETIMES:
            condition = _condition(ordered_permits, ordered_forbids)
            answer = _Answer(answer.access, answer.witness, condition)
        return answer

    def _store_pins(self) -> list[z3.BoolRef]:
        """The store, pinned; rebuilt only when the formulas have touched more of it."""
        senv = self.enc.senv
        size = (len(senv.used), len(senv.footprint))
        if self._pins[0] != size:
            self._pins = (size, pin_entities(senv, self.entities))
        return self._pins[1]


def _said(
    residual: int, row: dict[int, int], column: dict[int, int], pair: dict[int, int] | None
) -> tuple[tuple[int, int], ...]:
    """The residual policies of a triple, each with its expression's number, in order."""
    out = []
    for i in set_bits(residual):
        found = row.get(i)
        if found is None:
            found = column.get(i)
            if found is None:
                assert pair is not None, i
                found = pair[i]
        out.append((i, found))
    return tuple(out)


def _uid_order(uid: EntityUID) -> tuple[str, str]:
    return (uid.type, uid.id)


class AccessReview:
    """One policy set over one entity store and schema: `grant(p, a, r)` for any triple."""

    def __init__(
        self,
        policies: Iterable[Policy],
        schema: Schema,
        entities: Entities,
        timeout_ms: int | None = None,
    ) -> None:
        self.schema = schema
        self.entities = entities
        self.grounded = GroundedPolicies(policies, entities)
        self.policies = self.grounded.policies
        self.names = tuple(p.display_name for p in self.policies)
        self.timeout_ms = timeout_ms
        self._universe = Universe(schema)
        self._envs: dict[EntityUID, list[RequestEnv]] = {}
        for env in request_environments(schema):
            self._envs.setdefault(env.action, []).append(env)
        self._deciders: dict[EntityUID, _Decider] = {}
        by_type: dict[str, list[EntityUID]] = {}
        for uid in entities:
            by_type.setdefault(uid.type, []).append(uid)
        self._by_type = {t: sorted(uids, key=_uid_order) for t, uids in by_type.items()}

    # what ranges over what

    @property
    def actions(self) -> list[EntityUID]:
        return sorted(self._envs, key=_uid_order)

    def principals(self, action: EntityUID) -> list[EntityUID]:
        """The store's entities the action applies to as principals."""
        return self._of_types(self.schema.actions[action].principal_types)

    def resources(self, action: EntityUID) -> list[EntityUID]:
        return self._of_types(self.schema.actions[action].resource_types)

    def _of_types(self, types: Iterable[str]) -> list[EntityUID]:
        return [uid for t in sorted(types) for uid in self._by_type.get(t, ())]

    def check_action(self, action: EntityUID) -> None:
        if action not in self._envs:
            known = ", ".join(f"`{a}`" for a in self.actions) or "none"
            raise AnalysisInputError(
                f"`{action}` is not an action of the schema that applies to some principal and "
                f"resource; those are {known}"
            )

    def check_entity(self, uid: EntityUID, part: str) -> None:
        if uid not in self.entities:
            raise AnalysisInputError(f"the {part} `{uid}` is not in the entity store")

    # answers

    def grant(self, p: EntityUID, a: EntityUID, r: EntityUID) -> Grant:
        """The answer for one triple, on its own: the reference `grants` is compared with."""
        return self._grant(p, a, r)[0]

    def _grant(self, p: EntityUID, a: EntityUID, r: EntityUID) -> tuple[Grant, Facts | None]:
        """The grant, and its facts when the answer follows from them alone (not when a
        per-triple query over the pinned store decided it)."""
        facts = self.grounded.facts(p, a, r)
        names = self.names
        if facts.forbids:
            return Grant(p, a, r, Access.NEVER, tuple(names[i] for i in facts.forbids)), facts
        if not facts.permits and not facts.residual_permits and not facts.irreducible:
            return Grant(p, a, r, Access.NEVER), facts
        if facts.permits and not facts.residual_forbids and not facts.irreducible:
            return Grant(p, a, r, Access.ALWAYS, tuple(names[i] for i in facts.permits)), facts
        shared: Facts | None = facts
        if facts.irreducible:
            answer, shared = self._plain(p, a, r, facts), None
        else:
            permits = None if facts.permits else frozenset(e for _, e in facts.residual_permits)
            forbids = frozenset(e for _, e in facts.residual_forbids)
            try:
                answer = self._decider(a).decide(permits, forbids)
            except EncodeError:
                answer, shared = self._plain(p, a, r, facts), None
        return self._checked(p, a, r, facts, answer), shared

    def grants(
        self,
        actions: Sequence[EntityUID] | None = None,
        principal: EntityUID | None = None,
        resource: EntityUID | None = None,
        *,
        principals: Collection[EntityUID] | None = None,
    ) -> Iterator[Grant]:
        """`grant` for every triple of `triples(actions, principal, resource)` (of the
        `principals` only, when given), in that order, each distinct situation decided once.

        A triple's answer follows from which policies are satisfied always and which where
        which residual holds (`_key`); the triples of one action that share that are decided
        once, by `grant` on the first of them (its witness replayed there), and the answer is
        reused for the others. What a principal and a resource bring is computed once each
        (`GroundedPolicies.side`); only the policies whose conditions read both are evaluated
        per triple. A triple some policy is irreducible for is decided on its own."""
        grounded = self.grounded
        pair = grounded.pair
        for a, ps, rs in self._ranges(actions, principal, resource):
            if principals is not None:
                ps = [p for p in ps if p in principals]
            answers: dict[tuple[int, tuple[tuple[int, int], ...]], tuple[Any, ...]] = {}
            columns = [(r, grounded.side(r, a, principal=False)) for r in rs]
            within = 0
            for _, column in columns:
                within |= column.scope
            for p in ps:
                row = grounded.side(p, a, principal=True, within=within)
                for r, column in columns:
                    cand = row.scope & column.scope
                    if cand & (row.irreducible | column.irreducible):
                        yield self.grant(p, a, r)
                        continue
                    true = cand & (row.true | column.true)
                    residual = cand & (row.residual | column.residual)
                    exprs: dict[int, int] | None = None
                    both = cand & pair
                    irreducible = False
                    while both:
                        low = both & -both
                        both ^= low
                        i = low.bit_length() - 1
                        o = grounded.pair_outcome(i, p, a, r, row, column)
                        if o is True:
                            true |= low
                        elif o is False:
                            continue
                        elif isinstance(o, Irreducible):
                            irreducible = True
                            break
                        else:
                            residual |= low
                            exprs = exprs or {}
                            exprs[i] = grounded.expr_id(o)
                    if irreducible:
                        yield self.grant(p, a, r)
                        continue
                    said: tuple[tuple[int, int], ...] = ()
                    if residual:
                        said = _said(residual, row.exprs, column.exprs, exprs)
                    key = (true, said)
                    found = answers.get(key)
                    if found is None:
                        g, facts = self._grant(p, a, r)
                        if facts is None:
                            yield g
                            continue
                        own = self._key(facts)
                        if own != key:
                            raise InternalError(
                                f"for {p}, {a}, {r} the policies' outcomes computed side by "
                                f"side {key} differ from those computed for the triple {own}"
                            )
                        found = answers[key] = (
                            g.access,
                            g.policies,
                            g.witness,
                            g.condition,
                            g.reason,
                        )
                        yield g
                        continue
                    if found[2] is not None:  # the shared witness, replayed on this triple too
                        self._replay(p, a, r, found[2], set_bits(true | residual))
                    yield Grant(p, a, r, *found)

    def _key(self, facts: Facts) -> tuple[int, tuple[tuple[int, int], ...]]:
        true = 0
        for i in (*facts.permits, *facts.forbids):
            true |= 1 << i
        said = sorted(
            (i, self.grounded.expr_id(e))
            for i, e in (*facts.residual_permits, *facts.residual_forbids)
        )
        return true, tuple(said)

    def _plain(self, p: EntityUID, a: EntityUID, r: EntityUID, facts: Facts) -> _Answer:
        """A triple partial evaluation cannot reduce: the policies that apply, pinned."""
        env = self._env(p, a, r)
        return plain_answer(
            [self.policies[i] for i in facts.candidates],
            self._universe,
            env,
            p,
            r,
            self.entities,
            self.timeout_ms,
        )

    def _checked(
        self, p: EntityUID, a: EntityUID, r: EntityUID, facts: Facts, answer: _Answer
    ) -> Grant:
        """The grant, its witness replayed through core's authorizer first, on the policies
        the triple's scope matches that some context may satisfy. The others are false for
        every context by the very closures core's authorizer runs (core/compiled.py), or by
        the partial evaluator on parts that do not read the context; the tests check both
        against the authorizer on every policy."""
        names = self.policies
        if answer.witness is not None:
            live = (
                *facts.permits,
                *facts.forbids,
                *(i for i, _ in facts.residual_permits),
                *(i for i, _ in facts.residual_forbids),
                *(i for i, _ in facts.irreducible),
            )
            self._replay(p, a, r, answer.witness, live)
        if answer.access is Access.NEVER:
            deny = [self.names[i] for i, _ in facts.residual_forbids]
            return Grant(p, a, r, Access.NEVER, tuple(deny))
        grants = sorted(
            {*(i for i in facts.permits), *(i for i, _ in facts.residual_permits)},
        ) + [i for i, _ in facts.irreducible if names[i].effect is Effect.PERMIT]
        return Grant(
            p,
            a,
            r,
            answer.access,
            tuple(self.names[i] for i in grants),
            answer.witness if answer.access is not Access.ALWAYS else None,
            answer.condition,
            answer.reason,
        )

    def _replay(
        self, p: EntityUID, a: EntityUID, r: EntityUID, witness: Record, live: Iterable[int]
    ) -> None:
        """Authorize the triple with the witness context through core's authorizer, on the
        policies that may apply to it (`_checked` says why the others need not be run)."""
        names = self.policies
        response = is_authorized(Request(p, a, r, witness), [names[i] for i in live], self.entities)
        if not response.allowed:
            raise InternalError(
                f"the witness context for {p}, {a}, {r} does not allow when replayed: "
                f"{to_json(witness)} (reasons {sorted(response.reasons)}, errors "
                f"{response.errors})"
            )

    def _env(self, p: EntityUID, a: EntityUID, r: EntityUID) -> RequestEnv:
        for env in self._envs[a]:
            if env.principal == p.type and env.resource == r.type:
                return env
        raise AnalysisInputError(f"`{a}` does not apply to `{p.type}` and `{r.type}`")

    def _decider(self, a: EntityUID) -> _Decider:
        found = self._deciders.get(a)
        if found is None:
            env = self._envs[a][0]
            found = self._deciders[a] = _Decider(
                self._universe, env, self.entities, self.timeout_ms
            )
        return found

    def triples(
        self,
        actions: Sequence[EntityUID] | None = None,
        principal: EntityUID | None = None,
        resource: EntityUID | None = None,
        *,
        principal_type: str | None = None,
        resource_type: str | None = None,
    ) -> Iterator[tuple[EntityUID, EntityUID, EntityUID]]:
        """Every schema-valid triple over the store, principal by principal (only those of
        `principal`, of `principal_type`, and so on, when given)."""
        for a, ps, rs in self._ranges(actions, principal, resource, principal_type, resource_type):
            for p in ps:
                for r in rs:
                    yield p, a, r

    def _ranges(
        self,
        actions: Sequence[EntityUID] | None,
        principal: EntityUID | None,
        resource: EntityUID | None,
        principal_type: str | None = None,
        resource_type: str | None = None,
    ) -> Iterator[tuple[EntityUID, list[EntityUID], list[EntityUID]]]:
        """Each action, with the principals and the resources it ranges over."""
        for a in actions if actions is not None else self.actions:
            decl = self.schema.actions[a]
            if principal is not None and principal.type not in decl.principal_types:
                continue
            if resource is not None and resource.type not in decl.resource_types:
                continue
            ps = [principal] if principal is not None else self.principals(a)
            rs = [resource] if resource is not None else self.resources(a)
            if principal_type is not None:
                ps = [p for p in ps if p.type == principal_type]
            if resource_type is not None:
                rs = [r for r in rs if r.type == resource_type]
            yield a, ps, rs

    def count(
        self,
        actions: Sequence[EntityUID] | None = None,
        principal: EntityUID | None = None,
        resource: EntityUID | None = None,
        *,
        principal_type: str | None = None,
        resource_type: str | None = None,
    ) -> int:
        """How many triples `triples` gives for the same arguments."""
        return sum(
            len(ps) * len(rs)
            for _, ps, rs in self._ranges(
                actions, principal, resource, principal_type, resource_type
            )
        )


def plain_answer(
    policies: Sequence[Policy],
    universe: Universe,
    env: RequestEnv,
    principal: EntityUID,
    resource: EntityUID,
    entities: Entities,
    timeout_ms: int | None = None,
) -> _Answer:
    """One query over `policies` compiled whole in `env`, the principal, the resource and the
    store pinned, the context free: the reference the residual path is compared with."""
    senv = SymEnv(universe, env)
    f = senv.f
    permits: list[z3.BoolRef] = []
    forbids: list[z3.BoolRef] = []
    try:
        for policy in policies:
            if not applies(policy, env, universe.schema):
                continue
            holds = f.satisfied(compile_policy(policy, senv))
            (permits if policy.effect is Effect.PERMIT else forbids).append(holds)
    except EncodeError as err:
        return _Answer(Access.UNKNOWN, reason=f"unsupported: {err}")
    decision = decision_rule(permits, forbids, z3_logic(f))
    assumptions = [
        *pin_known(senv, principal, resource),
        *pin_entities(senv, entities),
        *footprint_hierarchy_assumptions(senv),
        *senv.input_assumptions(),
    ]
    return _classify(senv, decision, assumptions, senv.notes, timeout_ms)


def plain_grant(
    policies: Sequence[Policy],
    schema: Schema,
    entities: Entities,
    principal: EntityUID,
    action: EntityUID,
    resource: EntityUID,
    timeout_ms: int | None = None,
) -> Access:
    """The reference answer for one triple (every policy compiled, no partial evaluation)."""
    envs = [
        e
        for e in request_environments(schema)
        if e.action == action and e.principal == principal.type and e.resource == resource.type
    ]
    assert envs, (principal, action, resource)
    answer = plain_answer(
        policies, Universe(schema), envs[0], principal, resource, entities, timeout_ms
    )
    return answer.access


# the questions


def who_can(
    policies: Iterable[Policy],
    schema: Schema,
    entities: Entities,
    action: EntityUID,
    resource: EntityUID,
    *,
    include_never: bool = False,
    timeout_ms: int | None = None,
    on_done: Callable[[Grant], None] | None = None,
) -> WhoCan:
    """Every principal of the store and whether it may `action` on `resource`, for every
    context, some context or none (`never` only with `include_never`)."""
    review = AccessReview(policies, schema, entities, timeout_ms)
    review.check_action(action)
    review.check_entity(resource, "resource")
    grants = []
    for g in review.grants([action], resource=resource):
        if on_done is not None:
            on_done(g)
        if include_never or g.access is not Access.NEVER:
            grants.append(g)
    order = {Access.ALWAYS: 0, Access.SOMETIMES: 1, Access.UNKNOWN: 2, Access.NEVER: 3}
    grants.sort(key=lambda g: (order[g.access], _uid_order(g.principal)))
    return WhoCan(action, resource, tuple(grants))


def what_can(
    policies: Iterable[Policy],
    schema: Schema,
    entities: Entities,
    principal: EntityUID,
    *,
    include_never: bool = False,
    timeout_ms: int | None = None,
    on_done: Callable[[Grant], None] | None = None,
) -> WhatCan:
    """Every (action, resource) of the store and whether `principal` may do it."""
    review = AccessReview(policies, schema, entities, timeout_ms)
    review.check_entity(principal, "principal")
    grants = []
    for g in review.grants(principal=principal):
        if on_done is not None:
            on_done(g)
        if include_never or g.access is not Access.NEVER:
            grants.append(g)
    return WhatCan(principal, tuple(grants))


def access_matrix(
    review: AccessReview,
    actions: Sequence[EntityUID] | None = None,
    *,
    include_never: bool = False,
    on_done: Callable[[Grant], None] | None = None,
) -> Iterator[Grant]:
    """The answers for every triple, as they are found (memory follows the store, not the
    matrix)."""
    for a in actions or ():
        review.check_action(a)
    for g in review.grants(actions):
        if on_done is not None:
            on_done(g)
        if include_never or g.access is not Access.NEVER:
            yield g


def _changed(old: Sequence[Policy], new: Sequence[Policy]) -> tuple[list[str], ...]:
    olds, news = {p.id: p for p in old}, {p.id: p for p in new}
    added = [i for i in news if i not in olds]
    removed = [i for i in olds if i not in news]
    modified = [
        i
        for i in news
        if i in olds
        and (olds[i].effect, *_content(olds[i]))
        != (
            news[i].effect,
            *_content(news[i]),
        )
    ]
    return added, removed, modified


def _content(p: Policy) -> tuple[Any, ...]:
    return (p.principal, p.action, p.resource, p.conditions)


def access_diff(
    old: Iterable[Policy],
    new: Iterable[Policy],
    schema: Schema,
    entities: Entities,
    *,
    actions: Sequence[EntityUID] | None = None,
    principal_type: str | None = None,
    resource_type: str | None = None,
    timeout_ms: int | None = None,
    on_done: Callable[[Any], None] | None = None,
) -> AccessDiff:
    """Every triple of the store (of the actions, principal type and resource type given)
    whose answer changes from `old` to `new`, grouped by the changed policies (added, removed
    or modified, matched by id, named by `@id` where they have one) that apply to it. Only
    triples some changed policy's scope matches can change: the others are not decided
    again. `on_done` is called once per triple `AccessReview.count` counts."""
    before = AccessReview(old, schema, entities, timeout_ms)
    after = AccessReview(new, schema, entities, timeout_ms)
    added, removed, modified = _changed(before.policies, after.policies)
    changed = {*added, *removed, *modified}
    old_bits = sum(1 << i for i, p in enumerate(before.policies) if p.id in changed)
    new_bits = sum(1 << i for i, p in enumerate(after.policies) if p.id in changed)
    groups: dict[tuple[str, ...], list[Change]] = {}
    looked = 0
    for a in actions or ():
        after.check_action(a)
    chosen = after.triples(actions, principal_type=principal_type, resource_type=resource_type)
    for p, a, r in chosen:
        if on_done is not None:
            on_done(None)
        in_old = before.grounded.candidates(p, a, r) & old_bits
        in_new = after.grounded.candidates(p, a, r) & new_bits
        if not in_old and not in_new:
            continue
        looked += 1
        g_old, g_new = before.grant(p, a, r), after.grant(p, a, r)
        if g_old.access is g_new.access:
            continue
        responsible = sorted(
            {*_live(before, p, a, r, in_old), *_live(after, p, a, r, in_new)}
        ) or sorted({*_names(before, in_old), *_names(after, in_new)})
        groups.setdefault(tuple(responsible), []).append(Change(g_old, g_new, tuple(responsible)))
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    named = {p.id: p.display_name for p in (*before.policies, *after.policies)}
    return AccessDiff(
        tuple(named[i] for i in added),
        tuple(named[i] for i in removed),
        tuple(named[i] for i in modified),
        tuple(ChangeGroup(k, tuple(v)) for k, v in ordered),
        looked,
    )


def _names(review: AccessReview, bits: int) -> list[str]:
    return [name for i, name in enumerate(review.names) if bits >> i & 1]


def _live(review: AccessReview, p: EntityUID, a: EntityUID, r: EntityUID, bits: int) -> list[str]:
    """The policies of `bits` that are not false for the triple whatever the context."""
    return [
        review.names[i] for i in set_bits(bits) if review.grounded.outcome(i, p, a, r) is not False
    ]


def access_of(grants: Iterable[Grant]) -> dict[str, int]:
    """How many grants of each kind."""
    counts = Counter(g.access.value for g in grants)
    return {a.value: counts.get(a.value, 0) for a in Access}


__all__ = [
    "Access",
    "AccessDiff",
    "AccessReview",
    "Change",
    "ChangeGroup",
    "Grant",
    "WhatCan",
    "WhoCan",
    "access_diff",
    "access_matrix",
    "access_of",
    "plain_grant",
    "what_can",
    "who_can",
]
