"""Extension functions as Z3 terms: decimal, ipaddr, datetime and duration.

Symbolic twin of core/extensions.py. Constructors only take string literals (the validator
ensures it), so they compile to constants; methods are bit-vector arithmetic with the same
overflow errors as the concrete implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import z3

from cedar_smt.core.ast import Call, ExtFun, Lit
from cedar_smt.core.errors import ExtensionError
from cedar_smt.core.ext.datetime import parse_datetime, parse_duration
from cedar_smt.core.ext.decimal import parse_decimal
from cedar_smt.core.ext.ipaddr import parse_ip
from cedar_smt.core.extensions import signature
from cedar_smt.core.types import BOOL, LONG, ExtensionType, SchemaType
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Sym

if TYPE_CHECKING:
    from cedar_smt.encoder.env import SymEnv

DAY_MS = 86_400_000
DATETIME = ExtensionType("datetime")
DURATION = ExtensionType("duration")

_CONSTRUCTORS: dict[ExtFun, tuple[Callable[[str], object], SchemaType]] = {
    ExtFun.DECIMAL: (parse_decimal, ExtensionType("decimal")),
    ExtFun.IP: (parse_ip, ExtensionType("ipaddr")),
    ExtFun.DATETIME: (parse_datetime, DATETIME),
    ExtFun.DURATION: (parse_duration, DURATION),
}


def _constructor(fn: ExtFun, x: Call, env: SymEnv) -> Sym:
    parse, ty = _CONSTRUCTORS[fn]
    arg = x.args[0] if len(x.args) == 1 else None
    if not (isinstance(arg, Lit) and isinstance(arg.value, str)):
        raise EncodeError(f"`{fn.value}` applied to something other than a string literal")
    try:
        value = parse(arg.value)
    except ExtensionError as err:
        raise EncodeError(f'`{fn.value}("{arg.value}")` is not a valid literal: {err}') from None
    return env.f.some(env.u.value(value, ty), ty)  # type: ignore[arg-type]


def _ip_range(env: SymEnv, t: z3.ExprRef) -> tuple[z3.BoolRef, z3.BitVecRef, z3.BitVecRef]:
    """Whether `t` is IPv6, and the lowest and highest address of its range."""
    fields = env.u.ipaddr.fields
    v6, addr, prefix = fields["v6"](t), fields["addr"](t), fields["prefix"](t)
    width = z3.If(v6, z3.BitVecVal(128, 128, env.u.ctx), z3.BitVecVal(32, 128, env.u.ctx))
    host_bits = width - z3.ZeroExt(120, prefix)
    one = z3.BitVecVal(1, 128, env.u.ctx)
    host_mask = (one << host_bits) - one
    return v6, addr & ~host_mask, addr | host_mask


def _in_range(env: SymEnv, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    f = env.f
    v6a, lo_a, hi_a = _ip_range(env, a)
    v6b, lo_b, hi_b = _ip_range(env, b)
    return f.and_(f.eq(v6a, v6b), z3.ULE(lo_b, lo_a), z3.ULE(hi_a, hi_b))


def _ip_const(env: SymEnv, text: str) -> z3.ExprRef:
    return env.u.ip(parse_ip(text))


def _datetime_op(
    fn: ExtFun, env: SymEnv, args: list[Sym]
) -> tuple[z3.ExprRef, z3.BoolRef, SchemaType]:
    f = env.f
    day = env.u.long(DAY_MS)
    match fn:
        case ExtFun.OFFSET:
            x, y = args[0].value, args[1].value
            ok = f.and_(z3.BVAddNoOverflow(x, y, True), z3.BVAddNoUnderflow(x, y))
            return x + y, f.not_(ok), DATETIME
        case ExtFun.DURATION_SINCE:
            x, y = args[0].value, args[1].value
            ok = f.and_(z3.BVSubNoOverflow(x, y), z3.BVSubNoUnderflow(x, y, True))
            return x - y, f.not_(ok), DURATION
        case ExtFun.TO_DATE:
            x = args[0].value
            rem = z3.SRem(x, day)
            rem = z3.If(rem < 0, rem + day, rem)  # Euclidean remainder
            ok = z3.BVSubNoUnderflow(x, rem, True)
            return x - rem, f.not_(ok), DATETIME
        case ExtFun.TO_TIME:
            x = args[0].value
            rem = z3.SRem(x, day)
            return z3.If(rem < 0, rem + day, rem), f.false, DURATION
    raise AssertionError(fn)


def compile_call(fn: ExtFun, args: list[Sym], x: Call, env: SymEnv) -> Sym:
    """Apply an extension function; the twin of `core.extensions.call`."""
    f = env.f
    if fn in _CONSTRUCTORS:
        return _constructor(fn, x, env)
    expected = tuple(ExtensionType("ipaddr" if n == "ipaddr" else n) for n in signature(fn))
    if tuple(a.ty for a in args) != expected:
        raise EncodeError(f"`{fn.value}` applied to arguments of types {[str(a.ty) for a in args]}")
    v = [a.value for a in args]
    match fn:
        case ExtFun.LESS_THAN:
            return f.after(args, v[0] < v[1], BOOL)
        case ExtFun.LESS_THAN_OR_EQUAL:
            return f.after(args, v[0] <= v[1], BOOL)
        case ExtFun.GREATER_THAN:
            return f.after(args, v[0] > v[1], BOOL)
        case ExtFun.GREATER_THAN_OR_EQUAL:
            return f.after(args, v[0] >= v[1], BOOL)
        case ExtFun.IS_IPV4:
            return f.after(args, f.not_(env.u.ipaddr.fields["v6"](v[0])), BOOL)
        case ExtFun.IS_IPV6:
            return f.after(args, env.u.ipaddr.fields["v6"](v[0]), BOOL)
        case ExtFun.IS_LOOPBACK:
            v6 = env.u.ipaddr.fields["v6"](v[0])
            net = f.ite(v6, _ip_const(env, "::1/128"), _ip_const(env, "127.0.0.0/8"))
            return f.after(args, _in_range(env, v[0], net), BOOL)
        case ExtFun.IS_MULTICAST:
            v6 = env.u.ipaddr.fields["v6"](v[0])
            net = f.ite(v6, _ip_const(env, "ff00::/8"), _ip_const(env, "224.0.0.0/4"))
            return f.after(args, _in_range(env, v[0], net), BOOL)
        case ExtFun.IS_IN_RANGE:
            return f.after(args, _in_range(env, v[0], v[1]), BOOL)
        case ExtFun.OFFSET | ExtFun.DURATION_SINCE | ExtFun.TO_DATE | ExtFun.TO_TIME:
            value, err, ty = _datetime_op(fn, env, args)
            return f.after(args, value, ty, err)
        case ExtFun.TO_MILLISECONDS:
            return f.after(args, v[0], LONG)
        case ExtFun.TO_SECONDS:
            return f.after(args, v[0] / 1000, LONG)
        case ExtFun.TO_MINUTES:
            return f.after(args, v[0] / 1000 / 60, LONG)
        case ExtFun.TO_HOURS:
            return f.after(args, v[0] / 1000 / 60 / 60, LONG)
        case ExtFun.TO_DAYS:
            return f.after(args, v[0] / 1000 / 60 / 60 / 24, LONG)
    raise EncodeError(f"extension function `{fn.value}`")
