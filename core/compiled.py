"""Expressions compiled once into Python closures, for fast authorization.

The same semantics as core/evaluator.py, with the same cases in the same order and the same
helpers (`apply1`, `apply2`, `has_attr`, ...): only the dispatch on the node's kind happens
once, when compiling, instead of at every evaluation. The evaluator stays the reference;
tests require both to give the same value or the same error on every conformance request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cedar_smt.core.ast import (
    And,
    BinaryApp,
    BinaryOp,
    Call,
    Expr,
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
    UnaryOp,
    Var,
    VarRef,
    assert_never,
)
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import EvaluationError
from cedar_smt.core.evaluator import (
    apply1,
    apply2,
    as_bool,
    as_entity,
    get_attr,
    has_attr,
    in_entity,
    in_set,
    is_type,
    like,
)
from cedar_smt.core.extensions import call
from cedar_smt.core.policy import (
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
from cedar_smt.core.values import EntityUID, Record, Value

Compiled = Callable[[Request, Entities], Value]

_VARS: dict[Var, Compiled] = {
    Var.PRINCIPAL: lambda req, es: req.principal,
    Var.ACTION: lambda req, es: req.action,
    Var.RESOURCE: lambda req, es: req.resource,
    Var.CONTEXT: lambda req, es: req.context,
}


def _true(req: Request, es: Entities) -> Value:
    return True


_local = threading.local()  # `shared`: while compiling a policy, its nodes compiled so far


def compile_expr(e: Expr) -> Compiled:
    """A function computing what `evaluate(e, request, entities)` computes.

    While a policy is compiled, a node met again is compiled once: `e has a.b.c` shares the
    accesses of `e.a.b` between its tests, and compiling them apart took time quadratic in the
    path (a path of 5,000 attributes: a minute)."""
    shared: dict[int, tuple[Expr, Compiled]] | None = getattr(_local, "shared", None)
    if shared is None:
        return _compile_node(e)
    found = shared.get(id(e))
    if found is not None and found[0] is e:
        return found[1]
    fn = shared[id(e)] = (e, _compile_node(e))
    return fn[1]


def _compile_node(e: Expr) -> Compiled:
    match e:
        case Lit(value=v):
            return _true if v is True else lambda req, es: v
        case VarRef(var=var):
            return _VARS[var]
        case Slot(name=name):
            raise AssertionError(f"template slot {name} reached the compiler unlinked")
        case Ite(cond=c, then=t, else_=f):
            cc, tc, fc = compile_expr(c), compile_expr(t), compile_expr(f)
            return lambda req, es: tc(req, es) if as_bool(cc(req, es)) else fc(req, es)
        case And(left=Lit(value=True), right=b):  # a scope with no constraint
            bc = compile_expr(b)
            return lambda req, es: as_bool(bc(req, es))
        case And(left=a, right=b):
            ac, bc = compile_expr(a), compile_expr(b)
            return lambda req, es: as_bool(ac(req, es)) and as_bool(bc(req, es))
        case Or(left=a, right=b):
            ac, bc = compile_expr(a), compile_expr(b)
            return lambda req, es: as_bool(ac(req, es)) or as_bool(bc(req, es))
        case UnaryApp(op=UnaryOp.NOT, arg=a):
            ac = compile_expr(a)
            return lambda req, es: not as_bool(ac(req, es))
        case UnaryApp(op=op1, arg=a):
            ac = compile_expr(a)
            return lambda req, es: apply1(op1, ac(req, es))
        case BinaryApp(op=op, left=a, right=b):
            return _compile_binary(op, compile_expr(a), b)
        case Like(arg=a, pattern=p):
            ac = compile_expr(a)
            return lambda req, es: like(ac(req, es), p)
        case Is(arg=a, entity_type=t):
            ac = compile_expr(a)
            return lambda req, es: is_type(ac(req, es), t)
        case HasAttr(arg=a, attr=name):
            ac = compile_expr(a)
            return lambda req, es: has_attr(ac(req, es), name, es)
        case GetAttr(arg=a, attr=name):
            ac = compile_expr(a)
            return lambda req, es: get_attr(ac(req, es), name, es)
        case SetLit(elements=xs):
            cs = [compile_expr(x) for x in xs]
            return lambda req, es: frozenset(c(req, es) for c in cs)
        case RecordLit(fields=fs):
            named = [(k, compile_expr(x)) for k, x in fs]
            return lambda req, es: Record({k: c(req, es) for k, c in named})
        case Call(fn=fn, args=xs):
            folded = _constant(e)
            if folded is not None:
                value = folded[0]
                return lambda req, es: value
            cs = [compile_expr(x) for x in xs]
            return lambda req, es: call(fn, [c(req, es) for c in cs])
    assert_never(e)


def _constant(e: Expr) -> tuple[Value] | None:
    """The value of an extension call on literals (`ip("10.0.0.0/8")`, `decimal("1.5")`, and
    calls on those), computed once; None when it reads the request or errors (the error is
    then raised where the evaluator raises it: when, and only if, the call is evaluated)."""
    if isinstance(e, Lit):
        return (e.value,)
    if not isinstance(e, Call):
        return None
    args = []
    for x in e.args:
        found = _constant(x)
        if found is None:
            return None
        args.append(found[0])
    try:
        return (call(e.fn, args),)
    except EvaluationError:
        return None


def _compile_binary(op: BinaryOp, ac: Compiled, b: Expr) -> Compiled:
    """`apply2`, with the common scope shapes (`== E`, `in E`) specialised."""
    if op is BinaryOp.EQ and isinstance(b, Lit):
        v = b.value
        return lambda req, es: ac(req, es) == v
    if op is BinaryOp.IN and isinstance(b, Lit) and isinstance(b.value, EntityUID):
        target = b.value
        return lambda req, es: in_entity(as_entity(ac(req, es)), target, es)
    bc = compile_expr(b)
    return lambda req, es: apply2(op, ac(req, es), bc(req, es), es)


def _scope_check(var: Var, c: ScopeConstraint) -> Compiled | None:
    """A scope constraint as a direct test of the request, or None when it always holds."""
    get = _VARS[var]
    match c:
        case ScopeAny():
            return None
        case ScopeEq(entity=EntityUID() as uid):
            return lambda req, es: get(req, es) == uid
        case ScopeIn(entity=EntityUID() as uid):
            return lambda req, es: in_entity(get(req, es), uid, es)  # type: ignore[arg-type]
        case ScopeInSet(entities=uids):
            targets = frozenset(uids)
            return lambda req, es: in_set(get(req, es), targets, es)  # type: ignore[arg-type]
        case ScopeIs(entity_type=t):
            return lambda req, es: get(req, es).type == t  # type: ignore[union-attr]
        case ScopeIsIn(entity_type=t, entity=EntityUID() as uid):
            return lambda req, es: (
                get(req, es).type == t and in_entity(get(req, es), uid, es)  # type: ignore[union-attr,arg-type]
            )
    raise AssertionError(f"unlinked or unknown scope constraint {c!r}")


def compile_policy(policy: Policy) -> Compiled:
    """The policy's value, as `evaluate(policy.to_expr(), ...)` computes it.

    Scope constraints can never error, so they may be tested in any order: the action's first
    (it rules most policies out), then the principal's and the resource's, then the
    conditions, whose non-boolean value is a type error exactly as in `to_expr`'s `&&`.
    """
    checks = [
        check
        for check in (
            _scope_check(Var.ACTION, policy.action),
            _scope_check(Var.PRINCIPAL, policy.principal),
            _scope_check(Var.RESOURCE, policy.resource),
        )
        if check is not None
    ]
    conditions = [c.to_expr() for c in policy.conditions]
    if not conditions:
        body: Compiled = _true
    else:
        joined = conditions[-1]
        for cond in reversed(conditions[:-1]):
            joined = And(cond, joined)
        _local.shared = {}
        try:
            inner = compile_expr(joined)
        finally:
            del _local.shared
        body = lambda req, es: as_bool(inner(req, es))  # noqa: E731

    def run(req: Request, es: Entities) -> Value:
        for check in checks:
            if not check(req, es):
                return False
        return body(req, es)

    return run


def closure(policy: Policy) -> Compiled:
    """`compile_policy(policy)`, built once and kept on the policy object (the way
    `functools.cached_property` keeps a value: in the instance's `__dict__`, outside the
    fields that make a policy's identity)."""
    try:
        return policy.__dict__["_closure"]  # type: ignore[no-any-return]
    except KeyError:
        fn = policy.__dict__["_closure"] = compile_policy(policy)
        return fn
