"""The analysis commands of `cedar-smt`, on examples/ and on ../shared/cedar-examples.

Every command runs from the CLI with its exit code (0 holds, 1 refuted, 2 bad input,
3 unknown) and its JSON shape checked; every counterexample printed is replayed through
cedarpy and must get the decisions reported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import integration_suite as suite
from cedar_smt.analyzer.cli import main

cedarpy = pytest.importorskip("cedarpy")

TINYTODO = suite.ROOT / "examples" / "tinytodo"
V1, V2, V3 = (
    str(TINYTODO / n) for n in ("policies.cedar", "policies-v2.cedar", "policies-v3.cedar")
)
SCHEMA = str(TINYTODO / "schema.cedarschema")
BUGGY = str(suite.ROOT / "examples" / "invariants" / "buggy_rule.py")
BENCH_STORES = suite.ROOT / "bench" / "stores.py"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def check_report(
    report: dict[str, Any], code: int, files: dict[str, str], schema_text: str
) -> None:
    """The JSON shape, the exit code it implies, and every counterexample replayed in cedarpy."""
    assert set(report) == {"query", "result", "environments"}
    assert code == {"holds": 0, "refuted": 1, "unknown": 3}[report["result"]]
    for env in report["environments"]:
        assert {"principal_type", "action", "resource_type", "result"} <= set(env)
        if env["result"] != "refuted":
            continue
        cx = env["counterexample"]
        assert set(cx) == {"request", "entities", "decisions"}
        for label, decision in cx["decisions"].items():
            if label not in files:
                continue
            answer = cedarpy.is_authorized(cx["request"], files[label], json.dumps(cx["entities"]))
            errors = " ".join(answer.diagnostics.errors)
            assert "failed to" not in errors, errors
            if decision in ("allow", "deny"):
                assert answer.decision.value.lower() == decision, (label, cx)


def test_equivalent_refactoring_holds() -> None:
    code, out, _ = run("equivalent", V1, V2, "--schema", SCHEMA, "--json")
    check_report(json.loads(out), code, {}, "")
    assert code == 0


def test_new_grant_is_refuted_with_a_confirmed_counterexample() -> None:
    code, out, _ = run("equivalent", V1, V3, "--schema", SCHEMA, "--json")
    report = json.loads(out)
    files = {V1: Path(V1).read_text(), V3: Path(V3).read_text()}
    check_report(report, code, files, "")
    assert code == 1
    refuted = {e["action"] for e in report["environments"] if e["result"] == "refuted"}
    assert refuted == {
        f'Action::"{a}"' for a in ("UpdateList", "CreateTask", "UpdateTask", "DeleteTask")
    }


def test_subsumption_one_way_only() -> None:
    assert run("implies", V1, V3, "--schema", SCHEMA)[0] == 0
    code, out, _ = run("implies", V3, V1, "--schema", SCHEMA)
    assert code == 1
    assert "REFUTED" in out and "decisions:" in out


def test_never_allows_with_a_query() -> None:
    query = 'principal in Team::"interns" && action == Action::"CreateList"'
    code, out, _ = run("never-allows", V1, "--schema", SCHEMA, "--query", query)
    assert code == 0 and out.strip().endswith("HOLDS in all 9 request environments")
    code, out, _ = run(
        "always-allows",
        V1,
        "--schema",
        SCHEMA,
        "--query",
        "resource is List && resource.owner == principal",
        "--json",
    )
    check_report(json.loads(out), code, {V1: Path(V1).read_text()}, "")
    assert code == 0


def test_always_denies_text_output() -> None:
    code, out, _ = run("always-denies", V1, "--schema", SCHEMA, "--action", "GetList")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == 'REFUTED  User, Action::"GetList", List'
    assert lines[1].startswith('    request:   principal User::"')
    assert lines[-1] == "always-denies: REFUTED (1 refuted, 0 unknown, 0 hold, of 1)"


def test_policy_queries_choose_a_policy() -> None:
    code, _, _ = run("never-errors", V1, "--schema", SCHEMA, "--policy", "owners-full-access")
    assert code == 1  # the list may be missing from the store
    code, _, err = run("never-errors", V1, "--schema", SCHEMA)
    assert code == 2 and "choose one with --policy" in err
    code, _, _ = run(
        "matches-implies",
        V1,
        V1,
        "--schema",
        SCHEMA,
        "--policy-a",
        "policy0",
        "--policy-b",
        "owners-full-access",
    )
    assert code == 0


def test_prove_invariants() -> None:
    code, out, _ = run("prove-invariants", V1, "--schema", SCHEMA)
    assert code == 0
    assert "explicit-permit: holds for every set of up to 4 permits and 4 forbids" in out
    code, out, _ = run(
        "prove-invariants",
        V1,
        "--schema",
        SCHEMA,
        "--rule",
        f"{BUGGY}:deny_if_forbidden_else_allow",
        "--json",
    )
    assert code == 1
    report = json.loads(out)
    explicit = report["rule"]["invariants"][0]
    assert explicit["result"] == "refuted"
    assert explicit["counterexample"] == {
        "permits_satisfied": [],
        "forbids_satisfied": [],
        "decision": "allow",
    }
    assert report["policies"][0]["result"] == "refuted"
    assert report["policies"][1]["result"] == "holds"


def test_parallel_jobs_give_the_same_answers() -> None:
    one = json.loads(run("implies", V3, V1, "--schema", SCHEMA, "--json")[1])
    two = json.loads(run("implies", V3, V1, "--schema", SCHEMA, "--json", "--jobs", "2")[1])
    assert one == two


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store of bench/stores.py's shape, whose counterexamples are not all alike."""
    spec = importlib.util.spec_from_file_location("bench_stores", BENCH_STORES)
    assert spec and spec.loader
    stores = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = stores  # for its dataclasses
    spec.loader.exec_module(stores)
    out = tmp_path_factory.mktemp("store")
    stores.write(stores.generate(10, seed=3), out)
    return out


