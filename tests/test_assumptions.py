"""Domain assumptions (`--assume`, `--assume-file`, `assumptions=`): what a user sees.

A property refuted without an assumption holds with it and says so; counterexamples satisfy
the assumptions (replayed in cedarpy too); an assumption no request satisfies is refused; an
ill-typed or unparsable one is placed; diff, compare and lint restrict themselves to the
requests the assumptions allow; which assumptions a `holds` needed comes from an unsat core,
and when the solver gives none the answer says it may depend on them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import z3
from click.testing import CliRunner

from cedar_smt.analyzer import assumptions as assumptions_module
from cedar_smt.analyzer import (
    check_always_allows,
    check_always_denies,
    check_never_matches,
    compare_policies,
    diff_policies,
    lint_policies,
    read_assumptions,
)
from cedar_smt.analyzer.cli import main
from cedar_smt.analyzer.results import AnalysisInputError, Verdict
from cedar_smt.core import Entities, PolicySet, Request, Schema
from cedar_smt.core.authorizer import Outcome, evaluate_policy
from cedar_smt.core.parser import parse_policies
from cedar_smt.encoder.solver import check, make_solver, unsat_core

SCHEMA_TEXT = """
entity User { admin: Bool, age: Long };
entity Group;
entity Doc { owner: User, public: Bool };
action view appliesTo { principal: [User, Group], resource: Doc, context: { mfa: Bool } };
action edit appliesTo { principal: User, resource: Doc };
"""

POLICIES = """
@id("public")
permit(principal, action == Action::"view", resource) when { resource.public };
@id("owner")
permit(principal is User, action, resource) when { resource.owner == principal };
"""

NEW_POLICIES = """
@id("public")
permit(principal, action == Action::"view", resource) when { resource.public };
@id("owner")
permit(principal is User, action, resource) when { resource.owner == principal && principal.admin };
"""

LINTED = """
@id("owners")
permit(principal is User, action, resource) when { resource.owner == principal };
@id("admins")
permit(principal is User, action, resource) when { principal.admin };
@id("minors")
forbid(principal is User, action, resource) when { principal.age < 18 };
"""

ADULTS = "!(principal is User) || principal.age >= 18"
ADMINS = "!(principal is User) || principal.admin"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in [
        ("schema", SCHEMA_TEXT),
        ("policies", POLICIES),
        ("new", NEW_POLICIES),
        ("linted", LINTED),
    ]:
        path = tmp_path / f"{name}.{'cedarschema' if name == 'schema' else 'cedar'}"
        path.write_text(text)
        paths[name] = str(path)
    return paths


@pytest.fixture()
def schema() -> Schema:
    return Schema.from_str(SCHEMA_TEXT)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assumption_holds(condition: str, cx: dict[str, Any], schema: Schema) -> bool:
    """Our authorizer's answer: the counterexample satisfies `condition`."""
    (policy,) = parse_policies(f"permit(principal, action, resource) when {{ {condition} }};")
    request = Request.from_json(cx["request"], schema)
    entities = Entities.from_json(cx["entities"], schema)
    return evaluate_policy(policy, request, entities).outcome is Outcome.SATISFIED


# ---- a property that needs an assumption ----


def test_a_property_refuted_without_an_assumption_holds_with_it(files: dict[str, str]) -> None:
    base = ["always-allows", files["policies"], "--schema", files["schema"]]
    base += ["--query", 'action == Action::"view"']
    code, out, _ = run(*base)
    assert code == 1
    code, out, _ = run(*base, "--assume", "resource.public")
    assert code == 0, out
    assert "A1  resource.public  (--assume)" in out
    assert 'holds    User, Action::"view", Doc  (under assumption A1)' in out
    assert out.strip().endswith("HOLDS in all 3 request environments, under assumption A1")


def test_a_property_holding_anyway_says_it_needed_no_assumption(files: dict[str, str]) -> None:
    code, out, _ = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--query",
        'action == Action::"view" && resource.public',
        "--assume",
        "context.mfa",
        "--json",
    )
    report = json.loads(out)
    assert code == 0
    assert report["dependence"] == "none"
    assert {e["dependence"] for e in report["environments"]} == {"none"}
    code, out, _ = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--query",
        'action == Action::"view" && resource.public',
        "--assume",
        "context.mfa",
    )
    assert out.strip().endswith(
        "HOLDS in all 3 request environments, without needing the assumptions"
    )


