"""Concrete Cedar: parsing, values, entities, schemas, evaluation and authorization.

This package is the reference semantics of cedar-smt: the symbolic encoder mirrors it, and
every counterexample is replayed through `is_authorized` before anyone sees it. It never
imports z3 or the other packages of the project.

Its modules stand in layers, each importing only its own and those below
(tests/test_layers.py holds the table):

- values: `errors`, `files`, `types`, `ext/`, `values`, `json_text` (JSON text with places);
- syntax: `ast`, `extensions`, `parser`, `policy` (one policy or template);
- schema: `schema_json`, `schema_cedar`, `schema`;
- data: `json_values`, `entities`, `request`, `policy_set` (with template links),
  `policy_json` (Cedar's JSON policy format), `policy_text` (policies as Cedar text);
- types: `typechecker`, `validator`;
- evaluation: `evaluator`, `compiled` (the evaluator's closures), `authorizer`.
"""

from cedar_smt.core.ast import Expr
from cedar_smt.core.authorizer import (
    Outcome,
    PolicyResult,
    Response,
    evaluate_policy,
    is_authorized,
)
from cedar_smt.core.entities import Entities, Entity
from cedar_smt.core.errors import (
    CedarError,
    EntitiesError,
    EvaluationError,
    LinkError,
    ParseError,
    RequestError,
    SchemaError,
)
from cedar_smt.core.evaluator import evaluate
from cedar_smt.core.parser import parse_entity_uid, parse_expr
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, TypeCheckError, typecheck
from cedar_smt.core.validator import (
    ValidationError,
    ValidationResult,
    Validator,
    request_environments,
    validate,
)
from cedar_smt.core.values import EntityUID, Long, Record, Value

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
