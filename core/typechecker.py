"""Cedar's typechecker (strict mode): a type for every sub-expression in one request environment.

A request environment is one (principal type, action, resource type) the schema allows, with
the action's context type. In it, `typecheck` gives every node of a policy's expression a type
(`ty`), tracking which optional attributes and tags have been tested by `has` and `hasTag`
("capabilities", which flow through `&&`, `||` and `if`). Sub-expressions the types prove
irrelevant are dropped, as Cedar's validator does: `e && x` where `e` can only be false is just
`e`. The typed expressions are what the symbolic encoder compiles.
Twin of core/evaluator.py: `_Checker.type_of` has the evaluator's cases in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.ast import (
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
    to_source,
)
from core.errors import ExtensionError, Loc
from core.ext.datetime import parse_datetime, parse_duration
from core.ext.decimal import parse_decimal
from core.ext.ipaddr import parse_ip
from core.extensions import signature
from core.policy import Policy, scope_expr
from core.schema import Schema
from core.types import (
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
from core.values import EntityUID, Long, Value


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

    def __init__(self, message: str, loc: Loc | None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


AttrKey = tuple[str, str]
TagKey = tuple[str, Expr]
Capabilities = frozenset[tuple[Expr, AttrKey | TagKey]]
NONE: Capabilities = frozenset()


def substitute_action(x: Expr, uid: EntityUID) -> Expr:
    """Replace the `action` variable by the environment's action, for sharper types."""
    match x:
        case VarRef(var=Var.ACTION):
            return Lit(uid, x.loc)
        case Lit() | VarRef() | Slot():
            return x
        case Ite(cond=c, then=t, else_=f):
            return replace(
                x,
                cond=substitute_action(c, uid),
                then=substitute_action(t, uid),
                else_=substitute_action(f, uid),
            )
        case And(left=a, right=b) | Or(left=a, right=b) | BinaryApp(left=a, right=b):
            return replace(x, left=substitute_action(a, uid), right=substitute_action(b, uid))
        case UnaryApp(arg=a) | Like(arg=a) | Is(arg=a) | HasAttr(arg=a) | GetAttr(arg=a):
            return replace(x, arg=substitute_action(a, uid))
        case SetLit(elements=xs):
            return replace(x, elements=tuple(substitute_action(e, uid) for e in xs))
        case RecordLit(fields=fs):
            return replace(x, fields=tuple((k, substitute_action(e, uid)) for k, e in fs))
        case Call(args=xs):
            return replace(x, args=tuple(substitute_action(e, uid) for e in xs))
    assert_never(x)


def _bool(b: bool) -> BoolType:
    return TRUE if b else FALSE


_CONSTRUCTORS = {
    ExtFun.DECIMAL: (parse_decimal, ExtensionType("decimal")),
    ExtFun.IP: (parse_ip, ExtensionType("ipaddr")),
    ExtFun.DATETIME: (parse_datetime, ExtensionType("datetime")),
    ExtFun.DURATION: (parse_duration, ExtensionType("duration")),
}