def test_counterexamples_satisfy_the_assumptions(files: dict[str, str], schema: Schema) -> None:
    cedarpy = pytest.importorskip("cedarpy")
    condition = "resource.public && context.mfa && principal is Group"
    code, out, _ = run(
        "always-denies",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        condition,
        "--json",
    )
    assert code == 1
    report = json.loads(out)
    refuted = [e for e in report["environments"] if e["result"] == "refuted"]
    # it does not typecheck for `edit` (no `mfa` in its context): there it does not apply
    assert [e["assumptions"] for e in refuted] == [[], ["A1"]]
    for env in refuted[1:]:
        cx = env["counterexample"]
        assert assumption_holds(condition, cx, schema)
        as_policy = f"permit(principal, action, resource) when {{ {condition} }};"
        answer = cedarpy.is_authorized(cx["request"], as_policy, json.dumps(cx["entities"]))
        assert answer.allowed, cx


def test_json_shape(files: dict[str, str]) -> None:
    code, out, _ = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        "resource.public",
        "--assume",
        "context.mfa",
        "--json",
    )
    report = json.loads(out)
    assert code == 1
    assert set(report) == {
        "query",
        "result",
        "environments",
        "assumptions",
        "dependence",
        "depends_on",
    }
    first, second = report["assumptions"]
    assert first == {
        "id": "A1",
        "condition": "resource.public",
        "source": "--assume",
        "line": None,
        "column": None,
        "not_applying": [],
    }
    # `context.mfa` does not typecheck for `edit`, whose context has no `mfa`: not applied
    assert second["id"] == "A2"
    assert [e["action"] for e in second["not_applying"]] == ['Action::"edit"']
    assert "mfa" in second["not_applying"][0]["reason"]
    by_action = {(e["principal_type"], e["action"]): e for e in report["environments"]}
    edit = by_action[("User", 'Action::"edit"')]
    assert edit["result"] == "refuted" and edit["assumptions"] == ["A1"]
    view = by_action[("User", 'Action::"view"')]
    assert view["assumptions"] == ["A1", "A2"]
    assert view["dependence"] == "depends" and view["depends_on"] == ["A1"]


def test_without_assumptions_the_json_is_as_before(files: dict[str, str]) -> None:
    _, out, _ = run("always-allows", files["policies"], "--schema", files["schema"], "--json")
    report = json.loads(out)
    assert set(report) == {"query", "result", "environments"}
    assert all("dependence" not in e for e in report["environments"])


# ---- refused assumptions ----


def test_an_unsatisfiable_assumption_is_refused(files: dict[str, str]) -> None:
    code, _, err = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        "principal.age > 3 && principal.age < 2",
    )
    assert code == 2
    assert "no request satisfies the assumption A1 `principal.age > 3 && principal.age < 2`" in err
    assert "every property would hold" in err


def test_assumptions_unsatisfiable_together_are_refused(files: dict[str, str]) -> None:
    code, _, err = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        "resource.public",
        "--assume",
        "!resource.public",
    )
    assert code == 2
    assert "no request satisfies the assumptions A1, A2 together in any of the 3" in err


def test_environments_an_assumption_excludes_hold_vacuously(files: dict[str, str]) -> None:
    args = ["always-allows", files["policies"], "--schema", files["schema"]]
    args += ["--assume", 'action == Action::"view" && resource.public']
    code, out, _ = run(*args)
    assert code == 0
    assert (
        'holds    User, Action::"edit", Doc  (vacuously: no request of this environment '
        "satisfies assumption A1)"
    ) in out
    code, out, _ = run(*args, "--json")
    edit = next(e for e in json.loads(out)["environments"] if e["action"] == 'Action::"edit"')
    assert edit["dependence"] == "vacuous" and edit["depends_on"] == ["A1"]


def test_an_ill_typed_assumption_is_located(files: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        "principal.nope",
    )
    assert code == 2
    assert err.startswith("error: --assume:1:1: the assumption `principal.nope` does not typecheck")
    assert "  principal.nope\n  ^" in err
    path = tmp_path / "assume.cedar"
    path.write_text("// first\nresource.public;\n\n  principal.age + true;\n")
    code, _, err = run(
        "always-allows", files["policies"], "--schema", files["schema"], "--assume-file", str(path)
    )
    assert code == 2
    assert err.startswith(f"error: {path}:4:")
    assert "does not typecheck in any request environment" in err
    assert "principal.age + true;" in err


