"""Golden fixtures for `diff` and `lint`, with every witness replayed through cedarpy.

tests/fixtures/diff/<case>/ holds two versions of a policy set and the exact classes of
changed requests expected (a pure refactoring, a change that both adds and removes access,
and two changes that cancel out). tests/fixtures/lint/findings.cedar has one policy per
finding kind, named after the findings expected of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import integration_suite as suite
from cedar_smt.analyzer.cli import main
from cedar_smt.analyzer.diff import diff_policies
from cedar_smt.analyzer.lint import lint_policies
from cedar_smt.core import PolicySet, Schema

cedarpy = pytest.importorskip("cedarpy")

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_TEXT = (FIXTURES / "schema.cedarschema").read_text()
SCHEMA = Schema.from_str(SCHEMA_TEXT)
DIFF_CASES = sorted(p.name for p in (FIXTURES / "diff").iterdir() if p.is_dir())


def cedar_decision(policies_text: str, witness: dict[str, Any]) -> str:
    answer = cedarpy.is_authorized(
        witness["request"], policies_text, json.dumps(witness["entities"])
    )
    assert not any("failed to" in e for e in answer.diagnostics.errors), answer.diagnostics.errors
    return answer.decision.value.lower()


@pytest.mark.parametrize("case", DIFF_CASES)
def test_diff_fixture(case: str) -> None:
    d = FIXTURES / "diff" / case
    cwd = os.getcwd()
    os.chdir(d)  # so that places read `old.cedar:1`, as in the expectations
    try:
        old = PolicySet.from_file("old.cedar")
        new = PolicySet.from_file("new.cedar")
        result = diff_policies(list(old), list(new), SCHEMA, labels=("old.cedar", "new.cedar"))
    finally:
        os.chdir(cwd)
    expected = json.loads((d / "expected.json").read_text())
    changes = [
        {"kind": c.kind, "name": (c.new or c.old).name}  # type: ignore[union-attr]
        for c in result.changes
        if c.kind != "unchanged"
    ]
    assert changes == expected["policies"]
    classes = [
        {
            "environment": str(env),
            "transition": c.transition,
            "old_satisfied": [p.name for p in c.old_satisfied],
            "new_satisfied": [p.name for p in c.new_satisfied],
            "responsible": [p.name for p in c.responsible],
            "explanation": c.explanation,
        }
        for env, c in result.classes
    ]
    key = lambda c: (c["environment"], c["transition"])  # noqa: E731
    assert sorted(classes, key=key) == sorted(expected["classes"], key=key)
    assert result.complete
    old_text, new_text = (d / "old.cedar").read_text(), (d / "new.cedar").read_text()
    for _, c in result.classes:
        witness = c.witness.to_json()
        assert cedar_decision(old_text, witness) == witness["decisions"]["old.cedar"]
        assert cedar_decision(new_text, witness) == witness["decisions"]["new.cedar"]
        assert witness["decisions"]["old.cedar"] != witness["decisions"]["new.cedar"]


EXPECTED_LINT = {
    ("L001", "dead"),
    ("L002", "matches-everything"),
    ("L003", "redundant-owner-write-1"),
    ("L003", "redundant-owner-write-2"),
    ("L003", "shadowed-permit"),
    ("L004", "shadowed-permit"),
    ("L003", "shadowed-forbid"),
    ("L005", "shadowed-forbid"),
    ("L006", "may-error"),
}


def test_lint_fixture() -> None:
    path = FIXTURES / "lint" / "findings.cedar"
    result = lint_policies(list(PolicySet.from_file(str(path))), SCHEMA, label=str(path))
    assert {(f.code, f.policy.name) for f in result.findings} == EXPECTED_LINT
    assert result.undecided == ()
    text = path.read_text()
    for f in result.findings:
        assert f.policy.source == str(path) and f.policy.line is not None
        if f.witness is None:
            continue
        policy = next(p for p in PolicySet.from_str(text) if p.display_name == f.policy.name)
        answer = cedarpy.is_authorized(
            f.witness.request.to_json(), policy.text, json.dumps(f.witness.entities.to_json())
        )
        assert any("error while evaluating" in e for e in answer.diagnostics.errors), f.to_json()


def test_document_cloud_duplicate_is_redundant() -> None:
    d = suite.EXAMPLES / "document_cloud"
    policies = list(PolicySet.from_file(str(d / "policies.cedar")))
    result = lint_policies(policies, Schema.from_file(str(d / "policies.cedarschema")))
    redundant = {f.policy.id for f in result.findings if f.code == "L003"}
    duplicates = [p.id for p in policies if p.text and "principal == resource.owner" in p.text]
    duplicates = [
        p for p in duplicates if "ViewDocument" in next(q.text for q in policies if q.id == p)
    ]  # type: ignore[arg-type]
    assert len(duplicates) == 2 and set(duplicates) <= redundant


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


@pytest.mark.parametrize("fmt", ["text", "--json", "--sarif"])
def test_diff_cli_formats(fmt: str) -> None:
    d = FIXTURES / "diff" / "adds-and-removes"
    args = [
        "diff",
        str(d / "old.cedar"),
        str(d / "new.cedar"),
        "--schema",
        str(FIXTURES / "schema.cedarschema"),
    ]
    code, out = run(*args, *([] if fmt == "text" else [fmt]))
    assert code == 1
    if fmt == "text":
        assert 'CHANGED    User, Action::"read", Doc: newly denied: permit `readers-read`' in out
        assert out.strip().endswith("diff: 2 classes of requests change decision")
    elif fmt == "--json":
        report = json.loads(out)
        assert report["result"] == "changed"
        assert [c["transition"] for e in report["environments"] for c in e["classes"]]
    else:
        sarif = json.loads(out)
        assert sarif["version"] == "2.1.0"
        results = sarif["runs"][0]["results"]
        assert {r["ruleId"] for r in results} == {"D001", "D002"}
        region = results[0]["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] in (1, 2, 10)


def test_diff_cli_refactoring_exits_0() -> None:
    d = FIXTURES / "diff" / "refactoring"
    code, out = run(
        "diff",
        str(d / "old.cedar"),
        str(d / "new.cedar"),
        "--schema",
        str(FIXTURES / "schema.cedarschema"),
    )
    assert code == 0 and out.strip().endswith("diff: no request changes decision")


@pytest.mark.parametrize("fmt", ["text", "--json", "--sarif"])
def test_lint_cli_formats(fmt: str) -> None:
    path = str(FIXTURES / "lint" / "findings.cedar")
    code, out = run(
        "lint",
        path,
        "--schema",
        str(FIXTURES / "schema.cedarschema"),
        *([] if fmt == "text" else [fmt]),
    )
    assert code == 1
    if fmt == "text":
        assert f"{path}:3:1: L001 dead-policy: permit `dead`" in out
        assert out.strip().endswith("lint: 9 findings")
    elif fmt == "--json":
        report = json.loads(out)
        assert {(f["code"], f["policy"]["name"]) for f in report["findings"]} == EXPECTED_LINT
    else:
        sarif = json.loads(out)
        run0 = sarif["runs"][0]
        assert {r["id"] for r in run0["tool"]["driver"]["rules"]} == {
            f"L00{i}" for i in range(1, 7)
        }
        assert len(run0["results"]) == 9
        base = run0["originalUriBaseIds"]["SRCROOT"]["uri"]
        for r in run0["results"]:
            artifact = r["locations"][0]["physicalLocation"]["artifactLocation"]
            assert artifact["uriBaseId"] == "SRCROOT" and not artifact["uri"].startswith("/")
            assert base + artifact["uri"] == Path(path).resolve().as_uri()


def test_clean_policies_lint_exit_0() -> None:
    d = suite.EXAMPLES / "github_example"
    code, out = run("lint", str(d / "policies.cedar"), "--schema", str(d / "policies.cedarschema"))
    assert (code, out.strip()) == (0, "lint: 0 findings")


@pytest.mark.parametrize(
    "d",
    [p.parent for p in sorted(suite.EXAMPLES.rglob("policies.cedar"))]
    + [suite.ROOT / "examples" / "tinytodo"],
    ids=lambda d: d.name,
)
@pytest.mark.parametrize("fmt", ["text", "--json", "--sarif"])
def test_diff_and_lint_on_example_sets(d: Path, fmt: str) -> None:
    policies = str(d / "policies.cedar")
    schema = str(next(d.glob("*.cedarschema")))
    links = ["--template-links", str(d / "linked")] if (d / "linked").exists() else []
    extra = [] if fmt == "text" else [fmt]
    code, out = run("diff", policies, policies, "--schema", schema, *links, *extra)
    assert code == 0, out  # a policy set does not differ from itself
    code, out = run("lint", policies, "--schema", schema, *links, *extra)
    assert code in (0, 1), out
    if fmt != "text":
        json.loads(out)


ADDS_AND_REMOVES = [
    str(FIXTURES / "diff" / "adds-and-removes" / "old.cedar"),
    str(FIXTURES / "diff" / "adds-and-removes" / "new.cedar"),
    "--schema",
    str(FIXTURES / "schema.cedarschema"),
]


def test_diff_says_when_it_stops_at_the_class_limit() -> None:
    """Two classes change in `read`; with --max-classes 1 the answer says it is incomplete,
    and still exits 1: a change was proved."""
    code, out = run("diff", *ADDS_AND_REMOVES, "--max-classes", "1")
    assert code == 1
    lines = out.splitlines()
    assert (
        'INCOMPLETE User, Action::"read", Doc  (stopped at the limit of 1 class; more requests '
        "change decision; the classes below are not all of them)"
    ) in lines
    assert lines[-1] == (
        "diff: at least 1 class of requests changes decision; the search was incomplete in 1 of "
        "2 environments: 1 stopped at the limit of 1 class (raise --max-classes to find more)"
    )
    report = json.loads(run("diff", *ADDS_AND_REMOVES, "--max-classes", "1", "--json")[1])
    assert (report["result"], report["complete"], report["max_classes"]) == ("changed", False, 1)
    assert report["incomplete"] == [
        {
            "principal_type": "User",
            "action": 'Action::"read"',
            "resource_type": "Doc",
            "stopped_by": "class-limit",
            "reason": "stopped at the limit of 1 class; more requests change decision",
        }
    ]
    sarif = json.loads(run("diff", *ADDS_AND_REMOVES, "--max-classes", "1", "--sarif")[1])
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["message"]["text"].startswith("the search was incomplete in 1 of 2")
    assert run("diff", *ADDS_AND_REMOVES)[0] == 1
    assert json.loads(run("diff", *ADDS_AND_REMOVES, "--json")[1])["complete"] is True


def test_diff_incomplete_without_a_change_exits_3() -> None:
    """The solver gives up (a factoring it cannot do in a second): unknown, not "no change"."""
    long_run = FIXTURES / "long-run"
    args = [str(long_run / "empty.cedar"), str(long_run / "factor.cedar")]
    args += ["--schema", str(long_run / "schema.cedarschema"), "--action", "view"]
    code, out = run("diff", *args, "--timeout", "1")
    assert code == 3
    assert out.splitlines()[-1] == (
        "diff: UNKNOWN: no change found, but the search was incomplete in 1 of 1 environment: "
        "1 where the solver gave up (the solver stopped: timeout)"
    )


def test_diff_help_documents_the_class_limit() -> None:
    code, out = run("diff", "--help")
    assert code == 0
    assert "--max-classes INTEGER RANGE" in out and "[default: 64; x>=1]" in " ".join(out.split())