_RESULT = {
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
    """Types expressions in one environment; the twin of core/evaluator.py's `evaluate`."""

    def __init__(self, schema: Schema, env: RequestEnv) -> None:
        self.schema = schema
        self.env = env

    def fail(self, message: str, x: Expr) -> TypeCheckError:
        return TypeCheckError(message, x.loc)

    def expect_bool(self, t: Expr) -> BoolType:
        if isinstance(t.ty, BoolType):
            return t.ty
        raise self.fail(f"unexpected type: expected Bool but saw {t.ty}", t)

    def type_of(self, x: Expr, c: Capabilities) -> tuple[Expr, Capabilities]:
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
                ta, tb = self.type_of(a, c)[0], self.type_of(b, c)[0]
                return self.type_of_binary(x, op, ta, tb, c)
            case Like(arg=a):
                ta = self.type_of(a, c)[0]
                if ta.ty != STRING:
                    raise self.fail(f"unexpected type: expected String but saw {ta.ty}", a)
                return replace(x, arg=ta, ty=BOOL), NONE
            case Is(arg=a, entity_type=et):
                ta = self.type_of(a, c)[0]
                if not isinstance(ta.ty, EntityType):
                    raise self.fail(f"unexpected type: expected an entity but saw {ta.ty}", a)
                return replace(x, arg=ta, ty=_bool(ta.ty.name == et)), NONE
            case HasAttr(arg=a, attr=name):
                return self.type_of_has_attr(x, self.type_of(a, c)[0], name, c)
            case GetAttr(arg=a, attr=name):
                return self.type_of_get_attr(x, self.type_of(a, c)[0], name, c), NONE
            case SetLit(elements=xs):
                typed = [self.type_of(e, c)[0] for e in xs]
                return replace(x, elements=tuple(typed), ty=self.type_of_set(x, typed)), NONE
            case RecordLit(fields=fs):
                tfs = tuple((k, self.type_of(e, c)[0]) for k, e in fs)
                rty = RecordType.of({k: Attribute(e.ty) for k, e in tfs})  # type: ignore[arg-type]
                return replace(x, fields=tfs, ty=rty), NONE
            case Call(fn=fn, args=xs):
                typed = tuple(self.type_of(e, c)[0] for e in xs)
                return replace(x, args=typed, ty=self.type_of_call(x, fn, typed)), NONE
        assert_never(x)

    # literals and variables

    def type_of_value(self, v: Value, x: Expr) -> SchemaType:
        if isinstance(v, bool):
            return _bool(v)
        if isinstance(v, Long):
            return LONG
        if isinstance(v, str):
            return STRING
        if isinstance(v, EntityUID):
            self.check_entity(v, x)
            return EntityType(v.type)
        if isinstance(v, frozenset):  # `action in [...]` in a scope
            return self.type_of_set(x, [Lit(e, x.loc, ty=self.type_of_value(e, x)) for e in v])
        raise self.fail(f"unexpected literal {v!r}", x)

    def check_entity(self, uid: EntityUID, x: Expr) -> None:
        problem = unknown_entity(uid, self.schema)
        if problem is not None:
            raise self.fail(problem, x)

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
        joined = lub(then.ty, els.ty)  # type: ignore[arg-type]
        if joined is None:
            raise self.fail(f"the types {then.ty} and {els.ty} are not compatible", x)
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
        if t1 == FALSE:
            return replace(node, ty=t2), c2
        if t2 == TRUE:
            return replace(node, ty=TRUE), NONE
        if t2 == FALSE:
            return replace(node, ty=BOOL), c1
        return replace(node, ty=BOOL), c1 & c2

    # operators

    def type_of_unary(self, x: UnaryApp, op: UnaryOp, a: Expr) -> Expr:
        match op, a.ty:
            case UnaryOp.NOT, BoolType(value=v):
                return replace(x, arg=a, ty=BOOL if v is None else _bool(not v))
            case UnaryOp.NEG, LongType():
                return replace(x, arg=a, ty=LONG)
            case UnaryOp.IS_EMPTY, SetType():
                return replace(x, arg=a, ty=BOOL)
        expected = {UnaryOp.NOT: "Bool", UnaryOp.NEG: "Long", UnaryOp.IS_EMPTY: "a set"}[op]
        raise self.fail(f"unexpected type: expected {expected} but saw {a.ty}", a)

    def type_of_eq(self, x: BinaryApp, a: Expr, b: Expr) -> BoolType:
        """`a == b`, typed, for the written `x`: two literals compare exactly, as written.

        Short-circuiting makes a typed `true || e` the literal `true`, so it is the written
        operands that decide, with `&&` and `||` of two Boolean literals counting as one.
        """
        la, lb = _written_literal(x.left), _written_literal(x.right)
        if la is not None and lb is not None and not isinstance(la, frozenset):
            return _bool(la == lb)
        if isinstance(a, Slot) or isinstance(b, Slot):
            return BOOL
        if lub(a.ty, b.ty) is not None:  # type: ignore[arg-type]
            return BOOL
        if isinstance(a.ty, EntityType) and isinstance(b.ty, EntityType):
            return FALSE
        raise self.fail(f"the types {a.ty} and {b.ty} are not compatible", b)

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
        self, x: BinaryApp, op: BinaryOp, a: Expr, b: Expr, c: Capabilities
    ) -> tuple[Expr, Capabilities]:
        node = replace(x, left=a, right=b)
        ta, tb = a.ty, b.ty
        match op:
            case BinaryOp.EQ:
                return replace(node, ty=self.type_of_eq(x, a, b)), NONE
            case BinaryOp.IN if isinstance(ta, EntityType) and (
                isinstance(tb, EntityType)
                or isinstance(b, Slot)
                or (isinstance(tb, SetType) and isinstance(tb.element, EntityType))
            ):
                return replace(node, ty=self.type_of_in(a, b)), NONE
            case BinaryOp.HAS_TAG if isinstance(ta, EntityType) and tb == STRING:
                ty, caps = self.type_of_has_tag(ta.name, x.left, x.right, c)
                return replace(node, ty=ty), caps
            case BinaryOp.GET_TAG if isinstance(ta, EntityType) and tb == STRING:
                return replace(node, ty=self.type_of_get_tag(ta.name, x.left, x.right, c, x)), NONE
            case BinaryOp.LESS | BinaryOp.LESS_EQ if ta == tb and ta in _ORDERED:
                return replace(node, ty=BOOL), NONE
            case BinaryOp.ADD | BinaryOp.SUB | BinaryOp.MUL if ta == LONG and tb == LONG:
                return replace(node, ty=LONG), NONE
            case BinaryOp.CONTAINS if isinstance(ta, SetType):
                self.require_lub(tb, ta.element, x)  # type: ignore[arg-type]
                return replace(node, ty=BOOL), NONE
            case BinaryOp.CONTAINS_ALL | BinaryOp.CONTAINS_ANY if isinstance(
                ta, SetType
            ) and isinstance(tb, SetType):
                self.require_lub(ta.element, tb.element, x)
                return replace(node, ty=BOOL), NONE
        raise self.fail(_operand_message(op, ta, tb), a if _left_is_wrong(op, ta) else b)

    def require_lub(self, t1: SchemaType, t2: SchemaType, x: Expr) -> None:
        if lub(t1, t2) is None:
            raise self.fail(f"the types {t1} and {t2} are not compatible", x)

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
        if not isinstance(a.ty, RecordType | EntityType):
            raise self.fail(f"unexpected type: expected an entity or record but saw {a.ty}", x.arg)
        rty = self.attrs_of(a.ty)
        if rty is None:
            if self.is_action_type(a.ty.name):  # type: ignore[union-attr]
                return replace(x, arg=a, ty=FALSE), NONE  # actions have no attributes
            raise self.fail(f"unrecognized entity type `{a.ty}`", x.arg)
        attr = rty.get(name)
        if attr is None:
            return replace(x, arg=a, ty=FALSE), NONE
        known = isinstance(a.ty, RecordType)
        if (x.arg, ("attr", name)) in c or (attr.required and known):
            return replace(x, arg=a, ty=TRUE), NONE
        return replace(x, arg=a, ty=BOOL), frozenset({(x.arg, ("attr", name))})

    def type_of_get_attr(self, x: GetAttr, a: Expr, name: str, c: Capabilities) -> Expr:
        if not isinstance(a.ty, RecordType | EntityType):
            raise self.fail(f"unexpected type: expected an entity or record but saw {a.ty}", x.arg)
        rty = self.attrs_of(a.ty)
        if rty is None:
            raise self.fail(f"attribute `{name}` on entity type `{a.ty}` not found", x)
        attr = rty.get(name)
        if attr is None:
            raise self.fail(f"attribute `{name}` {self.owner(x.arg, a.ty)} not found", x)
        if not attr.required and (x.arg, ("attr", name)) not in c:
            raise self.fail(
                f"unable to guarantee safety of access to optional attribute `{name}` "
                f"{self.owner(x.arg, a.ty)}; test it with `has` first",
                x,
            )
        return replace(x, arg=a, ty=attr.type)

    def owner(self, x: Expr, t: SchemaType) -> str:
        if isinstance(x, VarRef) and x.var is Var.CONTEXT:
            return f"in the context of `{self.env.action}`"
        if isinstance(t, EntityType):
            return f"on entity type `{t}`"
        return f"in record type {t}"

    def is_action_type(self, name: str) -> bool:
        return any(uid.type == name for uid in self.schema.actions)

    def type_of_has_tag(
        self, entity_type: str, x: Expr, tag: Expr, c: Capabilities
    ) -> tuple[BoolType, Capabilities]:
        decl = self.schema.entity_types.get(entity_type)
        if decl is None:
            if self.is_action_type(entity_type):
                return FALSE, NONE  # actions have no tags
            raise self.fail(f"unrecognized entity type `{entity_type}`", x)
        if decl.tags is None:
            return FALSE, NONE
        if (x, ("tag", tag)) in c:
            return TRUE, NONE
        return BOOL, frozenset({(x, ("tag", tag))})

    def type_of_get_tag(
        self, entity_type: str, x: Expr, tag: Expr, c: Capabilities, node: Expr
    ) -> SchemaType:
        decl = self.schema.entity_types.get(entity_type)
        if decl is None:
            raise self.fail(f"unrecognized entity type `{entity_type}`", x)
        if decl.tags is None:
            raise self.fail(f"entity type `{entity_type}` has no tags", node)
        if (x, ("tag", tag)) not in c:
            raise self.fail(
                f"unable to guarantee safety of access to tag `{to_source(tag)}` on entity type "
                f"`{entity_type}`; test it with `hasTag` first",
                node,
            )
        return decl.tags

    # sets and extension calls

    def type_of_set(self, x: Expr, typed: list[Expr]) -> SetType:
        if not typed:
            raise self.fail("empty set literals are forbidden in policies", x)
        joined: SchemaType | None = typed[0].ty
        for e in typed[1:]:
            nxt = lub(joined, e.ty) if joined is not None else None  # type: ignore[arg-type]
            if nxt is None:
                raise self.fail(f"the types {joined} and {e.ty} are not compatible", e)
            joined = nxt
        return SetType(joined)  # type: ignore[arg-type]

    def type_of_call(self, x: Call, fn: ExtFun, args: tuple[Expr, ...]) -> SchemaType:
        if fn in _CONSTRUCTORS:
            parse, result = _CONSTRUCTORS[fn]
            if len(args) != 1 or not (isinstance(args[0], Lit) and isinstance(args[0].value, str)):
                raise self.fail(
                    "extension constructors may only be called on a single string literal", x
                )
            try:
                parse(args[0].value)
            except ExtensionError as err:
                raise self.fail(f"invalid argument to `{fn.value}`: {err}", args[0]) from None
            return result
        expected = tuple(_ext_arg_type(n) for n in signature(fn))
        got = tuple(a.ty for a in args)
        if got != expected:
            want = ", ".join(map(str, expected))
            saw = ", ".join(map(str, got))
            raise self.fail(f"`{fn.value}` takes ({want}) but is given ({saw})", x)
        return _RESULT[fn]


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
        return [e.value for e in x.elements]  # type: ignore[union-attr]
    return None


