"""Random Cedar conditions, typed against one request environment of a schema model.

`ExprGen` builds an expression of a requested type from the environment's attribute paths
(through records, entity references and tags), literals, operators and extension methods.
Every use of an optional attribute or a tag is guarded: the guards (`has`, `has a.b`,
`hasTag`) are collected while a boolean atom is built and then put in front of it with `&&`,
which is how Cedar's validator learns that the access is safe. With probability `bad` an atom
is deliberately ill-typed instead, or a guard is left out, so that some policies fail
validation and error at run time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from .schemas import BOOL, LONG, STRING, ActionDecl, Prim, Rec, Ref, SchemaModel, SetOf, Type
from .values import (
    EXT_CONSTRUCTOR,
    INVALID_EXT,
    MIN,
    STRINGS,
    World,
    ext_literal,
    long_value,
)

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")
_RESERVED = {"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"}
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}
EXT_TYPES = tuple(Prim(n) for n in ("decimal", "ipaddr", "datetime", "duration"))
DURATION_UNITS = ("toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays")
IP_TESTS = ("isIpv4", "isIpv6", "isLoopback", "isMulticast")
DECIMAL_TESTS = ("lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual")


def string_literal(s: str, rng: random.Random | None = None) -> str:
    """`s` as a Cedar string literal, with non-ASCII letters sometimes as `\\u{...}` escapes."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "'" and rng is not None and rng.random() < 0.5:
            out.append("\\'")
        elif ord(ch) > 127 and rng is not None and rng.random() < 0.5:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def entity_literal(rng: random.Random, world: World, entity: str) -> str:
    uid = world.uid(rng, entity)
    return f"{uid['type']}::{string_literal(uid['id'], rng)}"


def has_optional(t: Type) -> bool:
    if isinstance(t, SetOf):
        return has_optional(t.elem)
    if isinstance(t, Rec):
        return any(not a.required or has_optional(a.type) for a in t.attrs)
    return False


def long_literal(n: int) -> str:
    return f"({n})" if n < 0 and n != MIN else str(n)


def is_ident(name: str) -> bool:
    return bool(_IDENT.match(name)) and name not in _RESERVED


def access(base: str, name: str) -> str:
    return f"{base}.{name}" if is_ident(name) else f"{base}[{string_literal(name)}]"


@dataclass(frozen=True)
class Guard:
    """`base has attr`, or (when `attr` is None) an already written guard such as hasTag."""

    base: str
    attr: str | None = None

    def text(self) -> str:
        if self.attr is None:
            return self.base
        name = self.attr if is_ident(self.attr) else string_literal(self.attr)
        return f"{self.base} has {name}"


@dataclass(frozen=True)
class Path:
    """An expression reading the request: a variable, then attributes and tags."""

    text: str
    type: Type
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True)
class Env:
    """The request environment conditions are typed for (types are unqualified names)."""

    principal: str
    action: ActionDecl
    resource: str


