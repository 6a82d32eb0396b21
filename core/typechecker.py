"""Cedar's typechecker (strict mode): a type for every sub-expression in one request environment.

A request environment is one (principal type, action, resource type) the schema allows, with
the action's context type. In it, `typecheck` gives every node of a policy's expression a type
(`ty`), tracking which optional attributes and tags have been tested by `has` and `hasTag`
("capabilities", which flow through `&&`, `||` and `if`). Sub-expressions the types prove
irrelevant are dropped, as Cedar's validator does: `e && x` where `e` can only be false is just
`e`. The typed expressions are what the symbolic encoder compiles. `type_errors` goes on past
a type error, as Cedar's typechecker does, and returns every error; `typecheck` raises the
first.
Twin of core/evaluator.py: `_Checker.type_of_node` has the evaluator's cases in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    UnaryOp,
    Var,
    VarRef,
    assert_never,
    replace,
    to_source,
)
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import ExtensionError, Loc
from cedar_smt.core.ext.datetime import parse_datetime, parse_duration
from cedar_smt.core.ext.decimal import parse_decimal
from cedar_smt.core.ext.ipaddr import parse_ip
from cedar_smt.core.extensions import signature
from cedar_smt.core.policy import (
    Policy,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    scope_expr,
)
from cedar_smt.core.schema import Schema
from cedar_smt.core.types import (
    BOOL,
    FALSE,
    LONG,
    STRING,
    TRUE,
    Attribute,
    BoolType,
    EntityType,
    ExtensionType,
    LongType,
    RecordType,
    SchemaType,
    SetType,
    is_subtype,
    lub,
)
from cedar_smt.core.values import EntityUID, Long, Value


@dataclass(frozen=True)
class RequestEnv:
    """One kind of request: principal type, action, resource type and the context's type."""

    principal: str
    action: EntityUID
    resource: str
    context: RecordType = field(compare=False)

    def __str__(self) -> str:
        return f"{self.principal}, {self.action}, {self.resource}"


