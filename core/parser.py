"""Parse Cedar policy text (core/grammar/policy.lark) into policies over `core.ast` nodes.

The Lark LALR parser builds the AST directly through an inline transformer, desugaring as it
goes: `a != b` is `!(a == b)`, `a > b` is `b < a`, `a >= b` is `b <= a`, `e has a.b` is
`e has a && e.a has b`, `e is T in x` is `e is T && e in x`, and method calls become the
unary, binary or extension operations they name. The node a desugared operator becomes keeps
the operator written (`sugar`), for printing. Record fields and annotations are kept in key
order, as Cedar keeps them: it evaluates a record's fields in that order.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from cedar_smt.core.ast import (
    RESERVED,
    STAR,
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
    Pattern,
    RecordLit,
    SetLit,
    Slot,
    UnaryApp,
    UnaryOp,
    Var,
    VarRef,
)
from cedar_smt.core.errors import Loc, ParseError
from cedar_smt.core.policy import (
    Condition,
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
from cedar_smt.core.values import LONG_MAX, EntityUID, Long

_BUILTIN_METHODS: dict[str, tuple[UnaryOp | BinaryOp, int]] = {
    "contains": (BinaryOp.CONTAINS, 1),
    "containsAll": (BinaryOp.CONTAINS_ALL, 1),
    "containsAny": (BinaryOp.CONTAINS_ANY, 1),
    "hasTag": (BinaryOp.HAS_TAG, 1),
    "getTag": (BinaryOp.GET_TAG, 1),
    "isEmpty": (UnaryOp.IS_EMPTY, 0),
}
_EXT_FUNS = {f.value: f for f in ExtFun}
_SLOTS = {"principal": "?principal", "resource": "?resource"}


def _fail(message: str, loc: Loc | None) -> NoReturn:
    raise ParseError(message, loc=loc)


def _loc_of(meta: Any) -> Loc | None:
    if getattr(meta, "empty", True):
        return None
    return Loc(meta.line, meta.column, meta.start_pos, meta.end_pos)


def _tok_loc(tok: Token) -> Loc:
    return Loc(tok.line or 0, tok.column or 0, tok.start_pos or 0, tok.end_pos or 0)


_ESCAPE = re.compile(r"\\(u\{([0-9a-fA-F_]*)\}|x([0-9a-fA-F]{2})|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


def unescape(body: str, loc: Loc | None, *, pattern: bool = False) -> list[str | None]:
    """Decode Cedar string escapes; in a pattern, `*` becomes STAR and `\\*` a literal star."""
    out: list[str | None] = []
    pos = 0
    for m in _ESCAPE.finditer(body):
        for ch in body[pos : m.start()]:
            out.append(STAR if pattern and ch == "*" else ch)
        pos = m.end()
        esc = m.group(1)
        if m.group(2) is not None:
            digits = m.group(2)
            code = int(digits.replace("_", ""), 16) if digits.strip("_") else None
            if (
                digits.startswith("_")
                or code is None
                or len(digits.replace("_", "")) > 6
                or code > 0x10FFFF
                or 0xD800 <= code <= 0xDFFF
            ):
                _fail(f"the input `\\{esc}` is not a valid escape", loc)
            ch = chr(code)
            out.append(STAR if pattern and ch == "*" else ch)
        elif m.group(3) is not None:
            code = int(m.group(3), 16)
            if code > 0x7F:
                _fail(f"the input `\\{esc}` is not a valid escape", loc)
            ch = chr(code)
            out.append(STAR if pattern and ch == "*" else ch)
        elif esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif pattern and esc == "*":
            out.append("*")
        else:
            _fail(f"the input `\\{esc}` is not a valid escape", loc)
    for ch in body[pos:]:
        out.append(STAR if pattern and ch == "*" else ch)
    return out


def string_of(tok: Token) -> str:
    """The value of a STR token."""
    body: str = tok.value[1:-1]
    if "\\" not in body:
        return body
    return "".join(c for c in unescape(body, _tok_loc(tok)) if c is not None)


def _ident(tok: Token) -> str:
    if tok.value in RESERVED:
        _fail(f"this identifier is reserved and cannot be used: {tok.value}", _tok_loc(tok))
    return str(tok.value)


def _checked(path: _PathName) -> str:
    """A name used as a type or function: no reserved identifiers, no `__cedar`."""
    if any(p.value == "__cedar" for p in path.toks):
        _fail(f"the name `{path}` contains `__cedar`, which is reserved", _tok_loc(path.toks[0]))
    for p in path.toks:
        _ident(p)
    return str(path)


class _Raw:
    """A parsed policy before ids are assigned."""

    __slots__ = ("annotations", "conditions", "effect", "loc", "scope")

    def __init__(
        self,
        annotations: dict[str, str | None],
        effect: Effect,
        scope: Any,
        conditions: Any,
        loc: Loc | None,
    ) -> None:
        self.annotations = annotations
        self.effect = effect
        self.scope = scope
        self.conditions = conditions
        self.loc = loc


class _Negatable:
    """An integer literal not yet given its sign (so `-9223372036854775808` is legal)."""

    __slots__ = ("digits", "loc")

    def __init__(self, digits: str, loc: Loc) -> None:
        self.digits = digits
        self.loc = loc


def _chain_at(x: Expr, loc: Loc | None) -> Expr:
    """`x` with every attribute access of its chain (`a.b` in `a.b.c`) placed at `loc`, the
    whole chain's place, as Cedar places them; errors at one place with one message are one."""
    if isinstance(x, GetAttr) and x.loc != loc:
        return replace(x, arg=_chain_at(x.arg, loc), loc=loc)
    return x


