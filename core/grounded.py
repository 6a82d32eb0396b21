"""Policies grounded in an entity store: for a principal, an action and a resource taken from
the store, what each policy says for every context at once.

Policies are indexed by their scope (`principal == E`, `in E`, `is T`, `is T in E`, and the
same for the resource and the action), so a (principal, action, resource) looks only at the
policies whose scope it matches, as a bit set. A policy whose conditions never mention
`context` is evaluated by its compiled closure (core/compiled.py); the others by the partial
evaluator (core/residual.py), which leaves a residual condition on the context. An outcome
that depends on the principal only, on the resource only, or on neither is kept and reused.
No solver here: analyzer/access.py decides the residuals.

For a whole matrix, `side` gives what one principal (or resource) contributes for an action,
whatever the other side: the policies whose scope it meets and the outcomes of those whose
conditions read it alone. A triple then costs a bit-and of the two sides, plus the policies
whose conditions read both (`pair`): their outcomes are kept by what they read of each side
(attributes, type, and whether `x == principal`), when that is all they read of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from cedar_smt.core.ast import (
    And,
    BinaryApp,
    BinaryOp,
    Expr,
    GetAttr,
    HasAttr,
    Is,
    Lit,
    Var,
    VarRef,
    children,
)
from cedar_smt.core.compiled import compile_expr
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import EvaluationError
from cedar_smt.core.evaluator import as_bool
from cedar_smt.core.policy import (
    Effect,
    Policy,
    ScopeAny,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    ScopeIs,
    ScopeIsIn,
)
from cedar_smt.core.request import Request
from cedar_smt.core.residual import Irreducible, Known, Residual, mentions, partial
from cedar_smt.core.values import EntityUID, Record, Value

PAIR_KEPT = 200_000  # outcomes of the policies reading both sides kept, by view, at most

_EMPTY = Record()

# A policy's outcome for one (principal, action, resource): satisfied for every context
# (True), for none (False: not satisfied, or an error), for the contexts where an expression
# over `context` is true (Expr), or not reducible (Irreducible).
Outcome: TypeAlias = "bool | Expr | Irreducible"


def set_bits(mask: int) -> Iterator[int]:
    """The indexes of the bits set in `mask` (policies, in a set of them), lowest first."""
    while mask:
        low = mask & -mask
        mask ^= low
        yield low.bit_length() - 1


class _ScopeIndex:
    """Which policies' constraint on one variable an entity meets, as a bit set."""

    def __init__(self, constraints: Sequence[ScopeConstraint], entities: Entities) -> None:
        self.es = entities
        self.any = 0
        self.eq: dict[EntityUID, int] = {}
        self.in_: dict[EntityUID, int] = {}
        self.is_: dict[str, int] = {}
        self.is_in: dict[tuple[str, EntityUID], int] = {}
        for i, c in enumerate(constraints):
            bit = 1 << i
            match c:
                case ScopeAny():
                    self.any |= bit
                case ScopeEq(entity=EntityUID() as uid):
                    self.eq[uid] = self.eq.get(uid, 0) | bit
                case ScopeIn(entity=EntityUID() as uid):
                    self.in_[uid] = self.in_.get(uid, 0) | bit
                case ScopeInSet(entities=uids):
                    for uid in set(uids):
                        self.in_[uid] = self.in_.get(uid, 0) | bit
                case ScopeIs(entity_type=t):
                    self.is_[t] = self.is_.get(t, 0) | bit
                case ScopeIsIn(entity_type=t, entity=EntityUID() as uid):
                    self.is_in[(t, uid)] = self.is_in.get((t, uid), 0) | bit
                case _:
                    raise AssertionError(f"unlinked or unknown scope constraint {c!r}")
        self._bits: dict[EntityUID, int] = {}

    def bits(self, uid: EntityUID) -> int:
        """The policies whose constraint `uid` meets (`in` as core/evaluator.py's `in_entity`)."""
        found = self._bits.get(uid)
        if found is not None:
            return found
        above = (uid, *self.es.ancestors_or_empty(uid))
        bits = self.any | self.eq.get(uid, 0) | self.is_.get(uid.type, 0)
        for x in above:
            bits |= self.in_.get(x, 0) | self.is_in.get((uid.type, x), 0)
        self._bits[uid] = bits
        return bits


@dataclass(frozen=True, slots=True)
class Facts:
    """What the policies whose scope matches one (principal, action, resource) say, for every
    context; policies are named by their index in the grounded set."""

    permits: tuple[int, ...]  # satisfied whatever the context
    forbids: tuple[int, ...]
    residual_permits: tuple[tuple[int, Expr], ...]  # satisfied where the expression is true
    residual_forbids: tuple[tuple[int, Expr], ...]
    irreducible: tuple[tuple[int, str], ...]  # with the error only some contexts reach
    candidates: tuple[int, ...]  # every policy whose scope matches


