"""The fast paths of the analyses against the plain ones, on generated policy sets.

The fast paths compile each distinct policy once per environment (and each shape of policies,
such as a template's links, once: its policies are instances of it), skip policies whose scope
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
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import z3

from cedar_smt import analyzer
from cedar_smt.analyzer.diff import Bearing, Delta, diff_policies
from cedar_smt.analyzer.lint import lint_policies, twin_keys
from cedar_smt.core import CedarError, EntityUID, Policy, PolicySet, Schema
from cedar_smt.core.policy import with_scope_entities
from cedar_smt.core.typechecker import applies
from cedar_smt.core.validator import Validator, request_environments
from cedar_smt.encoder.encoding import EnvEncoding, _Shape
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.sorts import Universe

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


def linked_sets(links: int = 24, seed: int = 5) -> Iterator[Sets]:
    """A small store made mostly of links of one conditional template (bench/stores.py
    `--links`), against the same store with one link moved to another folder."""
    schema = Schema.from_str(stores.SCHEMA)
    store = stores.generate(8, seed=seed, links=links)
    versions = stores.linked_variants(store)
    ps, moved = (PolicySet.from_str(versions[v]) for v in ("policies.json", "moved.json"))
    yield Sets(f"linked{links}", schema, tuple(ps), tuple(moved))


CASES = [*generated_sets(40), *store_sets(), *linked_sets()]


def edited_stores() -> Iterator[tuple[str, Sets]]:
    """Small stores, each with another kind of edit: several grants moved, a removal, an
    addition, forbids added and removed, a condition changed, and rules whose scopes overlap
    every policy's."""
    schema = Schema.from_str(stores.SCHEMA)
    for n, seed in ((16, 3), (28, 5)):
        store = stores.generate(n, seed=seed)
        text = store.policies
        grants = [i for i in store.permits if text[i].startswith("permit (principal == User")]
        groups = [i for i in store.permits if text[i].startswith("permit (principal in Group")]
        forbids = [i for i, p in enumerate(text) if p.startswith("forbid (principal ==")]
        moved = list(text)
        for i in grants[:3]:
            moved[i] = moved[i].replace('User::"u', 'User::"x', 1)
        edits = {
            "moved": moved,
            "removed": [p for i, p in enumerate(text) if i not in grants[1:3]],
            "added": [
                *text,
                f'permit (principal == User::"u1", action, resource in Folder::"f{n}");',
            ],
            "forbid added": [
                *text,
                'forbid (principal == User::"u2", action == Action::"view", resource);',
            ],
            "forbid removed": [p for i, p in enumerate(text) if i not in forbids[:1]] or text[:-1],
            "condition": [
                p.replace(" when {", " when { context.mfa && ", 1) if i in groups[:1] else p
                for i, p in enumerate(text)
            ],
            "attribute rule added": [
                *text,
                "permit (principal, action, resource) when { principal.level > 4 };",
            ],
            "attribute forbid changed": [
                p.replace("{ principal.contractor }", "{ principal.level < 1 }", 1) for p in text
            ],
            "everything removed but two": text[:2] + [p for p in text if "u1" in p][:1],
        }
        for name, policies in edits.items():
            other = PolicySet.from_str("\n\n".join([stores.TEMPLATE, *policies]))
            other.link_json(store.links)
            ps = PolicySet.from_str(store.text)
            ps.link_json(store.links)
            yield f"store{n} {name}", Sets(f"store{n}", schema, tuple(ps), tuple(other))


EDITED = list(edited_stores())


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


# lint's replay of a forbid's models (which must meet a permit and no other forbid), on
# stores with forbids and rules that overlap every policy
LINTED = [
    Sets(name, s.schema, s.other, s.policies)
    for name, s in EDITED
    if name.startswith("store16")
    and name.endswith(("forbid added", "attribute rule added", "condition"))
]


