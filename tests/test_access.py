"""Access review against an entity store (analyzer/access.py, core/grounded.py,
core/residual.py).

A table of named cases with their expected answers; then fidelity: on generated stores and on
the cedar-examples sets with entities, every `always` allows and every `never` denies on
random contexts, every witness allows (in core's authorizer and in cedarpy), and the residual
path agrees with the plain path (the whole policy set compiled for each triple, pinned).
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cedar_smt.analyzer.access import (
    Access,
    AccessReview,
    access_diff,
    access_matrix,
    plain_grant,
    what_can,
    who_can,
)
from cedar_smt.core import Entities, PolicySet, Request, Schema, is_authorized
from cedar_smt.core.ast import And
from cedar_smt.core.errors import CedarError
from cedar_smt.core.ext.datetime import parse_datetime, parse_duration
from cedar_smt.core.ext.decimal import parse_decimal
from cedar_smt.core.ext.ipaddr import parse_ip
from cedar_smt.core.residual import ERROR, Irreducible, Known, Residual, partial
from cedar_smt.core.types import (
    BoolType,
    EntityType,
    ExtensionType,
    LongType,
    RecordType,
    SchemaType,
    SetType,
    StringType,
)
from cedar_smt.core.values import EntityUID, Long, Record, Value, to_json
from integration_suite import EXAMPLES, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import stores

SCHEMA = """
entity Team;
entity User in [Team] { level: Long, email?: String };
entity Doc { owner: User, secret: Bool };
type Ctx = { mfa: Bool, hour: Long, ip?: ipaddr, user?: User };
action view, edit appliesTo { principal: User, resource: Doc, context: Ctx };
"""

ENTITIES = [
    {"uid": {"type": "Team", "id": "t"}, "attrs": {}, "parents": []},
    {
        "uid": {"type": "User", "id": "alice"},
        "attrs": {"level": 5, "email": "a@x"},
        "parents": [{"type": "Team", "id": "t"}],
    },
    {"uid": {"type": "User", "id": "bob"}, "attrs": {"level": 1}, "parents": []},
    {
        "uid": {"type": "Doc", "id": "d"},
        "attrs": {"owner": {"__entity": {"type": "User", "id": "bob"}}, "secret": True},
        "parents": [],
    },
]

A, B = EntityUID("User", "alice"), EntityUID("User", "bob")
VIEW, EDIT = EntityUID("Action", "view"), EntityUID("Action", "edit")
DOC = EntityUID("Doc", "d")


def setup(text: str) -> tuple[PolicySet, Schema, Entities]:
    schema = Schema.from_str(SCHEMA)
    return PolicySet.from_str(text), schema, Entities.from_json(ENTITIES, schema)


# policies, principal, expected access for (principal, view, Doc::"d")
CASES = [
    ("no policy", "", A, Access.NEVER),
    ("unconditional permit", "permit(principal, action, resource);", A, Access.ALWAYS),
    ("scope in team", 'permit(principal in Team::"t", action, resource);', A, Access.ALWAYS),
    (
        "scope in team, outside",
        'permit(principal in Team::"t", action, resource);',
        B,
        Access.NEVER,
    ),
    (
        "owner",
        "permit(principal, action, resource) when { resource.owner == principal };",
        B,
        Access.ALWAYS,
    ),
    (
        "context only",
        "permit(principal, action, resource) when { context.mfa };",
        A,
        Access.SOMETIMES,
    ),
    (
        "context and attribute",
        "permit(principal, action, resource) when { context.hour < principal.level };",
        B,
        Access.SOMETIMES,
    ),
    (
        "context never enough",
        "permit(principal, action, resource) when { context.hour < 0 && context.hour > 5 };",
        A,
        Access.NEVER,
    ),
    (
        "forbid always",
        "permit(principal, action, resource);\n"
        "forbid(principal, action, resource) when { resource.secret };",
        A,
        Access.NEVER,
    ),
    (
        "forbid unless mfa",
        "permit(principal, action, resource);\n"
        "forbid(principal, action, resource) unless { context.mfa };",
        A,
        Access.SOMETIMES,
    ),
    (
        "forbid covers the permit",
        "permit(principal, action, resource) when { context.mfa };\n"
        "forbid(principal, action, resource) unless { context.mfa };",
        A,
        Access.SOMETIMES,
    ),
    (
        "forbid covers all",
        "permit(principal, action, resource) when { context.mfa };\n"
        "forbid(principal, action, resource) when { context.mfa || !context.mfa };",
        A,
        Access.NEVER,
    ),
    (
        "either way",
        "permit(principal, action, resource) when { context.mfa };\n"
        "permit(principal, action, resource) when { !context.mfa };",
        A,
        Access.ALWAYS,
    ),
    (
        "optional context attribute",
        "permit(principal, action, resource) when "
        '{ context has ip && context.ip.isInRange(ip("10.0.0.0/8")) };',
        A,
        Access.SOMETIMES,
    ),
    (
        "a residual that does not validate",
        "permit(principal, action, resource) when { context.ip.isLoopback() };",
        A,
        Access.UNKNOWN,
    ),
    (
        "context entity in the store",
        "permit(principal, action, resource) when "
        '{ context has user && context.user in Team::"t" };',
        A,
        Access.SOMETIMES,
    ),
    (
        "context entity attribute",
        "permit(principal, action, resource) when { context has user && context.user.level > 4 };",
        B,
        Access.SOMETIMES,
    ),
    (
        "concrete error (does not validate)",
        'permit(principal, action, resource) when { principal.email == "" || true };',
        B,
        Access.NEVER,
    ),
    (
        "error only some contexts reach (does not validate)",
        'permit(principal, action, resource) when { context.mfa || principal.email == "b" };',
        B,
        Access.SOMETIMES,
    ),
    (
        "error some contexts reach, forbid (does not validate)",
        "permit(principal, action, resource);\n"
        'forbid(principal, action, resource) when { context.mfa && principal.email like "*" };',
        B,
        Access.ALWAYS,
    ),
    (
        "other principal's grant",
        'permit(principal == User::"alice", action, resource);',
        B,
        Access.NEVER,
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "principal", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_case(name: str, text: str, principal: EntityUID, expected: Access) -> None:
    policies, schema, entities = setup(text)
    review = AccessReview(policies, schema, entities)
    grant = review.grant(principal, VIEW, DOC)
    assert grant.access is expected
    plain = plain_grant(list(policies), schema, entities, principal, VIEW, DOC)
    assert plain is (Access.UNKNOWN if "validate" in name else expected)
    if expected is Access.UNKNOWN:
        assert grant.reason and "optional attribute" in grant.reason
    if expected is Access.SOMETIMES:
        assert grant.witness is not None
        assert is_authorized(
            Request(principal, VIEW, DOC, grant.witness), policies, entities
        ).allowed


def test_condition_is_said_simply() -> None:
    policies, schema, entities = setup(
        "permit(principal, action, resource) when { context.mfa };\n"
        "forbid(principal, action, resource) when { context.hour > 22 };"
    )
    grant = AccessReview(policies, schema, entities).grant(A, VIEW, DOC)
    assert grant.condition == "context.mfa && !(context.hour > 22)".replace(
        "context.hour > 22", "(22 < context.hour)"
    ) or (grant.condition is not None and "context.mfa" in grant.condition)


def test_residuals_are_decided_once() -> None:
    policies, schema, entities = setup(
        "permit(principal, action, resource) when { context.mfa && principal.level > 0 };"
    )
    review = AccessReview(policies, schema, entities)
    assert review.grant(A, VIEW, DOC).access is Access.SOMETIMES
    assert review.grant(B, VIEW, DOC).access is Access.SOMETIMES
    assert len(review._decider(VIEW)._answers) == 1


def test_scope_index_never_looks_at_other_principals_grants() -> None:
    text = "\n".join(f'permit(principal == User::"u{i}", action, resource);' for i in range(50))
    policies, schema, entities = setup(
        text + '\npermit(principal == User::"alice", action, resource);'
    )
    review = AccessReview(policies, schema, entities)
    assert review.grounded.facts(A, VIEW, DOC).candidates == (50,)
    assert review.grounded.facts(B, VIEW, DOC).candidates == ()


def test_partial_evaluation() -> None:
    _, _, entities = setup("")
    known = Known(A, VIEW, DOC)
    from cedar_smt.core.parser import parse_expr

    def pe(text: str) -> object:
        return partial(parse_expr(text), known, entities)

    assert pe("principal.level > 3") is True
    assert pe("principal.level > 3 && context.mfa") == Residual(parse_expr("context.mfa"))
    assert pe("resource.owner == principal || context.mfa") == Residual(parse_expr("context.mfa"))
    assert isinstance(pe("context.hour < principal.level"), Residual)
    assert pe("context.mfa && principal.nope") == Residual(And(parse_expr("context.mfa"), ERROR))
    with pytest.raises(Irreducible):
        pe("if context.mfa then principal.nope else 1")


def test_who_can_what_can_and_json() -> None:
    policies, schema, entities = setup(
        'permit(principal in Team::"t", action == Action::"view", resource);\n'
        'permit(principal, action == Action::"edit", resource) when { context.mfa };'
    )
    result = who_can(policies, schema, entities, VIEW, DOC)
    assert [(g.principal, g.access) for g in result.principals] == [(A, Access.ALWAYS)]
    data = result.to_json()
    assert data["query"] == "who-can" and data["action"] == {"type": "Action", "id": "view"}
    assert data["principals"][0] == {
        "principal": {"type": "User", "id": "alice"},
        "access": "always",
        "policies": ["policy0"],
    }
    everyone = who_can(policies, schema, entities, VIEW, DOC, include_never=True)
    assert [g.access for g in everyone.principals] == [Access.ALWAYS, Access.NEVER]
    what = what_can(policies, schema, entities, B).to_json()
    assert what["accesses"] == [
        {
            "action": {"type": "Action", "id": "edit"},
            "resource": {"type": "Doc", "id": "d"},
            "access": "sometimes",
            "policies": ["policy1"],
            "witness": what["accesses"][0]["witness"],
            "condition": "context.mfa",
        }
    ]
    assert what["accesses"][0]["witness"]["context"]["mfa"] is True


def test_access_diff_groups_by_policy() -> None:
    old, schema, entities = setup(
        'permit(principal, action == Action::"view", resource) when { principal.level > 3 };'
    )
    new = PolicySet.from_str(
        'permit(principal, action == Action::"view", resource) when { principal.level > 0 };\n'
        '@id("edit-mfa")\npermit(principal, action == Action::"edit", resource) '
        "when { context.mfa };"
    )
    diff = access_diff(old, new, schema, entities)
    # policies are named as the other analyses name them: by `@id` where they have one
    assert diff.added == ("edit-mfa",) and diff.modified == ("policy0",)
    assert diff.transitions == {"never -> always": 1, "never -> sometimes": 2}
    by = {g.policies: g for g in diff.groups}
    assert by[("edit-mfa",)].summary() == "grants 2 principals new access to 1 resource"
    assert by[("policy0",)].transitions == {"never -> always": 1}
    assert diff.to_json()["added"] == ["edit-mfa"]
    assert {tuple(g["policies"]) for g in diff.to_json()["groups"]} == {
        ("edit-mfa",),
        ("policy0",),
    }
    who = who_can(new, schema, entities, EDIT, DOC).to_json()
    assert [p["policies"] for p in who["principals"]] == [["edit-mfa"], ["edit-mfa"]]


def test_policies_named_by_id_annotation_in_json() -> None:
    """Grants, denials and changes name a policy by its `@id` annotation, else by its id."""
    text = (
        '@id("readers")\npermit(principal, action == Action::"view", resource);\n'
        'forbid(principal == User::"bob", action, resource);\n'
        '@id("no-secrets")\nforbid(principal, action, resource) when { resource.secret };'
    )
    policies, schema, entities = setup(text)
    rows = [
        g.to_json()
        for g in access_matrix(AccessReview(policies, schema, entities), [VIEW], include_never=True)
    ]
    assert {(r["principal"]["id"], r["access"], tuple(r["policies"])) for r in rows} == {
        ("alice", "never", ("no-secrets",)),
        ("bob", "never", ("policy1", "no-secrets")),
    }
    unsecret = text.replace("resource.secret", "!resource.secret")
    diff = access_diff(policies, PolicySet.from_str(unsecret), schema, entities, actions=[VIEW])
    assert diff.modified == ("no-secrets",)
    assert [g.policies for g in diff.groups] == [("no-secrets",)]


# fidelity


def _draw(
    ty: SchemaType, rng: random.Random, uids: list[EntityUID], literals: list[Value]
) -> Value:
    """A random value of a type, often one the policies name."""
    match ty:
        case BoolType():
            return rng.random() < 0.5
        case LongType():
            pool = [v for v in literals if isinstance(v, Long)] or [Long(0)]
            v = rng.choice(pool).value + rng.choice([-1, 0, 0, 1])  # type: ignore[union-attr]
            return Long(v if rng.random() < 0.9 else rng.randrange(-30, 30))
        case StringType():
            pool = [v for v in literals if isinstance(v, str)] + ["", "x"]
            return str(rng.choice(pool))
        case EntityType(name=name):
            of_type = [u for u in uids if u.type == name]
            if not of_type or rng.random() < 0.1:
                return EntityUID(name, "nobody")
            return rng.choice(of_type)
        case SetType(element=e):
            return frozenset(_draw(e, rng, uids, literals) for _ in range(rng.randrange(3)))
        case RecordType(attributes=attrs):
            return Record(
                {
                    k: _draw(a.type, rng, uids, literals)
                    for k, a in attrs
                    if a.required or rng.random() < 0.6
                }
            )
        case ExtensionType(name="ipaddr"):
            return parse_ip(
                rng.choice(
                    ["10.1.2.3", "192.168.0.1", "127.0.0.1", "10.7.0.1", "::1", "10.200.3.4"]
                )
            )
        case ExtensionType(name="decimal"):
            return parse_decimal(rng.choice(["0.0", "1.5", "-2.25", "100.0"]))
        case ExtensionType(name="datetime"):
            return parse_datetime(rng.choice(["2024-01-01", "2025-06-30T12:00:00Z"]))
        case ExtensionType(name="duration"):
            return parse_duration(rng.choice(["1h", "-3d", "0ms"]))
    raise AssertionError(ty)


def _literals(policies: PolicySet) -> list[Value]:
    from cedar_smt.core.ast import Lit, children

    out: list[Value] = []

    def walk(e: Any) -> None:
        if isinstance(e, Lit):
            out.append(e.value)
        for c in children(e):
            walk(c)

    for p in policies:
        walk(p.to_expr())
    return out


def _check_fidelity(
    review: AccessReview, policies: PolicySet, rng: random.Random, contexts: int, plain_sample: int
) -> dict[Access, int]:
    uids = list(review.entities)
    literals = _literals(policies)
    seen: dict[Access, int] = dict.fromkeys(Access, 0)
    grants = list(access_matrix(review, include_never=True))
    for g in grants:
        seen[g.access] += 1
        assert g.access is not Access.UNKNOWN, g
        ctx_type = review.schema.actions[g.action].context
        for _ in range(contexts):
            ctx = _draw(ctx_type, rng, uids, literals)
            assert isinstance(ctx, Record)
            allowed = is_authorized(
                Request(g.principal, g.action, g.resource, ctx), policies, review.entities
            ).allowed
            if g.access is Access.ALWAYS:
                assert allowed, (g, ctx)
            if g.access is Access.NEVER:
                assert not allowed, (g, ctx)
        if g.access is Access.SOMETIMES:
            assert g.witness is not None
            request = Request(g.principal, g.action, g.resource, g.witness)
            assert is_authorized(request, policies, review.entities).allowed, g
    by_kind: dict[Access, list[Any]] = {}
    for g in grants:
        by_kind.setdefault(g.access, []).append(g)
    sample = [
        g for kind in by_kind.values() for g in rng.sample(kind, min(len(kind), plain_sample))
    ]
    for g in sample:
        plain = plain_grant(
            list(policies), review.schema, review.entities, g.principal, g.action, g.resource
        )
        assert plain is g.access, (g, plain)
    return seen


def _small_store(
    size: int, seed: int, kept: int
) -> tuple[Schema, PolicySet, Entities, random.Random]:
    """A generated store of `size` policies whose entities are its groups and folders and
    `kept` users and documents drawn with the returned generator, so that every triple can be
    checked (owners left out stay as references to entities the store does not hold)."""
    store = stores.generate(size, seed)
    schema = Schema.from_str(stores.SCHEMA)
    policies = PolicySet.from_str(store.text)
    policies.link_json(store.links)
    rng = random.Random(seed)
    entities_json = stores.entities(store)
    keep = {e["uid"]["id"] for e in entities_json if e["uid"]["type"] in ("Group", "Folder")}
    keep |= {f"u{i}" for i in rng.sample(range(store.users), kept)}
    keep |= {f"d{i}" for i in rng.sample(range(store.documents), kept)}
    entities = Entities.from_json([e for e in entities_json if e["uid"]["id"] in keep], schema)
    return schema, policies, entities, rng


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_stores(seed: int) -> None:
    schema, policies, entities, rng = _small_store(24, seed, 8)
    review = AccessReview(policies, schema, entities)
    seen = _check_fidelity(review, policies, rng, contexts=4, plain_sample=6)
    assert seen[Access.SOMETIMES] and seen[Access.NEVER]


def _example_dirs() -> list[Path]:
    return [
        p.parent
        for p in sorted(EXAMPLES.rglob("entities.json"))
        if (p.parent / "policies.cedar").exists()
    ]


@pytest.mark.parametrize("d", _example_dirs(), ids=lambda d: d.name)
def test_cedar_examples(d: Path) -> None:
    schema_path = next(d.glob("*.cedarschema"))
    schema = Schema.from_str(schema_path.read_text())
    policies = PolicySet.from_str((d / "policies.cedar").read_text())
    if (d / "linked").exists():
        policies.link_json((d / "linked").read_text())
    try:
        entities = Entities.from_json(json.loads((d / "entities.json").read_text()), schema)
    except CedarError:
        pytest.skip("the example's entities do not conform to its schema")
    review = AccessReview(policies, schema, entities)
    if review.count() > 3000:
        pytest.skip("too many triples for a test")
    _check_fidelity(review, policies, random.Random(7), contexts=3, plain_sample=3)


def test_cedar_examples_witnesses_agree_with_cedarpy() -> None:
    cedarpy = pytest.importorskip("cedarpy")
    checked = 0
    for d in _example_dirs():
        schema_text = next(d.glob("*.cedarschema")).read_text()
        schema = Schema.from_str(schema_text)
        policies_text = (d / "policies.cedar").read_text()
        if (d / "linked").exists():
            continue
        entities_json = json.loads((d / "entities.json").read_text())
        try:
            entities = Entities.from_json(entities_json, schema)
        except CedarError:
            continue
        review = AccessReview(PolicySet.from_str(policies_text), schema, entities)
        if review.count() > 3000:
            continue
        requests, expected = [], []
        for g in access_matrix(review, include_never=True):
            if g.witness is None:
                continue
            requests.append(
                {
                    "principal": str(g.principal),
                    "action": str(g.action),
                    "resource": str(g.resource),
                    "context": to_json(g.witness),
                }
            )
            expected.append("Allow")
        if not requests:
            continue
        answers = cedarpy.is_authorized_batch(requests, policies_text, entities_json, schema_text)
        assert [str(a.decision).split(".")[-1] for a in answers] == expected, d
        checked += len(requests)
    assert checked


# the commands, on examples/access


def _cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from cedar_smt.analyzer.cli import main

    d = ROOT / "examples" / "access"
    store = ["--schema", str(d / "schema.cedarschema"), "--entities", str(d / "entities.json")]
    paths = [str(d / a) if a.endswith(".cedar") else a for a in args]
    result = CliRunner().invoke(main, [*paths, *store])
    return result.exit_code, result.output


def test_cli_who_can_json() -> None:
    code, out = _cli(
        "who-can",
        "policies.cedar",
        "--action",
        "edit",
        "--resource",
        'Document::"salaries"',
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "who-can" and data["resource"] == {"type": "Document", "id": "salaries"}
    assert [(p["principal"]["id"], p["access"]) for p in data["principals"]] == [
        ("carol", "sometimes"),
        ("dave", "sometimes"),
    ]
    assert data["principals"][1]["witness"]["context"]["mfa"] is True


def test_cli_what_can_text() -> None:
    code, out = _cli("what-can", "policies.cedar", "--principal", 'User::"bob"')
    assert code == 0
    assert 'Action::"edit" on Document::"roadmap"' in out and "when context.mfa" in out


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_cli_access_matrix(fmt: str) -> None:
    code, out = _cli("access-matrix", "policies.cedar", "--format", fmt, "--all")
    assert code == 0
    if fmt == "csv":
        rows = out.splitlines()
        assert rows[0].startswith("principal,action,resource,access")
        assert len(rows) == 1 + 4 * 6 * 3  # four users, six resources, three actions
    elif fmt == "json":
        data = json.loads(out)
        assert len(data["entries"]) == 72 and data["counts"]["never"] > 0
    else:
        lines = [json.loads(line) for line in out.splitlines()]
        assert len(lines) == 72 and {"principal", "action", "resource"} <= set(lines[0])


def test_cli_access_diff() -> None:
    code, out = _cli("diff", "policies.cedar", "policies-v2.cedar", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["modified"] == ["payroll-edits"] and data["transitions"] == {
        "sometimes -> always": 1
    }
    code, out = _cli("diff", "policies.cedar", "policies.cedar")
    assert code == 0 and "no access changes" in out


def test_cli_access_diff_type_filters() -> None:
    """`--principal-type`, `--action` and `--resource-type` restrict the triples looked at."""
    code, out = _cli(
        "diff", "policies.cedar", "policies-v2.cedar", "--resource-type", "Folder", "--json"
    )
    assert code == 1 and json.loads(out)["transitions"] == {"sometimes -> always": 1}
    for option, value in (("--resource-type", "Document"), ("--action", "edit")):
        code, out = _cli("diff", "policies.cedar", "policies-v2.cedar", option, value)
        assert code == 0 and "no access changes" in out, (option, out)
    code, out = _cli("diff", "policies.cedar", "policies-v2.cedar", "--principal-type", "Team")
    assert code == 2 and "no request environment has principal type `Team`" in out


@pytest.mark.parametrize(
    "args",
    [
        ("who-can", "policies.cedar", "--action", "edit", "--resource", 'Document::"salaries"'),
        ("what-can", "policies.cedar", "--principal", 'User::"bob"'),
        ("access-matrix", "policies.cedar"),
        ("access-matrix", "policies.cedar", "--action", "view"),
        ("diff", "policies.cedar", "policies-v2.cedar"),
        ("diff", "policies.cedar", "policies-v2.cedar", "--resource-type", "Folder"),
    ],
    ids=lambda a: " ".join(a[:1] + a[2:]),
)
def test_cli_progress_reaches_the_end(args: tuple[str, ...], monkeypatch: Any) -> None:
    """On a terminal, the progress bar's length is the number of items the work reports."""
    from cedar_smt.analyzer.cli import common

    bars: list[list[int]] = []

    class Bar:
        def __init__(self, length: int, **_: Any) -> None:
            bars.append([length, 0])

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *_: Any) -> None:
            pass

        def update(self, n: int) -> None:
            bars[-1][1] += n

    monkeypatch.setattr(common, "_on_terminal", lambda: True)
    monkeypatch.setattr(common, "PROGRESS_FROM", 1)
    monkeypatch.setattr(common.click, "progressbar", Bar)
    code, out = _cli(*args)
    assert code in (0, 1), out
    assert len(bars) == 1 and bars[0][0] > 1 and bars[0][1] == bars[0][0], bars


