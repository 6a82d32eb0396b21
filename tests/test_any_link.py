"""Templates analysed for every link (`--any-link`, `any_link=True`).

The slot types each scope allows, every query over a set with templates, counterexamples that
name their links (replayed after linking by our authorizer, by cedarpy, and loadable with
`--template-links`), templates of two versions sharing one link, and the refusals.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cedar_smt import analyzer
from cedar_smt.analyzer import AnalysisInputError, Verdict, checks
from cedar_smt.analyzer.cli import main
from cedar_smt.core import Entities, PolicySet, Request, Schema, is_authorized
from cedar_smt.core.links import link_space, slot_types
from integration_suite import ROOT

EX = ROOT / "examples" / "templates"
SCHEMA = Schema.from_file(str(EX / "schema.cedarschema"))
DELETE_BY_NON_OWNER = (
    'action == Action::"delete" && !(resource is Document && resource.owner == principal)'
)


def policies(text: str) -> PolicySet:
    return PolicySet.from_str(text)


def template(scope: str) -> Any:
    return next(iter(policies(f"permit({scope});").templates.values()))


@pytest.mark.parametrize(
    ("scope", "slot", "types"),
    [
        ("principal == ?principal, action, resource", "?principal", ("User",)),
        ("principal in ?principal, action, resource", "?principal", ("Team", "User")),
        ("principal is User in ?principal, action, resource", "?principal", ("Team", "User")),
        ("principal is Team in ?principal, action, resource", "?principal", ()),
        ("principal, action, resource == ?resource", "?resource", ("Document", "Folder")),
        ("principal, action, resource in ?resource", "?resource", ("Document", "Folder")),
        ("principal, action, resource is Folder in ?resource", "?resource", ("Folder",)),
        (
            'principal, action == Action::"view", resource is Document in ?resource',
            "?resource",
            ("Document", "Folder"),
        ),
    ],
)
def test_slot_types_follow_the_scope_and_the_schema(
    scope: str, slot: str, types: tuple[str, ...]
) -> None:
    assert slot_types(template(scope), slot, SCHEMA) == types


def test_templates_of_one_key_share_the_union_of_their_types() -> None:
    eq = template("principal == ?principal, action, resource")
    within = template("principal in ?principal, action, resource")
    assert link_space([[eq], [within]], SCHEMA).types == {
        "policy0": {"?principal": ("Team", "User")}
    }


def example(name: str) -> PolicySet:
    return PolicySet.from_file(str(EX / f"{name}.cedar"))


PERMIT_ALL = "permit(principal, action, resource);"
FORBID_SHARED = (
    'forbid(principal in ?principal, action == Action::"delete", resource in ?resource);'
)
MAY_ERROR = (
    "permit(principal == ?principal, action, resource is Document) "
    "when { resource.owner == principal };"
)

# (query, operands, extra options, expected verdict)
SET_CASES = [
    ("never-allows", ["share-folder"], {"query": DELETE_BY_NON_OWNER}, Verdict.HOLDS),
    ("never-allows", ["share-folder-safe"], {"query": DELETE_BY_NON_OWNER}, Verdict.HOLDS),
    ("never-allows", ["share-folder-unsafe"], {"query": DELETE_BY_NON_OWNER}, Verdict.REFUTED),
    ("always-denies", ["share-folder"], {}, Verdict.REFUTED),
    ("always-allows", [PERMIT_ALL + FORBID_SHARED], {}, Verdict.REFUTED),
    (
        "always-allows-when",
        [PERMIT_ALL + FORBID_SHARED],
        {"query": 'action == Action::"view"'},
        Verdict.HOLDS,
    ),
    ("implies", ["share-folder", "share-folder-safe"], {}, Verdict.HOLDS),
    ("implies", ["share-folder-safe", "share-folder"], {}, Verdict.REFUTED),
    ("implies", ["share-folder-unsafe", "share-folder-safe"], {}, Verdict.REFUTED),
    ("equivalent", ["share-folder", "share-folder"], {}, Verdict.HOLDS),
    ("equivalent", ["share-folder", "share-folder-safe"], {}, Verdict.REFUTED),
    ("disjoint", ["share-folder", "share-folder"], {}, Verdict.REFUTED),
    ("explicit-permit", ["share-folder-unsafe"], {}, Verdict.HOLDS),
    ("forbid-overrides-permit", [PERMIT_ALL + FORBID_SHARED], {}, Verdict.HOLDS),
]

CHECKS = {
    "never-allows": checks.check_never_allows,
    "always-denies": checks.check_always_denies,
    "always-allows": checks.check_always_allows,
    "always-allows-when": checks.check_always_allows_when,
    "implies": checks.check_implies,
    "equivalent": checks.check_equivalent,
    "disjoint": checks.check_disjoint,
    "explicit-permit": checks.check_explicit_permit,
    "forbid-overrides-permit": checks.check_forbid_overrides_permit,
    "never-errors": checks.check_never_errors,
    "never-matches": checks.check_never_matches,
    "always-matches": checks.check_always_matches,
    "matches-equivalent": checks.check_matches_equivalent,
    "matches-implies": checks.check_matches_implies,
    "matches-disjoint": checks.check_matches_disjoint,
}


def operand(name: str) -> PolicySet:
    return example(name) if (EX / f"{name}.cedar").exists() else policies(name)


def replay(result: analyzer.QueryResult, sets: list[PolicySet]) -> None:
    """Each counterexample's links, loaded as template-link JSON into each operand, give the
    decisions the counterexample reports (our authorizer, and cedarpy's); a template it has
    no link of stays unlinked, as in a set with no link of it."""
    cedarpy = pytest.importorskip("cedarpy")
    schema_text = (EX / "schema.cedarschema").read_text()
    for cx in result.counterexamples:
        links = json.loads(json.dumps([link.to_json() for link in cx.links]))
        entities = cx.entities.to_json()
        request = cx.request.to_json()
        for ps, (label, decision) in zip(sets, cx.decisions.items(), strict=False):
            linked = PolicySet(list(ps), ps.templates.values())
            linked.link_json(links)
            ours = is_authorized(
                Request.from_json(request, SCHEMA), linked, Entities.from_json(entities, SCHEMA)
            )
            assert ours.decision == decision, label
            text = ps.to_cedar()
            cedar_links = [
                {
                    "template_id": link.template_id,
                    "link_id": link.new_id,
                    "args": {s: str(u) for s, u in link.values},
                }
                for link in cx.links
            ]
            cps = cedarpy.PolicySet.from_str(text)
            for link in cedar_links:
                cps = cps.with_linked(link["template_id"], link["link_id"], link["args"])
            store = [e for e in entities if e["uid"]["type"] != "Action"]
            theirs = cedarpy.is_authorized(request, cps, store, schema_text)
            assert theirs.decision.value.lower() == decision, (label, theirs.diagnostics)


@pytest.mark.parametrize(("query", "names", "extra", "verdict"), SET_CASES)
def test_set_queries_hold_for_every_link(
    query: str, names: list[str], extra: dict[str, Any], verdict: Verdict
) -> None:
    sets = [operand(n) for n in names]
    result = CHECKS[query](*sets, SCHEMA, any_link=True, **extra)
    assert result.verdict is verdict
    if verdict is Verdict.REFUTED:
        replay(result, sets)


# (query, policy texts, expected verdict)
POLICY_CASES = [
    ("never-errors", [MAY_ERROR], Verdict.REFUTED),
    ("never-errors", [FORBID_SHARED], Verdict.HOLDS),
    ("never-matches", [FORBID_SHARED], Verdict.REFUTED),
    (
        "never-matches",
        ["permit(principal is Team in ?principal, action, resource);"],
        Verdict.HOLDS,
    ),
    ("always-matches", [FORBID_SHARED], Verdict.REFUTED),
    (
        "matches-implies",
        [FORBID_SHARED, FORBID_SHARED.replace(" == Action", " in Action")],
        Verdict.HOLDS,
    ),
    (
        "matches-equivalent",
        [
            "permit(principal == ?principal, action, resource);",
            "permit(principal in ?principal, action, resource);",
        ],
        Verdict.REFUTED,
    ),
    (
        "matches-disjoint",
        [FORBID_SHARED, 'permit(principal in ?principal, action == Action::"view", resource);'],
        Verdict.HOLDS,
    ),
]


@pytest.mark.parametrize(("query", "texts", "verdict"), POLICY_CASES)
def test_policy_queries_hold_for_every_link(query: str, texts: list[str], verdict: Verdict) -> None:
    found = [next(iter(policies(t).templates.values())) for t in texts]
    result = CHECKS[query](*found, SCHEMA, any_link=True)
    assert result.verdict is verdict
    for cx in result.counterexamples:
        assert {link.template_id for link in cx.links} == {"policy0"}


def test_the_plain_path_agrees() -> None:
    for query, names, extra, _ in SET_CASES:
        sets = [operand(n) for n in names]
        fast = CHECKS[query](*sets, SCHEMA, any_link=True, **extra)
        plain = CHECKS[query](*sets, SCHEMA, any_link=True, plain=True, **extra)
        assert [e.verdict for e in fast.environments] == [e.verdict for e in plain.environments]


def test_two_versions_share_one_link() -> None:
    """`equivalent` pairs templates by @id: the same link on both sides, so a template is
    equivalent to itself, and a counterexample shows one link, for both versions."""
    old = example("share-folder")
    renamed = policies(
        '@id("share-folder")\npermit(principal in ?principal, '
        'action in [Action::"comment", Action::"view"], resource in ?resource);\n'
        '@id("owner-all")\npermit (principal, action, resource is Document) '
        "when { resource.owner == principal };"
    )
    assert checks.check_equivalent(old, renamed, SCHEMA, any_link=True).holds
    result = checks.check_equivalent(old, example("share-folder-safe"), SCHEMA, any_link=True)
    cx = result.counterexamples[0]
    assert [link.template_id for link in cx.links] == ["policy1"]


def test_unrelated_templates_get_their_own_links() -> None:
    """Two templates of one set are linked independently: "only Team links may edit" fails
    because a User link of the second template allows editing."""
    two = policies(
        '@id("a")\npermit(principal in ?principal, action == Action::"view", resource);\n'
        '@id("b")\npermit(principal == ?principal, action == Action::"edit", resource);'
    )
    result = checks.check_never_allows(two, SCHEMA, 'action == Action::"edit"', any_link=True)
    assert result.verdict is Verdict.REFUTED
    keys = {link.new_id for cx in result.counterexamples for link in cx.links}
    assert keys == {"a/link", "b/link"}


def test_templates_need_links_or_any_link() -> None:
    t = template("principal == ?principal, action, resource")
    with pytest.raises(AnalysisInputError, match="is a template: link it"):
        checks.check_never_errors(t, SCHEMA)
    twice = policies(
        '@id("x")\npermit(principal == ?principal, action, resource);\n'
        '@id("x")\npermit(principal in ?principal, action, resource);'
    )
    # without --any-link, a set's templates are left out, as before
    assert checks.check_always_denies(twice, SCHEMA).holds
    # two templates of one `@id` in a set are keyed by their ids, each linked on its own
    assert set(link_space([list(twice.templates.values())], SCHEMA).types) == {"policy0", "policy1"}
    result = checks.check_always_denies(twice, SCHEMA, any_link=True)
    keys = {link.new_id for cx in result.counterexamples for link in cx.links}
    assert keys and keys <= {"policy0/link", "policy1/link"}  # a set may lack the other


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


S = ("--schema", str(EX / "schema.cedarschema"))


def test_cli_counterexample_links_load_with_template_links(tmp_path: Path) -> None:
    unsafe = str(EX / "share-folder-unsafe.cedar")
    args = ("never-allows", unsafe, *S, "--query", DELETE_BY_NON_OWNER)
    code, out, _ = run(*args, "--any-link", "--json")
    assert code == 1
    refuted = [e for e in json.loads(out)["environments"] if e["result"] == "refuted"]
    assert refuted
    for env in refuted:
        cx = env["counterexample"]
        assert set(cx) >= {"request", "entities", "decisions", "links"}
        (link,) = cx["links"]
        assert link["templateId"] == "policy1" and link["newId"] == "share-folder/link"
        assert set(link["values"]) == {"?principal", "?resource"}
        path = tmp_path / "links.json"
        path.write_text(json.dumps(cx["links"]))
        filters = ("--action", env["action"], "--resource-type", env["resource_type"])
        code, out, _ = run(*args, "--template-links", str(path), *filters)
        assert code == 1, out  # the linked set is refuted there too
    code, out, _ = run(*args, "--any-link")
    assert code == 1
    assert "links:     policy1 as share-folder/link: ?principal = " in out
    code, _, _ = run(*args, "--any-link", "--action", "view")
    assert code == 0


def test_cli_policy_commands_take_templates_with_any_link(tmp_path: Path) -> None:
    path = tmp_path / "t.cedar"
    path.write_text(MAY_ERROR)
    code, _, err = run("never-errors", str(path), *S)
    assert code == 2 and "--any-link" in err
    code, out, _ = run("never-errors", str(path), *S, "--any-link")
    assert code == 1
    assert "links:     policy0 as policy0/link: ?principal = User::" in out


def test_diff_pairs_templates_and_names_the_links_of_each_class() -> None:
    old, safe, unsafe = (
        example(n) for n in ("share-folder", "share-folder-safe", "share-folder-unsafe")
    )
    result = analyzer.diff_policies(old, unsafe, SCHEMA, any_link=True)
    changed = {c.new.name for c in result.changes if c.kind == "changed" and c.new}
    assert changed == {"share-folder"}
    assert {str(env.action) for env, _ in result.classes} == {
        'Action::"delete"',
        'Action::"edit"',
    }
    for _, cls in result.classes:
        assert cls.transition == "newly allowed"
        assert [p.name for p in cls.responsible] == ["share-folder"]
        (link,) = cls.witness.links
        assert link.new_id == "share-folder/link"
        assert cls.witness.to_json()["links"][0]["templateId"] == "policy1"
    # the same link on both sides: an unchanged template changes nothing
    assert not analyzer.diff_policies(old, old, SCHEMA, any_link=True).decisions_change
    plain = analyzer.diff_policies(old, safe, SCHEMA, any_link=True, plain=True)
    fast = analyzer.diff_policies(old, safe, SCHEMA, any_link=True)
    assert len(plain.classes) == len(fast.classes) > 0


def test_compare_and_diff_from_the_cli() -> None:
    old, unsafe = (str(EX / f"{n}.cedar") for n in ("share-folder", "share-folder-unsafe"))
    code, out, _ = run("diff", old, unsafe, *S, "--any-link")
    assert code == 1
    assert "links:     policy1 as share-folder/link: ?principal = " in out
    code, out, _ = run("compare", old, str(EX / "share-folder-safe.cedar"), *S, "--any-link")
    assert code == 1 and "more permissive" in out
    code, _, err = run("diff", old, unsafe, *S)
    assert code == 0 and "--any-link" in err  # without it, the templates are left out


LINT_SCHEMA = Schema.from_str(
    (EX / "schema.cedarschema").read_text().replace("owner: User,", "owner: User, size: Long,")
)
LINT = """
@id("no-delete")
forbid (principal, action == Action::"delete", resource);
@id("dead-share")
permit (principal, action, resource is Folder in ?resource) when { resource is Document };
@id("shadowed-share")
permit (principal in ?principal, action == Action::"delete", resource in ?resource);
@id("erroring-share")
permit (principal == ?principal, action == Action::"view", resource in ?resource)
when { resource is Document && resource.size * 1000000 > 5 };
@id("fine-share")
permit (principal in ?principal, action == Action::"view", resource in ?resource);
"""


@pytest.mark.parametrize("plain", [False, True])
def test_lint_reports_dead_shadowed_and_erroring_templates(plain: bool) -> None:
    result = analyzer.lint_policies(policies(LINT), LINT_SCHEMA, any_link=True, plain=plain)
    found = {(f.code, f.policy.name) for f in result.findings}
    assert ("L001", "dead-share") in found
    assert ("L004", "shadowed-share") in found
    assert ("L006", "erroring-share") in found
    assert not {code for code, name in found if name == "fine-share"}
    erroring = next(f for f in result.findings if f.code == "L006")
    assert erroring.witness is not None and erroring.witness.links
    # without any_link, the templates are not linted
    plainly = analyzer.lint_policies(policies(LINT), LINT_SCHEMA)
    assert {f.policy.name for f in plainly.findings} <= {"no-delete"}


def test_the_readme_transcript_is_what_the_cli_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command of the README's any-link transcript prints the lines shown for it."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Templates for every link: `--any-link`")[1].split("\n## ")[0]
    block = section.split("```\n")[1]
    sessions = [s for s in block.replace("\\\n    ", "").split("$ ") if s.strip()]
    assert len(sessions) == 4
    monkeypatch.chdir(ROOT)
    for session in sessions:
        command, *shown = session.strip().splitlines()
        code, out, _ = run(*shlex.split(command)[1:])
        assert code in (0, 1)
        printed = out.splitlines()
        assert shown[-1] == printed[-1]
        for line in shown[:-1]:
            assert line == "..." or line in printed, line


def test_prove_invariants_over_every_link(tmp_path: Path) -> None:
    """Under a rule that lets permits win, a forbid template breaks "forbid overrides permit"
    only for some link: found with --any-link, the link named and replayed."""
    (tmp_path / "rules.py").write_text(
        "def permits_win(permits, forbids, logic):\n    return logic.any(permits)\n"
    )
    path = tmp_path / "p.cedar"
    path.write_text(
        '@id("readers")\npermit (principal, action == Action::"view", resource);\n'
        '@id("blocked")\nforbid (principal == ?principal, action, resource in ?resource);\n'
    )
    args = ("prove-invariants", str(path), *S, "--rule", f"{tmp_path / 'rules.py'}:permits_win")
    code, out, err = run(*args, "--json")
    assert code == 1, err
    explicit, overrides = json.loads(out)["policies"]
    assert explicit["result"] == "holds" and overrides["result"] == "holds"  # no forbid at all
    code, out, err = run(*args, "--json", "--any-link")
    explicit, overrides = json.loads(out)["policies"]
    assert explicit["result"] == "holds" and overrides["result"] == "refuted"
    refuted = [e for e in overrides["environments"] if e["result"] == "refuted"]
    assert {e["action"] for e in refuted} == {'Action::"view"'}
    for env in refuted:
        (link,) = env["counterexample"]["links"]
        assert link["templateId"] == "policy1" and link["newId"] == "blocked/link"
    code, out, _ = run(*args, "--any-link")
    assert code == 1
    assert "links:     policy1 as blocked/link: ?principal = User::" in out


ONE_ORG = """
entity User;
entity Org enum ["admin"];
action comment appliesTo { principal: [User], resource: [Org] };
"""


def test_a_set_may_have_no_link_of_a_template() -> None:
    """Every link of this forbid template applies to every request (its slot's type has one
    entity): a set with one link denies all, but a set with none allows. A question about
    sets holds only if it holds with and without the link; a question about the template
    itself is about a link of it."""
    schema = Schema.from_str(ONE_ORG)
    text = (
        'permit (principal, action == Action::"comment", resource);\n'
        'forbid (principal, action == Action::"comment", resource == ?resource);\n'
    )
    ps = policies(text)
    result = analyzer.check_always_denies(ps, schema, any_link=True)
    assert result.verdict is Verdict.REFUTED
    (cx,) = result.counterexamples
    assert cx.links == () and cx.decisions == {"policies": "allow"}
    linked = PolicySet.from_str(text)
    linked.link_json([])
    request = Request.from_json(cx.request.to_json(), schema)
    assert is_authorized(request, linked, cx.entities).allowed
    # with its link, every request is denied
    linked.link_json(
        [{"templateId": "policy1", "newId": "l", "values": {"?resource": 'Org::"admin"'}}]
    )
    assert analyzer.check_always_denies(linked, schema).verdict is Verdict.HOLDS
    template = ps.templates["policy1"]
    assert analyzer.check_always_matches(template, schema, any_link=True).holds
    assert analyzer.check_never_matches(template, schema, any_link=True).verdict is Verdict.REFUTED
    # two versions share the absence too: a permit template whose only link allows
    old = policies("permit (principal, action, resource == ?resource);")
    new = policies("permit (principal, action, resource);")
    assert analyzer.check_implies(old, new, schema, any_link=True).holds
    assert not analyzer.check_implies(new, old, schema, any_link=True).holds
    lint = analyzer.lint_policies(ps, schema, any_link=True)
    assert "L004" not in {f.code for f in lint.findings}  # the permit is not always shadowed