@pytest.mark.parametrize(
    "command",
    [
        ["never-allows", "policies.cedar", "--query", "principal.contractor"],
        ["equivalent", "removed.cedar", "policies.cedar"],
        ["diff", "edited.cedar", "policies.cedar"],
    ],
    ids=lambda c: c[0],
)
def test_an_environment_is_answered_alike_alone_among_others_and_in_a_worker(
    generated: Path, command: list[str]
) -> None:
    """Each environment is analysed from a fresh start, so neither the environments analysed
    before it in the same process nor `--jobs` change its counterexample (`batch` relies on
    this to split a store's work by environment)."""
    args = [*command, "--schema", "schema.cedarschema", "--json"]
    args = [str(generated / a) if a.endswith((".cedar", "cedarschema")) else a for a in args]
    whole = json.loads(run(*args)[1])
    alone = []
    for env in whole["environments"]:
        only = ["--principal-type", env["principal_type"], "--action", env["action"]]
        only += ["--resource-type", env["resource_type"]]
        alone += json.loads(run(*args, *only)[1])["environments"]
    assert alone == whole["environments"]
    if command[0] != "diff":  # diff takes no --jobs
        assert len({json.dumps(e.get("counterexample")) for e in whole["environments"]}) > 2
        assert json.loads(run(*args, "--jobs", "2")[1]) == whole


def test_counterexamples_do_not_depend_on_the_hash_seed(generated: Path) -> None:
    """Two processes with other string hashes (sets iterate in another order) print the same
    answer, byte for byte."""
    args = [sys.executable, "-m", "cedar_smt", "never-allows", str(generated / "policies.cedar")]
    args += ["--query", "principal.contractor", "--schema", str(generated / "schema.cedarschema")]
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([*args, "--json"], capture_output=True, text=True, env=env)
        assert done.returncode == 1, done.stderr
        outs.add(done.stdout)
    assert len(outs) == 1