def test_cli_bad_input() -> None:
    code, out = _cli(
        "who-can", "policies.cedar", "--action", "fly", "--resource", 'Document::"salaries"'
    )
    assert code == 2 and "is not an action of the schema" in out
    code, out = _cli("what-can", "policies.cedar", "--principal", 'User::"zed"')
    assert code == 2 and "not in the entity store" in out


# the grouped path (`AccessReview.grants`: sides computed once, each situation decided once)
# against the plain one (`grant`, triple by triple), whole matrices

GROUPED_SCHEMA = """
entity Team in [Team];
entity User in [Team] { level: Long, email?: String, boss?: User };
entity Doc in [Team] { owner: User, secret: Bool, level: Long, editor?: User };
type Ctx = { mfa: Bool, hour: Long, ip?: ipaddr, user?: User };
action view, edit appliesTo { principal: User, resource: Doc, context: Ctx };
action share appliesTo { principal: [User, Team], resource: [Doc, Team], context: Ctx };
"""

GROUPED_POLICIES = """
@id("owner") permit(principal, action, resource is Doc) when { resource.owner == principal };
@id("team-mfa") permit(principal in Team::"t0", action == Action::"view", resource)
  when { context.mfa };
@id("level-hour") permit(principal is User, action, resource is Doc)
  when { context.hour < principal.level };
@id("doc-level") permit(principal is User, action == Action::"edit", resource is Doc)
  when { principal.level >= resource.level && context.mfa };
@id("context-user") permit(principal, action, resource) when { context has user &&
  context.user == principal };
@id("boss") permit(principal, action, resource is Doc) when { principal has boss &&
  context has user && context.user == principal.boss && resource.owner == principal.boss };
permit(principal, action == Action::"share", resource in Team::"t1");
@id("public") permit(principal, action == Action::"view", resource is Doc)
  when { !resource.secret && resource.level == 0 };
@id("office") forbid(principal, action, resource is Doc) when { resource.secret &&
  !(context has ip && context.ip.isInRange(ip("10.0.0.0/8"))) };
forbid(principal, action, resource) when { principal is User && principal.level < 1 };
@id("email-some-contexts") forbid(principal is User, action == Action::"edit", resource)
  when { context.mfa && principal.email like "*@x" };
@id("editor") permit(principal, action == Action::"edit", resource is Doc)
  when { resource.editor == principal || principal == resource.owner && context.mfa };
@id("boss-of-owner") permit(principal is User, action == Action::"view", resource is Doc)
  when { resource.owner has boss && resource.owner.boss == principal };
@id("same-level-owner") forbid(principal is User, action == Action::"share", resource is Doc)
  when { [principal].contains(resource.owner) && principal.level > resource.level };
@id("maybe-error") permit(principal is User, action == Action::"view", resource is Doc)
  when { if context.mfa then principal.email == resource.owner.email else false };
"""


