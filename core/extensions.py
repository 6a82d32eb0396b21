"""Calling extension functions on values: `decimal`, `ip`, `datetime`, `duration` and methods.

The value types and their exact parsing rules live in core/ext/; this module checks argument
counts and types and turns their failures into evaluation errors.
Symbolic twin: the extension cases of encoder/compiler.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cedar_smt.core.ast import ExtFun
from cedar_smt.core.errors import ErrorKind, EvaluationError, ExtensionError
from cedar_smt.core.ext import datetime as dt
from cedar_smt.core.ext.datetime import Datetime, Duration
from cedar_smt.core.ext.decimal import Decimal, parse_decimal
from cedar_smt.core.ext.ipaddr import IPAddr, parse_ip
from cedar_smt.core.values import Long, Value, type_name

_EXT_NAME = {
    ExtFun.DECIMAL: "decimal",
    ExtFun.IP: "ipaddr",
    ExtFun.DATETIME: "datetime",
    ExtFun.DURATION: "duration",
}

# each function: (argument types, implementation)
_SIGNATURES: dict[ExtFun, tuple[tuple[type, ...], Callable[..., Any]]] = {
    ExtFun.DECIMAL: ((str,), parse_decimal),
    ExtFun.LESS_THAN: ((Decimal, Decimal), lambda a, b: a < b),
    ExtFun.LESS_THAN_OR_EQUAL: ((Decimal, Decimal), lambda a, b: a <= b),
    ExtFun.GREATER_THAN: ((Decimal, Decimal), lambda a, b: a > b),
    ExtFun.GREATER_THAN_OR_EQUAL: ((Decimal, Decimal), lambda a, b: a >= b),
    ExtFun.IP: ((str,), parse_ip),
    ExtFun.IS_IPV4: ((IPAddr,), IPAddr.is_ipv4),
    ExtFun.IS_IPV6: ((IPAddr,), IPAddr.is_ipv6),
    ExtFun.IS_LOOPBACK: ((IPAddr,), IPAddr.is_loopback),
    ExtFun.IS_MULTICAST: ((IPAddr,), IPAddr.is_multicast),
    ExtFun.IS_IN_RANGE: ((IPAddr, IPAddr), IPAddr.is_in_range),
    ExtFun.DATETIME: ((str,), dt.parse_datetime),
    ExtFun.DURATION: ((str,), dt.parse_duration),
    ExtFun.OFFSET: ((Datetime, Duration), dt.offset),
    ExtFun.DURATION_SINCE: ((Datetime, Datetime), dt.duration_since),
    ExtFun.TO_DATE: ((Datetime,), dt.to_date),
    ExtFun.TO_TIME: ((Datetime,), dt.to_time),
    ExtFun.TO_MILLISECONDS: ((Duration,), lambda d: Long(d.to_milliseconds())),
    ExtFun.TO_SECONDS: ((Duration,), lambda d: Long(d.to_seconds())),
    ExtFun.TO_MINUTES: ((Duration,), lambda d: Long(d.to_minutes())),
    ExtFun.TO_HOURS: ((Duration,), lambda d: Long(d.to_hours())),
    ExtFun.TO_DAYS: ((Duration,), lambda d: Long(d.to_days())),
}

_TYPE_NAMES = {
    str: "string",
    Decimal: "decimal",
    IPAddr: "ipaddr",
    Datetime: "datetime",
    Duration: "duration",
}


def signature(fn: ExtFun) -> tuple[str, ...]:
    """The Cedar type names of a function's arguments (the receiver first for methods)."""
    return tuple(_TYPE_NAMES[t] for t in _SIGNATURES[fn][0])


def call(fn: ExtFun, args: Sequence[Value]) -> Value:
    """Apply an extension function; wrong counts or types are type errors, as in Cedar."""
    types, impl = _SIGNATURES[fn]
    if len(args) != len(types):
        raise EvaluationError(
            ErrorKind.TYPE_ERROR,
            f"wrong number of arguments provided to extension function `{fn.value}`: "
            f"expected {len(types)}, got {len(args)}",
        )
    for arg, t in zip(args, types, strict=True):
        if type(arg) is not t:
            hint = ""
            if isinstance(arg, str) and t is not str:
                ctor = "ip" if t is IPAddr else _TYPE_NAMES[t]
                hint = f" (maybe you forgot to apply the `{ctor}` constructor?)"
            raise EvaluationError(
                ErrorKind.TYPE_ERROR,
                f"type error: expected {_TYPE_NAMES[t]}, got {type_name(arg)}{hint}",
            )
    try:
        return impl(*args)  # type: ignore[no-any-return]
    except ExtensionError as err:
        name = _EXT_NAME.get(fn, fn.value)
        raise EvaluationError(
            ErrorKind.EXTENSION_ERROR,
            f"error while evaluating `{name}` extension function: {err}",
        ) from None
