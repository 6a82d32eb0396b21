"""Concrete Cedar: parsing, values, entities, schemas, evaluation and authorization.

This package is the reference semantics of cedar-smt: the symbolic encoder mirrors it, and
every counterexample is replayed through `is_authorized` before anyone sees it. It never
imports z3 or the other packages of the project.
"""

from core.ast import Expr
from core.authorizer import Outcome, PolicyResult, Response, evaluate_policy, is_authorized
from core.entities import Entities, Entity
from core.errors import (
    CedarError,
    EntitiesError,
    EvaluationError,
    LinkError,
    ParseError,
    RequestError,
    SchemaError,
)
from core.evaluator import evaluate
from core.parser import parse_entity_uid, parse_expr
from core.policy import Effect, Policy, PolicySet
from core.request import Request
from core.schema import Schema
from core.typechecker import RequestEnv, TypeCheckError, typecheck
from core.validator import (
    ValidationError,
    ValidationResult,
    Validator,
    request_environments,
    validate,
)
from core.values import EntityUID, Long, Record, Value

__all__ = [
    "CedarError",
    "Effect",
    "Entities",
    "EntitiesError",
    "Entity",
    "EntityUID",
    "EvaluationError",
    "Expr",
    "LinkError",
    "Long",
    "Outcome",
    "ParseError",
    "Policy",
    "PolicyResult",
    "PolicySet",
    "Record",
    "Request",
    "RequestEnv",
    "RequestError",
    "Response",
    "Schema",
    "SchemaError",
    "TypeCheckError",
    "ValidationError",
    "ValidationResult",
    "Validator",
    "Value",
    "evaluate",
    "evaluate_policy",
    "is_authorized",
    "parse_entity_uid",
    "parse_expr",
    "request_environments",
    "typecheck",
    "validate",
]