@pytest.mark.parametrize("sets", CASES + LINTED, ids=[s.name for s in CASES + LINTED])
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


# diff's search among the policies bearing on a change (analyzer/diff.py, `Bearing`), against
# the plain search over every policy, on stores edited in several ways at once


def env_results(result: analyzer.DiffResult) -> list[tuple[str, str, bool, str | None]]:
    return [(str(e.env), e.verdict.value, e.complete, e.stopped_by) for e in result.environments]


def complete(result: analyzer.DiffResult) -> analyzer.DiffResult:
    return replace(result, environments=tuple(e for e in result.environments if e.complete))


def explained(result: analyzer.DiffResult) -> list[tuple[str, str]]:
    return sorted((str(env), c.explanation) for env, c in result.classes)


@pytest.mark.parametrize("name,sets", EDITED, ids=[name for name, _ in EDITED])
def test_diff_bearing_finds_the_same_classes(name: str, sets: Sets) -> None:
    options = {"timeout": TIMEOUT, "max_classes": 16}
    fast = diff_policies(sets.policies, sets.other, sets.schema, **options)
    plain = diff_policies(sets.policies, sets.other, sets.schema, plain=True, **options)
    assert env_results(fast) == env_results(plain)
    # where the class limit stopped the search, which classes came first is the solver's
    assert [len(e.classes) for e in fast.environments] == [
        len(e.classes) for e in plain.environments
    ]
    assert classes(complete(fast)) == classes(complete(plain))
    assert explained(complete(fast)) == explained(complete(plain))
    assert fast.to_json()["result"] == plain.to_json()["result"]
    assert [c.to_json() for c in fast.changes] == [c.to_json() for c in plain.changes]


def test_diff_bearing_drops_policies() -> None:
    """The search of a moved grant leaves out the policies naming other users, and that of
    an environment no changed policy applies to compiles nothing."""
    name, sets = EDITED[0]
    assert name.endswith("moved")
    old, new = sets.policies, sets.other
    delta = Delta.of(old, new)
    assert 0 < len(delta.old) == len(delta.new) < len(old)
    envs = request_environments(sets.schema)
    kept = [Bearing.of(delta, old, new, env, sets.schema) for env in envs]
    assert any(b.changed for b in kept)
    assert all(len(b.old) < len(old) for b in kept)
    assert any(not b.changed and not b.old and not b.new for b in kept) or all(
        b.changed for b in kept
    )
    # an attribute rule added overlaps every policy: nothing that applies is left out
    name, sets = next((n, s) for n, s in EDITED if n.endswith("attribute rule added"))
    delta = Delta.of(sets.policies, sets.other)
    for env in envs:
        bearing = Bearing.of(delta, sets.policies, sets.other, env, sets.schema)
        if bearing.changed:
            applying = [p for p in sets.policies if applies(p, env, sets.schema)]
            assert list(bearing.old) == applying


def renamed(policies: tuple[Policy, ...]) -> list[Policy]:
    """The policies, each followed by copies naming other entities in its principal and
    resource scopes: a fresh one, and each of a few entities the set names elsewhere (a copy
    may then name in its scope the very entity its condition compares with)."""
    named = sorted({u for p in policies if p.shape for u in p.shape[1] if u is not None}, key=str)
    out: list[Policy] = []
    for p in policies:
        out.append(p)
        if p.shape is None:
            continue
        uids = p.shape[1]
        choices = [
            tuple(None if u is None else EntityUID(u.type, u.id + "'") for u in uids),
            *(
                tuple(v if u is not None and v.type == u.type else u for u in uids)
                for v in named[:4]
            ),
        ]
        for k, others in enumerate(choices):
            out.append(replace(with_scope_entities(p, *others), id=f"{p.id}~{k}"))
    return out


ENUM_SCHEMA = """
entity Team enum ["red", "blue"];
entity User in [Team] = { team: Team };
entity Doc = { team: Team };
action view appliesTo { principal: [User, Team], resource: [Doc, Team] };
"""


