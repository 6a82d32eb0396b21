"""Cedar's validator (strict mode): every policy typechecks in every request environment.

Besides typechecking (core/typechecker.py), validation reports entity types and actions the
schema does not declare (anywhere in a policy, even where typing short-circuits), and policies
whose scope matches no request environment of the schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from cedar_smt.core.ast import Expr, Is, Lit, Slot, children
from cedar_smt.core.bulk import paused_gc
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import Loc
from cedar_smt.core.policy import (
    Policy,
    ScopeAny,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    ScopeIs,
    ScopeIsIn,
)
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import (
    RequestEnv,
    action_may_match,
    applies,
    type_errors,
    unknown_entity,
)
from cedar_smt.core.values import EntityUID


def request_environments(schema: Schema) -> list[RequestEnv]:
    """Every environment the schema allows, in a stable order."""
    envs = []
    for uid in sorted(schema.actions):
        decl = schema.actions[uid]
        for p in sorted(decl.principal_types):
            for r in sorted(decl.resource_types):
                envs.append(RequestEnv(p, uid, r, decl.context))
    return envs


@dataclass(frozen=True)
class ValidationError:
    """One problem with one policy."""

    policy_id: str
    message: str
    loc: Loc | None = None
    source: str | None = None
    annotation_id: str | None = None
    code: str = "typecheck"  # or "unknown-entity", "never-applies"

    @property
    def where(self) -> str:
        parts = [p for p in (self.source, str(self.loc) if self.loc else None) if p]
        return ":".join(parts)

    def __str__(self) -> str:
        name = self.policy_id
        if self.annotation_id is not None:
            name = f"`{self.annotation_id}` ({self.policy_id})"
        where = f"{self.where}: " if self.where else ""
        return f"{where}{name}: {self.message}"


@dataclass(frozen=True)
class ValidationResult:
    errors: tuple[ValidationError, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.errors


class Validator:
    """Validates policies against one schema, whose request environments it computes once."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._clean: set[object] = set()  # policy shapes a policy of which has no error

    @cached_property
    def environments(self) -> list[RequestEnv]:
        return request_environments(self.schema)

    def policy_errors(self, policy: Policy) -> list[ValidationError]:
        """Every error in the policy, as Cedar finds them (one mistake does not hide another),
        each once however many environments it occurs in, in the order of their places.

        Policies of one shape (core/policy.py `policy_shape`: the links of a template, grants
        that differ only in the entities they name) whose named entities are of types whose
        entities are all alike to the typechecker have the same errors up to those entities:
        once one of them has none, the others are not checked again."""
        found = policy.shape
        key = None
        if found is not None and all(
            uid is None or self.schema.interchangeable(uid.type) for uid in found[1]
        ):
            key = found[0]
            if key in self._clean:
                return []
        errors = self._policy_errors(policy)
        if key is not None and not errors:
            self._clean.add(key)
        return errors

    @room_for_depth()
    def _policy_errors(self, policy: Policy) -> list[ValidationError]:

        def error(message: str, loc: Loc | None, code: str = "typecheck") -> ValidationError:
            return ValidationError(
                policy.id, message, loc, policy.source, policy.annotation_map.get("id"), code
            )

        problems: dict[tuple[str, object, object], ValidationError] = {}
        # an unknown entity is reported wherever the policy names it, as often as it does: a
        # `e is T in E` in a condition names what `e` names twice, and so does Cedar's report
        for n, (message, loc) in enumerate(_unknown_entities(policy.to_expr(), self.schema)):
            where = loc or policy.loc  # one in the scope: the policy's place
            problems[(message, loc, n)] = error(message, where, "unknown-entity")
        if not _can_apply(policy, self.schema):
            message = (
                "this policy can never apply: no action in the schema accepts the principal and "
                "resource types its scope allows"
            )
            problems.setdefault(
                (message, policy.loc, None), error(message, policy.loc, "never-applies")
            )
        for env in self.environments if _may_have_type_errors(policy) else ():
            if not action_may_match(policy.action, env, self.schema):
                continue
            # an error counts only where the scope can match; most policies have none, and
            # asking whether it matches costs as much as typing the policy
            found = [e for e in type_errors(policy, env, self.schema)[1] if not e.silent]
            if found and applies(policy, env, self.schema):
                for err in found:
                    key = (err.message, err.loc, err.detail)
                    problems.setdefault(key, error(err.message, err.loc))
        return sorted(
            problems.values(), key=lambda e: (e.loc.line, e.loc.column) if e.loc else (0, 0)
        )

    @room_for_depth()
    def validate(self, policies: PolicySet | Iterable[Policy]) -> ValidationResult:
        items = list(policies)
        if isinstance(policies, PolicySet):
            items = list(policies.templates.values()) + items
        errors: list[ValidationError] = []
        with paused_gc():  # the policies' expressions are built and kept (core/bulk.py)
            for policy in items:
                errors.extend(self.policy_errors(policy))
        return ValidationResult(tuple(errors))


