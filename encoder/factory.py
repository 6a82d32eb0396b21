"""Term builders that fold constants, and `Sym`, the option-like result of compiling.

Every compiled expression is a `Sym`: a value term, an "errored" condition and its Cedar type.
Terms are never built with raw Z3 constructors in the compiler: `and_`, `or_`, `not_`, `ite`
and `eq` fold literals, so queries that are trivially true or false never reach the solver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3
from z3 import z3core

from cedar_smt.core.types import SchemaType


@dataclass(frozen=True, slots=True)
class Sym:
    """A compiled expression: `value` is meaningful only when `err` is false."""

    value: z3.ExprRef
    err: z3.BoolRef
    ty: SchemaType


def is_value(t: z3.ExprRef) -> bool:
    """A literal: booleans, bit-vectors, strings, and constructors applied to literals."""
    return _is_value(t.ctx.ref(), t.as_ast())


def _is_value(ctx: Any, a: Any) -> bool:
    # through Z3's C API: the Python wrappers' checks and objects made this a tenth of
    # encoding a large policy set
    kind = z3core.Z3_get_ast_kind(ctx, a)
    if kind == z3.Z3_NUMERAL_AST:
        return True
    if kind != z3.Z3_APP_AST:
        return False
    op = z3core.Z3_get_decl_kind(ctx, z3core.Z3_get_app_decl(ctx, a))
    if op == z3.Z3_OP_TRUE or op == z3.Z3_OP_FALSE or z3core.Z3_is_string(ctx, a):
        return True
    if op == z3.Z3_OP_DT_CONSTRUCTOR:
        n = z3core.Z3_get_app_num_args(ctx, a)
        return all(_is_value(ctx, z3core.Z3_get_app_arg(ctx, a, i)) for i in range(n))
    return False


class Factory:
    """Builders bound to one Z3 context."""

    def __init__(self, ctx: z3.Context) -> None:
        self.ctx = ctx
        self.true = z3.BoolVal(True, ctx)
        self.false = z3.BoolVal(False, ctx)
        # terms are hash-consed: comparing ids is the cheapest test for the constants
        self._true_id = self.true.get_id()
        self._false_id = self.false.get_id()

    def bool(self, b: bool) -> z3.BoolRef:
        return self.true if b else self.false

    def not_(self, a: z3.BoolRef) -> z3.BoolRef:
        i = a.get_id()
        if i == self._true_id:
            return self.false
        if i == self._false_id:
            return self.true
        if z3.is_not(a):
            return a.arg(0)
        return z3.Not(a)

    def and_(self, *xs: z3.BoolRef) -> z3.BoolRef:
        kept, seen = [], {self._true_id}
        for x in xs:
            i = x.get_id()
            if i == self._false_id:
                return self.false
            if i not in seen:
                seen.add(i)
                kept.append(x)
        if not kept:
            return self.true
        return kept[0] if len(kept) == 1 else self._app(z3core.Z3_mk_and, kept)

    def or_(self, *xs: z3.BoolRef) -> z3.BoolRef:
        kept, seen = [], {self._false_id}
        for x in xs:
            i = x.get_id()
            if i == self._true_id:
                return self.true
            if i not in seen:
                seen.add(i)
                kept.append(x)
        if not kept:
            return self.false
        return kept[0] if len(kept) == 1 else self._app(z3core.Z3_mk_or, kept)

    def _app(self, mk: Any, xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
        """`mk` (Z3's `and` or `or`) of booleans of this context, through Z3's C API: the
        Python `z3.And` and `z3.Or` check and coerce every operand, which took most of the
        time of a decision over thousands of policies."""
        n = len(xs)
        args = (z3.Ast * n)(*(x.as_ast() for x in xs))
        return z3.BoolRef(mk(self.ctx.ref(), n, args), self.ctx)

    def any(self, xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
        return self.or_(*xs)

    def all(self, xs: Iterable[z3.BoolRef]) -> z3.BoolRef:
        return self.and_(*xs)

    def implies(self, a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
        return self.or_(self.not_(a), b)

    def ite(self, c: z3.BoolRef, a: z3.ExprRef, b: z3.ExprRef) -> z3.ExprRef:
        if z3.is_true(c):
            return a
        if z3.is_false(c):
            return b
        if a.eq(b):
            return a
        if z3.is_bool(a):
            if z3.is_true(a) and z3.is_false(b):
                return c
            if z3.is_false(a) and z3.is_true(b):
                return self.not_(c)
            if z3.is_false(b):
                return self.and_(c, a)
            if z3.is_true(a):
                return self.or_(c, b)
        return z3.If(c, a, b)

    def eq(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
        if a.eq(b):
            return self.true
        if is_value(a) and is_value(b):
            return self.false
        if z3.is_bool(a):
            if z3.is_true(b):
                return a
            if z3.is_true(a):
                return b
        return a == b

    # option-like results

    def some(self, value: z3.ExprRef, ty: SchemaType) -> Sym:
        return Sym(value, self.false, ty)

    def after(
        self, deps: Sequence[Sym], value: z3.ExprRef, ty: SchemaType, err: z3.BoolRef | None = None
    ) -> Sym:
        """A result computed from `deps`: it errors if any of them does, or if `err` holds."""
        errs = [d.err for d in deps]
        if err is not None:
            errs.append(err)
        return Sym(value, self.or_(*errs), ty)

    def satisfied(self, s: Sym) -> z3.BoolRef:
        """The policy holding `s` is satisfied: no error and the value is true."""
        return self.and_(self.not_(s.err), s.value)

    # sets: literal sets are unfolded, so membership in `[a, b]` is `x == a || x == b`

    def elements(self, s: z3.ExprRef) -> list[z3.ExprRef] | None:
        """The elements of a set literal (empty set plus insertions), or None."""
        found = []
        while z3.is_store(s):
            if not z3.is_true(s.arg(2)):
                return None
            found.append(s.arg(1))
            s = s.arg(0)
        if z3.is_K(s) and z3.is_false(s.arg(0)):
            return found
        return None

    def member(self, x: z3.ExprRef, s: z3.ExprRef) -> z3.BoolRef:
        elems = self.elements(s)
        if elems is None:
            return z3.IsMember(x, s)
        return self.or_(*(self.eq(x, e) for e in elems))

    def subset(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
        """Every element of `a` is in `b`."""
        elems = self.elements(a)
        if elems is None:
            return z3.IsSubset(a, b)
        return self.and_(*(self.member(e, b) for e in elems))

    def intersects(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
        """Some element of `a` is in `b`."""
        elems = self.elements(a)
        if elems is not None:
            return self.or_(*(self.member(e, b) for e in elems))
        elems = self.elements(b)
        if elems is not None:
            return self.or_(*(self.member(e, a) for e in elems))
        empty = z3.K(a.domain(), self.false)
        return self.not_(z3.SetIntersect(a, b) == empty)

    def is_empty(self, a: z3.ExprRef) -> z3.BoolRef:
        elems = self.elements(a)
        if elems is not None:
            return self.bool(not elems)
        return a == z3.K(a.domain(), self.false)
