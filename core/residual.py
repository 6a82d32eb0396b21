"""Partial evaluation: a request whose principal, action and resource are known and whose
context is not, against a concrete entity store.

`partial` follows core/evaluator.py case by case, in the same order and with the same
helpers; where an operand depends on the context it returns a `Residual`, an expression over
`context` and literals only, which keeps the evaluator's meaning for every context. Symbolic
twin of the residue: encoder/compiler.py decides it (analyzer/access.py); the evaluator
stays the reference the tests compare both with.

An error raised by a part evaluated whatever the context is Cedar's error, raised as
`EvaluationError`. An error in a part that only some contexts reach becomes `ERROR` on the
right of `&&` and `||` (an expression that errors for every context, typed Bool); in a
branch of `if`, whose type is not known here, `Irreducible` says so, and the caller decides
that policy another way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from cedar_smt.core.ast import (
    And,
    BinaryApp,
    BinaryOp,
    Call,
    Expr,
    ExtFun,
    GetAttr,
    HasAttr,
    Is,
    Ite,
    Like,
    Lit,
    Or,
    RecordLit,
    SetLit,
    Slot,
    UnaryApp,
    Var,
    VarRef,
    assert_never,
    children,
)
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import EvaluationError
from cedar_smt.core.evaluator import (
    apply1,
    apply2,
    as_bool,
    get_attr,
    has_attr,
    is_type,
    like,
)
from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.ext.decimal import Decimal
from cedar_smt.core.ext.ipaddr import IPAddr
from cedar_smt.core.extensions import call
from cedar_smt.core.parser import parse_expr
from cedar_smt.core.values import LONG_MAX, EntityUID, Long, Record, Value


@dataclass(frozen=True, slots=True)
class Residual:
    """What is left of an expression once everything but the context is known."""

    expr: Expr


Partial: TypeAlias = "Value | Residual"


ERROR: Expr = BinaryApp(
    BinaryOp.EQ, BinaryApp(BinaryOp.ADD, Lit(Long(LONG_MAX)), Lit(Long(1))), Lit(Long(0))
)  # an overflow, whatever the context: an error in a well-typed Bool


class Irreducible(Exception):
    """An error in a part of the expression only some contexts evaluate."""


@dataclass(frozen=True, slots=True)
class Known:
    """A request with its context unknown."""

    principal: EntityUID
    action: EntityUID
    resource: EntityUID

    def var(self, v: Var) -> Partial:
        if v is Var.PRINCIPAL:
            return self.principal
        if v is Var.ACTION:
            return self.action
        if v is Var.RESOURCE:
            return self.resource
        return Residual(VarRef(Var.CONTEXT))


_EXTENSIONS: dict[type, ExtFun] = {
    Decimal: ExtFun.DECIMAL,
    IPAddr: ExtFun.IP,
    Datetime: ExtFun.DATETIME,
    Duration: ExtFun.DURATION,
}


def reify(v: Partial) -> Expr:
    """An expression for a partial value: a residual's own, or one evaluating to the value."""
    if isinstance(v, Residual):
        return v.expr
    if isinstance(v, bool | Long | str | EntityUID):
        return Lit(v)
    if isinstance(v, frozenset):
        return SetLit(tuple(reify(x) for x in sorted(v, key=repr)))
    if isinstance(v, Record):
        return RecordLit(tuple((k, reify(x)) for k, x in v.items()))
    if type(v) in _EXTENSIONS:
        parsed = parse_expr(v.to_cedar())
        assert isinstance(parsed, Call) and parsed.fn is _EXTENSIONS[type(v)], parsed
        return parsed
    raise AssertionError(f"not a Cedar value: {v!r}")


def mentions_context(e: Expr) -> bool:
    """Whether `context` occurs in the expression (if not, it evaluates without one)."""
    if isinstance(e, VarRef):
        return e.var is Var.CONTEXT
    return any(mentions_context(c) for c in children(e))


def mentions(e: Expr, var: Var) -> bool:
    if isinstance(e, VarRef):
        return e.var is var
    return any(mentions(c, var) for c in children(e))