class TypeCheckError(Exception):
    """A policy that does not typecheck in an environment."""

    def __init__(
        self, message: str, loc: Loc | None, *, silent: bool = False, detail: object = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.silent = silent  # an unknown entity: the validator reports it once, by itself
        # what else tells two errors apart, as in Cedar, where an unguarded tag access in two
        # environments is two errors when the tag's expression types differently in them
        self.detail = detail


AttrKey = tuple[str, str]
TagKey = tuple[str, Expr]
Capabilities = frozenset[tuple[Expr, AttrKey | TagKey]]
NONE: Capabilities = frozenset()


def substitute_action(x: Expr, uid: EntityUID) -> Expr:
    """Replace the `action` variable by the environment's action, for sharper types (a
    subtree without it is kept as it is)."""
    match x:
        case VarRef(var=Var.ACTION):
            return Lit(uid, x.loc)
        case Lit() | VarRef() | Slot():
            return x
        case Ite(cond=c, then=t, else_=f):
            c2, t2, f2 = (substitute_action(e, uid) for e in (c, t, f))
            if c2 is c and t2 is t and f2 is f:
                return x
            return replace(x, cond=c2, then=t2, else_=f2)
        case And(left=a, right=b) | Or(left=a, right=b) | BinaryApp(left=a, right=b):
            a2, b2 = substitute_action(a, uid), substitute_action(b, uid)
            return x if a2 is a and b2 is b else replace(x, left=a2, right=b2)
        case UnaryApp(arg=a) | Like(arg=a) | Is(arg=a) | HasAttr(arg=a) | GetAttr(arg=a):
            a2 = substitute_action(a, uid)
            return x if a2 is a else replace(x, arg=a2)
        case SetLit(elements=xs):
            return replace(x, elements=tuple(substitute_action(e, uid) for e in xs))
        case RecordLit(fields=fs):
            return replace(x, fields=tuple((k, substitute_action(e, uid)) for k, e in fs))
        case Call(args=xs):
            return replace(x, args=tuple(substitute_action(e, uid) for e in xs))
    assert_never(x)


def _bool(b: bool) -> BoolType:
    return TRUE if b else FALSE


_CONSTRUCTORS: dict[ExtFun, tuple[Callable[[str], object], SchemaType]] = {
    ExtFun.DECIMAL: (parse_decimal, ExtensionType("decimal")),
    ExtFun.IP: (parse_ip, ExtensionType("ipaddr")),
    ExtFun.DATETIME: (parse_datetime, ExtensionType("datetime")),
    ExtFun.DURATION: (parse_duration, ExtensionType("duration")),
}

_RESULT: dict[ExtFun, SchemaType] = {
    ExtFun.LESS_THAN: BOOL,
    ExtFun.LESS_THAN_OR_EQUAL: BOOL,
    ExtFun.GREATER_THAN: BOOL,
    ExtFun.GREATER_THAN_OR_EQUAL: BOOL,
    ExtFun.IS_IPV4: BOOL,
    ExtFun.IS_IPV6: BOOL,
    ExtFun.IS_LOOPBACK: BOOL,
    ExtFun.IS_MULTICAST: BOOL,
    ExtFun.IS_IN_RANGE: BOOL,
    ExtFun.OFFSET: ExtensionType("datetime"),
    ExtFun.DURATION_SINCE: ExtensionType("duration"),
    ExtFun.TO_DATE: ExtensionType("datetime"),
    ExtFun.TO_TIME: ExtensionType("duration"),
    ExtFun.TO_MILLISECONDS: LONG,
    ExtFun.TO_SECONDS: LONG,
    ExtFun.TO_MINUTES: LONG,
    ExtFun.TO_HOURS: LONG,
    ExtFun.TO_DAYS: LONG,
}
_ORDERED = (LONG, ExtensionType("datetime"), ExtensionType("duration"))


def _ext_arg_type(name: str) -> SchemaType:
    return STRING if name == "string" else ExtensionType(name)


class _Checker:
    """Types expressions in one environment; the twin of core/evaluator.py's `evaluate`.

    A type error does not stop the checker, as it does not stop Cedar's: it is recorded, the
    faulty node gets the type its operator promises (`Bool` for a comparison) or none at all
    (`ty=None`, for an unknown attribute), and checking goes on. Checks that need a type the
    faulty node lacks are skipped, so one mistake is reported once. A node whose subtree has
    an error keeps no capabilities, as in Cedar.
    """

    def __init__(self, schema: Schema, env: RequestEnv) -> None:
        self.schema = schema
        self.env = env
        self.errors: list[TypeCheckError] = []  # in the order found
        self.quiet: list[TypeCheckError] = []  # invalid enumerated entities: typing goes on

    def fail(self, message: str, x: Expr, *, silent: bool = False, detail: object = None) -> None:
        self.errors.append(TypeCheckError(message, x.loc, silent=silent, detail=detail))

    def expect_bool(self, t: Expr) -> BoolType | None:
        if isinstance(t.ty, BoolType) or t.ty is None:
            return t.ty
        self.fail(f"unexpected type: expected Bool but saw {t.ty}", t)
        return None

    def expect(self, t: Expr, ok: bool, expected: str, advice: str | None = None) -> bool:
        """Whether `t` is usable: its type is known and `ok`; reports it when known and not,
        with the advice Cedar gives for this operand and type. (The advice also tells apart
        two checks of one node: `e is T in E` checks its `e` twice, and Cedar counts both.)"""
        if t.ty is None:
            return False
        if not ok:
            tip = _ADVICE.get((advice, type(t.ty).__name__), _ADVICE.get((advice, "")))
            more = f"; {tip}" if tip else ""
            self.fail(f"unexpected type: expected {expected} but saw {t.ty}{more}", t)
        return ok

    def type_of(self, x: Expr, c: Capabilities) -> tuple[Expr, Capabilities]:
        before = len(self.errors)
        typed, caps = self.type_of_node(x, c)
        return typed, (caps if len(self.errors) == before else NONE)

    def type_of_node(self, x: Expr, c: Capabilities) -> tuple[Expr, Capabilities]:
        match x:
            case Lit(value=v):
                return replace(x, ty=self.type_of_value(v, x)), NONE
            case VarRef(var=v):
                return replace(x, ty=self.type_of_var(v)), NONE
            case Slot():
                return replace(x, ty=EntityType(x.name)), NONE
            case Ite(cond=c1, then=t, else_=f):
                return self.type_of_if(x, self.type_of(c1, c), t, f, c)
            case And(left=a, right=b):
                return self.type_of_and(x, self.type_of(a, c), b, c)
            case Or(left=a, right=b):
                return self.type_of_or(x, self.type_of(a, c), b, c)
            case UnaryApp(op=op, arg=a):
                return self.type_of_unary(x, op, self.type_of(a, c)[0]), NONE
            case BinaryApp(op=op, left=a, right=b):
                before = len(self.errors)
                ta, tb = self.type_of(a, c)[0], self.type_of(b, c)[0]
                return self.type_of_binary(x, op, ta, tb, c, before)
            case Like(arg=a):
                ta = self.type_of(a, c)[0]
                self.expect(ta, ta.ty == STRING, "String", "like")
                return replace(x, arg=ta, ty=BOOL), NONE
            case Is(arg=a, entity_type=et):
                ta = self.type_of(a, c)[0]
                if not self.expect(ta, isinstance(ta.ty, EntityType), "an entity", "is"):
                    return replace(x, arg=ta, ty=BOOL), NONE
                return replace(x, arg=ta, ty=_bool(ta.ty.name == et)), NONE  # type: ignore[union-attr]
            case HasAttr(arg=a, attr=name):
                return self.type_of_has_attr(x, self.type_of(a, c)[0], name, c)
            case GetAttr(arg=a, attr=name):
                return self.type_of_get_attr(x, self.type_of(a, c)[0], name, c), NONE
            case SetLit(elements=xs):
                elements = [self.type_of(e, c)[0] for e in xs]
                return replace(x, elements=tuple(elements), ty=self.type_of_set(x, elements)), NONE
            case RecordLit(fields=fs):
                tfs = tuple((k, self.type_of(e, c)[0]) for k, e in fs)
                rty = None
                if all(e.ty is not None for _, e in tfs):
                    rty = RecordType.of({k: Attribute(e.ty) for k, e in tfs})  # type: ignore[arg-type]
                return replace(x, fields=tfs, ty=rty), NONE
            case Call(fn=fn, args=xs):
                typed = tuple(self.type_of(e, c)[0] for e in xs)
                return replace(x, args=typed, ty=self.type_of_call(x, fn, typed)), NONE
        assert_never(x)

    # literals and variables

    def type_of_value(self, v: Value, x: Expr) -> SchemaType | None:
        if isinstance(v, bool):
            return _bool(v)
        if isinstance(v, Long):
            return LONG
        if isinstance(v, str):
            return STRING
        if isinstance(v, EntityUID):
            return self.type_of_entity(v, x)
        if isinstance(v, frozenset):  # `action in [...]` in a scope
            return self.type_of_set(x, [Lit(e, x.loc, ty=self.type_of_value(e, x)) for e in v])
        raise AssertionError(f"unexpected literal {v!r}")

    def type_of_entity(self, uid: EntityUID, x: Expr) -> SchemaType | None:
        """An entity literal's type. The validator reports unknown types and actions once per
        literal, not once per environment: here they are silent, and the literal untyped."""
        problem = unknown_entity(uid, self.schema)
        if problem is None:
            return EntityType(uid.type)
        if uid.type in self.schema.entity_types:  # not one of an enumerated type's entities
            self.quiet.append(TypeCheckError(problem, x.loc, silent=True))
            return EntityType(uid.type)
        self.fail(problem, x, silent=True)
        return None

    def type_of_var(self, v: Var) -> SchemaType:
        match v:
            case Var.PRINCIPAL:
                return EntityType(self.env.principal)
            case Var.ACTION:
                return EntityType(self.env.action.type)
            case Var.RESOURCE:
                return EntityType(self.env.resource)
            case Var.CONTEXT:
                return self.env.context
        assert_never(v)

    # control flow, where capabilities flow

    def type_of_if(
        self, x: Ite, r1: tuple[Expr, Capabilities], t: Expr, f: Expr, c: Capabilities
    ) -> tuple[Expr, Capabilities]:
        cond, c1 = r1
        b = self.expect_bool(cond)
        if b == TRUE:
            then, c2 = self.type_of(t, c | c1)
            return replace(x, cond=cond, then=then, else_=then, ty=then.ty), c1 | c2
        if b == FALSE:
            els, c3 = self.type_of(f, c)
            return replace(x, cond=cond, then=els, else_=els, ty=els.ty), c3
        then, c2 = self.type_of(t, c | c1)
        els, c3 = self.type_of(f, c)
        joined = None
        if then.ty is not None and els.ty is not None:
            joined = lub(then.ty, els.ty)
            if joined is None:
                self.fail(_incompatible(then.ty, els.ty), x)
        return replace(x, cond=cond, then=then, else_=els, ty=joined), (c1 | c2) & c3

    def type_of_and(
        self, x: And, r1: tuple[Expr, Capabilities], b: Expr, c: Capabilities
    ) -> tuple[Expr, Capabilities]:
        left, c1 = r1
        t1 = self.expect_bool(left)
        if t1 == FALSE:
            return left, NONE
        right, c2 = self.type_of(b, c | c1)
        t2 = self.expect_bool(right)
        node = replace(x, left=left, right=right)
        if t1 is None or t2 is None:
            return replace(node, ty=BOOL), NONE
        if t2 == FALSE:
            return replace(node, ty=FALSE), NONE
        if t2 == TRUE:
            return replace(node, ty=t1), c1 | c2
        return replace(node, ty=BOOL), c1 | c2

    def type_of_or(
        self, x: Or, r1: tuple[Expr, Capabilities], b: Expr, c: Capabilities
    ) -> tuple[Expr, Capabilities]:
        left, c1 = r1
        t1 = self.expect_bool(left)
        if t1 == TRUE:
            return left, NONE
        right, c2 = self.type_of(b, c)
        t2 = self.expect_bool(right)
        node = replace(x, left=left, right=right)
        if t1 is None or t2 is None:
            return replace(node, ty=BOOL), NONE
        if t1 == FALSE:
            return replace(node, ty=t2), c2
        if t2 == TRUE:
            return replace(node, ty=TRUE), NONE
        if t2 == FALSE:
            return replace(node, ty=BOOL), c1
        return replace(node, ty=BOOL), c1 & c2

    # operators

    def type_of_unary(self, x: UnaryApp, op: UnaryOp, a: Expr) -> Expr:
        match op:
            case UnaryOp.NOT:
                v = self.expect_bool(a)
                return replace(x, arg=a, ty=BOOL if v is None or v == BOOL else _bool(v == FALSE))
            case UnaryOp.NEG:
                self.expect(a, isinstance(a.ty, LongType), "Long")
                return replace(x, arg=a, ty=LONG)
            case UnaryOp.IS_EMPTY:
                self.expect(a, isinstance(a.ty, SetType), "a set", "isEmpty")
                return replace(x, arg=a, ty=BOOL)
        assert_never(op)

    def type_of_eq(self, x: BinaryApp, a: Expr, b: Expr) -> BoolType:
        """`a == b`, typed, for the written `x`: two literals compare exactly, as written.

        Short-circuiting makes a typed `true || e` the literal `true`, so it is the written
        operands that decide, with `&&` and `||` of two Boolean literals counting as one.
        """
        la, lb = _written_literal(x.left), _written_literal(x.right)
        if la is not None and lb is not None and not isinstance(la, frozenset):
            return _bool(la == lb)
        if isinstance(a, Slot) or isinstance(b, Slot) or a.ty is None or b.ty is None:
            return BOOL
        if lub(a.ty, b.ty) is not None:
            return BOOL
        if isinstance(a.ty, EntityType) and isinstance(b.ty, EntityType):
            return FALSE
        self.fail(_incompatible(a.ty, b.ty), b)
        return BOOL

    def descendant_type(self, child: str, ancestor: str) -> bool:
        return child == ancestor or ancestor in self.schema.entity_type_ancestors(child)

    def type_of_in(self, a: Expr, b: Expr) -> BoolType:
        """`a in b` for an entity `a` and an entity or set of entities `b`."""
        if isinstance(b, Slot):
            return BOOL
        targets = _entity_literals(b)
        if isinstance(a, Lit) and a.value in self.schema.actions and targets is not None:
            ancestors = self.schema.action_ancestors(a.value)  # type: ignore[arg-type]
            return _bool(any(t == a.value or t in ancestors for t in targets))
        assert isinstance(a.ty, EntityType)
        target = b.ty.element if isinstance(b.ty, SetType) else b.ty
        assert isinstance(target, EntityType)
        return BOOL if self.descendant_type(a.ty.name, target.name) else FALSE

    def type_of_binary(
        self, x: BinaryApp, op: BinaryOp, a: Expr, b: Expr, c: Capabilities, before: int
    ) -> tuple[Expr, Capabilities]:
        """`before`: how many errors there were before the operands were typed."""
        node = replace(x, left=a, right=b)
        ta, tb = a.ty, b.ty
        match op:
            case BinaryOp.EQ:
                return replace(node, ty=self.type_of_eq(x, a, b)), NONE
            case BinaryOp.IN:
                self.expect(a, isinstance(ta, EntityType), "an entity", "in")
                entities = isinstance(tb, EntityType) or isinstance(b, Slot)
                entities |= isinstance(tb, SetType) and isinstance(tb.element, EntityType)
                self.expect(b, entities, "an entity or a set of entities", "in-right")
                if len(self.errors) > before:
                    return replace(node, ty=BOOL), NONE
                return replace(node, ty=self.type_of_in(a, b)), NONE
            case BinaryOp.HAS_TAG | BinaryOp.GET_TAG:
                entity = self.expect(a, isinstance(ta, EntityType), "an entity")
                self.expect(b, tb == STRING, "String")
                if not entity:
                    return node, NONE
                name = ta.name  # type: ignore[union-attr]
                if op is BinaryOp.GET_TAG:
                    return replace(node, ty=self.type_of_get_tag(name, x, b, c)), NONE
                ty, caps = self.type_of_has_tag(name, x.left, x.right, c)
                return replace(node, ty=ty), caps
            case BinaryOp.LESS | BinaryOp.LESS_EQ:
                self.check_ordered(a, b)
                return replace(node, ty=BOOL), NONE
            case BinaryOp.ADD | BinaryOp.SUB | BinaryOp.MUL:
                self.expect(a, ta == LONG, "Long", op.value)
                self.expect(b, tb == LONG, "Long", op.value)
                return replace(node, ty=LONG), NONE
            case BinaryOp.CONTAINS:
                if self.expect(a, isinstance(ta, SetType), "a set", "contains") and tb is not None:
                    self.require_lub(tb, ta.element, x)  # type: ignore[union-attr]
                return replace(node, ty=BOOL), NONE
            case BinaryOp.CONTAINS_ALL | BinaryOp.CONTAINS_ANY:
                sets = self.expect(a, isinstance(ta, SetType), "a set", "contains")
                if self.expect(b, isinstance(tb, SetType), "a set", "containsAll") and sets:
                    self.require_lub(ta.element, tb.element, x)  # type: ignore[union-attr]
                return replace(node, ty=BOOL), NONE
        assert_never(op)

    def check_ordered(self, a: Expr, b: Expr) -> None:
        """`a < b`: both Longs, or both datetimes, or both durations; whichever side is
        ordered (a Long first) says what the other should have been."""
        ta, tb = a.ty, b.ty
        if ta is None or tb is None or (ta == tb and ta in _ORDERED):
            return
        if ta == LONG or (ta in _ORDERED and tb != LONG):
            self.fail(f"unexpected type: expected {ta} but saw {tb}", b)
        elif tb in _ORDERED:
            self.fail(f"unexpected type: expected {tb} but saw {ta}", a)
        else:
            for t in (a, b):
                self.fail(f"unexpected type: expected Long, datetime or duration but saw {t.ty}", t)

    def require_lub(self, t1: SchemaType, t2: SchemaType, x: Expr) -> None:
        if lub(t1, t2) is None:
            self.fail(_incompatible(t1, t2), x)

    # attributes and tags

    def attrs_of(self, t: SchemaType) -> RecordType | None:
        if isinstance(t, RecordType):
            return t
        assert isinstance(t, EntityType)
        decl = self.schema.entity_types.get(t.name)
        return decl.shape if decl is not None else None

    def type_of_has_attr(
        self, x: HasAttr, a: Expr, name: str, c: Capabilities
    ) -> tuple[Expr, Capabilities]:
        record = isinstance(a.ty, RecordType | EntityType)
        if not self.expect(a, record, "an entity or record", "has"):
            return replace(x, arg=a, ty=BOOL), NONE
        rty = self.attrs_of(a.ty)  # type: ignore[arg-type]
        if rty is None:  # actions have no attributes
            return replace(x, arg=a, ty=FALSE), NONE
        attr = rty.get(name)
        if attr is None:
            return replace(x, arg=a, ty=FALSE), NONE
        known = isinstance(a.ty, RecordType)
        if (x.arg, ("attr", name)) in c or (attr.required and known):
            return replace(x, arg=a, ty=TRUE), NONE
        return replace(x, arg=a, ty=BOOL), frozenset({(x.arg, ("attr", name))})

    def type_of_get_attr(self, x: GetAttr, a: Expr, name: str, c: Capabilities) -> Expr:
        if not self.expect(a, isinstance(a.ty, RecordType | EntityType), "an entity or record"):
            return replace(x, arg=a, ty=None)
        rty = self.attrs_of(a.ty)  # type: ignore[arg-type]
        attr = rty.get(name) if rty is not None else None
        if attr is None:
            self.fail(f"attribute {self.access_path(a, name)} not found", x)
            return replace(x, arg=a, ty=None)
        if not attr.required and (x.arg, ("attr", name)) not in c:
            self.fail(
                f"unable to guarantee safety of access to optional attribute "
                f"{self.access_path(a, name)}; test it with `has` first",
                x,
            )
        return replace(x, arg=a, ty=attr.type)

    def access_path(self, receiver: Expr, name: str) -> str:
        """`name` read from the typed `receiver`, told as Cedar does: from the nearest entity
        or context it was read from, as in "`address.zip` on entity type `User`"."""
        chain = [name]
        while True:
            if isinstance(receiver.ty, EntityType):
                return f"`{'.'.join(chain)}` on entity type `{receiver.ty}`"
            if isinstance(receiver, VarRef) and receiver.var is Var.CONTEXT:
                return f"`{'.'.join(chain)}` in the context of `{self.env.action}`"
            if not isinstance(receiver, GetAttr):
                return f"`{'.'.join(chain)}` in record type {receiver.ty}"
            chain.insert(0, receiver.attr)
            receiver = receiver.arg

    def type_of_has_tag(
        self, entity_type: str, x: Expr, tag: Expr, c: Capabilities
    ) -> tuple[BoolType, Capabilities]:
        decl = self.schema.entity_types.get(entity_type)
        if decl is None or decl.tags is None:  # actions have no tags
            return FALSE, NONE
        if (x, ("tag", tag)) in c:
            return TRUE, NONE
        return BOOL, frozenset({(x, ("tag", tag))})

    def type_of_get_tag(
        self, entity_type: str, node: BinaryApp, typed_tag: Expr, c: Capabilities
    ) -> SchemaType | None:
        x, tag = node.left, node.right
        if (x, ("tag", tag)) not in c:
            self.fail(
                f"unable to guarantee safety of access to tag `{to_source(tag)}` on entity type "
                f"`{entity_type}`; test it with `hasTag` first",
                node,
                detail=typed_tag,
            )
            return None
        decl = self.schema.entity_types.get(entity_type)
        if decl is None or decl.tags is None:
            self.fail(f"entity type `{entity_type}` has no tags", node)
            return None
        return decl.tags

    # sets and extension calls

    def type_of_set(self, x: Expr, typed: list[Expr]) -> SetType | None:
        if not typed:
            self.fail("empty set literals are forbidden in policies", x)
            return None
        if any(e.ty is None for e in typed):
            return None
        joined: SchemaType = typed[0].ty  # type: ignore[assignment]
        for e in typed[1:]:
            nxt = lub(joined, e.ty)  # type: ignore[arg-type]
            if nxt is None:
                self.fail(_incompatible(*(e.ty for e in typed if e.ty is not None)), e)
                return None
            joined = nxt
        return SetType(joined)

    def type_of_call(self, x: Call, fn: ExtFun, args: tuple[Expr, ...]) -> SchemaType:
        """An extension call: its count of arguments, a constructor's literal, then each
        argument's type; the call has its result type even when one of these is wrong."""
        params = tuple(_ext_arg_type(n) for n in signature(fn))
        result = _CONSTRUCTORS[fn][1] if fn in _CONSTRUCTORS else _RESULT[fn]
        if len(args) != len(params):
            want = ", ".join(map(str, params))
            saw = ", ".join(str(a.ty) for a in args)
            self.fail(f"`{fn.value}` takes ({want}) but is given ({saw})", x)
            return result
        if fn in _CONSTRUCTORS:
            arg = args[0]
            if not isinstance(arg, Lit):
                self.fail("extension constructors may only be called on a single string literal", x)
                return result
            if isinstance(arg.value, str):
                try:
                    _CONSTRUCTORS[fn][0](arg.value)
                except ExtensionError as err:
                    self.fail(f"invalid argument to `{fn.value}`: {err}", arg)
                return result
        for arg, param in zip(args, params, strict=True):
            self.expect(arg, arg.ty == param, str(param))
        return result


# Advice on a wrong operand, by operator and the type seen ("" for any); where Cedar has one
_MEMBERSHIP = "try `contains` to test membership in a set"
_MATCH = "try `like` to match a string"
_ADVICE: dict[tuple[str | None, str], str] = {
    ("like", "EntityType"): "try `is` to test an entity's type",
    ("is", ""): "`is` tests the type of entities only",
    ("isEmpty", "StringType"): 'try `== ""` to test for the empty string',
    ("in", ""): _MEMBERSHIP,
    ("in-right", "SetType"): _MEMBERSHIP,
    ("in-right", "StringType"): _MATCH,
    ("+", "StringType"): "Cedar does not concatenate strings",
    ("+", "SetType"): "Cedar has no set union, intersection or difference",
    ("-", "SetType"): "Cedar has no set union, intersection or difference",
    ("*", "SetType"): "Cedar has no set union, intersection or difference",
    ("contains", "EntityType"): "try `in` to test membership in the entity hierarchy",
    ("contains", "RecordType"): "try `has` to test for an attribute",
    ("contains", "StringType"): _MATCH,
    ("containsAll", ""): "try `contains` to test for a single element",
    ("has", "SetType"): _MEMBERSHIP,
    ("has", "StringType"): _MATCH,
}


def _incompatible(*types: SchemaType) -> str:
    """Types that have no common type, each named once and in a fixed order, so that the same
    clash met twice (`a == b` in one environment, `b == a` in another) is one error, as in
    Cedar."""
    names = sorted({str(t) for t in types})
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return f"the types {listed} are not compatible"


def unknown_entity(uid: EntityUID, schema: Schema) -> str | None:
    """Why the schema does not know this entity, or None when it does."""
    if uid in schema.actions:
        return None
    decl = schema.entity_types.get(uid.type)
    if decl is None:
        if _is_action_type(uid.type):
            return f"unrecognized action `{uid}`"
        return f"unrecognized entity type `{uid.type}`"
    if decl.enum is not None and uid.id not in decl.enum:
        return f"`{uid}` is not one of the entities of the enumerated type `{uid.type}`"
    return None


def _is_action_type(name: str) -> bool:
    return name == "Action" or name.endswith("::Action")


def _written_literal(x: Expr) -> Value | None:
    """The value of `x` if it is a literal once `&&` and `||` of two Boolean literals fold."""
    match x:
        case Lit(value=v):
            return v
        case And(left=a, right=b) | Or(left=a, right=b):
            va, vb = _written_literal(a), _written_literal(b)
            if isinstance(va, bool) and isinstance(vb, bool):
                return (va and vb) if isinstance(x, And) else (va or vb)
    return None


def _entity_literals(x: Expr) -> list[EntityUID] | None:
    if isinstance(x, Lit) and isinstance(x.value, EntityUID):
        return [x.value]
    if isinstance(x, Lit) and isinstance(x.value, frozenset):
        return [v for v in x.value if isinstance(v, EntityUID)]
    if isinstance(x, SetLit) and all(
        isinstance(e, Lit) and isinstance(e.value, EntityUID) for e in x.elements
    ):
        return [
            e.value for e in x.elements if isinstance(e, Lit) and isinstance(e.value, EntityUID)
        ]
    return None


@room_for_depth()
def type_errors(
    policy: Policy, env: RequestEnv, schema: Schema
) -> tuple[Expr, list[TypeCheckError]]:
    """The policy's expression, typed in `env` as far as it goes, and every type error in it
    (in the order found; `silent` ones are unknown entities, which the validator reports
    separately). With no errors, the result's type is `Bool` or one of its singletons; `False`
    means the policy can never be satisfied in this environment.
    """
    memo = _memo(schema)
    key = ("typed", policy.principal, policy.action, policy.resource, policy.conditions, env)
    found = memo.get(key)
    if found is not None:
        return found, []
    checker = _Checker(schema, env)
    typed, _ = checker.type_of(substitute_action(policy.to_expr(), env.action), NONE)
    if typed.ty is not None and not is_subtype(typed.ty, BOOL):
        message = f"unexpected type: expected Bool but saw {typed.ty}"
        checker.fail(message, replace(typed, loc=policy.loc))
    errors = checker.errors + checker.quiet
    if not errors:
        memo[key] = typed
    return typed, errors


def _memo(schema: Schema) -> dict[tuple[object, ...], Any]:
    """Results kept for one schema (in its `__dict__`, as `functools.cached_property` keeps a
    value): typing is pure, and the validator, the encoder and every check of a large store
    ask about the same policies and scopes in the same environments again and again. Only
    what has no error is kept, since an error names the place of the policy it was found in,
    and two policies that say the same thing may stand in different places."""
    memo: dict[tuple[object, ...], Any] = schema.__dict__.setdefault("_typecheck_memo", {})
    return memo


@room_for_depth()
def typecheck(policy: Policy, env: RequestEnv, schema: Schema) -> Expr:
    """The policy's expression, typed in `env`; raises the first TypeCheckError if it does not
    typecheck. The result's type is `Bool` or one of its singletons; `False` means the policy
    can never be satisfied in this environment.
    """
    typed, errors = type_errors(policy, env, schema)
    if errors:
        raise errors[0]
    return typed


@room_for_depth()
def applies(policy: Policy, env: RequestEnv, schema: Schema) -> bool:
    """Whether the policy's scope can match some request of this environment.

    Each constraint's answer depends only on its own variable's part of the environment, and
    is worked out once per schema."""
    if not action_may_match(policy.action, env, schema):
        return False
    memo = _memo(schema)
    for var, constraint, part in (
        (Var.PRINCIPAL, policy.principal, env.principal),
        (Var.ACTION, policy.action, env.action),
        (Var.RESOURCE, policy.resource, env.resource),
    ):
        key = ("scope", var, constraint, part)
        can = memo.get(key)
        if can is None:
            x = substitute_action(scope_expr(var, constraint), env.action)
            typed, _ = _Checker(schema, env).type_of(x, NONE)
            can = memo[key] = typed.ty != FALSE
        if not can:
            return False
    return True


def action_may_match(c: ScopeConstraint, env: RequestEnv, schema: Schema) -> bool:
    """False when typing the action's scope constraint in `env` gives `False`, found without
    typing it: `action == A` with `A` not the environment's action (two literals compare as
    written), and `action in A` or `in [A, ...]` naming only actions of the schema, of one
    type, none of them the environment's action or one of its groups. Otherwise True (the
    typechecker decides)."""
    match c:
        case ScopeEq(entity=EntityUID() as uid):
            return uid == env.action
        case ScopeIn(entity=EntityUID() as uid):
            targets: tuple[EntityUID, ...] = (uid,)
        case ScopeInSet(entities=targets) if targets:
            pass
        case _:
            return True
    if any(t not in schema.actions or t.type != targets[0].type for t in targets):
        return True  # unknown actions or a set that does not type: the typechecker says
    groups = schema.action_ancestors(env.action)
    return any(t == env.action or t in groups for t in targets)
