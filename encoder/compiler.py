"""Compile a typed Cedar expression to Z3 terms in a symbolic environment.

Twin of core/evaluator.py: `compile` has the evaluator's cases in the same order, and each
helper is named after the evaluator's (`compile_apply1` for `apply1`, `compile_in_entity` for
`in_entity`, ...). A result is a `Sym` (value, errored); errors propagate exactly as the
evaluator raises them, so a policy is satisfied iff its term is "no error and true".
The input is the validator's typed expression (core/typechecker.py): every node has a type.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

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
from cedar_smt.core.types import (
    BOOL,
    LONG,
    BoolType,
    EntityType,
    ExtensionType,
    LongType,
    RecordType,
    SchemaType,
    SetType,
    StringType,
)
from cedar_smt.core.values import EntityUID, Value
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.extensions import compile_call
from cedar_smt.encoder.factory import Sym
from cedar_smt.encoder.sorts import normalize

_LONG_MIN = -(2**63)


def _ty(x: Expr) -> SchemaType:
    if x.ty is None:
        raise EncodeError("the expression has no type: compile only typechecked expressions")
    return x.ty


def compile_lit(v: Value, ty: SchemaType, env: SymEnv) -> Sym:
    if isinstance(v, frozenset):  # `action in [...]` from a scope
        assert isinstance(ty, SetType)
        uids = sorted(e for e in v if isinstance(e, EntityUID))
        return env.f.some(env.u.set_of([env.uid_term(e) for e in uids], ty.element), ty)
    return env.f.some(env.u.value(v, ty), ty)


def compile_if(
    c: Sym, then: Callable[[], Sym], else_: Callable[[], Sym], ty: SchemaType, env: SymEnv
) -> Sym:
    f = env.f
    if z3.is_false(c.err) and z3.is_true(c.value):
        return _retype(then(), ty)
    if z3.is_false(c.err) and z3.is_false(c.value):
        return _retype(else_(), ty)
    t, e = then(), else_()
    return Sym(
        f.ite(c.value, t.value, e.value),
        f.or_(c.err, f.ite(c.value, t.err, e.err)),
        ty,
    )


def compile_and(a: Sym, b: Callable[[], Sym], env: SymEnv) -> Sym:
    f = env.f
    if z3.is_false(a.err) and z3.is_false(a.value):
        return Sym(a.value, a.err, BOOL)
    right = b()
    return Sym(
        f.and_(a.value, right.value),
        f.or_(a.err, f.and_(a.value, right.err)),
        BOOL,
    )


def compile_or(a: Sym, b: Callable[[], Sym], env: SymEnv) -> Sym:
    f = env.f
    if z3.is_false(a.err) and z3.is_true(a.value):
        return Sym(a.value, a.err, BOOL)
    right = b()
    return Sym(
        f.or_(a.value, right.value),
        f.or_(a.err, f.and_(f.not_(a.value), right.err)),
        BOOL,
    )


def compile_apply1(op: UnaryOp, a: Sym, env: SymEnv) -> Sym:
    f = env.f
    match op:
        case UnaryOp.NOT:
            return f.after([a], f.not_(a.value), BOOL)
        case UnaryOp.NEG:
            overflow = f.eq(a.value, env.u.long(_LONG_MIN))
            return f.after([a], -a.value, LONG, overflow)
        case UnaryOp.IS_EMPTY:
            assert isinstance(a.ty, SetType)
            return f.after([a], f.is_empty(a.value), BOOL)
    assert_never(op)


def compile_in_entity(a: Sym, b: Sym, env: SymEnv) -> z3.BoolRef:
    """`a in b` for entities: equal, or `b` among the ancestors of an existing `a`."""
    f = env.f
    ta, tb = a.ty, b.ty
    assert isinstance(ta, EntityType) and isinstance(tb, EntityType)
    same = f.eq(a.value, b.value) if ta == tb else f.false
    ancestors = env.read_ancestors(a.value, ta.name, tb.name)
    if ancestors is None:
        return same
    return f.or_(same, f.and_(env.exists(a.value, ta.name), f.member(b.value, ancestors)))


def compile_in_set(a: Sym, b: Sym, env: SymEnv) -> z3.BoolRef:
    """`a in s`: `a` is in the set `s`, or one of its ancestors is."""
    f = env.f
    ta, tb = a.ty, b.ty
    assert isinstance(ta, EntityType) and isinstance(tb, SetType)
    assert isinstance(tb.element, EntityType)
    member = f.member(a.value, b.value) if tb.element == ta else f.false
    ancestors = env.read_ancestors(a.value, ta.name, tb.element.name)
    if ancestors is None:
        return member
    common = f.intersects(b.value, ancestors)
    return f.or_(member, f.and_(env.exists(a.value, ta.name), common))


_ORDERED = (LONG, ExtensionType("datetime"), ExtensionType("duration"))


def compile_compare(op: BinaryOp, a: Sym, b: Sym, env: SymEnv) -> Sym:
    if a.ty not in _ORDERED or a.ty != b.ty:
        raise EncodeError(f"`{op.value}` between {a.ty} and {b.ty}")
    value = a.value < b.value if op is BinaryOp.LESS else a.value <= b.value
    return env.f.after([a, b], value, BOOL)


def compile_arith(op: BinaryOp, a: Sym, b: Sym, env: SymEnv) -> Sym:
    f, x, y = env.f, a.value, b.value
    match op:
        case BinaryOp.ADD:
            ok = f.and_(z3.BVAddNoOverflow(x, y, True), z3.BVAddNoUnderflow(x, y))
            return f.after([a, b], x + y, LONG, f.not_(ok))
        case BinaryOp.SUB:
            ok = f.and_(z3.BVSubNoOverflow(x, y), z3.BVSubNoUnderflow(x, y, True))
            return f.after([a, b], x - y, LONG, f.not_(ok))
        case BinaryOp.MUL:
            ok = f.and_(z3.BVMulNoOverflow(x, y, True), z3.BVMulNoUnderflow(x, y))
            return f.after([a, b], x * y, LONG, f.not_(ok))
    raise AssertionError(op)


def compile_eq(a: Sym, b: Sym, env: SymEnv) -> z3.BoolRef:
    """`==`: same representation compares terms; different primitive types are never equal.

    (The evaluator needs no helper: Python values compare across kinds.)
    """
    ta, tb = normalize(a.ty), normalize(b.ty)
    if ta == tb:
        return env.f.eq(a.value, b.value)
    prim = (BoolType, LongType, StringType, EntityType)
    if isinstance(ta, prim) and isinstance(tb, prim):
        return env.f.false
    raise EncodeError(f"`==` between values of types {a.ty} and {b.ty}")


def compile_get_tag(a: Sym, key: Sym, env: SymEnv) -> Sym:
    f = env.f
    assert isinstance(a.ty, EntityType)
    name = a.ty.name
    ty = env.tags(name)
    if ty is None:
        raise EncodeError(f"`getTag` on entity type `{name}`, which has no tags")
    env.note_tag_query(a.value, key.value, name)
    keys = env.tag_keys(a.value, name)
    present = f.and_(env.exists(a.value, name), f.member(key.value, keys))
    return f.after([a, key], env.tag_value(a.value, key.value, name), ty, f.not_(present))


def compile_has_tag(a: Sym, key: Sym, env: SymEnv) -> Sym:
    # the evaluator does this inline in `apply2`
    f = env.f
    assert isinstance(a.ty, EntityType)
    name = a.ty.name
    if env.tags(name) is None:
        return f.after([a, key], f.false, BOOL)
    env.note_tag_query(a.value, key.value, name)
    keys = env.tag_keys(a.value, name)
    return f.after([a, key], f.and_(env.exists(a.value, name), f.member(key.value, keys)), BOOL)


def _set_element(s: Sym) -> SchemaType:
    if not isinstance(s.ty, SetType):
        raise EncodeError(f"expected a set, found {s.ty}")
    return s.ty.element


def _check_same(t1: SchemaType, t2: SchemaType, what: str) -> None:
    if normalize(t1) != normalize(t2):
        raise EncodeError(f"`{what}` between sets of {t1} and {t2}")


def compile_apply2(op: BinaryOp, a: Sym, b: Sym, env: SymEnv) -> Sym:
    f = env.f
    match op:
        case BinaryOp.EQ:
            return f.after([a, b], compile_eq(a, b, env), BOOL)
        case BinaryOp.LESS | BinaryOp.LESS_EQ:
            return compile_compare(op, a, b, env)
        case BinaryOp.ADD | BinaryOp.SUB | BinaryOp.MUL:
            return compile_arith(op, a, b, env)
        case BinaryOp.CONTAINS:
            _check_same(_set_element(a), b.ty, "contains")
            return f.after([a, b], f.member(b.value, a.value), BOOL)
        case BinaryOp.CONTAINS_ALL:
            _check_same(_set_element(a), _set_element(b), "containsAll")
            return f.after([a, b], f.subset(b.value, a.value), BOOL)
        case BinaryOp.CONTAINS_ANY:
            _check_same(_set_element(a), _set_element(b), "containsAny")
            return f.after([a, b], f.intersects(a.value, b.value), BOOL)
        case BinaryOp.IN:
            if isinstance(b.ty, SetType):
                return f.after([a, b], compile_in_set(a, b, env), BOOL)
            return f.after([a, b], compile_in_entity(a, b, env), BOOL)
        case BinaryOp.HAS_TAG:
            return compile_has_tag(a, b, env)
        case BinaryOp.GET_TAG:
            return compile_get_tag(a, b, env)
    assert_never(op)


def compile_slot_scope(op: BinaryOp, a: Sym, slot: str, env: SymEnv) -> Sym:
    """`principal == ?principal` or `principal in ?principal` in a template analysed for every
    link: the slot is the entity the link chose, of one of the types it may take (and, when
    the set may have no link of it, `LinkSpace.optional`, the scope is met only if it has)."""
    f = env.f
    link = env.slot(slot)
    values, errs = [], []
    for i, (t, ty) in enumerate(zip(link.consts, link.types, strict=True)):
        chosen = link.chosen(i, f)
        s = compile_apply2(op, a, Sym(t, f.false, EntityType(ty)), env)
        values.append(f.and_(chosen, s.value))
        errs.append(f.and_(chosen, s.err))
    if link.present is None:
        return Sym(f.any(values), f.any(errs), BOOL)
    # a set without the link: the template's scope is met by no request
    return Sym(f.and_(link.present, f.any(values)), f.and_(link.present, f.any(errs)), BOOL)


def compile_like(a: Sym, pattern: Pattern, env: SymEnv) -> Sym:
    """`a like pattern` as core's matcher decides it (`Pattern.matches`): the first run of the
    pattern starts the string, the last ends it, and each run between is found, leftmost,
    after the one before (`*abc*` is `contains`). Prefixes, suffixes, `contains` and `indexof`
    are far easier for Z3's string solver than the equivalent regular expression, above all
    negated (a lint check over a few dozen `like` policies ran out of time as regular
    expressions)."""
    u, f = env.u, env.f
    s = a.value
    runs = pattern.segments()
    if len(runs) == 1:  # no wildcard
        return f.after([a], f.eq(s, u.string(runs[0])), BOOL)
    first, *middle, last = runs
    if not first and not last and len(middle) <= 1:  # `*`, `*abc*`: what Z3 knows best
        return f.after([a], z3.Contains(s, u.string(middle[0] if middle else "")), BOOL)
    length = z3.Length(s)
    parts = [length >= len(first) + len(last)]
    if first:
        parts.append(z3.PrefixOf(u.string(first), s))
    if last:
        parts.append(z3.SuffixOf(u.string(last), s))
    pos: z3.ArithRef = z3.IntVal(len(first), u.ctx)
    end = length - len(last)
    for run in middle:
        at = z3.IndexOf(s, u.string(run), pos)
        parts += [at >= 0, at + len(run) <= end]
        pos = at + len(run)
    return f.after([a], f.and_(*parts), BOOL)


def compile_is_type(a: Sym, entity_type: str, env: SymEnv) -> Sym:
    assert isinstance(a.ty, EntityType)
    return env.f.after([a], env.f.bool(a.ty.name == entity_type), BOOL)


def compile_attrs_of(a: Sym, env: SymEnv) -> tuple[z3.ExprRef, RecordType, z3.BoolRef]:
    """The record of attributes, its type, and whether it is there (an entity may be missing)."""
    if isinstance(a.ty, RecordType):
        return a.value, a.ty, env.f.true
    if isinstance(a.ty, EntityType):
        name = a.ty.name
        return env.attrs(a.value, name), env.attr_type(name), env.exists(a.value, name)
    raise EncodeError(f"attributes of a value of type {a.ty}")


def compile_has_attr(a: Sym, attr: str, env: SymEnv) -> Sym:
    f = env.f
    record, rty, there = compile_attrs_of(a, env)
    decl = rty.get(attr)
    if decl is None:
        return f.after([a], f.false, BOOL)
    if decl.required:
        return f.after([a], there, BOOL)
    field = env.u.record(rty).fields[attr](record)
    return f.after([a], f.and_(there, env.u.option(decl.type).is_some(field)), BOOL)


def compile_get_attr(a: Sym, attr: str, env: SymEnv) -> Sym:
    f = env.f
    record, rty, there = compile_attrs_of(a, env)
    decl = rty.get(attr)
    if decl is None:
        raise EncodeError(f"attribute `{attr}` of a value of type {a.ty}, which has none")
    field = env.u.record(rty).fields[attr](record)
    if decl.required:
        return f.after([a], field, decl.type, f.not_(there))
    opt = env.u.option(decl.type)
    missing = f.or_(f.not_(there), f.not_(opt.is_some(field)))
    return f.after([a], opt.get(field), decl.type, missing)


def compile_set(x: SetLit, elems: list[Sym], env: SymEnv) -> Sym:
    ty = _ty(x)
    assert isinstance(ty, SetType)
    for e in elems:
        _check_same(e.ty, ty.element, "set literal")
    return env.f.after(elems, env.u.set_of([e.value for e in elems], ty.element), ty)


def compile_record(x: RecordLit, fields: list[tuple[str, Sym]], env: SymEnv) -> Sym:
    ty = _ty(x)
    assert isinstance(ty, RecordType)
    rs = env.u.record(ty)
    by_name = dict(fields)
    args = [by_name[name].value for name, _ in rs.type.attributes]
    return env.f.after([s for _, s in fields], rs.make(*args), ty)


def _retype(s: Sym, ty: SchemaType) -> Sym:
    return s if s.ty == ty else Sym(s.value, s.err, ty)


def compile(x: Expr, env: SymEnv) -> Sym:
    s = _compile(x, env)
    env.note(s)
    return s


def _compile(x: Expr, env: SymEnv) -> Sym:
    match x:
        case Lit(value=v):
            return compile_lit(v, _ty(x), env)
        case VarRef(var=var):
            return env.var(var)
        case Slot(name=name):  # only ever the right of a scope's `==` or `in`: see below
            raise EncodeError(f"template slot {name}: link the template before analyzing it")
        case Ite(cond=c, then=then, else_=otherwise):
            return compile_if(
                compile(c, env),
                lambda: compile(then, env),
                lambda: compile(otherwise, env),
                _ty(x),
                env,
            )
        case And(left=a, right=b):
            return compile_and(compile(a, env), lambda: compile(b, env), env)
        case Or(left=a, right=b):
            return compile_or(compile(a, env), lambda: compile(b, env), env)
        case UnaryApp(op=op, arg=a):
            return compile_apply1(op, compile(a, env), env)
        case BinaryApp(op=op, left=a, right=Slot(name=name)):  # the evaluator refuses slots
            return compile_slot_scope(op, compile(a, env), name, env)
        case BinaryApp(op=op, left=a, right=b):
            return compile_apply2(op, compile(a, env), compile(b, env), env)
        case Like(arg=a, pattern=p):
            return compile_like(compile(a, env), p, env)
        case Is(arg=a, entity_type=t):
            return compile_is_type(compile(a, env), t, env)
        case HasAttr(arg=a, attr=name):
            return compile_has_attr(compile(a, env), name, env)
        case GetAttr(arg=a, attr=name):
            return compile_get_attr(compile(a, env), name, env)
        case SetLit(elements=xs):
            return compile_set(x, [compile(e, env) for e in xs], env)
        case RecordLit(fields=fs):
            return compile_record(x, [(k, compile(e, env)) for k, e in fs], env)
        case Call(fn=fn, args=xs):
            return compile_call(fn, [compile(e, env) for e in xs], x, env)
    assert_never(x)


__all__ = ["EntityUID", "compile"]