def _check_actions(c: ScopeConstraint, loc: Loc) -> None:
    """The entities an action scope names must be actions: of type `Action` or `NS::Action`."""
    named = c.entities if isinstance(c, ScopeInSet) else [getattr(c, "entity", None)]
    wrong = [f"`{e}`" for e in named if isinstance(e, EntityUID) and not is_action_type(e.type)]
    if len(wrong) == 1:
        _fail(f"expected an entity uid with type `Action` but got {wrong[0]}", loc)
    if wrong:
        listed = (
            " and ".join(wrong) if len(wrong) == 2 else f"{', '.join(wrong[:-1])}, and {wrong[-1]}"
        )
        _fail(f"expected entity uids with type `Action` but got {listed}", loc)


def is_action_type(name: str) -> bool:
    return name == "Action" or name.endswith("::Action")


def _key(item: tuple[str, Any]) -> str:
    return item[0]


def _expr(x: Any) -> Expr:
    if isinstance(x, _Negatable):
        n = int(x.digits)
        if n > LONG_MAX:
            _fail(f"integer literal `{x.digits}` is too large", x.loc)
        return Lit(Long(n), x.loc)
    if isinstance(x, Slot):
        _fail(f"found template slot {x.name} in a `when` clause", x.loc)
    return x  # type: ignore[no-any-return]