def _grouped_entities(rng: random.Random, users: int, docs: int) -> list[dict[str, Any]]:
    def uid(t: str, i: int) -> dict[str, str]:
        return {"type": t, "id": f"{t[0].lower()}{i}"}

    out: list[dict[str, Any]] = [
        {"uid": uid("Team", i), "attrs": {}, "parents": [uid("Team", 0)] if i else []}
        for i in range(3)
    ]
    for i in range(users):
        attrs: dict[str, Any] = {"level": rng.randrange(4)}
        if rng.random() < 0.5:
            attrs["email"] = rng.choice(["a@x", "b@y"])
        if rng.random() < 0.4:
            attrs["boss"] = {"__entity": uid("User", rng.randrange(users))}
        parents = [uid("Team", rng.randrange(3))] if rng.random() < 0.7 else []
        out.append({"uid": uid("User", i), "attrs": attrs, "parents": parents})
    for i in range(docs):
        attrs = {
            "owner": {"__entity": uid("User", rng.randrange(users))},
            "secret": rng.random() < 0.3,
            "level": rng.randrange(4),
        }
        if rng.random() < 0.5:
            attrs["editor"] = {"__entity": uid("User", rng.randrange(users))}
        parents = [uid("Team", rng.randrange(3))] if rng.random() < 0.5 else []
        out.append({"uid": uid("Doc", i), "attrs": attrs, "parents": parents})
    return out


