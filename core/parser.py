"""Parse Cedar policy text into policies over `core.ast` nodes.

A lexer of one regular expression and a recursive-descent parser that follows Cedar's grammar
(https://docs.cedarpolicy.com/policies/syntax-grammar.html) and builds the AST as it reads,
desugaring on the way: `a != b` is `!(a == b)`, `a > b` is `b < a`, `a >= b` is `b <= a`,
`e has a.b` is `e has a && e.a has b`, `e is T in x` is `e is T && e in x`, and method calls
become the unary, binary or extension operations they name. The node a desugared operator
becomes keeps the operator written (`sugar`), for printing. Record fields and annotations are
kept in key order, as Cedar keeps them (it evaluates a record's fields in that order), and
`action in [A]` is read as `action in A`, as Cedar reads it.

As in Cedar's lexer, a word is read whole before it is taken for a keyword (`isUser` is one
identifier, never `is User`), whitespace is Unicode's White_Space, and a comment ends at a line
feed or a carriage return. A chain of one operator (`a && b && ...`, `a.b.c`) is read by a
loop, at no cost in stack; nesting (parentheses, brackets, `if`) is refused beyond
`MAX_NESTING` levels, with the place where it goes too deep.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, NoReturn

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
from cedar_smt.core.bulk import paused_gc
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import Loc, ParseError, show_char
from cedar_smt.core.errors import shorten as _shown
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

MAX_NESTING = 10_000  # Cedar's own parser overflows its stack at a few hundred to thousands

# Unicode White_Space, which Cedar's lexer skips between tokens (Python's `\s` would also
# take \x1c-\x1f).
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Whitespace and comments, read one way only: a regular expression that could split them in
# several ways would try each of them before it fails (exponentially many), or end a comment
# early so that a token inside it matches.
_SKIP = rf"(?:[{WHITESPACE}]*//[^\n\r]*(?=[\n\r]|\Z))*[{WHITESPACE}]*"
# a token with the whitespace and comments before it: one match per token
_TOKEN = re.compile(
    _SKIP + r"(?:([_a-zA-Z][_a-zA-Z0-9]*)"  # 1: a word
    r"|([0-9]+)"  # 2: an integer
    r'|("(?:[^"\\]|\\[^\n])*")'  # 3: a string (Cedar's lexer: a backslash, then not \n)
    r"|(\?[_a-zA-Z][_a-zA-Z0-9]*)"  # 4: a slot
    r"|(==|!=|<=|>=|&&|\|\||::|[-+*<>!(){}\[\],;:.@]))"  # 5: punctuation, its own kind
)
_SKIPPED = re.compile(_SKIP)
_WORD, _INT, _STR, _SLOT, _EOF = "word", "int", "str", "slot", "end of input"
_KINDS = (_EOF, _WORD, _INT, _STR, _SLOT)
_RELOPS = {  # the operator each is read as, and whether its operands swap
    "==": (BinaryOp.EQ, False),
    "!=": (BinaryOp.EQ, False),
    "<": (BinaryOp.LESS, False),
    "<=": (BinaryOp.LESS_EQ, False),
    ">": (BinaryOp.LESS, True),
    ">=": (BinaryOp.LESS_EQ, True),
}
_BUILTIN_METHODS: dict[str, tuple[UnaryOp | BinaryOp, int]] = {
    "contains": (BinaryOp.CONTAINS, 1),
    "containsAll": (BinaryOp.CONTAINS_ALL, 1),
    "containsAny": (BinaryOp.CONTAINS_ANY, 1),
    "hasTag": (BinaryOp.HAS_TAG, 1),
    "getTag": (BinaryOp.GET_TAG, 1),
    "isEmpty": (UnaryOp.IS_EMPTY, 0),
}
_EXT_FUNS = {f.value: f for f in ExtFun}
_SLOTS = ("?principal", "?resource")
_SCOPE_VARS = (Var.PRINCIPAL, Var.ACTION, Var.RESOURCE)
_LONG_DIGITS = len(str(LONG_MAX))


def _fail(message: str, loc: Loc | None) -> NoReturn:
    raise ParseError(message, loc=loc)


# ---- strings ----

_ESCAPE = re.compile(r"\\(u\{([0-9a-fA-F_]*)\}|x([0-9a-fA-F]{2})|.)|\r", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


def unescape(body: str, loc: Loc | None, *, pattern: bool = False) -> list[str | None]:
    """Decode Cedar string escapes; in a pattern, `*` becomes STAR and `\\*` a literal star.

    A raw carriage return is refused, as Cedar refuses it (it must be written `\\r`)."""
    out: list[str | None] = []
    pos = 0
    for m in _ESCAPE.finditer(body):
        for ch in body[pos : m.start()]:
            out.append(STAR if pattern and ch == "*" else ch)
        pos = m.end()
        esc = m.group(1)
        if esc is None:
            _fail("a string may not hold a raw carriage return (U+000D); write it `\\r`", loc)
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


# ---- partly built pieces ----


class _Raw:
    """A parsed policy before ids are assigned."""

    __slots__ = ("annotations", "conditions", "effect", "loc", "scope")

    def __init__(
        self,
        annotations: dict[str, str | None],
        effect: Effect,
        scope: tuple[ScopeConstraint, ScopeConstraint, ScopeConstraint],
        conditions: list[Condition],
        loc: Loc,
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

    def value(self, sign: int) -> int:
        digits = self.digits.lstrip("0") or "0"
        n = sign * int(digits) if len(digits) <= _LONG_DIGITS else None
        if n is None or not -LONG_MAX - 1 <= n <= LONG_MAX:
            _fail(f"integer literal `{_shown(self.digits)}` is too large", self.loc)
        return n


def _expr(x: Any) -> Expr:
    if isinstance(x, _Negatable):
        return Lit(Long(x.value(1)), x.loc)
    if isinstance(x, Slot):
        _fail(f"found template slot {x.name} in a `when` clause", x.loc)
    return x  # type: ignore[no-any-return]


def is_action_type(type_name: str) -> bool:
    """Whether an action scope may name an entity of this type, as Cedar requires."""
    return type_name == "Action" or type_name.endswith("::Action")


def _key(item: tuple[str, Any]) -> str:
    return item[0]


# ---- the parser ----


class _Parser:
    """One pass over a text: the current token is `kind` (`word`, `int`, `str`, `slot`, the
    punctuation itself, or end of input), `value`, `start` and `end`."""

    def __init__(self, text: str) -> None:
        self.text = text
        # a scanner matches where its last match ended: one token after another
        self._scan: Callable[[], re.Match[str] | None] = _TOKEN.scanner(text).match  # type: ignore[attr-defined]
        self._lines = [0]
        self._lines.extend(m.end() for m in re.finditer("\n", text))
        self.kind, self.value, self.start, self.end = _EOF, "", 0, 0
        self.prev_end = 0  # where the previous token ended
        self.depth = 0
        self.next()

    # -- tokens --

    def next(self) -> None:
        self.prev_end = self.end
        m = self._scan()
        if m is None:
            pos = _SKIPPED.match(self.text, self.end).end()  # type: ignore[union-attr]
            if pos < len(self.text):
                self._bad_character(pos)
            self.kind, self.value, self.start, self.end = _EOF, "", pos, pos
            return
        i = m.lastindex or 0
        self.value = value = m.group(i)
        self.kind = value if i == 5 else _KINDS[i]
        self.start, self.end = m.span(i)

    def _bad_character(self, pos: int) -> NoReturn:
        ch = self.text[pos]
        loc = self.loc(pos, pos + 1)
        if ch == '"':
            _fail("unterminated string literal", loc)
        if ch == "\ufeff" and pos == 0:
            _fail(
                "the text starts with a byte order mark (U+FEFF), which Cedar does not read; "
                "save it as UTF-8 without one",
                loc,
            )
        _fail(f"unexpected character {show_char(ch)}", loc)

    def loc(self, start: int, end: int) -> Loc:
        line = bisect_right(self._lines, start)
        return Loc(line, start - self._lines[line - 1] + 1, start, end)

    def here(self) -> Loc:
        return self.loc(self.start, self.end)

    def since(self, start: int) -> Loc:
        """From `start` to the end of the previous token."""
        return self.loc(start, self.prev_end)

    def unexpected(self, expected: str) -> NoReturn:
        if self.kind == _EOF:
            end = self.prev_end
            _fail(f"unexpected end of input; expected {expected}", self.loc(end, end))
        _fail(f"unexpected token `{_shown(self.value)}`; expected {expected}", self.here())

    def expect(self, kind: str) -> int:
        """Consume a token of `kind` (punctuation); its start."""
        if self.kind != kind:
            self.unexpected(f"`{kind}`")
        start = self.start
        self.next()
        return start

    def word(self, what: str = "an identifier") -> str:
        if self.kind != _WORD:
            self.unexpected(what)
        value = self.value
        self.next()
        return value

    def at_word(self, value: str) -> bool:
        return self.kind == _WORD and self.value == value

    def ident(self) -> str:
        """An identifier that is not reserved."""
        start, end = self.start, self.end
        name = self.word()
        if name in RESERVED:
            _fail(f"this identifier is reserved and cannot be used: {name}", self.loc(start, end))
        return name

    def path(self) -> tuple[str, Loc]:
        """`A::B::C` used as a type or function: no reserved identifiers, no `__cedar`."""
        start = self.start
        names = [self.word()]
        while self.kind == "::":
            self.next()
            names.append(self.word())
        return self._checked(names, start), self.since(start)

    def _checked(self, names: list[str], start: int) -> str:
        """The path `names` that starts at `start`, checked."""
        path = "::".join(names) if len(names) > 1 else names[0]
        if "__cedar" in names:
            _fail(f"the name `{path}` contains `__cedar`, which is reserved", self.since(start))
        for name in names:
            if name in RESERVED:
                _fail(f"this identifier is reserved and cannot be used: {name}", self.since(start))
        return path

    def string(self) -> str:
        if self.kind != _STR:
            self.unexpected("a string literal")
        literal = self.value
        body = literal[1:-1]
        if "\\" in body or "\r" in body:
            body = "".join(c for c in unescape(body, self.here()) if c is not None)
        self.next()
        return body

    # -- policies --

    def policies(self) -> list[_Raw]:
        out = []
        while self.kind != _EOF:
            out.append(self.policy())
        return out

    def policy(self) -> _Raw:
        start = self.start
        annotations: dict[str, str | None] = {}
        while self.kind == "@":
            self.next()
            key_start, key_end = self.start, self.end
            key = self.word("an annotation name")
            value = None
            if self.kind == "(":
                self.next()
                value = self.string()
                self.expect(")")
            if key in annotations:
                _fail(f"duplicate annotation: @{key}", self.loc(key_start, key_end))
            annotations[key] = value
        effect_start = self.start
        effect = self.word("`permit` or `forbid`")
        if effect != "permit" and effect != "forbid":
            _fail(f"expected `permit` or `forbid`, found `{effect}`", self.since(effect_start))
        self.expect("(")
        principal = self.scope_elem(Var.PRINCIPAL)
        self.expect(",")
        action = self.scope_elem(Var.ACTION)
        self.expect(",")
        resource = self.scope_elem(Var.RESOURCE)
        if self.kind == ",":  # Cedar allows a trailing comma
            self.next()
        self.expect(")")
        conditions = []
        while self.kind == _WORD:
            conditions.append(self.condition())
        if self.kind != ";":
            self.unexpected("`when`, `unless` or `;`")
        self.next()
        return _Raw(
            annotations,
            Effect(effect),
            (principal, action, resource),
            conditions,
            self.since(start),
        )

    def scope_elem(self, var: Var) -> ScopeConstraint:
        var_start = self.start
        name = self.word(f"`{var.value}`")
        if name != var.value:
            _fail(f"expected `{var.value}`, found `{name}`", self.since(var_start))
        if self.kind == "==":
            self.next()
            return self.scope_target(var, ScopeEq, var_start)
        if self.kind != _WORD:
            return ScopeAny()
        if self.value == "in":
            self.next()
            if self.kind == "[":
                if var is not Var.ACTION:
                    _fail(
                        f"`{name} in [...]` is not allowed; only `action` can be in a list",
                        self.loc(var_start, var_start + len(name)),
                    )
                actions = self.action_list()
                if len(actions) == 1:
                    return ScopeIn(actions[0])  # as Cedar reads `action in [A]`
                return ScopeInSet(tuple(actions))
            return self.scope_target(var, ScopeIn, var_start)
        if self.value == "is":
            if var is Var.ACTION:
                _fail("`is` is not allowed in the action scope", self.since(var_start))
            self.next()
            entity_type, _ = self.path()
            if self.at_word("in"):
                self.next()
                return ScopeIsIn(entity_type, self.target(var))
            return ScopeIs(entity_type)
        return ScopeAny()

    def scope_target(self, var: Var, make: Any, var_start: int) -> ScopeConstraint:
        if var is Var.ACTION and self.kind == _SLOT:
            self.slot()  # an unknown slot is named as such
            _fail(
                "template slots are not allowed in the action scope",
                self.loc(var_start, var_start + 6),
            )
        if var is Var.ACTION:
            return make(self.action_uid())  # type: ignore[no-any-return]
        return make(self.target(var))  # type: ignore[no-any-return]

    def target(self, var: Var) -> EntityUID | Slot:
        if self.kind == _SLOT:
            slot = self.slot()
            if slot.name != f"?{var.value}":
                _fail(f"expected `?{var.value}`, found `{slot.name}`", slot.loc)
            return slot
        return self.entity_uid()

    def slot(self) -> Slot:
        loc, name = self.here(), self.value
        if name not in _SLOTS:
            _fail(f"invalid template slot `{name}`", loc)
        self.next()
        return Slot(name, loc)

    def entity_uid(self) -> EntityUID:
        start = self.start
        names = [self.word("an entity reference")]
        while True:
            self.expect("::")
            if self.kind == _STR:
                return EntityUID(self._checked(names, start), self.string())
            names.append(self.word("an identifier or a string literal"))

    def action_uid(self) -> EntityUID:
        start = self.start
        uid = self.entity_uid()
        if not is_action_type(uid.type):
            _fail(f"expected an entity uid with type `Action` but got `{uid}`", self.since(start))
        return uid

    def action_list(self) -> list[EntityUID]:
        start = self.start
        self.expect("[")
        out, wrong = [], []
        while self.kind != "]":
            uid_start = self.start
            uid = self.entity_uid()
            if not is_action_type(uid.type):
                wrong.append((uid, self.since(uid_start)))
            out.append(uid)
            if self.kind != ",":
                break
            self.next()
        self.expect("]")
        if len(wrong) == 1:
            uid, loc = wrong[0]
            _fail(f"expected an entity uid with type `Action` but got `{uid}`", loc)
        if wrong:  # listed as Cedar lists them
            named = [f"`{uid}`" for uid, _ in wrong]
            listed = (
                " and ".join(named)
                if len(named) == 2
                else f"{', '.join(named[:-1])}, and {named[-1]}"
            )
            _fail(f"expected entity uids with type `Action` but got {listed}", self.since(start))
        return out

    def condition(self) -> Condition:
        start = self.start
        kind = self.word()
        if kind != "when" and kind != "unless":
            _fail(f"expected `when` or `unless`, found `{kind}`", self.since(start))
        self.expect("{")
        body = _expr(self.expr())
        self.expect("}")
        return Condition(kind, body, self.since(start))

    # -- expressions, loosest first --

    def expr(self) -> Any:
        if self.kind == _WORD and self.value == "if":
            self.depth += 1
            if self.depth > MAX_NESTING:
                self._too_deep()
            start = self.start
            self.next()
            cond = _expr(self.expr())
            if not self.at_word("then"):
                self.unexpected("`then`")
            self.next()
            then = _expr(self.expr())
            if not self.at_word("else"):
                self.unexpected("`else`")
            self.next()
            else_ = _expr(self.expr())
            self.depth -= 1
            return Ite(cond, then, else_, self.since(start))
        return self.or_()

    def _too_deep(self) -> NoReturn:
        _fail(
            f"the expression nests too deeply: cedar-smt reads at most {MAX_NESTING:,} levels "
            "of parentheses, brackets, braces and `if`",
            self.here(),
        )

    def nested(self) -> Expr:
        """An expression inside brackets or an argument list: one level deeper."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self._too_deep()
        e = _expr(self.expr())
        self.depth -= 1
        return e

    def or_(self) -> Any:
        start = self.start
        x = self.and_()
        while self.kind == "||":
            self.next()
            x = Or(_expr(x), _expr(self.and_()), self.since(start))
        return x

    def and_(self) -> Any:
        start = self.start
        x = self.relation()
        while self.kind == "&&":
            self.next()
            x = And(_expr(x), _expr(self.relation()), self.since(start))
        return x

    def relation(self) -> Any:
        start = self.start
        x = self.add()
        kind = self.kind
        if kind in _RELOPS:
            self.next()
            a, b = _expr(x), _expr(self.add())
            op, swap = _RELOPS[kind]
            loc = self.since(start)
            if kind == "!=":
                return UnaryApp(UnaryOp.NOT, BinaryApp(op, a, b, loc), loc, sugar="!=")
            return BinaryApp(op, b, a, loc, sugar=kind) if swap else BinaryApp(op, a, b, loc)
        if kind != _WORD:
            return x
        match self.value:
            case "in":
                self.next()
                a = _expr(x)
                return BinaryApp(BinaryOp.IN, a, _expr(self.add()), self.since(start))
            case "has":
                self.next()
                return self.has(_expr(x), start)
            case "like":
                self.next()
                if self.kind != _STR:
                    self.unexpected("a string literal")
                elems = unescape(self.value[1:-1], self.here(), pattern=True)
                self.next()
                return Like(_expr(x), Pattern(tuple(elems)), self.since(start))
            case "is":
                self.next()
                a = _expr(x)
                entity_type, _ = self.path()
                if not self.at_word("in"):
                    return Is(a, entity_type, self.since(start))
                self.next()
                b = _expr(self.add())
                loc = self.since(start)
                is_a, in_b = Is(a, entity_type, loc), BinaryApp(BinaryOp.IN, a, b, loc)
                return And(is_a, in_b, loc, sugar="is in")
        return x

    def has(self, target: Expr, start: int) -> Expr:
        if self.kind == _STR:
            return HasAttr(target, self.string(), self.since(start))
        path = [self.ident()]
        while self.kind == ".":
            self.next()
            path.append(self.ident())
        loc = self.since(start)
        result: Expr = HasAttr(target, path[0], loc)
        for prev, attr in itertools.pairwise(path):
            target = GetAttr(target, prev, loc)
            result = And(result, HasAttr(target, attr, loc), loc)
        return result

    def add(self) -> Any:
        start = self.start
        x = self.mult()
        while self.kind == "+" or self.kind == "-":
            op = BinaryOp.ADD if self.kind == "+" else BinaryOp.SUB
            self.next()
            x = BinaryApp(op, _expr(x), _expr(self.mult()), self.since(start))
        return x

    def mult(self) -> Any:
        start = self.start
        x = self.unary()
        while self.kind == "*":
            self.next()
            x = BinaryApp(BinaryOp.MUL, _expr(x), _expr(self.unary()), self.since(start))
        return x

    def unary(self) -> Any:
        kind = self.kind
        if kind != "!" and kind != "-":
            return self.member()
        ops = []
        while self.kind == kind:
            ops.append(self.here())
            self.next()
        if len(ops) > 4:
            _fail(f"too many occurrences of `{kind}`", ops[0])
        arg = self.member()
        if kind == "!":
            result = _expr(arg)
            for loc in reversed(ops):
                result = UnaryApp(UnaryOp.NOT, result, loc)
            return result
        if isinstance(arg, _Negatable):
            result = Lit(Long(arg.value(-1)), ops.pop())
        else:
            result = _expr(arg)
        for loc in reversed(ops):
            result = UnaryApp(UnaryOp.NEG, result, loc)
        return result

    def member(self) -> Any:
        """A primary and its accesses and method calls. The accesses of one chain (`a.b` in
        `a.b.c`) are all placed at the whole chain, as Cedar places them."""
        start = self.start
        x = self.primary()
        chain: list[str] = []  # attributes accessed since the last node that is not an access
        while True:
            kind = self.kind
            if kind == ".":
                receiver_end = self.prev_end
                self.next()
                name_loc = self.here()
                name = self.word()
                if self.kind == "(":
                    receiver = _chained(x, chain, self.loc(start, receiver_end))
                    x, chain = self.method(receiver, name, name_loc, start), []
                    continue
                if name in RESERVED:
                    _fail(f"this identifier is reserved and cannot be used: {name}", name_loc)
                chain.append(name)
            elif kind == "[":
                self.next()
                chain.append(self.string())
                self.expect("]")
            else:
                return _chained(x, chain, self.since(start)) if chain else x

    def method(self, receiver: Expr, method: str, name_loc: Loc, start: int) -> Expr:
        args = self.arguments()
        loc = self.since(start)
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
                return UnaryApp(op, receiver, loc)
            return BinaryApp(op, receiver, args[0], loc)
        fn = _EXT_FUNS.get(method)
        if fn is None:
            _fail(f"`{method}` is not a valid method", name_loc)
        if fn.is_constructor:
            _fail(f"`{method}` is a function, not a method", name_loc)
        return Call(fn, (receiver, *args), loc)

    def arguments(self, close: str = ")") -> list[Expr]:
        """`(a, b,)` or `[a, b,]`: the opening token is the current one."""
        self.next()
        out = []
        while self.kind != close:
            out.append(self.nested())
            if self.kind != ",":
                break
            self.next()
        if self.kind != close:
            self.unexpected(f"`,` or `{close}`")
        self.next()
        return out

    def primary(self) -> Any:
        kind, start = self.kind, self.start
        if kind == _INT:
            number = _Negatable(self.value, self.here())
            self.next()
            return number
        if kind == _STR:
            loc = self.here()
            return Lit(self.string(), loc)
        if kind == _WORD:
            if self.value == "true" or self.value == "false":
                lit = Lit(self.value == "true", self.here())
                self.next()
                return lit
            names = [self.value]
            self.next()
            while self.kind == "::":
                self.next()
                if self.kind == _STR:
                    entity_type = self._checked(names, start)
                    return Lit(EntityUID(entity_type, self.string()), self.since(start))
                names.append(self.word("an identifier or a string literal"))
            if self.kind == "(":
                return self.call(names, start)
            path = self._checked(names, start)
            try:
                return VarRef(Var(path), self.since(start))
            except ValueError:
                _fail(f"invalid variable: {path}", self.since(start))
        if kind == _SLOT:
            return self.slot()
        if kind == "(":
            self.next()
            e = self.nested()
            self.expect(")")
            return e
        if kind == "[":
            elements = self.arguments("]")
            return SetLit(tuple(elements), self.since(start))
        if kind == "{":
            return self.record(start)
        self.unexpected("an expression")

    def call(self, names: list[str], start: int) -> Expr:
        path = self._checked(names, start)
        args = self.arguments()
        loc = self.since(start)
        fn = _EXT_FUNS.get(path)
        if fn is None:
            _fail(f"`{path}` is not a valid function", loc)
        if not fn.is_constructor:
            _fail(f"`{path}` is a method, not a function", loc)
        return Call(fn, tuple(args), loc)

    def record(self, start: int) -> Expr:
        self.next()
        fields: dict[str, Expr] = {}
        while self.kind != "}":
            key_start, key_end = self.start, self.end
            if self.kind == _STR:
                key = self.string()
            elif self.kind == _WORD:
                key = self.ident()
            else:
                self.unexpected("an identifier, a string literal or `}`")
            self.expect(":")
            value = self.nested()
            if key in fields:
                _fail(f"duplicate key `{key}` in record literal", self.loc(key_start, key_end))
            fields[key] = value
            if self.kind != ",":
                break
            self.next()
        if self.kind != "}":
            self.unexpected("`,` or `}`")
        self.next()
        return RecordLit(tuple(sorted(fields.items(), key=_key)), self.since(start))