@v_args(meta=True, inline=True)
class _ToAst(Transformer):  # type: ignore[type-arg]
    # policies

    def start(self, meta, *policies):  # type: ignore[no-untyped-def]
        return list(policies)

    def policy(self, meta, *items):  # type: ignore[no-untyped-def]
        annotations = [i for i in items if isinstance(i, tuple) and i[0] == "@"]
        rest = [i for i in items if not (isinstance(i, tuple) and i[0] == "@")]
        effect_tok, scope, *conditions = rest
        if effect_tok.value not in ("permit", "forbid"):
            _fail(
                f"expected `permit` or `forbid`, found `{effect_tok.value}`", _tok_loc(effect_tok)
            )
        seen: dict[str, str | None] = {}
        for _, key, value, loc in annotations:
            if key in seen:
                _fail(f"duplicate annotation: @{key}", loc)
            seen[key] = value
        return _Raw(seen, Effect(effect_tok.value), scope, conditions, _loc_of(meta))

    def annotation(self, meta, key, value):  # type: ignore[no-untyped-def]
        return ("@", key.value, None if value is None else string_of(value), _tok_loc(key))

    def scope(self, meta, p, a, r):  # type: ignore[no-untyped-def]
        out = []
        for (tok, constraint), expected in zip((p, a, r), Var, strict=False):
            if tok.value != expected.value:
                _fail(f"expected `{expected.value}`, found `{tok.value}`", _tok_loc(tok))
            if expected is Var.ACTION:
                if isinstance(constraint, ScopeIs | ScopeIsIn):
                    _fail("`is` is not allowed in the action scope", _tok_loc(tok))
                if isinstance(getattr(constraint, "entity", None), Slot):
                    _fail("template slots are not allowed in the action scope", _tok_loc(tok))
                _check_actions(constraint, _tok_loc(tok))
                if isinstance(constraint, ScopeInSet) and len(constraint.entities) == 1:
                    constraint = ScopeIn(constraint.entities[0])  # as Cedar reads it
            else:
                if isinstance(constraint, ScopeInSet):
                    _fail(
                        f"`{tok.value} in [...]` is not allowed; only `action` can be in a list",
                        _tok_loc(tok),
                    )
                entity = getattr(constraint, "entity", None)
                if isinstance(entity, Slot) and entity.name != f"?{tok.value}":
                    _fail(f"expected `?{tok.value}`, found `{entity.name}`", entity.loc)
            out.append(constraint)
        return tuple(out)

    def scope_any(self, meta, var):  # type: ignore[no-untyped-def]
        return var, ScopeAny()

    def scope_eq(self, meta, var, target):  # type: ignore[no-untyped-def]
        return var, ScopeEq(target)

    def scope_in(self, meta, var, target):  # type: ignore[no-untyped-def]
        return var, ScopeIn(target)

    def scope_in_list(self, meta, var, entities):  # type: ignore[no-untyped-def]
        return var, ScopeInSet(tuple(entities or ()))

    def scope_is(self, meta, var, path):  # type: ignore[no-untyped-def]
        return var, ScopeIs(_checked(path))

    def scope_is_in(self, meta, var, path, target):  # type: ignore[no-untyped-def]
        return var, ScopeIsIn(_checked(path), target)

    def ref_or_slot(self, meta, ref):  # type: ignore[no-untyped-def]
        return ref.value

    def entity_list(self, meta, *refs):  # type: ignore[no-untyped-def]
        return [r.value for r in refs]

    def slot(self, meta, tok):  # type: ignore[no-untyped-def]
        name = tok.value[1:]
        if name not in _SLOTS:
            _fail(f"invalid template slot `{tok.value}`", _tok_loc(tok))
        return Slot(tok.value, _tok_loc(tok))

    def condition(self, meta, kind, body):  # type: ignore[no-untyped-def]
        if kind.value not in ("when", "unless"):
            _fail(f"expected `when` or `unless`, found `{kind.value}`", _tok_loc(kind))
        return Condition(kind.value, _expr(body), _loc_of(meta))

    # expressions

    def ite(self, meta, c, t, f):  # type: ignore[no-untyped-def]
        return Ite(_expr(c), _expr(t), _expr(f), _loc_of(meta))

    def or_(self, meta, a, b):  # type: ignore[no-untyped-def]
        return Or(_expr(a), _expr(b), _loc_of(meta))

    def and_(self, meta, a, b):  # type: ignore[no-untyped-def]
        return And(_expr(a), _expr(b), _loc_of(meta))

    def compare(self, meta, a, op, b):  # type: ignore[no-untyped-def]
        a, b, loc = _expr(a), _expr(b), _loc_of(meta)
        match op.value:
            case "==":
                return BinaryApp(BinaryOp.EQ, a, b, loc)
            case "!=":
                return UnaryApp(UnaryOp.NOT, BinaryApp(BinaryOp.EQ, a, b, loc), loc, sugar="!=")
            case "<":
                return BinaryApp(BinaryOp.LESS, a, b, loc)
            case "<=":
                return BinaryApp(BinaryOp.LESS_EQ, a, b, loc)
            case ">":
                return BinaryApp(BinaryOp.LESS, b, a, loc, sugar=">")
            case ">=":
                return BinaryApp(BinaryOp.LESS_EQ, b, a, loc, sugar=">=")
        raise AssertionError(op)

    def in_(self, meta, a, b):  # type: ignore[no-untyped-def]
        return BinaryApp(BinaryOp.IN, _expr(a), _expr(b), _loc_of(meta))

    def has(self, meta, a, path):  # type: ignore[no-untyped-def]
        target, loc = _expr(a), _loc_of(meta)
        result: Expr = HasAttr(target, path[0], loc)
        for prev, attr in itertools.pairwise(path):
            target = GetAttr(target, prev, loc)
            result = And(result, HasAttr(target, attr, loc), loc)
        return result

    def has_path(self, meta, *idents):  # type: ignore[no-untyped-def]
        return [_ident(t) for t in idents]

    def has_str(self, meta, s):  # type: ignore[no-untyped-def]
        return [string_of(s)]

    def like(self, meta, a, s):  # type: ignore[no-untyped-def]
        elems = unescape(s.value[1:-1], _tok_loc(s), pattern=True)
        return Like(_expr(a), Pattern(tuple(elems)), _loc_of(meta))

    def is_(self, meta, a, path):  # type: ignore[no-untyped-def]
        return Is(_expr(a), _checked(path), _loc_of(meta))

    def is_in(self, meta, a, path, b):  # type: ignore[no-untyped-def]
        a, loc = _expr(a), _loc_of(meta)
        is_a, in_b = Is(a, _checked(path), loc), BinaryApp(BinaryOp.IN, a, _expr(b), loc)
        return And(is_a, in_b, loc, sugar="is in")

    def arith(self, meta, a, op, b):  # type: ignore[no-untyped-def]
        bop = BinaryOp.ADD if op.value == "+" else BinaryOp.SUB
        return BinaryApp(bop, _expr(a), _expr(b), _loc_of(meta))

    def mul(self, meta, a, b):  # type: ignore[no-untyped-def]
        return BinaryApp(BinaryOp.MUL, _expr(a), _expr(b), _loc_of(meta))

    def not_(self, meta, *items):  # type: ignore[no-untyped-def]
        *bangs, arg = items
        if len(bangs) > 4:
            _fail("too many occurrences of `!`", _tok_loc(bangs[0]))
        result = _expr(arg)
        for tok in reversed(bangs):
            result = UnaryApp(UnaryOp.NOT, result, _tok_loc(tok))
        return result

    def neg(self, meta, *items):  # type: ignore[no-untyped-def]
        *dashes, arg = items
        if len(dashes) > 4:
            _fail("too many occurrences of `-`", _tok_loc(dashes[0]))
        if isinstance(arg, _Negatable):
            n = -int(arg.digits)
            if n < -LONG_MAX - 1:
                _fail(f"integer literal `{arg.digits}` is too large", arg.loc)
            result: Expr = Lit(Long(n), _tok_loc(dashes[-1]))
            dashes = dashes[:-1]
        else:
            result = _expr(arg)
        for tok in reversed(dashes):
            result = UnaryApp(UnaryOp.NEG, result, _tok_loc(tok))
        return result

    def get_attr(self, meta, target, name):  # type: ignore[no-untyped-def]
        loc = _loc_of(meta)
        return GetAttr(_chain_at(_expr(target), loc), _ident(name), loc)

    def index(self, meta, target, s):  # type: ignore[no-untyped-def]
        loc = _loc_of(meta)
        return GetAttr(_chain_at(_expr(target), loc), string_of(s), loc)

    def method(self, meta, target, name, args):  # type: ignore[no-untyped-def]
        recv, args, loc = _expr(target), [_expr(a) for a in args or ()], _loc_of(meta)
        method = name.value
        if method in _BUILTIN_METHODS:
            op, arity = _BUILTIN_METHODS[method]
            if len(args) != arity:
                plural = "argument" if arity == 1 else "arguments"
                got = "argument" if len(args) == 1 else "arguments"
                _fail(
                    f"call to `{method}` requires exactly {arity} {plural}, "
                    f"but got {len(args)} {got}",
                    loc,
                )
            if isinstance(op, UnaryOp):
                return UnaryApp(op, recv, loc)
            return BinaryApp(op, recv, args[0], loc)
        fn = _EXT_FUNS.get(method)
        if fn is None:
            _fail(f"`{method}` is not a valid method", _tok_loc(name))
        if fn.is_constructor:
            _fail(f"`{method}` is a function, not a method", _tok_loc(name))
        return Call(fn, (recv, *args), loc)

    def call(self, meta, path, args):  # type: ignore[no-untyped-def]
        loc = _loc_of(meta)
        fn = _EXT_FUNS.get(_checked(path))
        if fn is None or fn.is_constructor is False:
            if fn is not None:
                _fail(f"`{path}` is a method, not a function", loc)
            _fail(f"`{path}` is not a valid function", loc)
        return Call(fn, tuple(_expr(a) for a in args or ()), loc)

    def int_lit(self, meta, tok):  # type: ignore[no-untyped-def]
        return _Negatable(tok.value, _tok_loc(tok))

    def str_lit(self, meta, tok):  # type: ignore[no-untyped-def]
        return Lit(string_of(tok), _tok_loc(tok))

    def true_lit(self, meta):  # type: ignore[no-untyped-def]
        return Lit(True, _loc_of(meta))

    def false_lit(self, meta):  # type: ignore[no-untyped-def]
        return Lit(False, _loc_of(meta))

    def name(self, meta, path):  # type: ignore[no-untyped-def]
        loc = _loc_of(meta)
        try:
            return VarRef(Var(_checked(path)), loc)
        except ValueError:
            _fail(f"invalid variable: {path}", loc)

    def entity_ref(self, meta, path, s):  # type: ignore[no-untyped-def]
        return Lit(EntityUID(_checked(path), string_of(s)), _loc_of(meta))

    def paren(self, meta, e):  # type: ignore[no-untyped-def]
        return _expr(e)

    def set_lit(self, meta, elems):  # type: ignore[no-untyped-def]
        return SetLit(tuple(_expr(e) for e in elems or ()), _loc_of(meta))

    def record_lit(self, meta, inits):  # type: ignore[no-untyped-def]
        seen: dict[str, Expr] = {}
        for key, value, loc in inits or ():
            if key in seen:
                _fail(f"duplicate key `{key}` in record literal", loc)
            seen[key] = value
        return RecordLit(tuple(sorted(seen.items(), key=_key)), _loc_of(meta))

    def rec_init(self, meta, key, value):  # type: ignore[no-untyped-def]
        name = string_of(key) if key.type == "STR" else _ident(key)
        return name, _expr(value), _tok_loc(key)

    def exprs(self, meta, *items):  # type: ignore[no-untyped-def]
        return list(items)

    def rec_inits(self, meta, *items):  # type: ignore[no-untyped-def]
        return list(items)

    def path(self, meta, *parts):  # type: ignore[no-untyped-def]
        toks: list[Token] = []
        for p in parts:
            toks.extend(p.toks if isinstance(p, _PathName) else [p])
        return _PathName("::".join(t.value for t in toks), toks)