def _same_matrices(review: AccessReview, fresh: AccessReview, policies: PolicySet) -> Any:
    """`grants` on `review` equals `grant` triple by triple on `fresh` (its own caches) for
    every triple; every witness of the grouped path allows its own triple."""
    grouped = list(review.grants())
    triples = list(review.triples())
    assert [(g.principal, g.action, g.resource) for g in grouped] == triples
    for g in grouped:
        plain = fresh.grant(g.principal, g.action, g.resource)
        assert (g.access, g.policies, g.condition, g.reason) == (
            plain.access,
            plain.policies,
            plain.condition,
            plain.reason,
        ), (g, plain)
        assert (g.witness is None) == (plain.witness is None), (g, plain)
        if g.witness is not None:
            request = Request(g.principal, g.action, g.resource, g.witness)
            assert is_authorized(request, policies, review.entities).allowed, g
    return Counter(g.access for g in grouped)


@pytest.mark.parametrize("seed", range(4))
def test_grouped_path_agrees_with_plain_path(seed: int) -> None:
    schema = Schema.from_str(GROUPED_SCHEMA)
    policies = PolicySet.from_str(GROUPED_POLICIES)
    rng = random.Random(seed)
    entities = Entities.from_json(_grouped_entities(rng, 12, 10), schema)
    seen = _same_matrices(
        AccessReview(policies, schema, entities), AccessReview(policies, schema, entities), policies
    )
    assert seen[Access.ALWAYS] and seen[Access.SOMETIMES] and seen[Access.NEVER], seen