class ExprGen:
    def __init__(self, rng: random.Random, world: World, env: Env, bad: float = 0.06) -> None:
        self.rng = rng
        self.world = world
        self.schema: SchemaModel = world.schema
        self.env = env
        self.bad = bad
        self.frames: list[list[Guard]] = [[]]
        self.paths = self._paths()

    # --- the request's attribute paths -----------------------------------------------------

    def _paths(self) -> list[Path]:
        out: list[Path] = []

        def walk(text: str, t: Type, guards: tuple[Guard, ...], depth: int) -> None:
            out.append(Path(text, t, guards))
            if depth >= 3:
                return
            if isinstance(t, Ref):
                decl = self.schema.entity(t.entity)
                if depth >= 2 or decl.enum is not None:
                    return
                attrs = decl.attrs.attrs
                if decl.tags is not None:
                    for key in ("k", "role"):
                        tag = Guard(f"{text}.hasTag({string_literal(key)})")
                        walk(f"{text}.getTag({string_literal(key)})", decl.tags, (*guards, tag), 3)
            elif isinstance(t, Rec):
                attrs = t.attrs
            else:
                return
            for a in attrs:
                g = guards if a.required else (*guards, Guard(text, a.name))
                walk(access(text, a.name), a.type, g, depth + 1)

        walk("principal", Ref(self.env.principal), (), 0)
        walk("resource", Ref(self.env.resource), (), 0)
        walk("context", self.env.action.context, (), 0)
        return out

    def use(self, path: Path) -> str:
        """The path's text; its guards go to the atom being built (or, sometimes, nowhere)."""
        if path.guards and self.rng.random() >= self.bad:
            self.frames[-1].extend(path.guards)
        return path.text

    def paths_of(self, pred: Callable[[Type], bool]) -> list[Path]:
        return [p for p in self.paths if pred(p.type)]

    # --- literals --------------------------------------------------------------------------

    def entity_literal(self, entity: str) -> str:
        return entity_literal(self.rng, self.world, entity)

    def string(self) -> str:
        return string_literal(self.rng.choice(STRINGS), self.rng)

    def ext_constructor(self, name: str, valid: bool = True) -> str:
        arg = ext_literal(self.rng, name, valid)
        return f"{EXT_CONSTRUCTOR[name]}({string_literal(arg)})"

    def pattern(self) -> str:
        rng = self.rng
        out = ["*"] if rng.random() < 0.3 else []
        for ch in rng.choice((*STRINGS, "abc", "a*b")):
            if rng.random() < 0.2:
                out.append("*")
            elif ch == "*":
                out.append("\\*")
            else:
                out.append(string_literal(ch, rng)[1:-1])
        if rng.random() < 0.3:
            out.append("*")
        return '"' + "".join(out) + '"'

    # --- expressions of a type -------------------------------------------------------------

    def of(self, t: Type, depth: int) -> str:
        rng = self.rng
        if t == BOOL:
            return f"({self.bool_(depth)})"
        paths = self.paths_of(lambda pt: pt == t)
        # no literal has the type of a record with optional attributes: prefer a path
        if paths and rng.random() < (0.9 if has_optional(t) else 0.55):
            return self.use(rng.choice(paths))
        if depth > 0 and rng.random() < 0.08:
            cond = self.bool_(depth - 1)
            return f"(if {cond} then {self.of(t, depth - 1)} else {self.of(t, depth - 1)})"
        match t:
            case Prim("Long"):
                return self.long_(depth)
            case Prim("String"):
                return self.string()
            case Prim(name):
                return self.ext_(name, depth)
            case Ref(entity):
                return self.entity_literal(entity)
            case SetOf(elem):
                items = [self.of(elem, depth - 1) for _ in range(rng.randint(1, 3))]
                return "[" + ", ".join(items) + "]"
            case Rec(attrs):
                fields = [
                    f"{self.key(a.name)}: {self.of(a.type, depth - 1)}"
                    for a in attrs
                    if a.required or rng.random() < 0.5
                ]
                return "{" + ", ".join(fields) + "}"
        raise AssertionError(t)

    def key(self, name: str) -> str:
        return name if is_ident(name) else string_literal(name)

    def long_(self, depth: int) -> str:
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.4:
            return long_literal(long_value(rng))
        if r < 0.75:
            op = rng.choice(["+", "-", "*"])
            return f"({self.of(LONG, depth - 1)} {op} {self.of(LONG, depth - 1)})"
        if r < 0.85:
            return f"(-{self.of(LONG, depth - 1)})"
        return f"{self.of(Prim('duration'), depth - 1)}.{rng.choice(DURATION_UNITS)}()"

    def ext_(self, name: str, depth: int) -> str:
        rng = self.rng
        if depth > 0 and rng.random() < 0.3:
            dt, dur = Prim("datetime"), Prim("duration")
            if name == "datetime":
                if rng.random() < 0.6:
                    return f"{self.of(dt, depth - 1)}.offset({self.of(dur, depth - 1)})"
                return f"{self.of(dt, depth - 1)}.toDate()"
            if name == "duration":
                if rng.random() < 0.6:
                    return f"{self.of(dt, depth - 1)}.durationSince({self.of(dt, depth - 1)})"
                return f"{self.of(dt, depth - 1)}.toTime()"
        return self.ext_constructor(name)

    # --- booleans --------------------------------------------------------------------------

    def bool_(self, depth: int) -> str:
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.45:
            return self.atom(depth)
        if r < 0.6:
            return f"!({self.bool_(depth - 1)})"
        if r < 0.75:
            return f"({self.bool_(depth - 1)} && {self.bool_(depth - 1)})"
        if r < 0.9:
            return f"({self.bool_(depth - 1)} || {self.bool_(depth - 1)})"
        return (
            f"(if {self.bool_(depth - 1)} then {self.bool_(depth - 1)} "
            f"else {self.bool_(depth - 1)})"
        )

    def atom(self, depth: int) -> str:
        """A boolean atom, preceded by the guards its attribute and tag reads need."""
        self.frames.append([])
        if self.rng.random() < self.bad:
            text = self.ill_typed(depth)
        else:
            producer = self.rng.choices(self.producers, weights=self.weights)[0]
            text = producer(self, max(depth, 2))
        guards = list(dict.fromkeys(self.frames.pop()))
        if not guards:
            return text
        return "(" + " && ".join([*self.guard_texts(guards), text]) + ")"

    def guard_texts(self, guards: list[Guard]) -> list[str]:
        """Guards as text, merging `x has a && x.a has b` into `x has a.b` at times."""
        out: list[str] = []
        chain: tuple[str, list[str]] | None = None  # the base and the names merged so far
        for g in guards:
            if chain is not None and g.attr is not None and is_ident(g.attr):
                base, names = chain
                reached = base
                for n in names:
                    reached = access(reached, n)
                if g.base == reached and self.rng.random() < 0.5:
                    names.append(g.attr)
                    out[-1] = f"{base} has {'.'.join(names)}"
                    continue
            out.append(g.text())
            chain = (g.base, [g.attr]) if g.attr is not None and is_ident(g.attr) else None
        return out

    def some_type(self) -> Type:
        rng = self.rng
        if self.paths and rng.random() < 0.7:
            return rng.choice(self.paths).type
        return rng.choice([LONG, STRING, BOOL, *EXT_TYPES, SetOf(LONG), SetOf(STRING)])

    def cmp_eq(self, depth: int) -> str:
        t = self.some_type()
        op = "==" if self.rng.random() < 0.75 else "!="
        if isinstance(t, Rec) and any(not a.required for a in t.attrs):
            # a record literal never has the type of a record with optional attributes
            paths = self.paths_of(lambda pt: pt == t)
            return f"{self.use(self.rng.choice(paths))} {op} {self.use(self.rng.choice(paths))}"
        return f"{self.of(t, depth - 1)} {op} {self.of(t, depth - 1)}"

    def cmp_ord(self, depth: int) -> str:
        t = self.rng.choice([LONG, LONG, Prim("datetime"), Prim("duration")])
        op = self.rng.choice(["<", "<=", ">", ">="])
        return f"{self.of(t, depth - 1)} {op} {self.of(t, depth - 1)}"

    def entity_type(self) -> str:
        refs = self.paths_of(lambda pt: isinstance(pt, Ref))
        return self.rng.choice(refs).type.entity  # type: ignore[union-attr]

    def in_(self, depth: int) -> str:
        rng = self.rng
        t = self.entity_type()
        lhs = self.of(Ref(t), depth - 1)
        a = rng.choice(sorted(self.schema.ancestor_types(t) | {t}))
        if rng.random() < 0.3:
            sets = self.paths_of(lambda pt: pt == SetOf(Ref(a)))
            if sets and rng.random() < 0.5:
                return f"{lhs} in {self.use(rng.choice(sets))}"
            items = [self.entity_literal(a) for _ in range(rng.randint(1, 2))]
            return f"{lhs} in [{', '.join(items)}]"
        return f"{lhs} in {self.of(Ref(a), depth - 1)}"

    def has(self, depth: int) -> str:
        rng = self.rng
        targets = self.paths_of(
            lambda pt: (
                isinstance(pt, Rec)
                or (isinstance(pt, Ref) and self.schema.entity(pt.entity).enum is None)
            )
        )
        path = rng.choice(targets)
        t = path.type
        attrs = t.attrs if isinstance(t, Rec) else self.schema.entity(t.entity).attrs.attrs  # type: ignore[union-attr]
        base = self.use(path)
        if not attrs or rng.random() < 0.15:
            return f"{base} has {rng.choice(['nope', 'name', 'x'])}"
        a = rng.choice(attrs)
        name = a.name if is_ident(a.name) else string_literal(a.name)
        if isinstance(a.type, Rec) and a.type.attrs and is_ident(a.name) and rng.random() < 0.5:
            inner = rng.choice(a.type.attrs)
            if is_ident(inner.name):
                return f"{base} has {a.name}.{inner.name}"
        return f"{base} has {name}"

    def like(self, depth: int) -> str:
        return f"{self.of(STRING, depth - 1)} like {self.pattern()}"

    def is_(self, depth: int) -> str:
        rng = self.rng
        t = self.entity_type()
        target = rng.choice(self.schema.entities).name
        lhs = self.of(Ref(t), depth - 1)
        if rng.random() < 0.4:
            a = rng.choice(sorted(self.schema.ancestor_types(target) | {target}))
            return f"{lhs} is {self.schema.qualify(target)} in {self.of(Ref(a), depth - 1)}"
        return f"{lhs} is {self.schema.qualify(target)}"

    def set_op(self, depth: int) -> str:
        rng = self.rng
        sets = self.paths_of(lambda pt: isinstance(pt, SetOf))
        t = rng.choice(sets).type if sets and rng.random() < 0.7 else SetOf(LONG)
        elem = t.elem  # type: ignore[union-attr]
        s = self.of(t, depth - 1)
        op = rng.choice(["contains", "containsAll", "containsAny", "isEmpty"])
        if op == "contains":
            return f"{s}.contains({self.of(elem, depth - 1)})"
        if op == "isEmpty":
            return f"{s}.isEmpty()"
        return f"{s}.{op}({self.of(t, depth - 1)})"

    def tag(self, depth: int) -> str:
        rng = self.rng
        refs = self.paths_of(
            lambda pt: isinstance(pt, Ref) and self.schema.entity(pt.entity).enum is None
        )
        with_tags = [p for p in refs if self.schema.entity(p.type.entity).tags is not None]  # type: ignore[union-attr]
        if with_tags and rng.random() < 0.7:
            path = rng.choice(with_tags)
            tag_type = self.schema.entity(path.type.entity).tags  # type: ignore[union-attr]
            assert tag_type is not None
            key = string_literal(rng.choice(["k", "role", "x y", ""]))
            base = self.use(path)
            if rng.random() < 0.4:
                return f"{base}.hasTag({key})"
            getter = Path(f"{base}.getTag({key})", tag_type, (Guard(f"{base}.hasTag({key})"),))
            value = self.use(getter)
            if tag_type == STRING and rng.random() < 0.5:
                return f"{value} like {self.pattern()}"
            return f"{value} == {self.of(tag_type, depth - 1)}"
        path = rng.choice(refs) if refs else Path("principal", Ref(self.env.principal))
        return f"{self.use(path)}.hasTag({self.of(STRING, depth - 1)})"

    def ext_test(self, depth: int) -> str:
        rng = self.rng
        kind = rng.choice(["decimal", "ipaddr", "ipaddr"])
        if kind == "decimal":
            d = Prim("decimal")
            fn = rng.choice(DECIMAL_TESTS)
            return f"{self.of(d, depth - 1)}.{fn}({self.of(d, depth - 1)})"
        ip = Prim("ipaddr")
        if rng.random() < 0.4:
            return f"{self.of(ip, depth - 1)}.isInRange({self.of(ip, depth - 1)})"
        return f"{self.of(ip, depth - 1)}.{rng.choice(IP_TESTS)}()"

    def action_test(self, depth: int) -> str:
        rng = self.rng
        names = [a.name for a in self.schema.actions]
        uids = [f"{self.schema.action_type}::{string_literal(n)}" for n in names]
        if rng.random() < 0.1:
            return f"action is {self.schema.action_type}"
        if rng.random() < 0.5:
            return f"action in [{', '.join(rng.sample(uids, rng.randint(1, len(uids))))}]"
        return f"action {rng.choice(['==', 'in'])} {rng.choice(uids)}"

    def plain(self, depth: int) -> str:
        paths = self.paths_of(lambda pt: pt == BOOL)
        if paths and self.rng.random() < 0.7:
            return self.use(self.rng.choice(paths))
        return self.rng.choice(["true", "false"])

    producers: tuple[Callable[[ExprGen, int], str], ...] = (
        cmp_eq, cmp_ord, in_, has, like, is_, set_op, tag, ext_test, action_test, plain,
    )  # fmt: skip
    weights = (14, 10, 12, 10, 6, 6, 10, 8, 8, 3, 6)

    # --- deliberately ill-typed atoms ------------------------------------------------------

    def ill_typed(self, depth: int) -> str:
        rng = self.rng
        s = self.schema
        ext = rng.choice(sorted(INVALID_EXT))
        options: list[Callable[[], str]] = [
            lambda: f"{access(self.of(Ref(self.entity_type()), 0), 'undeclared')} == 1",
            lambda: f'({self.of(LONG, depth - 1)} + "a") == 2',
            lambda: f"{self.of(STRING, depth - 1)} < {self.of(LONG, depth - 1)}",
            lambda: f"principal == {self.of(LONG, depth - 1)}",
            lambda: f"{self.of(LONG, depth - 1)}.contains(1)",
            lambda: f'decimal({self.of(STRING, depth - 1)}).lessThan(decimal("1.0"))',
            lambda: f"ip({self.of(STRING, depth - 1)}).isIpv4()",
            lambda: f"{self.ext_constructor(ext, False)} == {self.ext_constructor(ext, False)}",
            lambda: "[] == []",
            lambda: 'Nope::"x" in principal',
            lambda: f'action == {s.action_type}::"undeclared"',
            lambda: "(if 1 then true else false)",
            lambda: "{a: 1}.b == 1",
            lambda: "principal is Nope",
            lambda: '[1, "a"].contains(1)',
            lambda: f'{self.of(STRING, depth - 1)}.contains("a")',
            lambda: f'{self.of(LONG, depth - 1)} like "a*"',
            lambda: f"{access('context', 'undeclared')} == 1",
            lambda: f"{self.of(Prim('decimal'), depth - 1)} < {self.of(Prim('decimal'), 0)}",
            lambda: f"{self.of(Prim('datetime'), depth - 1)} < {self.of(Prim('duration'), 0)}",
            lambda: f"{self.of(LONG, depth - 1)} == {self.of(STRING, depth - 1)}",
            lambda: f"{self.of(self.some_type(), depth - 1)} == {self.of(self.some_type(), 0)}",
            lambda: f"{self.entity_literal(self.entity_type())} in {self.of(LONG, 0)}",
            lambda: f"resource.getTag({self.of(STRING, 0)}) == 1",
            lambda: "context.isEmpty()",
            lambda: f"{self.of(self.some_type(), depth - 1)} has x",
            lambda: f"{self.unqualified_type()} == principal",
            lambda: f"{self.bad_enum_literal()} in {self.of(Ref(self.entity_type()), 0)}",
        ]
        return rng.choice(options)()

    def unqualified_type(self) -> str:
        """An entity literal whose type lacks its namespace (undeclared outside it)."""
        entity = self.rng.choice(self.schema.entities).name
        return f"{entity}::{string_literal(self.world.ids[entity][0])}"

    def bad_enum_literal(self) -> str:
        enums = [e for e in self.schema.entities if e.enum is not None]
        entity = self.rng.choice(enums or list(self.schema.entities)).name
        return f'{self.schema.qualify(entity)}::"nope"'