def test_an_environment_is_answered_alike_first_last_after_other_queries_and_afresh(
    generated: Path,
) -> None:
    """The answer of each environment, byte for byte, does not depend on what the process did
    before: the environments alone in the reverse order, after other queries in the same
    process, and the whole command in a fresh process (where nothing ran before it)."""
    files = {a: str(generated / a) for a in ("policies.cedar", "removed.cedar")}
    args = ["equivalent", files["removed.cedar"], files["policies.cedar"]]
    args += ["--schema", str(generated / "schema.cedarschema"), "--json"]
    fresh = subprocess.run(
        [sys.executable, "-m", "cedar_smt", *args], capture_output=True, text=True, check=False
    )
    assert fresh.returncode == 1, fresh.stderr
    run("never-allows", files["policies.cedar"], *args[3:5], "--query", "principal.contractor")
    code, whole, _ = run(*args)
    assert code == 1
    assert whole == fresh.stdout
    envs = json.loads(whole)["environments"]
    for env in reversed(envs):
        only = ["--principal-type", env["principal_type"], "--action", env["action"]]
        only += ["--resource-type", env["resource_type"]]
        (alone,) = json.loads(run(*args, *only)[1])["environments"]
        assert json.dumps(alone, indent=2) == json.dumps(env, indent=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["equivalent", V1, "nope.cedar", "--schema", SCHEMA], "cannot read `nope.cedar`"),
        (
            ["never-allows", V1, "--schema", SCHEMA, "--query", "principal =="],
            "the query is not a Cedar condition",
        ),
        (
            ["never-allows", V1, "--schema", SCHEMA, "--query", "principal.nope"],
            "does not typecheck in any request environment",
        ),
        (
            ["always-denies", V1, "--schema", SCHEMA, "--principal-type", "Robot"],
            "no request environment has principal type `Robot`; the schema's principal types "
            "are `User`",
        ),
        (
            ["always-denies", V1, "--schema", SCHEMA, "--timeout", "0"],
            "Invalid value for '--timeout'",
        ),
        (
            ["always-denies", V1, "--schema", SCHEMA, "--query", "true"],
            "`always-denies` takes no --query",
        ),
        (["prove-invariants", V1], "give --schema with POLICIES"),
        (["prove-invariants", "--rule", "nope.py:f"], "cannot load a decision rule"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def example_sets() -> list[Path]:
    return [p.parent for p in sorted(suite.EXAMPLES.rglob("policies.cedar"))] + [TINYTODO]


@pytest.mark.parametrize("d", example_sets(), ids=lambda d: d.name)
@pytest.mark.parametrize(
    "command",
    [
        "always-allows",
        "always-denies",
        "explicit-permit",
        "never-allows",
        "equivalent",
        "implies",
        "disjoint",
        "never-errors",
        "always-matches",
        "never-matches",
        "matches-equivalent",
        "matches-implies",
        "matches-disjoint",
    ],
)
def test_every_query_on_the_example_sets(d: Path, command: str) -> None:
    policies = str(d / "policies.cedar")
    schema = str(next(d.glob("*.cedarschema")))
    links = ["--template-links", str(d / "linked")] if (d / "linked").exists() else []
    oracle = cedarpy.PolicySet.from_str(Path(policies).read_text())
    for link in json.loads((d / "linked").read_text()) if links else []:
        oracle = oracle.with_linked(link["template_id"], link["link_id"], link["args"])
    first_id = json.loads((d / "linked").read_text())[0]["link_id"] if links else "policy0"
    if command == "explicit-permit":
        code, out, _ = run("prove-invariants", policies, "--schema", schema, "--json", *links)
        report = json.loads(out)
        assert code == 0 and report["result"] == "holds"
        return
    first = (
        ["--policy-a", first_id, "--policy-b", first_id] if command.startswith("matches-") else []
    )
    if command in ("never-errors", "always-matches", "never-matches"):
        first = ["--policy", first_id]
    pair = command in ("equivalent", "implies", "disjoint") or command.startswith("matches-")
    args = [
        command,
        policies,
        *([policies] if pair else []),
        "--schema",
        schema,
        "--json",
        *first,
        *links,
    ]
    if command == "never-allows":
        args += ["--query", "principal == principal"]
    code, out, err = run(*args)
    assert code in (0, 1), err
    report = json.loads(out)
    files = {policies: oracle} if command not in ("equivalent", "implies", "disjoint") else {}
    check_report(report, code, files, "")
    if command in ("equivalent", "implies", "matches-equivalent", "matches-implies"):
        assert report["result"] == "holds"  # a set is equivalent to, and implies, itself


def test_a_model_the_decoder_cannot_read_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cedar_smt.encoder.decoder import Decoder

    def broken(self: Decoder) -> Any:
        raise AttributeError("no such thing")

    monkeypatch.setattr(Decoder, "decode", broken)
    code, out, err = run("always-denies", V1, "--schema", SCHEMA, "--action", "GetList")
    assert code == 4 and out == ""
    first, second = err.splitlines()
    assert first.startswith("internal error: ")
    assert "cannot decode the solver's model: AttributeError: no such thing" in first
    assert second.startswith("this is a bug in cedar-smt: please report it")
    assert "Traceback" not in err


def test_a_counterexample_that_does_not_replay_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cedar_smt.analyzer import runner
    from cedar_smt.encoder.decoder import Counterexample, decode

    def wrong(env: Any, model: Any, notes: Any = None) -> Counterexample:
        cx = decode(env, model, notes)  # the store emptied: nothing is allowed any more
        return Counterexample(cx.request, type(cx.entities)([]))

    monkeypatch.setattr(runner, "decode", wrong)
    code, out, err = run("always-denies", V1, "--schema", SCHEMA, "--action", "GetList")
    assert code == 4 and out == ""
    assert "does not show the violation when replayed" in err