@pytest.mark.parametrize("seed", [1, 2])
def test_grouped_path_agrees_on_generated_stores(seed: int) -> None:
    schema, policies, entities, _ = _small_store(60, seed, 20)
    seen = _same_matrices(
        AccessReview(policies, schema, entities), AccessReview(policies, schema, entities), policies
    )
    assert seen[Access.SOMETIMES] and seen[Access.NEVER], seen


def test_grouped_path_agrees_on_random_cases() -> None:
    """The differential-testing generator's schemas, policies and stores."""
    from drt.generators import case_seed, generate
    from drt.sides import Refused, load_ours

    compared = 0
    for index in range(60):
        case = generate(case_seed(20261130, index))
        try:
            ours = load_ours(case)
        except Refused:
            continue
        review = AccessReview(ours.policies, ours.schema, ours.entities, timeout_ms=5000)
        if not 0 < review.count() <= 300:
            continue
        fresh = AccessReview(ours.policies, ours.schema, ours.entities, timeout_ms=5000)
        _same_matrices(review, fresh, ours.policies)
        compared += 1
    assert compared >= 15, compared


def test_every_witness_the_grouped_path_shows_is_replayed_on_its_own_triple(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A situation's witness is shown for each of its triples, so each is replayed there
    (through core's authorizer), not only on the triple that found it."""
    schema = Schema.from_str(GROUPED_SCHEMA)
    policies = PolicySet.from_str(GROUPED_POLICIES)
    entities = Entities.from_json(_grouped_entities(random.Random(0), 12, 10), schema)
    replayed = []
    real = AccessReview._replay

    def counting(self: AccessReview, p: Any, a: Any, r: Any, *rest: Any) -> None:
        replayed.append((p, a, r))
        real(self, p, a, r, *rest)

    monkeypatch.setattr(AccessReview, "_replay", counting)
    shown = [
        (g.principal, g.action, g.resource)
        for g in AccessReview(policies, schema, entities).grants()
        if g.witness is not None
    ]
    assert shown
    assert set(shown) <= set(replayed)
