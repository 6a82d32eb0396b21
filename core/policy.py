"""Policies and templates: the syntax of one policy.

A policy is its effect, three scope constraints and its conditions; `Policy.to_expr` desugars
all of it into one expression, which is all the evaluator and the encoder ever look at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import TypeAlias

from cedar_smt.core.ast import (
    And,
    BinaryApp,
    BinaryOp,
    Expr,
    Is,
    Lit,
    Slot,
    UnaryApp,
    UnaryOp,
    Var,
    VarRef,
)
from cedar_smt.core.errors import LinkError, Loc
from cedar_smt.core.values import EntityUID


class Effect(Enum):
    PERMIT = "permit"
    FORBID = "forbid"


Target: TypeAlias = "EntityUID | Slot"


@dataclass(frozen=True, slots=True)
class ScopeAny:
    """No constraint: `principal`."""


@dataclass(frozen=True, slots=True)
class ScopeEq:
    """`principal == E`."""

    entity: Target


@dataclass(frozen=True, slots=True)
class ScopeIn:
    """`principal in E`."""

    entity: Target


@dataclass(frozen=True, slots=True)
class ScopeInSet:
    """`action in [E, ...]` (actions only)."""

    entities: tuple[EntityUID, ...]


@dataclass(frozen=True, slots=True)
class ScopeIs:
    """`principal is T`."""

    entity_type: str


@dataclass(frozen=True, slots=True)
class ScopeIsIn:
    """`principal is T in E`."""

    entity_type: str
    entity: Target


ScopeConstraint: TypeAlias = "ScopeAny | ScopeEq | ScopeIn | ScopeInSet | ScopeIs | ScopeIsIn"


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str  # "when" or "unless"
    body: Expr
    loc: Loc | None = field(default=None, compare=False)

    def to_expr(self) -> Expr:
        if self.kind == "when":
            return self.body
        return UnaryApp(UnaryOp.NOT, self.body, self.loc)


def _target(t: Target) -> Expr:
    return t if isinstance(t, Slot) else Lit(t)


def scope_expr(var: Var, c: ScopeConstraint) -> Expr:
    """The expression a scope constraint stands for."""
    v = VarRef(var)
    match c:
        case ScopeAny():
            return Lit(True)
        case ScopeEq(entity=e):
            return BinaryApp(BinaryOp.EQ, v, _target(e))
        case ScopeIn(entity=e):
            return BinaryApp(BinaryOp.IN, v, _target(e))
        case ScopeInSet(entities=es):
            return BinaryApp(BinaryOp.IN, v, Lit(frozenset(es)))
        case ScopeIs(entity_type=t):
            return Is(v, t)
        case ScopeIsIn(entity_type=t, entity=e):
            return And(Is(v, t), BinaryApp(BinaryOp.IN, v, _target(e)))
    raise AssertionError(f"unhandled scope constraint {c!r}")


class Key:
    """A hashable value whose hash is computed once: policies' parts hash their whole
    expressions, and a large set looks its policies up many times."""

    __slots__ = ("_hash", "value")

    def __init__(self, value: object) -> None:
        self.value = value
        self._hash = hash(value)

    def __reduce__(self) -> tuple[type[Key], tuple[object]]:
        return (Key, (self.value,))  # hashed again: another process hashes strings otherwise

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Key)
            and self._hash == other._hash
            and (self.value is other.value or self.value == other.value)
        )


def _named(c: ScopeConstraint) -> EntityUID | None:
    e = getattr(c, "entity", None)
    return e if isinstance(e, EntityUID) else None


def _abstract(c: ScopeConstraint) -> object:
    uid = _named(c)
    return c if uid is None else (type(c), getattr(c, "entity_type", None), uid.type)


Shape: TypeAlias = "tuple[tuple[object, ...], tuple[EntityUID | None, EntityUID | None]]"


def policy_shape(policy: Policy) -> Shape | None:
    """What the policy says once the entities its principal and resource scopes name are taken
    out (their types stay), and those entities (None where a scope names none); None when
    neither does. The links of one template share a shape, and so do grants that differ only
    in whom and what they name."""
    named = (_named(policy.principal), _named(policy.resource))
    if named == (None, None):
        return None
    key = (
        _abstract(policy.principal),
        policy.action,
        _abstract(policy.resource),
        policy.conditions,
    )
    return key, named


def with_scope_entities(
    policy: Policy, principal: EntityUID | None, resource: EntityUID | None
) -> Policy:
    """The policy with other entities in its principal and resource scopes (None: as is)."""

    def put(c: ScopeConstraint, uid: EntityUID | None) -> ScopeConstraint:
        return c if uid is None else replace(c, entity=uid)  # type: ignore[arg-type]

    return replace(
        policy, principal=put(policy.principal, principal), resource=put(policy.resource, resource)
    )


@dataclass(frozen=True)
class Policy:
    """One policy (or template, when a scope mentions a slot)."""

    id: str
    effect: Effect
    principal: ScopeConstraint
    action: ScopeConstraint
    resource: ScopeConstraint
    conditions: tuple[Condition, ...] = ()
    annotations: tuple[tuple[str, str | None], ...] = ()
    loc: Loc | None = field(default=None, compare=False)
    source: str | None = field(default=None, compare=False)
    text: str | None = field(default=None, compare=False)
    template_id: str | None = None

    def to_expr(self) -> Expr:
        """`principal-scope && (action-scope && (resource-scope && conditions))`.

        Each condition stays the right operand of an `&&`, so a condition that evaluates to a
        non-boolean is a type error, as in Cedar. Built once per policy.
        """
        return self._expr

    @cached_property
    def _expr(self) -> Expr:
        conds = [c.to_expr() for c in self.conditions]
        body = conds[-1] if conds else Lit(True)
        for cond in reversed(conds[:-1]):
            body = And(cond, body)
        resource = And(scope_expr(Var.RESOURCE, self.resource), body)
        action = And(scope_expr(Var.ACTION, self.action), resource)
        return And(scope_expr(Var.PRINCIPAL, self.principal), action)

    @cached_property
    def content(self) -> Key:
        """What the policy says, apart from its id, effect, annotations and place (its
        expression is this and nothing else), as a key hashed once."""
        return Key((self.principal, self.action, self.resource, self.conditions))

    @cached_property
    def shape(self) -> tuple[Key, tuple[EntityUID | None, EntityUID | None]] | None:
        """`policy_shape`, its key hashed once."""
        found = policy_shape(self)
        return None if found is None else (Key(found[0]), found[1])

    @property
    def annotation_map(self) -> dict[str, str | None]:
        return dict(self.annotations)

    @property
    def display_name(self) -> str:
        """The `@id` annotation when there is one, else the policy id."""
        ann = self.annotation_map.get("id")
        return ann if ann else self.id

    @property
    def slots(self) -> tuple[str, ...]:
        found = []
        for c in (self.principal, self.resource):
            e = getattr(c, "entity", None)
            if isinstance(e, Slot):
                found.append(e.name)
        return tuple(found)

    @property
    def is_template(self) -> bool:
        return bool(self.slots)

    @property
    def location(self) -> str:
        """`file:line` of the policy, or just the id when it came from no file."""
        if self.loc is None:
            return self.source or self.id
        return f"{self.source}:{self.loc.line}" if self.source else f"line {self.loc.line}"

    def link(self, new_id: str, values: Mapping[str, EntityUID]) -> Policy:
        """Bind this template's slots; every slot must be bound, and nothing else."""
        slots = set(self.slots)
        given = set(values)
        if slots != given:
            missing = sorted(slots - given)
            extra = sorted(given - slots)
            parts = []
            if missing:
                parts.append(f"missing values for {', '.join(missing)}")
            if extra:
                parts.append(f"values for slots the template does not have: {', '.join(extra)}")
            raise LinkError(f"cannot link template `{self.id}` as `{new_id}`: {'; '.join(parts)}")

        def bind(c: ScopeConstraint) -> ScopeConstraint:
            e = getattr(c, "entity", None)
            if isinstance(e, Slot):
                return replace(c, entity=values[e.name])  # type: ignore[arg-type]
            return c

        return replace(
            self,
            id=new_id,
            principal=bind(self.principal),
            resource=bind(self.resource),
            template_id=self.id,
        )