@dataclass(frozen=True, slots=True)
class Side:
    """What one entity of a triple brings, for one action, whatever the other side: policies
    as bit sets; the residuals' expressions numbered (`GroundedPolicies.expr_id`)."""

    scope: int  # policies whose scope constraint on this side (and the action's) it meets
    true: int  # of those whose conditions read this side alone (or neither), satisfied always
    residual: int  # ... satisfied where a residual on the context is true
    irreducible: int
    exprs: dict[int, int]  # residual policy index -> expression number
    views: dict[int, Any]  # policies reading both sides -> what they read of this one


class _Body:
    """A policy's conditions, joined: compiled when they never read the context."""

    __slots__ = ("by_principal", "by_resource", "closure", "expr", "reads", "same_as")

    def __init__(self, policy: Policy) -> None:
        conditions = [c.to_expr() for c in policy.conditions]
        expr: Expr = conditions[-1] if conditions else Lit(True)
        for cond in reversed(conditions[:-1]):
            expr = And(cond, expr)
        self.expr = expr
        self.closure = None if mentions(expr, Var.CONTEXT) else compile_expr(expr)
        self.by_principal = mentions(expr, Var.PRINCIPAL)
        self.by_resource = mentions(expr, Var.RESOURCE)
        # for a policy reading both sides: the attributes it reads of each, and the operands
        # `x` of its `x == principal` (None: it uses that side otherwise)
        self.reads: dict[Var, frozenset[str] | None] = {}
        self.same_as: list[Any] = []
        if self.by_principal and self.by_resource:
            operands: list[Expr] = []
            for var in (Var.PRINCIPAL, Var.RESOURCE):
                names: set[str] = set()
                ok = _reads(expr, var, names, operands if var is Var.PRINCIPAL else None)
                self.reads[var] = frozenset(names) if ok else None
            self.same_as = [compile_expr(x) for x in operands]

    def outcome(self, p: EntityUID, a: EntityUID, r: EntityUID, es: Entities) -> Outcome:
        try:
            if self.closure is not None:
                return self.closure(Request(p, a, r, _EMPTY), es) is True
            value = partial(self.expr, Known(p, a, r), es)
        except EvaluationError:
            return False
        except Irreducible as err:
            return err
        if isinstance(value, Residual):
            return value.expr
        try:
            return as_bool(value)
        except EvaluationError:
            return False


def _reads(e: Expr, var: Var, names: set[str], operands: list[Expr] | None) -> bool:
    """Whether `e` uses `var` only to read its attributes (`.a`, `has a`), its type (`is`),
    and, with `operands`, in `x == var` where `x` reads neither `var` nor the context (each
    such `x` is added to `operands`)."""
    match e:
        case VarRef(var=v):
            return v is not var
        case GetAttr(arg=VarRef(var=v), attr=name) | HasAttr(arg=VarRef(var=v), attr=name) if (
            v is var
        ):
            names.add(name)
            return True
        case Is(arg=VarRef(var=v)) if v is var:
            return True
        case BinaryApp(op=BinaryOp.EQ, left=left, right=right) if operands is not None:
            for one, other in ((left, right), (right, left)):
                if (
                    isinstance(one, VarRef)
                    and one.var is var
                    and not mentions(other, var)
                    and not mentions(other, Var.CONTEXT)
                ):
                    operands.append(other)
                    return _reads(other, var, names, operands)
    return all(_reads(c, var, names, operands) for c in children(e))


_MISSING = object()  # an attribute the entity does not have; an operand that errors