def enum_sets() -> Iterator[Sets]:
    """Grants naming entities of an enumerated type (never shared: their literals fold, and
    a placeholder is not one of the enum's ids) beside grants naming users, which are."""
    text = [
        'permit (principal == Team::"red", action, resource == Team::"blue");',
        'permit (principal == Team::"blue", action, resource == Team::"blue");',
        'permit (principal in Team::"red", action, resource) when { resource is Doc && '
        'resource.team == Team::"red" };',
        'permit (principal in Team::"blue", action, resource) when { resource is Doc && '
        'resource.team == Team::"red" };',
        'permit (principal == User::"a", action, resource == Team::"red");',
        'permit (principal == User::"b", action, resource == Team::"red");',
        *(
            f'forbid (principal == User::"{u}", action, resource) when '
            '{ principal.team == Team::"blue" };'
            for u in "cd"
        ),
    ]
    ps = tuple(PolicySet.from_str("\n".join(text)))
    other = tuple(PolicySet.from_str("\n".join(t.replace('"blue"', '"red"', 1) for t in text)))
    yield Sets("enum", Schema.from_str(ENUM_SCHEMA), ps, other)


SHAPED = [
    Sets(s.name, s.schema, tuple(renamed(s.policies)), s.other)
    for s in [*generated_sets(20), *store_sets((12,)), *linked_sets(), *enum_sets()]
]


def test_enumerated_entities_are_not_shared_and_answers_stay() -> None:
    """The grants naming `Team` entities are compiled alone: the two versions differ, and
    diff finds each changed grant's change as the plain search does."""
    (sets,) = enum_sets()
    for env in request_environments(sets.schema):
        encoding = EnvEncoding(Universe(sets.schema), env)
        for p in sets.policies:
            encoding.policy(p)
        for shape in encoding._shapes.values():
            if isinstance(shape, _Shape):
                assert all(str(t.sort()) != "Team" for t in shape.sources)
    options = {"timeout": TIMEOUT}
    fast = diff_policies(sets.policies, sets.other, sets.schema, **options)
    plain = diff_policies(sets.policies, sets.other, sets.schema, plain=True, **options)
    assert fast.decisions_change and env_results(fast) == env_results(plain)
    assert classes(fast) == classes(plain)
    first, second = ([p] for p in sets.policies[:2])
    assert analyzer.check_equivalent(first, second, sets.schema).verdict.value == "refuted"


def _same(f: z3.Solver, a: z3.ExprRef, b: z3.ExprRef) -> bool:
    """The same term, or (for `x && x` folded on one side only) provably equal."""
    if a.eq(b):
        return True
    f.push()
    f.add(a != b)
    answer = f.check()
    f.pop()
    return answer == z3.unsat


@pytest.mark.parametrize("sets", SHAPED, ids=[s.name for s in SHAPED])
def test_shapes_compile_alike(sets: Sets) -> None:
    """A policy instantiated from its shape is the policy compiled alone: equal terms, and
    notes of the same entity terms (the terms book may differ by an `x && x` that compiling
    alone folds)."""
    shapes = 0
    for env in request_environments(sets.schema):
        universe = Universe(sets.schema)
        shared, alone = EnvEncoding(universe, env), EnvEncoding(universe, env)
        alone.shared = False
        solver = z3.Solver(ctx=universe.ctx)
        for p in sets.policies:
            try:
                a = shared.policy(p)
            except EncodeError as err:
                with pytest.raises(EncodeError) as plain:
                    alone.policy(p)
                assert str(plain.value) == str(err)
                continue
            b = alone.policy(p)
            assert a.applies == b.applies, p.id
            for x, y in [(a.satisfied, b.satisfied), (a.sym.err, b.sym.err)]:
                assert _same(solver, x, y), (str(env), p.id, x, y)
            for book in ("footprint", "readers", "stored", "inputs", "tag_queries"):
                assert getattr(a.notes, book).keys() == getattr(b.notes, book).keys(), p.id
        for book in ("footprint", "readers", "stored", "inputs", "tag_queries"):
            mine, theirs = getattr(shared.senv.notes, book), getattr(alone.senv.notes, book)
            assert mine.keys() == theirs.keys(), (str(env), book)
        shapes += sum(isinstance(s, _Shape) for s in shared._shapes.values())
    if not sets.name.startswith("case"):
        assert shapes, "no policy was instantiated from a shape"


