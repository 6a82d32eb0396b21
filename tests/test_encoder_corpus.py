"""The encoder agrees with the evaluator on every request of Cedar's conformance suite.

For each test whose policies validate, each policy is compiled in the request's environment,
the symbolic request and store are pinned to the test's concrete request and entities, and
each policy's outcome (satisfied, not satisfied, error) and the decision must then be exactly
the concrete evaluator's: the solver must prove that no other outcome is possible.
"""

from __future__ import annotations

import pytest

import integration_suite as suite
from cedar_smt.core import Entities, PolicySet, Request, Schema
from cedar_smt.core.typechecker import RequestEnv
from cedar_smt.encoder.authorizer import compile_policy
from cedar_smt.encoder.authorizer import is_authorized as symbolic_decision
from cedar_smt.encoder.concrete import disagreements
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.sorts import Universe

pytestmark = pytest.mark.skipif(
    not suite.available(), reason="../shared/cedar-integration-tests is not present"
)


def check(test: suite.SuiteTest) -> list[str]:
    schema = Schema.from_str(test.schema)
    policies = PolicySet.from_str(test.policies)
    entities = Entities.from_json(test.entities, schema)
    universe = Universe(schema)
    compiled_envs: dict[tuple[str, object, str], tuple[SymEnv, list, object]] = {}
    problems = []
    for spec in test.requests:
        request = Request.from_json(spec, schema, validate=spec.get("validateRequest", True))
        key = (request.principal.type, request.action, request.resource.type)
        if key not in compiled_envs:
            context = schema.actions[request.action].context
            env = SymEnv(universe, RequestEnv(key[0], request.action, key[2], context))
            compiled = [(p, compile_policy(p, env)) for p in policies]
            compiled_envs[key] = (env, compiled, symbolic_decision(policies, env))
        env, compiled, decision = compiled_envs[key]
        for problem in disagreements(env, compiled, decision, request, entities):  # type: ignore[arg-type]
            problems.append(f"{spec['description']}: {problem}")
    return problems


def _validating(tests: list[suite.SuiteTest]) -> list[suite.SuiteTest]:
    return [t for t in tests if t.should_validate]


@pytest.mark.parametrize(
    "test",
    _validating(suite.handwritten_tests()) if suite.available() else [],
    ids=lambda t: t.name,
)
def test_handwritten(test: suite.SuiteTest) -> None:
    assert check(test) == []


def _validating_corpus() -> list[str]:
    if not suite.available():
        return []
    return [n for n in suite.corpus_names() if suite.corpus_test(n).should_validate]


@pytest.mark.parametrize("name", _validating_corpus())
def test_corpus(name: str) -> None:
    assert check(suite.corpus_test(name)) == []
