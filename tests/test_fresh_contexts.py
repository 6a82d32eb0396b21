"""Each request environment is encoded in a Z3 context of its own, which holds the same terms,
with the same ids, whatever the process encoded before: the environments in any order, after
another schema's, or with a copy of the schema read again. Z3's answers depend on those ids, so
this is what lets an environment's answer be the same alone, in `--jobs` and in `batch`.

The sorts of the schema's types are copied from a set built once per process
(`encoder/sorts.py`, `SchemaSorts`); a set that grew with what ran before would fail here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import integration_suite as suite
from cedar_smt.core import PolicySet, Schema, request_environments
from cedar_smt.core.typechecker import RequestEnv
from cedar_smt.encoder.authorizer import is_authorized as symbolic_decision
from cedar_smt.encoder.enforcer import hierarchy_assumptions
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.solver import make_solver
from cedar_smt.encoder.sorts import Universe

SETS = [
    suite.EXAMPLES / "document_cloud",
    suite.EXAMPLES / "tags_n_roles",
    suite.ROOT / "examples" / "tinytodo",
]


def load(folder: Path) -> tuple[Schema, PolicySet]:
    schema = Schema.from_file(str(next(folder.glob("*.cedarschema"))))
    return schema, PolicySet.from_file(str(folder / "policies.cedar"))


def context(schema: Schema, policies: PolicySet, env: RequestEnv) -> tuple[str, list[int]]:
    """The assertions of a check of `policies`' decision in `env`: as text, and their ids."""
    senv = SymEnv(Universe(schema), env)
    solver = make_solver(senv.u.ctx)
    solver.add(symbolic_decision(policies, senv), *hierarchy_assumptions(senv))
    solver.add(*senv.input_assumptions())
    return solver.sexpr(), [a.get_id() for a in solver.assertions()]


@pytest.mark.parametrize("folder", SETS, ids=lambda f: f.name)
def test_an_environment_context_is_the_same_whatever_ran_before(folder: Path) -> None:
    schema, policies = load(folder)
    envs = request_environments(schema)
    forward = [context(schema, policies, e) for e in envs]
    backward = [context(schema, policies, e) for e in reversed(envs)][::-1]
    assert backward == forward
    other_schema, other_policies = load(SETS[(SETS.index(folder) + 1) % len(SETS)])
    for e in request_environments(other_schema):
        context(other_schema, other_policies, e)
    again, _ = load(folder)  # an equal schema, another object
    assert [context(again, policies, e) for e in envs] == forward
