"""Evaluate a Cedar expression against a request and an entity store.

One `match` over the closed expression type, each case handing off to a small helper
(`apply1`, `apply2`, `in_entity`, `has_attr`, `get_attr`, ...). Errors are raised as
`EvaluationError`; the authorizer turns them into "this policy errored" (skip-on-error).
Symbolic twin: encoder/compiler.py, with the same cases in the same order.
"""

from __future__ import annotations

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
    Pattern,
    RecordLit,
    SetLit,
    Slot,
    UnaryApp,
    UnaryOp,
    VarRef,
    assert_never,
)
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import ErrorKind, EvaluationError
from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.extensions import call
from cedar_smt.core.request import Request
from cedar_smt.core.values import LONG_MAX, LONG_MIN, EntityUID, Long, Record, Value, type_name


def _type_error(expected: str, v: Value) -> EvaluationError:
    return EvaluationError(
        ErrorKind.TYPE_ERROR, f"type error: expected {expected}, got {type_name(v)}"
    )


def as_bool(v: Value) -> bool:
    if v is True or v is False:
        return v
    raise _type_error("bool", v)


def as_long(v: Value) -> int:
    if type(v) is Long:
        return v.value
    raise _type_error("long", v)


def as_string(v: Value) -> str:
    if type(v) is str:
        return v
    raise _type_error("string", v)


def as_entity(v: Value) -> EntityUID:
    if type(v) is EntityUID:
        return v
    raise _type_error("entity", v)


def as_set(v: Value) -> frozenset[Value]:
    if type(v) is frozenset:
        return v
    raise _type_error("set", v)


def long_or_overflow(n: int, what: str) -> Long:
    if LONG_MIN <= n <= LONG_MAX:
        return Long(n)
    raise EvaluationError(ErrorKind.ARITH_BOUNDS, f"integer overflow while attempting to {what}")


def apply1(op: UnaryOp, v: Value) -> Value:
    match op:
        case UnaryOp.NOT:
            return not as_bool(v)
        case UnaryOp.NEG:
            return long_or_overflow(-as_long(v), f"negate the value `{as_long(v)}`")
        case UnaryOp.IS_EMPTY:
            return not as_set(v)
    assert_never(op)


def in_entity(uid1: EntityUID, uid2: EntityUID, es: Entities) -> bool:
    return uid1 == uid2 or uid2 in es.ancestors_or_empty(uid1)


def in_set(uid: EntityUID, vs: frozenset[Value], es: Entities) -> bool:
    uids = [as_entity(v) for v in vs]
    return uid in vs or not es.ancestors_or_empty(uid).isdisjoint(uids)


_ORDERED = (Long, Datetime, Duration)


def compare(op: BinaryOp, v1: Value, v2: Value) -> bool:
    """`<` and `<=` on longs, datetimes and durations (both operands of the same type)."""
    t1 = type(v1)
    if t1 not in _ORDERED:
        raise _type_error("one of [long, datetime, duration]", v1)
    if type(v2) is not t1:
        raise _type_error(type_name(v1), v2)
    a, b = (v1.value, v2.value) if t1 is Long else (v1.ms, v2.ms)  # type: ignore[union-attr]
    return a < b if op is BinaryOp.LESS else a <= b


def arith(op: BinaryOp, v1: Value, v2: Value) -> Long:
    a, b = as_long(v1), as_long(v2)
    match op:
        case BinaryOp.ADD:
            return long_or_overflow(a + b, f"add the values `{a}` and `{b}`")
        case BinaryOp.SUB:
            return long_or_overflow(a - b, f"subtract the values `{a}` and `{b}`")
        case BinaryOp.MUL:
            return long_or_overflow(a * b, f"multiply the values `{a}` and `{b}`")
    raise AssertionError(op)


def get_tag(uid: EntityUID, tag: str, es: Entities) -> Value:
    tags = es.tags_or_empty(uid)
    if tag in tags:
        return tags[tag]
    raise EvaluationError(ErrorKind.TAG_DOES_NOT_EXIST, f"`{uid}` does not have the tag `{tag}`")