def _chained(x: Any, chain: list[str], loc: Loc) -> Expr:
    """`x.a.b...`, every access of the chain placed at `loc`."""
    result = _expr(x)
    for attr in chain:
        result = GetAttr(result, attr, loc)
    return result


# ---- entry points ----


@room_for_depth(ParseError)
def parse_raw(text: str) -> list[_Raw]:
    return _Parser(text).policies()


def parse_policies(text: str, source: str | None = None) -> list[Policy]:
    """Parse a policy set; policies are named `policy0`, `policy1`, ... in order."""
    with paused_gc():
        return _policies(text, source)


def _policies(text: str, source: str | None) -> list[Policy]:
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
                text=text[raw.loc.start : raw.loc.end],
            )
        )
    return policies


@room_for_depth(ParseError)
def _parse_expr(text: str) -> Expr:
    parser = _Parser(text)
    body = _expr(parser.expr())
    if parser.kind != _EOF:
        parser.unexpected("an operator or the end of the expression")
    return body


def parse_expr(text: str) -> Expr:
    """Parse a single expression (used for queries and tests)."""
    try:
        return _parse_expr(text)
    except ParseError as err:
        raise err.located(None, text) from None


@room_for_depth(ParseError)
def _parse_conditions(text: str) -> list[tuple[Expr, Loc]]:
    parser = _Parser(text)
    found = []
    while parser.kind != _EOF:
        start = parser.start
        body = _expr(parser.expr())
        found.append((body, parser.since(start)))
        if parser.kind == _EOF:
            break
        if parser.kind != ";":
            parser.unexpected("an operator, or `;` to end the condition")
        while parser.kind == ";":
            parser.next()
    return found


def parse_conditions(text: str, source: str | None = None) -> list[tuple[Expr, Loc]]:
    """Expressions each ended by `;` (the last one may omit it), with `//` comments, as an
    assumptions file holds them; each with its place in `text`."""
    try:
        return _parse_conditions(text)
    except ParseError as err:
        raise err.located(source, text) from None


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
    "MAX_NESTING",
    "ScopeConstraint",
    "parse_conditions",
    "parse_entity_uid",
    "parse_expr",
    "parse_policies",
    "unescape",
]