def test_assume_file_syntax_errors_are_located(files: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "assume.cedar"
    path.write_text("resource.public;\ncontext.mfa &&\n;\n")
    code, _, err = run(
        "always-allows", files["policies"], "--schema", files["schema"], "--assume-file", str(path)
    )
    assert code == 2
    assert err.startswith(f"error: {path}:3:1: the assumptions are not Cedar conditions")
    path.write_text("resource.public\ncontext.mfa\n")  # a missing `;`
    code, _, err = run(
        "always-allows", files["policies"], "--schema", files["schema"], "--assume-file", str(path)
    )
    assert code == 2
    assert f"{path}:2:1:" in err and "`;` to end the condition" in err
    code, _, err = run(
        "always-allows", files["policies"], "--schema", files["schema"], "--assume", "principal =="
    )
    assert code == 2
    assert "--assume:1:13: the assumption is not a Cedar condition: unexpected end of the" in err


def test_assume_file_format(tmp_path: Path) -> None:
    path = tmp_path / "assume.cedar"
    path.write_text(
        "// every document has an owner\nresource.public; // a comment\n\n"
        "context.mfa\n  || principal is Group;\nresource.owner == principal"
    )
    found = read_assumptions(str(path))
    assert [a.condition for a in found] == [
        "resource.public",
        "context.mfa || principal is Group",
        "resource.owner == principal",
    ]
    assert [(a.loc.line, a.loc.column) for a in found if a.loc] == [(2, 1), (4, 1), (6, 1)]
    assert found[1].where == f"{path}:4:1"


def test_assume_file_positions_in_results(files: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "assume.cedar"
    path.write_text("// documents\nresource.public;\n")
    code, out, _ = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume-file",
        str(path),
        "--query",
        'action == Action::"view"',
        "--json",
    )
    assert code == 0
    (a,) = json.loads(out)["assumptions"]
    assert (a["source"], a["line"], a["column"]) == (str(path), 2, 1)


# ---- unsat cores ----


def test_unsat_core_when_the_one_shot_core_answered() -> None:
    """The one-shot copy gives no core: the incremental core is asked again."""
    ctx = z3.Context()
    x = z3.Int("x", ctx)
    a, b = z3.Bool("a", ctx), z3.Bool("b", ctx)
    solver = make_solver(ctx)
    solver.add(z3.Implies(a, x > 3), z3.Implies(b, x > 0), x < 2)
    assert check(solver, a, b) == z3.unsat
    solver.answered_by = z3.Solver(ctx=ctx)  # as if the one-shot copy had answered
    core = unsat_core(solver, a, b)
    assert core is not None and {str(c) for c in core} == {"a"}


def test_no_core_means_may_depend(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assumptions_module, "unsat_core", lambda solver, *lits: None)
    args = ["always-allows", files["policies"], "--schema", files["schema"]]
    args += ["--query", 'action == Action::"view"', "--assume", "resource.public"]
    code, out, _ = run(*args)
    assert code == 0
    assert "(may depend on assumption A1: the solver gave no unsat core)" in out
    assert "possibly only under assumption A1" in out
    code, out, _ = run(*args, "--json")
    assert json.loads(out)["dependence"] == "may-depend"


def test_a_counterexample_violating_an_assumption_is_an_internal_error(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a solver that ignores the assumptions finds requests that do not satisfy them
    monkeypatch.setattr(assumptions_module.Guard, "add_to", lambda self, solver: None)
    code, _, err = run(
        "always-allows",
        files["policies"],
        "--schema",
        files["schema"],
        "--assume",
        "resource.public",
    )
    assert code == 4
    assert "does not satisfy the assumption A1 `resource.public` when replayed" in err


# ---- diff, compare, lint ----


def test_diff_hides_changes_only_in_excluded_requests(files: dict[str, str]) -> None:
    base = ["diff", files["policies"], files["new"], "--schema", files["schema"]]
    code, out, _ = run(*base)
    assert code == 1 and "newly denied" in out
    code, out, _ = run(*base, "--assume", "principal has admin && principal.admin")
    assert code == 0, out
    assert "diff: no request changes decision, under assumption A1" in out
    # a change among the requests assumed is still found, and its witness satisfies them
    code, out, _ = run(*base, "--assume", "resource.public", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["assumptions"][0]["condition"] == "resource.public"
    changed = [e for e in report["environments"] if e["result"] == "changed"]
    assert [e["action"] for e in changed] == ['Action::"edit"']
    witness = changed[0]["classes"][0]["witness"]
    assert assumption_holds("resource.public", witness, Schema.from_str(SCHEMA_TEXT))


def test_compare_under_assumptions(files: dict[str, str]) -> None:
    base = ["compare", files["policies"], files["new"], "--schema", files["schema"]]
    code, out, _ = run(*base, "--assume", "principal has admin && principal.admin", "--json")
    report = json.loads(out)
    assert code == 0 and report["result"] == "equivalent"
    assert report["dependence"] == "depends" and report["depends_on"] == ["A1"]
    code, out, _ = run(*base, "--assume", "principal has admin && principal.admin")
    assert "(under assumption A1)" in out


def test_lint_findings_under_assumptions(files: dict[str, str]) -> None:
    base = ["lint", files["linted"], "--schema", files["schema"]]
    code, out, _ = run(*base)
    assert code == 0
    code, out, _ = run(*base, "--assume", ADULTS, "--assume", ADMINS)
    assert code == 1
    assert (
        "L001 dead-policy: forbid `minors`: no request satisfies its conditions "
        "(under assumption A1)"
    ) in out
    assert "L002 matches-everything: permit `admins`" in out
    assert "L003 redundant-policy: permit `owners`" in out
    code, out, _ = run(*base, "--assume", ADULTS, "--json")
    report = json.loads(out)
    (finding,) = report["findings"]
    assert finding["code"] == "L001" and finding["depends_on"] == ["A1"]
    assert report["assumptions"][0]["condition"] == ADULTS
    code, out, _ = run(*base, "--assume", ADULTS, "--sarif")
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["message"]["text"].endswith("(under assumption A1)")
    assert result["properties"]["assumptions"] == [{"id": "A1", "condition": ADULTS}]


def test_prove_invariants_takes_assumptions(files: dict[str, str]) -> None:
    code, out, _ = run(
        "prove-invariants", files["policies"], "--schema", files["schema"], "--assume", ADULTS
    )
    assert code == 0 and "A1" in out
    code, _, err = run("prove-invariants", "--assume", ADULTS)
    assert code == 2 and "apply to POLICIES" in err


# ---- the Python API ----


def test_python_api(schema: Schema) -> None:
    policies = PolicySet.from_str(POLICIES)
    new = PolicySet.from_str(NEW_POLICIES)
    view_only = 'action == Action::"view"'
    assert check_always_allows(policies, schema).verdict is Verdict.REFUTED
    result = check_always_allows(policies, schema, assumptions=[view_only, "resource.public"])
    assert result.holds
    assert [a.id for a in result.assumptions] == ["A1", "A2"]
    dependence = result.dependence
    assert dependence is not None and dependence.kind == "depends"
    assert set(dependence.on) == {"A1", "A2"}

    # the same answers on the reference path
    plain = check_always_allows(
        policies, schema, assumptions=[view_only, "resource.public"], plain=True
    )
    assert [e.verdict for e in plain.environments] == [e.verdict for e in result.environments]
    assert [e.dependence for e in plain.environments] == [e.dependence for e in result.environments]

    (owner,) = [p for p in policies if p.annotation_map.get("id") == "owner"]
    assert check_never_matches(owner, schema, assumptions=[ADMINS]).verdict is Verdict.REFUTED

    diff = diff_policies(
        policies, new, schema, assumptions=["principal has admin && principal.admin"]
    )
    assert not diff.decisions_change and diff.complete

    compared = compare_policies(policies, new, schema, assumptions=[ADMINS])
    assert compared.result.value == "equivalent"

    linted = lint_policies(PolicySet.from_str(LINTED), schema, assumptions=[ADULTS])
    assert [f.code for f in linted.findings] == ["L001"]
    assert linted.findings[0].dependence is not None

    with pytest.raises(AnalysisInputError, match="no request satisfies"):
        check_always_denies(policies, schema, assumptions=["resource.public && !resource.public"])
    with pytest.raises(AnalysisInputError, match="not a Cedar condition"):
        check_always_denies(policies, schema, assumptions=["resource.public &&"])


def test_the_readme_transcript_is_what_the_cli_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from integration_suite import ROOT

    text = (ROOT / "README.md").read_text()
    session = re.search(r"\$ (cedar-smt implies [^\n]*--assume-file[^\n]*)\n(.*?)```", text, re.S)
    assert session is not None
    monkeypatch.chdir(ROOT)
    code, out, _ = run(*shlex.split(session.group(1))[1:])
    assert code == 0
    shown = [line for line in session.group(2).splitlines() if line != "..."]
    printed = out.splitlines()
    assert all(line in printed for line in shown), out
    assert printed[-1] == shown[-1]
