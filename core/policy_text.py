"""Cedar policy text for policies: what core/parser.py (and Cedar) read back to the same policies.

Fidelity comes first: the text parses to an equal policy, written with the same operators, so
Cedar gives it the same JSON form (core/policy_json.py). Parentheses go exactly where
precedence needs them. Then readability: annotations on their own lines, the head on one line
when it fits, each condition on its own line, and a long `&&` chain one operand per line.

Twin: core/parser.py reads this text; core/policy_json.py writes the JSON form.
"""

from __future__ import annotations

import itertools
import re

from cedar_smt.core.ast import (
    METHOD_OPS,
    RESERVED,
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
    VarRef,
    assert_never,
)
from cedar_smt.core.policy import (
    Policy,
    ScopeAny,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    ScopeIs,
    ScopeIsIn,
    Target,
)
from cedar_smt.core.policy_json import expr_to_json
from cedar_smt.core.values import Long, Value, escape_string, record_key, to_cedar

WIDTH = 100  # wider heads and conditions are broken over lines
INDENT = "  "
MAX_UNARY = 4  # Cedar reads at most four `!` or `-` in a row

# precedence levels of Cedar's grammar, loosest first; an operand below the level its place
# needs is parenthesised
EXPR, OR, AND, RELATION, ADD, MUL, UNARY, MEMBER = range(8)

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_RELATIONS = {BinaryOp.EQ: "==", BinaryOp.LESS: "<", BinaryOp.LESS_EQ: "<=", BinaryOp.IN: "in"}
_ARITH = {BinaryOp.ADD: ("+", ADD), BinaryOp.SUB: ("-", ADD), BinaryOp.MUL: ("*", MUL)}
_FLIPPED = {">": BinaryOp.LESS, ">=": BinaryOp.LESS_EQ}  # `a > b` is `b < a`


def policy_to_cedar(policy: Policy) -> str:
    """One policy or template as Cedar text, ending with `;` and a newline."""
    lines = [f"@{k}" if v is None else f"@{k}({_string(v)})" for k, v in policy.annotations]
    scopes = [
        _scope("principal", policy.principal),
        _scope("action", policy.action),
        _scope("resource", policy.resource),
    ]
    head = f"{policy.effect.value} ({', '.join(scopes)})"
    if len(head) <= WIDTH:
        lines.append(head)
    else:
        lines.append(f"{policy.effect.value} (")
        lines.extend(f"{INDENT}{s}," for s in scopes[:-1])
        lines.extend((f"{INDENT}{scopes[-1]}", ")"))
    for c in policy.conditions:
        lines.extend(_condition(c.kind, c.body))
    lines[-1] += ";"
    return "\n".join(lines) + "\n"


def _scope(var: str, c: ScopeConstraint) -> str:
    match c:
        case ScopeAny():
            return var
        case ScopeEq(entity=e):
            return f"{var} == {_target(e)}"
        case ScopeIn(entity=e):
            return f"{var} in {_target(e)}"
        case ScopeInSet(entities=(uid,)):
            return f"{var} in {uid}"
        case ScopeInSet(entities=es):
            return f"{var} in [{', '.join(str(uid) for uid in es)}]"
        case ScopeIs(entity_type=t):
            return f"{var} is {t}"
        case ScopeIsIn(entity_type=t, entity=e):
            return f"{var} is {t} in {_target(e)}"
    assert_never(c)


def _target(t: Target) -> str:
    return t.name if isinstance(t, Slot) else str(t)


def _condition(kind: str, body: Expr) -> list[str]:
    line = f"{kind} {{ {expr_to_cedar(body)} }}"
    if len(line) <= WIDTH:
        return [line]
    for node, symbol, level in ((And, "&&", RELATION), (Or, "||", AND)):
        operands = _chain(body, node)
        if len(operands) > 1:
            texts = [_at(x, level) for x in operands]
            inner = [f"{INDENT}{t} {symbol}" for t in texts[:-1]] + [f"{INDENT}{texts[-1]}"]
            return [f"{kind} {{", *inner, "}"]
    return [line]


def _chain(e: Expr, node: type[And] | type[Or]) -> list[Expr]:
    """The operands of a left-nested chain `a && b && c` (or `a || b || c`)."""
    out = []
    while isinstance(e, node) and (isinstance(e, Or) or _plain_and(e)):
        out.append(e.right)
        e = e.left
    out.append(e)
    return out[::-1]


def _plain_and(e: And) -> bool:
    """An `&&` written as one: not `is ... in`, nor `has a.b`."""
    return e.sugar is None and _has_path(e) is None


def _has_path(e: And) -> str | None:
    """`x has a.b.c` when `e` is what the parser makes of it: `x has a && x.a has b && ...`."""
    tests: list[HasAttr] = []
    node: Expr = e
    while isinstance(node, And) and node.sugar is None and isinstance(node.right, HasAttr):
        tests.append(node.right)
        node = node.left
    if not isinstance(node, HasAttr):
        return None
    tests.append(node)
    tests.reverse()
    target = node.arg
    expected = target
    for prev, test in itertools.pairwise(tests):
        expected = GetAttr(expected, prev.attr)
        # equal, and written alike (equality ignores how an operator was written)
        if test.arg != expected or expr_to_json(test.arg) != expr_to_json(expected):
            return None
    if not all(_IDENT.fullmatch(t.attr) and t.attr not in RESERVED for t in tests):
        return None
    return f"{_at(target, ADD)} has {'.'.join(t.attr for t in tests)}"


