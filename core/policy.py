"""Policies, templates and policy sets.

A policy is its effect, three scope constraints and its conditions; `Policy.to_expr` desugars
all of it into one expression, which is all the evaluator and the encoder ever look at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import Any, TypeAlias

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
from cedar_smt.core.errors import CedarError, LinkError, Loc
from cedar_smt.core.files import read_text
from cedar_smt.core.json_values import loads, locate_item, uid_from_json
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
    def compiled(self) -> Callable[[Any, Any], Any]:
        """The policy as a closure (core/compiled.py), built once."""
        from cedar_smt.core.compiled import compile_policy

        return compile_policy(self)

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
                return replace(c, entity=values[e.name])  # type: ignore[call-arg]
            return c

        return replace(
            self,
            id=new_id,
            principal=bind(self.principal),
            resource=bind(self.resource),
            template_id=self.id,
        )


class PolicySet:
    """Static policies and linked templates in order, plus the templates themselves."""

    def __init__(self, policies: Iterable[Policy] = (), templates: Iterable[Policy] = ()) -> None:
        self._policies: dict[str, Policy] = {}
        self.templates: dict[str, Policy] = {}
        for t in templates:
            self.templates[t.id] = t
        for p in policies:
            if p.is_template:
                self.templates[p.id] = p
            else:
                self._add(p)

    def _add(self, p: Policy) -> None:
        if p.id in self._policies or p.id in self.templates:
            raise LinkError(f"duplicate policy id `{p.id}`")
        self._policies[p.id] = p

    @classmethod
    def from_str(cls, text: str, source: str | None = None) -> PolicySet:
        from cedar_smt.core.parser import parse_policies

        return cls(parse_policies(text, source))

    @classmethod
    def from_file(cls, path: str) -> PolicySet:
        return cls.from_str(read_text(path), source=path)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies.values())

    def __len__(self) -> int:
        return len(self._policies)

    def __getitem__(self, policy_id: str) -> Policy:
        return self._policies[policy_id]

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self._policies

    @property
    def policies(self) -> list[Policy]:
        return list(self._policies.values())

    def template(self, name: str) -> Policy:
        """A template by policy id, or else by its `@id` annotation."""
        if name in self.templates:
            return self.templates[name]
        named = [t for t in self.templates.values() if t.annotation_map.get("id") == name]
        if len(named) == 1:
            return named[0]
        if named:
            raise LinkError(f'several templates are annotated `@id("{name}")`')
        raise LinkError(f"no template named `{name}`")

    def link(self, template_id: str, new_id: str, values: Mapping[str, EntityUID]) -> Policy:
        linked = self.template(template_id).link(new_id, values)
        self._add(linked)
        return linked

    def link_json(self, data: str | list[Any], source: str | None = None) -> list[Policy]:
        """Link templates from template-link JSON, and return the linked policies.

        Accepts Cedar's JSON policy-set form `{"templateId", "newId", "values"}` and the
        Cedar CLI's form `{"template_id", "link_id", "args"}`; slot values are entity
        references (`{"type", "id"}`, `{"__entity": {...}}` or `'Type::"id"'`), and a template
        may be named by its policy id or its `@id` annotation.
        """
        text = data if isinstance(data, str) else None
        try:
            links = loads(data, "template links") if isinstance(data, str) else data
            if not isinstance(links, list):
                raise LinkError("template links must be a JSON list")
            linked: list[Policy] = []
            for i, link in enumerate(links):
                try:
                    linked.append(self._link_one(link, i))
                except CedarError as err:
                    for done in linked:  # link all or nothing
                        del self._policies[done.id]
                    locate_item(err, text, i)  # point at the link
                    raise
            return linked
        except CedarError as err:
            raise LinkError(err.message, loc=err.loc).located(source, text) from None

    def _link_one(self, link: Any, i: int) -> Policy:
        where = f"template link {i}"
        keys = _link_keys(link, where)
        template_id, new_id, values = (link[k] for k in keys)
        if not isinstance(values, dict):
            raise LinkError(f"{where}: `{keys[2]}` must be an object")
        bound = {slot: uid_from_json(v, f"{where}, `{slot}`") for slot, v in values.items()}
        return self.link(str(template_id), str(new_id), bound)


_LINK_KEYS = (("templateId", "newId", "values"), ("template_id", "link_id", "args"))


def _link_keys(link: Any, where: str) -> tuple[str, str, str]:
    if isinstance(link, dict):
        for keys in _LINK_KEYS:
            if set(keys) <= set(link):
                return keys
    raise LinkError(
        f"{where} must be an object with `templateId`, `newId` and `values` "
        "(or `template_id`, `link_id` and `args`)"
    )
