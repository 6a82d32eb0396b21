"""The fast paths of the analyses against the plain ones, on generated policy sets.

The fast paths compile each distinct policy once per environment, skip policies whose scope
cannot match, assume hierarchy facts only among the terms whose ancestors are read, and
answer lint's checks with one incremental solver per environment. The plain paths compile
every policy afresh per query, assume the facts for every pair of entity terms, and run each
lint check as a query of its own. Both must give the same answers: the same verdict in every
environment, the same classes of changed decisions, the same findings.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cedar_smt import analyzer
from cedar_smt.analyzer.diff import diff_policies
from cedar_smt.analyzer.lint import lint_policies
from cedar_smt.core import CedarError, Policy, PolicySet, Schema
from cedar_smt.core.validator import Validator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import stores  # noqa: E402
from drt.generators import case_seed, generate  # noqa: E402
from drt.sides import Refused, load_ours  # noqa: E402

TIMEOUT = 20.0  # seconds per environment: an unknown on one side only would be a flake


@dataclass(frozen=True)
class Sets:
    name: str
    schema: Schema
    policies: tuple[Policy, ...]
    other: tuple[Policy, ...]


def generated_sets(count: int, master: int = 7) -> Iterator[Sets]:
    """Policy sets of the differential-testing generator that validate (the case's second set
    is its mutation), as many as `count`."""
    found, i = 0, 0
    while found < count:
        case = generate(case_seed(master, i))
        i += 1
        try:
            ours = load_ours(case)
            other = PolicySet.from_str("\n".join(case.alt_policies))
        except (Refused, CedarError):
            continue
        validator = Validator(ours.schema)

        def valid(p: Policy, validator: Validator = validator) -> bool:
            return all(e.code == "never-applies" for e in validator.policy_errors(p))

        policies = tuple(p for p in ours.policies if valid(p))
        others = tuple(p for p in other if valid(p))
        if not policies or not others:
            continue
        found += 1
        yield Sets(f"case{i - 1}", ours.schema, policies, others)


def store_sets(sizes: tuple[int, ...] = (12, 24)) -> Iterator[Sets]:
    """Small stores shaped like real ones (bench/stores.py): shared entities, deep
    hierarchies, template links."""
    schema = Schema.from_str(stores.SCHEMA)
    for n in sizes:
        store = stores.generate(n, seed=n)
        ps = PolicySet.from_str(store.text)
        ps.link_json(store.links)
        edited = PolicySet.from_str(stores.variants(store)["edited.cedar"])
        edited.link_json(store.links)
        yield Sets(f"store{n}", schema, tuple(ps), tuple(edited))


CASES = [*generated_sets(40), *store_sets()]


def verdicts(result: analyzer.QueryResult) -> list[tuple[str, str]]:
    return [(str(e.env), e.verdict.value) for e in result.environments]


@pytest.mark.parametrize("sets", CASES, ids=[s.name for s in CASES])
def test_queries_answer_alike(sets: Sets) -> None:
    ps, other, schema = list(sets.policies), list(sets.other), sets.schema
    rng = random.Random(sets.name)
    shuffled = rng.sample(ps, len(ps))
    queries = [
        ("equivalent", lambda **o: analyzer.check_equivalent(ps, other, schema, **o)),
        ("equivalent reordered", lambda **o: analyzer.check_equivalent(ps, shuffled, schema, **o)),
        ("implies", lambda **o: analyzer.check_implies(other, ps, schema, **o)),
        ("always-denies", lambda **o: analyzer.check_always_denies(ps, schema, **o)),
        ("disjoint", lambda **o: analyzer.check_disjoint(ps, other, schema, **o)),
    ]
    for p in ps[:3]:
        queries.append(
            (
                f"never-errors {p.id}",
                lambda p=p, **o: analyzer.check_never_errors(p, schema, entities_exist=True, **o),
            )
        )
    for name, query in queries:
        fast = query(timeout=TIMEOUT)
        plain = query(timeout=TIMEOUT, plain=True)
        assert verdicts(fast) == verdicts(plain), name


def classes(result: analyzer.DiffResult) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return sorted(
        (
            str(env),
            c.transition,
            tuple(p.id for p in c.old_satisfied),
            tuple(p.id for p in c.new_satisfied),
        )
        for env, c in result.classes
    )


@pytest.mark.parametrize("sets", CASES, ids=[s.name for s in CASES])
def test_diff_finds_the_same_classes(sets: Sets) -> None:
    fast = diff_policies(sets.policies, sets.other, sets.schema, timeout=TIMEOUT)
    plain = diff_policies(sets.policies, sets.other, sets.schema, timeout=TIMEOUT, plain=True)
    assert [e.complete for e in fast.environments] == [e.complete for e in plain.environments]
    assert classes(fast) == classes(plain)


@pytest.mark.parametrize("sets", CASES, ids=[s.name for s in CASES])
def test_lint_finds_the_same(sets: Sets) -> None:
    fast = lint_policies(sets.policies, sets.schema, timeout=TIMEOUT)
    plain = lint_policies(sets.policies, sets.schema, timeout=TIMEOUT, plain=True)
    assert [(f.code, f.policy.id, f.message) for f in fast.findings] == [
        (f.code, f.policy.id, f.message) for f in plain.findings
    ]
    assert [(u.policy.id, u.check) for u in fast.undecided] == [
        (u.policy.id, u.check) for u in plain.undecided
    ]
    assert [f.witness is None for f in fast.findings] == [f.witness is None for f in plain.findings]