class _PathName(str):
    """A `::`-joined name that remembers its tokens, for nested `path` reductions."""

    toks: list[Token]

    def __new__(cls, value: str, toks: list[Token]) -> _PathName:
        obj = super().__new__(cls, value)
        obj.toks = toks
        return obj


_GRAMMAR = Path(__file__).parent / "grammar" / "policy.lark"
_PARSER = Lark(
    _GRAMMAR.read_text(),
    parser="lalr",
    lexer="contextual",
    propagate_positions=True,
    maybe_placeholders=True,
)
_TO_AST = _ToAst()

_TOKEN_NAMES = {
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "COMMA": "`,`",
    "SEMICOLON": "`;`",
    "COLON": "`:`",
    "DOT": "`.`",
    "AT": "`@`",
    "IDENT": "identifier",
    "STR": "string literal",
    "INT": "integer literal",
    "SLOT": "template slot",
    "RELOP": "comparison operator",
    "ADDOP": "`+` or `-`",
    "BANG": "`!`",
    "DASH": "`-`",
    "STAR": "`*`",
    "__ANON_0": "`::`",
    "$END": "end of input",
}


def _token_name(name: str) -> str:
    if name in _TOKEN_NAMES:
        return _TOKEN_NAMES[name]
    term = next((t for t in _PARSER.terminals if t.name == name), None)
    if term is not None and term.pattern.type == "str":
        return f"`{term.pattern.value}`"
    return name.lower()