def _reached(e: Expr, known: Known, es: Entities) -> Partial:
    """A part only some contexts evaluate: its errors cannot be said as a residual."""
    try:
        return partial(e, known, es)
    except EvaluationError as err:
        raise Irreducible(err.message) from None


def _operand(e: Expr, known: Known, es: Entities) -> Partial:
    """The right side of `&&` or `||`, reached for some contexts only."""
    try:
        return _bool(partial(e, known, es))
    except EvaluationError:
        return Residual(ERROR)


def _bool(v: Partial) -> Partial:
    return v if isinstance(v, Residual) else as_bool(v)


@room_for_depth()
def partial(e: Expr, known: Known, es: Entities) -> Partial:
    """The value of `e` when the context is unknown: a value, or a `Residual` that evaluates
    to what `e` evaluates to for each context."""
    match e:
        case Lit(value=v):
            return v
        case VarRef(var=v):
            return known.var(v)
        case Slot(name=name):
            raise AssertionError(f"template slot {name} reached the evaluator unlinked")
        case Ite(cond=c, then=t, else_=f):
            pc = partial(c, known, es)
            if not isinstance(pc, Residual):
                return partial(t if as_bool(pc) else f, known, es)
            then, else_ = _reached(t, known, es), _reached(f, known, es)
            return Residual(Ite(pc.expr, reify(then), reify(else_)))
        case And(left=a, right=b):
            pa = partial(a, known, es)
            if not isinstance(pa, Residual):
                return _bool(partial(b, known, es)) if as_bool(pa) else False
            pb = _operand(b, known, es)
            return pa if pb is True else Residual(And(pa.expr, reify(pb)))
        case Or(left=a, right=b):
            pa = partial(a, known, es)
            if not isinstance(pa, Residual):
                return True if as_bool(pa) else _bool(partial(b, known, es))
            pb = _operand(b, known, es)
            return pa if pb is False else Residual(Or(pa.expr, reify(pb)))
        case UnaryApp(op=op, arg=a):
            pa = partial(a, known, es)
            if isinstance(pa, Residual):
                return Residual(UnaryApp(op, pa.expr))
            return apply1(op, pa)
        case BinaryApp(op=op, left=a, right=b):
            pa, pb = partial(a, known, es), partial(b, known, es)
            if isinstance(pa, Residual) or isinstance(pb, Residual):
                return Residual(BinaryApp(op, reify(pa), reify(pb)))
            return apply2(op, pa, pb, es)
        case Like(arg=a, pattern=p):
            pa = partial(a, known, es)
            return Residual(Like(pa.expr, p)) if isinstance(pa, Residual) else like(pa, p)
        case Is(arg=a, entity_type=t):
            pa = partial(a, known, es)
            return Residual(Is(pa.expr, t)) if isinstance(pa, Residual) else is_type(pa, t)
        case HasAttr(arg=a, attr=name):
            pa = partial(a, known, es)
            if isinstance(pa, Residual):
                return Residual(HasAttr(pa.expr, name))
            return has_attr(pa, name, es)
        case GetAttr(arg=a, attr=name):
            pa = partial(a, known, es)
            if isinstance(pa, Residual):
                return Residual(GetAttr(pa.expr, name))
            return get_attr(pa, name, es)
        case SetLit(elements=xs):
            ps = [partial(x, known, es) for x in xs]
            if any(isinstance(p, Residual) for p in ps):
                return Residual(SetLit(tuple(reify(p) for p in ps)))
            return frozenset(ps)  # type: ignore[arg-type]
        case RecordLit(fields=fs):
            named = [(k, partial(x, known, es)) for k, x in fs]
            if any(isinstance(p, Residual) for _, p in named):
                return Residual(RecordLit(tuple((k, reify(p)) for k, p in named)))
            return Record(dict(named))  # type: ignore[arg-type]
        case Call(fn=fn, args=xs):
            ps = [partial(x, known, es) for x in xs]
            if any(isinstance(p, Residual) for p in ps):
                return Residual(Call(fn, tuple(reify(p) for p in ps)))
            return call(fn, ps)  # type: ignore[arg-type]
    assert_never(e)
