"""Cedar expressions: one closed type of frozen nodes.

The parser produces these nodes (desugaring `!=`, `>`, `>=`, `has a.b`, `is … in` and
method-call syntax on the way), and `Policy.to_expr` turns a whole policy into one of them,
so the evaluator (core/evaluator.py) and its symbolic twin (encoder/compiler.py) only ever
see expressions of this type. The validator returns the same nodes with `ty` filled in (the
type of each sub-expression in one request environment); the evaluator ignores it.

Where the parser desugars `!=`, `>`, `>=` or `e is T in x`, the node it builds records the
operator written in `sugar`. Nothing reads it but the printers (core/policy_json.py,
core/policy_text.py): Cedar's JSON form keeps those operators, and equality ignores it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields
from enum import Enum
from functools import lru_cache
from typing import Any, NoReturn, TypeAlias, TypeVar

from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import Loc
from cedar_smt.core.types import SchemaType
from cedar_smt.core.values import Value, escape_string, record_key, to_cedar

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover

    def assert_never(value: NoReturn) -> NoReturn:
        raise AssertionError(f"unhandled value: {value!r}")


class Var(Enum):
    PRINCIPAL = "principal"
    ACTION = "action"
    RESOURCE = "resource"
    CONTEXT = "context"


class UnaryOp(Enum):
    NOT = "!"
    NEG = "-"
    IS_EMPTY = "isEmpty"


class BinaryOp(Enum):
    EQ = "=="
    LESS = "<"
    LESS_EQ = "<="
    ADD = "+"
    SUB = "-"
    MUL = "*"
    IN = "in"
    CONTAINS = "contains"
    CONTAINS_ALL = "containsAll"
    CONTAINS_ANY = "containsAny"
    HAS_TAG = "hasTag"
    GET_TAG = "getTag"


METHOD_OPS = frozenset(
    {
        BinaryOp.CONTAINS,
        BinaryOp.CONTAINS_ALL,
        BinaryOp.CONTAINS_ANY,
        BinaryOp.HAS_TAG,
        BinaryOp.GET_TAG,
    }
)


class ExtFun(Enum):
    """Extension functions; `is_constructor` ones are called as `f(x)`, the rest as methods."""

    DECIMAL = "decimal"
    LESS_THAN = "lessThan"
    LESS_THAN_OR_EQUAL = "lessThanOrEqual"
    GREATER_THAN = "greaterThan"
    GREATER_THAN_OR_EQUAL = "greaterThanOrEqual"
    IP = "ip"
    IS_IPV4 = "isIpv4"
    IS_IPV6 = "isIpv6"
    IS_LOOPBACK = "isLoopback"
    IS_MULTICAST = "isMulticast"
    IS_IN_RANGE = "isInRange"
    DATETIME = "datetime"
    DURATION = "duration"
    OFFSET = "offset"
    DURATION_SINCE = "durationSince"
    TO_DATE = "toDate"
    TO_TIME = "toTime"
    TO_MILLISECONDS = "toMilliseconds"
    TO_SECONDS = "toSeconds"
    TO_MINUTES = "toMinutes"
    TO_HOURS = "toHours"
    TO_DAYS = "toDays"

    @property
    def is_constructor(self) -> bool:
        return self in _CONSTRUCTORS


_CONSTRUCTORS = frozenset({ExtFun.DECIMAL, ExtFun.IP, ExtFun.DATETIME, ExtFun.DURATION})

STAR = None  # a `*` wildcard inside a `like` pattern


@dataclass(frozen=True, slots=True)
class Pattern:
    """A `like` pattern: single characters, and `STAR` for each unescaped `*`."""

    elems: tuple[str | None, ...]

    def segments(self) -> tuple[str, ...]:
        """The literal runs between the wildcards: one run when there is no wildcard, else the
        run before the first, the non-empty runs between, and the run after the last."""
        return _segments(self)

    def matches(self, s: str) -> bool:
        """Whether `s` matches, in time linear in `len(s)` for each literal run of the pattern
        (a backtracking regular expression took minutes on 200 wildcards and 10 KB)."""
        segments = _segments(self)
        if len(segments) == 1:  # no wildcard
            return s == segments[0]
        first, *middle, last = segments
        if len(s) < len(first) + len(last) or not s.startswith(first) or not s.endswith(last):
            return False
        pos, end = len(first), len(s) - len(last)
        for seg in middle:  # each run at its leftmost place leaves the most room for the rest
            found = s.find(seg, pos, end)
            if found < 0:
                return False
            pos = found + len(seg)
        return True

    def __str__(self) -> str:
        return "".join(
            "*" if e is STAR else escape_string(e).replace("*", "\\*") for e in self.elems
        )


@lru_cache(maxsize=4096)
def _segments(p: Pattern) -> tuple[str, ...]:
    """The literal runs between the wildcards (empty runs dropped inside: `**` is `*`)."""
    runs = [""]
    for e in p.elems:
        if e is STAR:
            runs.append("")
        else:
            runs[-1] += e
    if len(runs) <= 2:
        return tuple(runs)
    return (runs[0], *(r for r in runs[1:-1] if r), runs[-1])


@dataclass(frozen=True, slots=True)
class Lit:
    value: Value
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class VarRef:
    var: Var
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Slot:
    """A template slot, `?principal` or `?resource`; linking replaces it with an entity."""

    name: str
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Ite:
    cond: Expr
    then: Expr
    else_: Expr
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)
    sugar: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UnaryApp:
    op: UnaryOp
    arg: Expr
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)
    sugar: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BinaryApp:
    op: BinaryOp
    left: Expr
    right: Expr
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)
    sugar: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Like:
    arg: Expr
    pattern: Pattern
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Is:
    arg: Expr
    entity_type: str
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class HasAttr:
    arg: Expr
    attr: str
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class GetAttr:
    arg: Expr
    attr: str
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SetLit:
    elements: tuple[Expr, ...]
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RecordLit:
    fields: tuple[tuple[str, Expr], ...]
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    fn: ExtFun
    args: tuple[Expr, ...]
    loc: Loc | None = field(default=None, compare=False, repr=False)
    ty: SchemaType | None = field(default=None, repr=False)


Expr: TypeAlias = (
    "Lit | VarRef | Slot | Ite | And | Or | UnaryApp | BinaryApp | Like | Is | HasAttr | GetAttr"
    " | SetLit | RecordLit | Call"
)


_N = TypeVar("_N", bound="Expr")
_FIELDS: dict[type, tuple[str, ...]] = {}


def replace(node: _N, **changes: Any) -> _N:
    """`dataclasses.replace` for expression nodes, several times faster: nodes have no
    `__post_init__` to run, so the copy sets its slots directly. The typechecker rebuilds every
    node of every policy in every environment, which made `dataclasses.replace` its largest
    cost."""
    cls = type(node)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(node, name))
    return new


def children(e: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node, in evaluation order."""
    match e:
        case Lit() | VarRef() | Slot():
            return ()
        case Ite(cond=c, then=t, else_=f):
            return (c, t, f)
        case And(left=a, right=b) | Or(left=a, right=b) | BinaryApp(left=a, right=b):
            return (a, b)
        case UnaryApp(arg=a) | Like(arg=a) | Is(arg=a) | HasAttr(arg=a) | GetAttr(arg=a):
            return (a,)
        case SetLit(elements=xs) | Call(args=xs):
            return xs
        case RecordLit(fields=fs):
            return tuple(x for _, x in fs)
    assert_never(e)