@pytest.mark.parametrize("sets", SHAPED, ids=[s.name for s in SHAPED])
def test_validator_checks_a_shape_once_alike(sets: Sets) -> None:
    """A validator that skips the policies of a shape one of which had no error finds what
    a fresh validator finds for each policy."""
    shared = Validator(sets.schema)
    for p in sets.policies:
        alone = Validator(sets.schema).policy_errors(p)
        assert [str(e) for e in shared.policy_errors(p)] == [str(e) for e in alone], p.id


# lint answers the checks of a policy alone once for its twins (analyzer/lint.py `twin_keys`)

TWIN_SCHEMA = """
entity User = { manager: User };
entity Doc = { owner: User, level: Long };
action view appliesTo { principal: [User], resource: [Doc] };
"""
TWINS = """
permit (principal == ?principal, action, resource == ?resource)
when { principal != User::"alice" && resource.owner != User::"alice" };
forbid (principal == ?principal, action, resource == ?resource) when { resource.level + 1 > 5 };
permit (principal == ?principal, action, resource == ?resource)
when { principal == resource.owner || principal.manager == resource.owner };
"""


def twin_links() -> list[dict[str, object]]:
    """Links of each template, one naming alice (whom the first template's condition names)."""
    links = []
    for t in range(3):
        for k, (user, doc) in enumerate([("alice", "d1"), ("bob", "d1"), ("carol", "d2")]):
            values = {"?principal": {"type": "User", "id": user}}
            values["?resource"] = {"type": "Doc", "id": doc}
            links.append({"templateId": f"policy{t}", "newId": f"t{t}-{k}", "values": values})
    return links


def test_twins_share_only_what_carries_over() -> None:
    schema = Schema.from_str(TWIN_SCHEMA)
    ps = PolicySet.from_str(TWINS)
    ps.link_json(twin_links())
    policies = tuple(ps)
    keys = twin_keys(policies, schema)
    by_id = dict(zip((p.id for p in policies), keys, strict=True))
    # alice is named in the first template's condition: her link has no twin
    assert by_id["t0-0"] is None and by_id["t0-1"] == by_id["t0-2"] is not None
    assert by_id["t1-0"] == by_id["t1-1"] == by_id["t1-2"] is not None
    fast = lint_policies(policies, schema, timeout=TIMEOUT)
    plain = lint_policies(policies, schema, timeout=TIMEOUT, plain=True)
    assert [(f.code, f.policy.id, f.message) for f in fast.findings] == [
        (f.code, f.policy.id, f.message) for f in plain.findings
    ]
    dead = {f.policy.id for f in fast.findings if f.code == "L001"}
    assert dead == {"t0-0"}  # only alice's link can never match
    # every link of the forbid may error (the sum overflows), each shown with a witness of
    # its own link's entities
    erring = {f.policy.id: f.witness for f in fast.findings if f.code == "L006"}
    assert set(erring) == {"t1-0", "t1-1", "t1-2"}
    for pid, (user, doc) in zip(
        ("t1-0", "t1-1", "t1-2"), [("alice", "d1"), ("bob", "d1"), ("carol", "d2")], strict=True
    ):
        witness = erring[pid]
        assert witness is not None
        request = witness.request.to_json()
        assert request["principal"] == {"type": "User", "id": user}
        assert request["resource"] == {"type": "Doc", "id": doc}