def validate(policies: PolicySet | Iterable[Policy], schema: Schema) -> ValidationResult:
    """Cedar's strict validation of every policy (and template) against a schema."""
    return Validator(schema).validate(policies)


def _unknown_entities(x: Expr, schema: Schema) -> list[tuple[str, Loc | None]]:
    """Entity literals and `is` types the schema does not declare (checked everywhere)."""
    found: list[tuple[str, Loc | None]] = []

    def visit(e: Expr) -> None:
        if isinstance(e, Lit):
            for uid in e.value if isinstance(e.value, frozenset) else [e.value]:
                problem = unknown_entity(uid, schema) if isinstance(uid, EntityUID) else None
                if problem is not None:
                    found.append((problem, e.loc))
        elif isinstance(e, Is):
            t = e.entity_type
            if t not in schema.entity_types and not any(u.type == t for u in schema.actions):
                found.append((f"unrecognized entity type `{t}`", e.loc))
        for child in children(e):
            visit(child)

    visit(x)
    return found


def _may_have_type_errors(policy: Policy) -> bool:
    """Whether typing the policy can find an error the validator reports. A scope alone
    cannot, unless the action's is a list: each of its constraints compares a variable with
    an entity or a type, which is `false` or unknown where they differ, never an error (an
    unknown entity or type is reported by `_unknown_entities`). Large policy sets are mostly
    such policies; typing them took most of validation's time."""
    return bool(policy.conditions) or isinstance(policy.action, ScopeInSet)


def _can_apply(policy: Policy, schema: Schema) -> bool:
    """Whether some action the scope allows accepts a principal type and a resource type the
    scope allows, judged from the scope alone (unknown entities allow nothing)."""
    match policy.action:
        case ScopeEq(entity=uid):
            actions = [uid]
        case ScopeIn() | ScopeInSet():
            c = policy.action
            named = set(c.entities if isinstance(c, ScopeInSet) else [c.entity])
            actions = []
            if all(uid in schema.actions for uid in named):  # else Cedar allows no action
                actions = [a for a in schema.actions if {a, *schema.action_ancestors(a)} & named]
        case _:
            actions = list(schema.actions)
    principals = _scope_types(policy.principal, schema)
    resources = _scope_types(policy.resource, schema)
    return any(
        principals & set(decl.principal_types) and resources & set(decl.resource_types)
        for decl in (schema.actions[a] for a in actions if a in schema.actions)
    )


def _scope_types(c: ScopeConstraint, schema: Schema) -> set[str]:
    """The entity types a principal or resource scope constraint allows."""
    every = set(schema.entity_types)
    match c:
        case ScopeAny() | ScopeEq(entity=Slot()) | ScopeIn(entity=Slot()):
            return every
        case ScopeEq(entity=EntityUID() as uid):
            return {uid.type}
        case ScopeIn(entity=EntityUID() as uid):
            return _types_in(uid.type, schema)
        case ScopeIs(entity_type=t) | ScopeIsIn(entity_type=t, entity=Slot()):
            return {t} & every
        case ScopeIsIn(entity_type=t, entity=EntityUID() as uid):
            return {t} & _types_in(uid.type, schema)
    return set()


def _types_in(name: str, schema: Schema) -> set[str]:
    """The entity types whose entities can be in an entity of type `name`."""
    return {name} | {t for t in schema.entity_types if name in schema.entity_type_ancestors(t)}
