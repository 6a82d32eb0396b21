"""Round trips: models of random satisfiable queries decode to requests Cedar agrees with.

For a policy set and each request environment of its schema, random targets are built (each
policy satisfied, not satisfied or erroring; the decision allow or deny), greedily keeping
those the solver can meet. Each model is decoded to a request and entity store, which must
(1) give every targeted outcome when run through `core.is_authorized`, (2) agree with the
encoding completely when the encoding is pinned to it, and (3) load back from its JSON form
without a schema.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import pytest
import z3

import integration_suite as suite
from cedar_smt.core import Entities, PolicySet, Request, Schema, request_environments
from cedar_smt.core.authorizer import Outcome, evaluate_policy, is_authorized
from cedar_smt.encoder.authorizer import compile_policy
from cedar_smt.encoder.authorizer import is_authorized as symbolic_decision
from cedar_smt.encoder.concrete import disagreements
from cedar_smt.encoder.decoder import decode
from cedar_smt.encoder.enforcer import hierarchy_assumptions
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.factory import Factory, Sym
from cedar_smt.encoder.solver import make_solver
from cedar_smt.encoder.sorts import Universe

OUTCOMES = (Outcome.SATISFIED, Outcome.NOT_SATISFIED, Outcome.ERROR)


def outcome_term(f: Factory, s: Sym, outcome: Outcome) -> z3.BoolRef:
    if outcome is Outcome.ERROR:
        return s.err
    if outcome is Outcome.SATISFIED:
        return f.satisfied(s)
    return f.and_(f.not_(s.err), f.not_(s.value))


def round_trips(
    schema: Schema, policies: PolicySet, seed: int, rounds: int = 3
) -> tuple[int, list[str]]:
    """Decode and check models of random targets; the number checked and the problems."""
    rng = random.Random(seed)
    universe = Universe(schema)
    checked, problems = 0, []
    for renv in request_environments(schema):
        env = SymEnv(universe, renv)
        f = env.f
        compiled = [(p, compile_policy(p, env)) for p in policies]
        decision = symbolic_decision(policies, env)
        base = [*hierarchy_assumptions(env), *env.input_assumptions()]
        for _ in range(rounds):
            solver = make_solver(universe.ctx, 10_000)
            solver.add(*base)
            wanted: dict[str, Outcome] = {}
            for policy, s in rng.sample(compiled, len(compiled)):
                for outcome in rng.sample(OUTCOMES, len(OUTCOMES)):
                    if solver.check(outcome_term(f, s, outcome)) == z3.sat:
                        solver.add(outcome_term(f, s, outcome))
                        wanted[policy.id] = outcome
                        break
            allow = rng.random() < 0.5
            if solver.check(decision if allow else f.not_(decision)) == z3.sat:
                solver.add(decision if allow else f.not_(decision))
            else:
                allow = not allow
            if solver.check() != z3.sat:
                problems.append(f"{renv}: targets the solver accepted one by one are unsat")
                continue
            cx = decode(env, solver.model())
            checked += 1
            where = f"{renv}, targets {wanted}, allow={allow}: {json.dumps(cx.to_json())}"
            for policy, _ in compiled:
                got = evaluate_policy(policy, cx.request, cx.entities).outcome
                if policy.id in wanted and got is not wanted[policy.id]:
                    problems.append(f"{where}: {policy.id} is {got.value}")
            if is_authorized(cx.request, policies, cx.entities).allowed != allow:
                problems.append(f"{where}: the decision differs")
            for problem in disagreements(env, compiled, decision, cx.request, cx.entities):
                problems.append(f"{where}: {problem}")
            reloaded = Entities.from_json(json.dumps(cx.entities.to_json()))
            if dict(reloaded) != dict(cx.entities):
                problems.append(f"{where}: the entities do not reload from JSON")
            if Request.from_json(cx.request.to_json()) != cx.request:
                problems.append(f"{where}: the request does not reload from JSON")
    return checked, problems


def example_sets() -> list[tuple[str, Path]]:
    dirs = [p.parent for p in sorted(suite.EXAMPLES.rglob("policies.cedar"))]
    dirs.append(suite.ROOT / "examples" / "tinytodo")
    return [(d.name, d) for d in dirs]


@pytest.mark.parametrize(("name", "d"), example_sets(), ids=[n for n, _ in example_sets()])
def test_examples_round_trip(name: str, d: Path) -> None:
    schema = Schema.from_file(str(next(d.glob("*.cedarschema"))))
    policies = PolicySet.from_file(str(d / "policies.cedar"))
    if (d / "linked").exists():
        policies.link_json((d / "linked").read_text())
    checked, problems = round_trips(schema, policies, seed=len(name), rounds=4)
    assert problems == []
    assert checked > 0


def corpus_sample() -> list[str]:
    if not suite.available():
        return []
    names = [n for n in suite.corpus_names() if suite.corpus_test(n).should_validate]
    return names[::4]


@pytest.mark.parametrize("name", corpus_sample())
def test_corpus_round_trip(name: str) -> None:
    test = suite.corpus_test(name)
    checked, problems = round_trips(
        Schema.from_str(test.schema),
        PolicySet.from_str(test.policies),
        seed=zlib.crc32(name.encode()),
        rounds=2,
    )
    assert problems == []
    assert checked > 0