def expr_to_cedar(e: Expr) -> str:
    """An expression as Cedar text, parenthesised only where precedence needs it."""
    return _text(e)[0]


def _at(e: Expr, level: int) -> str:
    """`e` as an operand in a place of the given precedence level."""
    text, own = _text(e)
    return text if own >= level else f"({text})"


def _text(e: Expr) -> tuple[str, int]:
    """The text of `e` and its precedence level."""
    match e:
        case Lit(value=v):
            return _literal(v)
        case VarRef(var=v):
            return v.value, MEMBER
        case Slot(name=n):
            return n, MEMBER
        case Ite(cond=c, then=t, else_=f):
            return f"if {_at(c, EXPR)} then {_at(t, EXPR)} else {_at(f, EXPR)}", EXPR
        case And(
            left=Is(arg=a, entity_type=t),
            right=BinaryApp(op=BinaryOp.IN, left=a_in, right=b),
            sugar="is in",
        ) if a_in == a:
            return f"{_at(a, ADD)} is {t} in {_at(b, ADD)}", RELATION
        case And(left=a, right=b):
            path = _has_path(e)
            if path is not None:
                return path, RELATION
            return f"{_at(a, AND)} && {_at(b, RELATION)}", AND
        case Or(left=a, right=b):
            return f"{_at(a, OR)} || {_at(b, AND)}", OR
        case UnaryApp(op=UnaryOp.NOT, arg=BinaryApp(op=BinaryOp.EQ, left=a, right=b), sugar="!="):
            return f"{_at(a, ADD)} != {_at(b, ADD)}", RELATION
        case UnaryApp(op=UnaryOp.IS_EMPTY, arg=a):
            return f"{_at(a, MEMBER)}.isEmpty()", MEMBER
        case UnaryApp():
            return _unary(e), UNARY
        case BinaryApp(op=op, left=a, right=b, sugar=">" | ">=" as sugar) if _FLIPPED[sugar] is op:
            return f"{_at(b, ADD)} {sugar} {_at(a, ADD)}", RELATION
        case BinaryApp(op=op, left=a, right=b) if op in _RELATIONS:
            return f"{_at(a, ADD)} {_RELATIONS[op]} {_at(b, ADD)}", RELATION
        case BinaryApp(op=op, left=a, right=b) if op in _ARITH:
            symbol, level = _ARITH[op]
            return f"{_at(a, level)} {symbol} {_at(b, level + 1)}", level
        case BinaryApp(op=op, left=a, right=b) if op in METHOD_OPS:
            return f"{_at(a, MEMBER)}.{op.value}({_at(b, EXPR)})", MEMBER
        case BinaryApp(op=op):
            raise AssertionError(f"unhandled operator {op!r}")
        case Like(arg=a, pattern=p):
            return f'{_at(a, ADD)} like "{p}"', RELATION
        case Is(arg=a, entity_type=t):
            return f"{_at(a, ADD)} is {t}", RELATION
        case HasAttr(arg=a, attr=n):
            return f"{_at(a, ADD)} has {record_key(n)}", RELATION
        case GetAttr(arg=a, attr=n):
            return f"{_at(a, MEMBER)}{_access(n)}", MEMBER
        case SetLit(elements=xs):
            return f"[{', '.join(_at(x, EXPR) for x in xs)}]", MEMBER
        case RecordLit(fields=fs):
            return "{" + ", ".join(f"{record_key(k)}: {_at(x, EXPR)}" for k, x in fs) + "}", MEMBER
        case Call(fn=fn, args=args) if fn.is_constructor:
            return f"{fn.value}({', '.join(_at(x, EXPR) for x in args)})", MEMBER
        case Call(fn=fn, args=(recv, *rest)):
            return (
                f"{_at(recv, MEMBER)}.{fn.value}({', '.join(_at(x, EXPR) for x in rest)})",
                MEMBER,
            )
        case Call(fn=fn):
            raise ValueError(f"the method `{fn.value}` has no receiver, so no Cedar text")
    assert_never(e)


def _unary(e: UnaryApp) -> str:
    """A run of up to four `!` (or `-`) and its operand; `-` before a literal number keeps the
    parentheses that make it a negation rather than a negative literal (`-(1)`, not `-1`)."""
    symbol = "!" if e.op is UnaryOp.NOT else "-"
    count, arg = 1, e.arg
    while isinstance(arg, UnaryApp) and arg.op is e.op and arg.sugar is None and count < MAX_UNARY:
        count, arg = count + 1, arg.arg
    prefix = symbol * count
    if e.op is UnaryOp.NEG and isinstance(arg, Lit) and isinstance(arg.value, Long):
        n = arg.value.value
        return f"{prefix}{n}" if n < 0 and count < MAX_UNARY else f"{prefix}({n})"
    return prefix + _at(arg, MEMBER)


def _literal(v: Value) -> tuple[str, int]:
    if isinstance(v, Long) and v.value < 0:
        return str(v.value), UNARY
    return to_cedar(v), MEMBER  # sets, records and extension values too, though no parse has them


def _string(s: str) -> str:
    return f'"{escape_string(s)}"'


def _access(name: str) -> str:
    if _IDENT.fullmatch(name) and name not in RESERVED:
        return f".{name}"
    return f"[{_string(name)}]"


__all__ = ["expr_to_cedar", "policy_to_cedar"]
