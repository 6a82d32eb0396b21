"""`cedar-smt compare OLD NEW`: per request environment equivalent, less permissive, more
permissive or incomparable, then overall; three-valued, with every counterexample replayed
through cedarpy.

tests/fixtures/review/ holds a base version (old.cedar) and changes of each kind against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main
from cedar_smt.analyzer.compare import Comparison, combine, compare_policies, possible
from cedar_smt.analyzer.results import Verdict
from cedar_smt.core import PolicySet, Schema

cedarpy = pytest.importorskip("cedarpy")

FIXTURES = Path(__file__).parent / "fixtures"
REVIEW = FIXTURES / "review"
SCHEMA = str(FIXTURES / "schema.cedarschema")
LONG_RUN = FIXTURES / "long-run"

H, R, U = Verdict.HOLDS, Verdict.REFUTED, Verdict.UNKNOWN


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# (does NEW allow only what OLD allows?, does OLD allow only what NEW allows?) -> result,
# and what an undecided check leaves possible
COMBINATIONS = [
    (H, H, Comparison.EQUIVALENT, [Comparison.EQUIVALENT]),
    (H, R, Comparison.LESS, [Comparison.LESS]),
    (R, H, Comparison.MORE, [Comparison.MORE]),
    (R, R, Comparison.INCOMPARABLE, [Comparison.INCOMPARABLE]),
    (U, H, Comparison.UNKNOWN, [Comparison.EQUIVALENT, Comparison.MORE]),
    (H, U, Comparison.UNKNOWN, [Comparison.EQUIVALENT, Comparison.LESS]),
    (U, R, Comparison.UNKNOWN, [Comparison.LESS, Comparison.INCOMPARABLE]),
    (R, U, Comparison.UNKNOWN, [Comparison.MORE, Comparison.INCOMPARABLE]),
    (
        U,
        U,
        Comparison.UNKNOWN,
        [Comparison.EQUIVALENT, Comparison.LESS, Comparison.MORE, Comparison.INCOMPARABLE],
    ),
]


@pytest.mark.parametrize(("within_old", "within_new", "result", "could"), COMBINATIONS)
def test_two_implications_make_a_comparison(
    within_old: Verdict, within_new: Verdict, result: Comparison, could: list[Comparison]
) -> None:
    assert combine(within_old, within_new) is result
    assert possible(within_old, within_new) == could


# NEW file (against old.cedar) -> overall result, and each environment's
CASES = {
    "old.cedar": ("equivalent", {"read": "equivalent", "write": "equivalent"}),
    "less.cedar": ("less-permissive", {"read": "equivalent", "write": "less-permissive"}),
    "new.cedar": ("incomparable", {"read": "incomparable", "write": "less-permissive"}),
    # no environment is incomparable, but one is less and another more permissive
    "mixed.cedar": ("incomparable", {"read": "less-permissive", "write": "more-permissive"}),
}
EXIT = {"equivalent": 0, "less-permissive": 1, "more-permissive": 1, "incomparable": 1}


def cedar_decision(policies: str, cx: dict[str, Any]) -> str:
    answer = cedarpy.is_authorized(cx["request"], policies, json.dumps(cx["entities"]))
    assert not any("failed to" in e for e in answer.diagnostics.errors)
    return str(answer.decision.value).lower()


@pytest.mark.parametrize("new", sorted(CASES))
def test_compare_with_the_base_version(new: str) -> None:
    old_path, new_path = str(REVIEW / "old.cedar"), str(REVIEW / new)
    code, out, _ = run("compare", old_path, new_path, "--schema", SCHEMA, "--json")
    report = json.loads(out)
    overall, per_env = CASES[new]
    assert code == EXIT[overall]
    assert set(report) == {"query", "result", "environments"}
    assert (report["query"], report["result"]) == ("compare", overall)
    got = {}
    for env in report["environments"]:
        assert set(env) == {
            "principal_type",
            "action",
            "resource_type",
            "result",
            "counterexamples",
        }
        got[env["action"].split('"')[1]] = env["result"]
        directions = []
        for cx in env["counterexamples"]:
            assert set(cx) == {"request", "entities", "decisions"}
            assert list(cx["decisions"]) == [old_path, new_path]  # OLD first
            old_says = cedar_decision((REVIEW / "old.cedar").read_text(), cx)
            new_says = cedar_decision((REVIEW / new).read_text(), cx)
            assert (old_says, new_says) == (cx["decisions"][old_path], cx["decisions"][new_path])
            assert old_says != new_says
            directions.append("less" if old_says == "allow" else "more")
        expected = {
            "equivalent": [],
            "less-permissive": ["less"],
            "more-permissive": ["more"],
            "incomparable": ["less", "more"],
        }[env["result"]]
        assert directions == expected  # one counterexample each way for incomparable
    assert got == per_env


def test_swapping_the_versions_swaps_less_and_more() -> None:
    code, out, _ = run(
        "compare", str(REVIEW / "less.cedar"), str(REVIEW / "old.cedar"), "--schema", SCHEMA
    )
    assert code == 1
    assert out.splitlines()[-1].startswith("compare: MORE-PERMISSIVE: ")
    assert 'MORE-PERMISSIVE  User, Action::"write", Doc' in out.splitlines()


def test_text_output_shows_each_way_with_its_counterexample() -> None:
    old_path, new_path = str(REVIEW / "old.cedar"), str(REVIEW / "new.cedar")
    code, out, _ = run("compare", old_path, new_path, "--schema", SCHEMA)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == 'INCOMPARABLE     User, Action::"read", Doc'
    assert lines[1] == "    OLD allows it, NEW denies it:"
    assert "    NEW allows it, OLD denies it:" in lines
    assert f"{old_path}: ALLOW (by readers-read); {new_path}: DENY" in out
    assert lines[-1] == (
        f"compare: INCOMPARABLE: each of `{new_path}` and `{old_path}` allows requests the "
        "other denies (1 less permissive, 1 incomparable, of 2 request environments)"
    )


def test_an_undecided_check_is_unknown_never_equivalent() -> None:
    """Whether the factoring policy allows anything the solver cannot decide in a second; that
    the empty set allows only what it allows is proved. The answer is unknown (exit 3), with
    the reason and what it may still be."""
    args = [str(LONG_RUN / "empty.cedar"), str(LONG_RUN / "factor.cedar")]
    args += ["--schema", str(LONG_RUN / "schema.cedarschema"), "--action", "view"]
    code, out, _ = run("compare", *args, "--timeout", "1", "--json")
    assert code == 3
    report = json.loads(out)
    assert report["result"] == "unknown"
    (env,) = report["environments"]
    assert env["result"] == "unknown" and env["counterexamples"] == []
    assert env["reason"] == (
        "whether NEW allows only what OLD allows: timeout: the solver gave up after 1s "
        "(it may be equivalent or more-permissive)"
    )


def test_a_decided_difference_settles_the_overall_verdict_despite_an_unknown() -> None:
    """An environment that is less permissive and another more permissive make the whole
    incomparable, whatever a third, undecided one holds."""
    schema = Schema.from_file(str(LONG_RUN / "schema.cedarschema"))
    old = PolicySet.from_str(
        'permit (principal, action == Action::"edit", resource);', source="old.cedar"
    )
    new_text = (LONG_RUN / "factor-view.cedar").read_text() + (
        'permit (principal, action == Action::"share", resource);'
    )
    new = PolicySet.from_str(new_text, source="new.cedar")
    result = compare_policies(list(old), list(new), schema, timeout=1)
    by_action = {e.env.action.id: e.result for e in result.environments}
    assert by_action["view"] is Comparison.UNKNOWN
    assert by_action["edit"] is Comparison.LESS
    assert by_action["share"] is Comparison.MORE
    assert result.result is Comparison.INCOMPARABLE


def test_sarif_locates_each_difference_in_the_new_version() -> None:
    old_path, new_path = str(REVIEW / "old.cedar"), str(REVIEW / "new.cedar")
    code, out, _ = run("compare", old_path, new_path, "--schema", SCHEMA, "--sarif")
    assert code == 1
    run0 = json.loads(out)["runs"][0]
    assert {r["id"] for r in run0["tool"]["driver"]["rules"]} == {"C001", "C002"}
    base = run0["originalUriBaseIds"]["SRCROOT"]["uri"]
    places = set()
    for r in run0["results"]:
        (location,) = r["locations"]
        physical = location["physicalLocation"]
        assert base + physical["artifactLocation"]["uri"] == Path(new_path).resolve().as_uri()
        places.add((r["ruleId"], physical["region"]["startLine"]))
    # read: newly denied at the changed `readers-read` (line 3), newly allowed at `public-read`
    # (7); write: `senior-write` was removed, shown where it was, before `owner-writes` (11)
    assert places == {("C001", 3), ("C002", 7), ("C001", 11)}
    removed = next(
        r
        for r in run0["results"]
        if r["locations"][0]["physicalLocation"]["region"]["startLine"] == 11
    )
    assert "the removed permit `senior-write`" in removed["message"]["text"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("permit (principal, action, resource) when { principal.level > };", "bad.cedar:1:63"),
        ("permit (principal, action, resource) when { principal.nope };", "bad.cedar:1:"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, where: str
) -> None:
    (tmp_path / "bad.cedar").write_text(text + "\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run("compare", str(REVIEW / "old.cedar"), "bad.cedar", "--schema", SCHEMA)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and where in err
    assert "Traceback" not in err


def test_json_and_sarif_together_are_refused() -> None:
    old_path = str(REVIEW / "old.cedar")
    code, _, err = run("compare", old_path, old_path, "--schema", SCHEMA, "--json", "--sarif")
    assert code == 2 and err == "error: give one of --json, --sarif and --format\n"