def _syntax_error(err: UnexpectedInput) -> ParseError:
    loc = Loc(err.line, err.column, getattr(err, "pos_in_stream", 0) or 0, 0)
    if isinstance(err, UnexpectedCharacters):
        return ParseError(f"unexpected character `{err.char}`", loc=loc)
    if isinstance(err, UnexpectedEOF):
        return ParseError("unexpected end of input", loc=loc)
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    if tok.type == "$END":
        found = "unexpected end of input"
        loc = Loc(tok.end_line or err.line, tok.end_column or err.column, tok.end_pos or 0, 0)
    else:
        found = f"unexpected token `{tok.value}`"
    expected = sorted({_token_name(e) for e in err.expected})
    if {"identifier", "integer literal", "string literal"} <= set(expected):
        return ParseError(f"{found}; expected an expression", loc=loc)
    if expected and len(expected) <= 8:
        return ParseError(f"{found}; expected {_one_of(expected)}", loc=loc)
    return ParseError(found, loc=loc)


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def parse_raw(text: str) -> list[_Raw]:
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err) from None
    try:
        return _TO_AST.transform(tree)  # type: ignore[no-any-return]
    except VisitError as err:
        if isinstance(err.orig_exc, ParseError | RecursionError):
            raise err.orig_exc from None
        raise