def apply2(op: BinaryOp, v1: Value, v2: Value, es: Entities) -> Value:
    match op:
        case BinaryOp.EQ:
            return v1 == v2
        case BinaryOp.LESS | BinaryOp.LESS_EQ:
            return compare(op, v1, v2)
        case BinaryOp.ADD | BinaryOp.SUB | BinaryOp.MUL:
            return arith(op, v1, v2)
        case BinaryOp.CONTAINS:
            return v2 in as_set(v1)
        case BinaryOp.CONTAINS_ALL:
            return as_set(v2) <= as_set(v1)
        case BinaryOp.CONTAINS_ANY:
            return not as_set(v1).isdisjoint(as_set(v2))
        case BinaryOp.IN:
            uid = as_entity(v1)
            if type(v2) is frozenset:
                return in_set(uid, v2, es)
            if type(v2) is EntityUID:
                return in_entity(uid, v2, es)
            raise _type_error("entity or set", v2)
        case BinaryOp.HAS_TAG:
            return as_string(v2) in es.tags_or_empty(as_entity(v1))
        case BinaryOp.GET_TAG:
            uid, tag = as_entity(v1), as_string(v2)
            return get_tag(uid, tag, es)
    assert_never(op)


def like(v: Value, pattern: Pattern) -> bool:
    return pattern.matches(as_string(v))


def is_type(v: Value, entity_type: str) -> bool:
    return as_entity(v).type == entity_type


def attrs_of(v: Value, es: Entities, *, for_has: bool) -> Record:
    if type(v) is Record:
        return v
    if type(v) is EntityUID:
        entity = es.get(v)
        if entity is not None:
            return entity.attrs
        if for_has:
            return Record()
        raise EvaluationError(ErrorKind.ENTITY_DOES_NOT_EXIST, f"entity `{v}` does not exist")
    raise _type_error("one of [record, entity]", v)


def has_attr(v: Value, attr: str, es: Entities) -> bool:
    return attr in attrs_of(v, es, for_has=True)


def get_attr(v: Value, attr: str, es: Entities) -> Value:
    record = attrs_of(v, es, for_has=False)
    if attr in record:
        return record[attr]
    owner = f"`{v}`" if type(v) is EntityUID else "record"
    raise EvaluationError(
        ErrorKind.ATTR_DOES_NOT_EXIST, f"{owner} does not have the attribute `{attr}`"
    )


@room_for_depth()
def evaluate(e: Expr, req: Request, es: Entities) -> Value:
    match e:
        case Lit(value=v):
            return v
        case VarRef(var=v):
            return req.var(v)
        case Slot(name=name):
            raise AssertionError(f"template slot {name} reached the evaluator unlinked")
        case Ite(cond=c, then=t, else_=f):
            return evaluate(t if as_bool(evaluate(c, req, es)) else f, req, es)
        case And(left=a, right=b):
            return as_bool(evaluate(a, req, es)) and as_bool(evaluate(b, req, es))
        case Or(left=a, right=b):
            return as_bool(evaluate(a, req, es)) or as_bool(evaluate(b, req, es))
        case UnaryApp(op=op, arg=a):
            return apply1(op, evaluate(a, req, es))
        case BinaryApp(op=op, left=a, right=b):
            return apply2(op, evaluate(a, req, es), evaluate(b, req, es), es)
        case Like(arg=a, pattern=p):
            return like(evaluate(a, req, es), p)
        case Is(arg=a, entity_type=t):
            return is_type(evaluate(a, req, es), t)
        case HasAttr(arg=a, attr=name):
            return has_attr(evaluate(a, req, es), name, es)
        case GetAttr(arg=a, attr=name):
            return get_attr(evaluate(a, req, es), name, es)
        case SetLit(elements=xs):
            return frozenset(evaluate(x, req, es) for x in xs)
        case RecordLit(fields=fs):
            return Record({k: evaluate(x, req, es) for k, x in fs})
        case Call(fn=fn, args=xs):
            return call(fn, [evaluate(x, req, es) for x in xs])
    assert_never(e)