class GroundedPolicies:
    """A policy set over one entity store, asked about (principal, action, resource) triples."""

    def __init__(self, policies: Iterable[Policy], entities: Entities) -> None:
        self.policies = tuple(policies)
        self.entities = entities
        self.permit_bits = sum(
            1 << i for i, p in enumerate(self.policies) if p.effect is Effect.PERMIT
        )
        self._principals = _ScopeIndex([p.principal for p in self.policies], entities)
        self._actions = _ScopeIndex([p.action for p in self.policies], entities)
        self._resources = _ScopeIndex([p.resource for p in self.policies], entities)
        self._bodies = [_Body(p) for p in self.policies]
        self._kept: dict[tuple[int, EntityUID, EntityUID | None, EntityUID | None], Outcome] = {}
        self.neither = sum(
            1 << i for i, b in enumerate(self._bodies) if not b.by_principal and not b.by_resource
        )
        self.by_principal_only = sum(
            1 << i for i, b in enumerate(self._bodies) if b.by_principal and not b.by_resource
        )
        self.by_resource_only = sum(
            1 << i for i, b in enumerate(self._bodies) if b.by_resource and not b.by_principal
        )
        self.pair = sum(
            1 << i for i, b in enumerate(self._bodies) if b.by_principal and b.by_resource
        )
        self._expr_ids: dict[Expr, int] = {}
        self.exprs: list[Expr] = []
        self._pair_kept: dict[tuple[Any, ...], Outcome] = {}
        self._view_ids: dict[Any, int] = {}

    def candidates(self, p: EntityUID, a: EntityUID, r: EntityUID) -> int:
        """The policies whose scope the triple meets, as a bit set."""
        return self._principals.bits(p) & self._actions.bits(a) & self._resources.bits(r)

    def outcome(self, i: int, p: EntityUID, a: EntityUID, r: EntityUID) -> Outcome:
        """Policy `i`'s outcome for the triple (its scope assumed met)."""
        body = self._bodies[i]
        if body.by_principal and body.by_resource:
            return body.outcome(p, a, r, self.entities)
        key = (i, a, p if body.by_principal else None, r if body.by_resource else None)
        found = self._kept.get(key)
        if found is None:
            found = self._kept[key] = body.outcome(p, a, r, self.entities)
        return found

    def expr_id(self, e: Expr) -> int:
        """A number for a residual expression, the same for equal expressions."""
        found = self._expr_ids.get(e)
        if found is None:
            found = self._expr_ids[e] = len(self.exprs)
            self.exprs.append(e)
        return found

    def side(self, uid: EntityUID, a: EntityUID, principal: bool, within: int = -1) -> Side:
        """What `uid`, as the principal (or the resource) of an `a` request, brings whatever
        the other side is, among the policies of `within` (the others are left out of every
        bit set: a caller passes those the other sides it pairs `uid` with can match). The
        policies whose conditions read neither side are counted on the principal's; the other
        side is given as `uid` itself to the outcome, which does not read it (its conditions
        do not mention that variable)."""
        if principal:
            scope = self._principals.bits(uid) & self._actions.bits(a) & within
            own = scope & (self.by_principal_only | self.neither)
        else:
            scope = self._resources.bits(uid) & self._actions.bits(a) & within
            own = scope & self.by_resource_only
        true = residual = irreducible = 0
        exprs: dict[int, int] = {}
        views = self._views(uid, a, scope & self.pair, principal)
        while own:
            low = own & -own
            own ^= low
            i = low.bit_length() - 1
            o = self.outcome(i, uid, a, uid)
            if o is True:
                true |= low
            elif o is False:
                continue
            elif isinstance(o, Irreducible):
                irreducible |= low
            else:
                residual |= low
                exprs[i] = self.expr_id(o)
        return Side(scope, true, residual, irreducible, exprs, views)

    def _views(self, uid: EntityUID, a: EntityUID, bits: int, principal: bool) -> dict[int, Any]:
        """For each policy of `bits` (reading both sides), what it reads of `uid`: its type,
        whether the store holds it, the attributes read, and for a resource the values of the
        operands `x` of `x == principal`. None when the policy uses `uid` otherwise."""
        out: dict[int, Any] = {}
        var = Var.PRINCIPAL if principal else Var.RESOURCE
        attrs = self.entities.attrs_or_empty(uid)
        held = uid in self.entities
        for i in set_bits(bits):
            body = self._bodies[i]
            names = body.reads[var]
            if names is None:
                out[i] = None
                continue
            view = (uid.type, held, tuple(attrs.get(n, _MISSING) for n in sorted(names)))
            operands = () if principal else tuple(self._operand(x, uid, a) for x in body.same_as)
            number = self._view_ids.setdefault((view, operands), len(self._view_ids))
            out[i] = (number, operands)
        return out

    def _operand(self, x: Any, r: EntityUID, a: EntityUID) -> Value | object:
        try:  # `x` reads neither the principal nor the context: `r` stands for the principal
            return x(Request(r, a, r, _EMPTY), self.entities)  # type: ignore[no-any-return]
        except EvaluationError:
            return _MISSING

    def pair_outcome(
        self, i: int, p: EntityUID, a: EntityUID, r: EntityUID, row: Side, column: Side
    ) -> Outcome:
        """`outcome` for a policy whose conditions read both sides, kept by what they read of
        each: the triples with the same views (and the same `x == principal` results) evaluate
        the policy's expression identically, node by node."""
        pv, rv = row.views[i], column.views[i]
        if pv is None or rv is None:
            return self._bodies[i].outcome(p, a, r, self.entities)
        operands = rv[1]
        key = (i, a, pv[0], rv[0], tuple([x == p for x in operands]) if operands else ())
        found = self._pair_kept.get(key)
        if found is None:
            found = self._bodies[i].outcome(p, a, r, self.entities)
            if len(self._pair_kept) < PAIR_KEPT:
                self._pair_kept[key] = found
        return found

    def facts(self, p: EntityUID, a: EntityUID, r: EntityUID) -> Facts:
        permits: list[int] = []
        forbids: list[int] = []
        residual_permits: list[tuple[int, Expr]] = []
        residual_forbids: list[tuple[int, Expr]] = []
        irreducible: list[tuple[int, str]] = []
        candidates: list[int] = []
        bits = self.candidates(p, a, r)
        permit_bits = self.permit_bits
        while bits:
            low = bits & -bits
            bits ^= low
            i = low.bit_length() - 1
            candidates.append(i)
            o = self.outcome(i, p, a, r)
            if o is False:
                continue
            is_permit = bool(permit_bits & low)
            if o is True:
                (permits if is_permit else forbids).append(i)
            elif isinstance(o, Irreducible):
                irreducible.append((i, str(o)))
            else:
                (residual_permits if is_permit else residual_forbids).append((i, o))
        return Facts(
            tuple(permits),
            tuple(forbids),
            tuple(residual_permits),
            tuple(residual_forbids),
            tuple(irreducible),
            tuple(candidates),
        )