_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"})


def _attr(name: str) -> str:
    if _IDENT.fullmatch(name) and name not in RESERVED:
        return f".{name}"
    return f'["{escape_string(name)}"]'


@room_for_depth()
def to_source(e: Expr) -> str:
    """Cedar text for an expression; fully parenthesised, so it reads back to the same tree."""
    match e:
        case Lit(value=v):
            if isinstance(v, frozenset):
                return "[" + ", ".join(sorted(to_cedar(x) for x in v)) + "]"
            text = to_cedar(v)
            return f"({text})" if text.startswith("-") else text
        case VarRef(var=v):
            return v.value
        case Slot(name=n):
            return n
        case Ite(cond=c, then=t, else_=f):
            return f"(if {to_source(c)} then {to_source(t)} else {to_source(f)})"
        case And(left=a, right=b):
            return f"({to_source(a)} && {to_source(b)})"
        case Or(left=a, right=b):
            return f"({to_source(a)} || {to_source(b)})"
        case UnaryApp(op=UnaryOp.IS_EMPTY, arg=a):
            return f"{to_source(a)}.isEmpty()"
        case UnaryApp(op=UnaryOp.NEG, arg=Lit() as a):
            return f"(-({to_source(a)}))"  # keep `-(1)` apart from the literal `-1`
        case UnaryApp(op=op, arg=a):
            return f"({op.value}{to_source(a)})"
        case BinaryApp(op=op, left=a, right=b) if op in METHOD_OPS:
            return f"{to_source(a)}.{op.value}({to_source(b)})"
        case BinaryApp(op=op, left=a, right=b):
            return f"({to_source(a)} {op.value} {to_source(b)})"
        case Like(arg=a, pattern=p):
            return f'({to_source(a)} like "{p}")'
        case Is(arg=a, entity_type=t):
            return f"({to_source(a)} is {t})"
        case HasAttr(arg=a, attr=n):
            return f"({to_source(a)} has {record_key(n)})"
        case GetAttr(arg=a, attr=n):
            return f"{to_source(a)}{_attr(n)}"
        case SetLit(elements=xs):
            return "[" + ", ".join(to_source(x) for x in xs) + "]"
        case RecordLit(fields=fs):
            return "{" + ", ".join(f"{record_key(k)}: {to_source(x)}" for k, x in fs) + "}"
        case Call(fn=fn, args=args) if fn.is_constructor:
            return f"{fn.value}({', '.join(to_source(x) for x in args)})"
        case Call(fn=fn, args=(recv, *rest)):
            return f"{to_source(recv)}.{fn.value}({', '.join(to_source(x) for x in rest)})"
    raise AssertionError(f"unhandled expression {e!r}")