def parse_policies(text: str, source: str | None = None) -> list[Policy]:
    """Parse a policy set; policies are named `policy0`, `policy1`, ... in order."""
    try:
        raws = parse_raw(text)
    except ParseError as err:
        raise err.located(source, text) from None
    policies = []
    for i, raw in enumerate(raws):
        p_scope, a_scope, r_scope = raw.scope
        policies.append(
            Policy(
                id=f"policy{i}",
                effect=raw.effect,
                principal=p_scope,
                action=a_scope,
                resource=r_scope,
                conditions=tuple(raw.conditions),
                annotations=tuple(sorted(raw.annotations.items(), key=_key)),
                loc=raw.loc,
                source=source,
                text=text[raw.loc.start : raw.loc.end] if raw.loc else None,
            )
        )
    return policies


def parse_expr(text: str) -> Expr:
    """Parse a single expression (used for queries and tests)."""
    wrapped = f"permit(principal, action, resource) when {{ {text}\n}};"
    try:
        raws = parse_raw(wrapped)
    except ParseError as err:
        if err.loc is not None and err.loc.line == 1:
            shift = len("permit(principal, action, resource) when { ")
            err.loc = Loc(1, max(1, err.loc.column - shift), 0, 0)
        raise err.located(None, text) from None
    body: Expr = raws[0].conditions[0].body
    return body


def parse_entity_uid(text: str) -> EntityUID:
    """Parse `Type::"id"` (with namespaces) into an EntityUID."""
    try:
        expr = parse_expr(text)
    except ParseError:
        raise ParseError(f'`{text}` is not an entity reference like `User::"alice"`') from None
    if not isinstance(expr, Lit) or not isinstance(expr.value, EntityUID):
        raise ParseError(f'`{text}` is not an entity reference like `User::"alice"`')
    return expr.value


__all__ = [
    "ScopeConstraint",
    "is_action_type",
    "parse_entity_uid",
    "parse_expr",
    "parse_policies",
    "string_of",
    "unescape",
]