def _left_is_wrong(op: BinaryOp, ta: SchemaType | None) -> bool:
    if op in (BinaryOp.IN, BinaryOp.HAS_TAG, BinaryOp.GET_TAG):
        return not isinstance(ta, EntityType)
    if op in (BinaryOp.CONTAINS, BinaryOp.CONTAINS_ALL, BinaryOp.CONTAINS_ANY):
        return not isinstance(ta, SetType)
    if op in (BinaryOp.LESS, BinaryOp.LESS_EQ):
        return ta not in _ORDERED
    return ta != LONG


def _operand_message(op: BinaryOp, ta: SchemaType | None, tb: SchemaType | None) -> str:
    if op is BinaryOp.IN:
        expected = ("an entity", "an entity or a set of entities")
    elif op in (BinaryOp.HAS_TAG, BinaryOp.GET_TAG):
        expected = ("an entity", "String")
    elif op is BinaryOp.CONTAINS:
        expected = ("a set", "a value")
    elif op in (BinaryOp.CONTAINS_ALL, BinaryOp.CONTAINS_ANY):
        expected = ("a set", "a set")
    elif op in (BinaryOp.LESS, BinaryOp.LESS_EQ):
        if ta in _ORDERED:
            return f"unexpected type: expected {ta} but saw {tb}"
        expected = ("Long, datetime or duration", "the same type")
    else:
        expected = ("Long", "Long")
    if _left_is_wrong(op, ta):
        return f"unexpected type: expected {expected[0]} but saw {ta}"
    return f"unexpected type: expected {expected[1]} but saw {tb}"


def typecheck(policy: Policy, env: RequestEnv, schema: Schema) -> Expr:
    """The policy's expression, typed in `env`; raises TypeCheckError if it does not typecheck.

    The result's type is `Bool` or one of its singletons; `False` means the policy can never be
    satisfied in this environment.
    """
    checker = _Checker(schema, env)
    typed, _ = checker.type_of(substitute_action(policy.to_expr(), env.action), NONE)
    if not is_subtype(typed.ty, BOOL):  # type: ignore[arg-type]
        raise TypeCheckError(f"unexpected type: expected Bool but saw {typed.ty}", policy.loc)
    return typed


def applies(policy: Policy, env: RequestEnv, schema: Schema) -> bool:
    """Whether the policy's scope can match some request of this environment."""
    checker = _Checker(schema, env)
    for var, constraint in (
        (Var.PRINCIPAL, policy.principal),
        (Var.ACTION, policy.action),
        (Var.RESOURCE, policy.resource),
    ):
        x = substitute_action(scope_expr(var, constraint), env.action)
        try:
            typed, _ = checker.type_of(x, NONE)
        except TypeCheckError:
            return True  # reported by the entity check
        if typed.ty == FALSE:
            return False
    return True
