"""Cedar's validator (strict mode): every policy typechecks in every request environment.

Besides typechecking (core/typechecker.py), validation reports entity types and actions the
schema does not declare (anywhere in a policy, even where typing short-circuits), and policies
whose scope matches no request environment of the schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from core.ast import Expr, Is, Lit, children
from core.errors import Loc
from core.policy import Policy, PolicySet
from core.schema import Schema
from core.typechecker import RequestEnv, TypeCheckError, applies, typecheck, unknown_entity
from core.values import EntityUID


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
    """Validates policies against one schema; typed expressions are cached per environment."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    @cached_property
    def environments(self) -> list[RequestEnv]:
        return request_environments(self.schema)

    def typecheck(self, policy: Policy, env: RequestEnv) -> Expr:
        return typecheck(policy, env, self.schema)

    def policy_errors(self, policy: Policy) -> list[ValidationError]:
        def error(message: str, loc: Loc | None, code: str = "typecheck") -> ValidationError:
            return ValidationError(
                policy.id, message, loc, policy.source, policy.annotation_map.get("id"), code
            )

        problems: dict[tuple[str, Loc | None], ValidationError] = {}
        for message, loc in _unknown_entities(policy.to_expr(), self.schema):
            problems.setdefault((message, loc), error(message, loc, "unknown-entity"))
        envs = [e for e in self.environments if applies(policy, e, self.schema)]
        if not envs:
            message = (
                "this policy can never apply: no action in the schema accepts the principal and "
                "resource types its scope allows"
            )
            problems.setdefault((message, policy.loc), error(message, policy.loc, "never-applies"))
        for env in envs:
            try:
                self.typecheck(policy, env)
            except TypeCheckError as err:
                problems.setdefault((err.message, err.loc), error(err.message, err.loc))
        return list(problems.values())

    def validate(self, policies: PolicySet | Iterable[Policy]) -> ValidationResult:
        items = list(policies)
        if isinstance(policies, PolicySet):
            items = list(policies.templates.values()) + items
        errors: list[ValidationError] = []
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
