"""Conformance with Cedar's own integration suite: every request of every test.

For each handwritten and corpus test, validation must pass exactly when the test says it
should; the policies, schema and entities are read with the schema (as Cedar's harness does),
and each request must get the expected decision, the expected set of determining policies and
the expected set of erroring policies. Every policy's compiled closure must also give exactly
what the reference evaluator gives.
"""

from __future__ import annotations

import pytest

import integration_suite as suite
from cedar_smt.core import (
    Entities,
    PolicySet,
    Request,
    Schema,
    evaluate_policy,
    is_authorized,
    validate,
)

pytestmark = pytest.mark.skipif(
    not suite.available(), reason="../shared/cedar-integration-tests is not present"
)


def check(test: suite.SuiteTest) -> list[str]:
    """Every way our answers differ from the expected ones (empty when they agree)."""
    schema = Schema.from_str(test.schema, source=f"{test.name} schema")
    policies = PolicySet.from_str(test.policies, source=f"{test.name} policies")
    entities = Entities.from_json(test.entities, schema, source=f"{test.name} entities")
    problems = []
    validation = validate(policies, schema)
    if validation.passed != test.should_validate:
        errors = [str(e) for e in validation.errors]
        problems.append(f"validation: expected {test.should_validate}, got {errors}")
    for spec in test.requests:
        request = Request.from_json(spec, schema, validate=spec.get("validateRequest", True))
        response = is_authorized(request, policies, entities)
        for policy in policies:  # the compiled closures and the reference evaluator agree
            fast = evaluate_policy(policy, request, entities)
            reference = evaluate_policy(policy, request, entities, reference=True)
            if fast != reference:
                problems.append(f"{spec['description']}: {policy.id} {fast} != {reference}")
        got = (response.decision, sorted(response.reasons), sorted(response.errors))
        want = (spec["decision"].lower(), sorted(spec["reason"]), sorted(spec["errors"]))
        if got != want:
            problems.append(f"{spec['description']}: expected {want}, got {got} {response.errors}")
    return problems


@pytest.mark.parametrize(
    "test", suite.handwritten_tests() if suite.available() else [], ids=lambda t: t.name
)
def test_handwritten(test: suite.SuiteTest) -> None:
    assert check(test) == []


@pytest.mark.parametrize("name", suite.corpus_names() if suite.available() else [])
def test_corpus(name: str) -> None:
    assert check(suite.corpus_test(name)) == []
