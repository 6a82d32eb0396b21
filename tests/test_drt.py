"""Differential random testing on fixed seeds: cedar-smt against cedarpy (Cedar's Rust engine).

Each check (tests/drt/checks.py) runs on thousands of generated cases, in chunks so that
pytest-xdist spreads them, and must find no mismatch; each chunk must also exercise every
construct the generators are meant to produce, so that a generator that stops producing one
fails here. Every mismatch fails the test. The repro files in tests/drt/repros/ are the
mismatches earlier runs found, each fixed since: they must replay without mismatch.
Longer runs: `python -m tests.drt --check all --minutes 10`.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cedar_smt.core import ValidationResult
from cedar_smt.encoder import concrete as encoder_concrete

pytest.importorskip("cedarpy")

from drt import checks, parsing, sides, symbolic
from drt.checks import CASES, CHECKS, Outcome
from drt.coverage import constructs
from drt.generators import Case, case_seed, generate
from drt.ledger import main as ledger_main
from drt.mutations import MUTATIONS, SYNTHETIC, TextCase, synthetic_source
from drt.repro import load, make_repro, replay, save
from drt.run import main as run_main
from drt.run import run as run_cases
from drt.shrink import drop_policy, shrink

MASTER_SEED = 20250101
# check -> (chunks, cases per chunk)
CHUNKS = {"a": (12, 250), "b": (12, 250), "c": (8, 120), "d": (10, 300)}
REPROS = Path(__file__).parent / "drt" / "repros"

POLICY_CONSTRUCTS = (
    "in", "in set", "has", "like", "is", "is in", "tags", "getTag", "set ops", "if", "unless",
    "arithmetic", "decimal", "ipaddr", "datetime", "duration", "template", "scope ==",
)  # fmt: skip
OUTCOMES = {
    "a": ("allow", "deny", "errored", "overflow", "refused", "entities refused by both"),
    "b": ("passed", "failed"),
    "c": ("points", "policy outcomes", "counterexamples", "any-link cases"),
}


def run_chunk(letter: str, chunk: int) -> tuple[list[str], Counter[str]]:
    """The mismatches, and the counts of what the cases exercised."""
    size = CHUNKS[letter][1]
    mismatches: list[str] = []
    counts: Counter[str] = Counter()
    for index in range(chunk * size, (chunk + 1) * size):
        case = CASES[letter](case_seed(MASTER_SEED, index))
        outcome: Outcome = CHECKS[letter](case)
        for m in outcome.mismatches:
            mismatches.append(f"case {index} (seed {case.seed}): {m.description}")
        counts.update(outcome.counts)
        if isinstance(case, Case):
            counts.update(constructs(case))
    return mismatches, counts


def chunks(letter: str) -> list[int]:
    return list(range(CHUNKS[letter][0]))


def assert_covered(letter: str, counts: Counter[str]) -> None:
    missing = [c for c in (*POLICY_CONSTRUCTS, *OUTCOMES[letter]) if counts[c] == 0]
    assert missing == [], f"the cases exercised none of {missing}: {counts}"


@pytest.mark.parametrize("chunk", chunks("a"))
def test_authorization_agrees_with_cedar(chunk: int) -> None:
    mismatches, counts = run_chunk("a", chunk)
    assert mismatches == []
    assert_covered("a", counts)


@pytest.mark.parametrize("chunk", chunks("b"))
def test_validation_agrees_with_cedar(chunk: int) -> None:
    mismatches, counts = run_chunk("b", chunk)
    assert mismatches == []
    assert_covered("b", counts)
    # mostly well-typed, so that evaluation goes deep, but ill-typed policies too
    share = counts["validating policies"] / (
        counts["validating policies"] + counts["failing policies"]
    )
    assert 0.6 < share < 0.97


@pytest.mark.parametrize("chunk", chunks("c"))
def test_encoder_and_analyses_agree(chunk: int) -> None:
    mismatches, counts = run_chunk("c", chunk)
    assert mismatches == []
    assert_covered("c", counts)
    assert counts["points"] > 3 * CHUNKS["c"][1]


COMMON_REFUSALS = (
    "an action scope of another type",
    "an invalid escape",
    "an invalid token",
    "an unexpected token",
)
# what the mutated texts of each chunk must exercise: every mutation, both verdicts on the
# mistakes Cedar's parser must be matched on, and every kind of refusal
PARSING_COVERAGE = (
    *(f"{m}: refused by both" for m in MUTATIONS),
    *(f"{m}: accepted by both" for m in ("action scope type", "unicode space", "comment")),
    *(f"{m}: accepted by both" for m in ("control character in a string", "escape in a string")),
    *(f"{source}: accepted by both" for source in ("corpus", "generated")),
    *("answers compared", "policies compared", "cedarpy in a child process"),
    *(f"refusal: {kind}" for _, kind in parsing._REFUSALS if kind in COMMON_REFUSALS),
)


@pytest.mark.parametrize("chunk", chunks("d"))
def test_parser_agrees_with_cedar_on_mutated_texts(chunk: int) -> None:
    mismatches, counts = run_chunk("d", chunk)
    assert mismatches == []
    missing = [c for c in PARSING_COVERAGE if counts[c] == 0]
    assert missing == [], f"the texts exercised none of {missing}: {counts}"
    assert counts["accepted by both"] > CHUNKS["d"][1] // 5


@pytest.mark.parametrize("kind", SYNTHETIC)
def test_parser_agrees_with_cedar_on_deep_long_and_large_texts(kind: str) -> None:
    for seed in range(4):
        text, requests, entities, source = synthetic_source(random.Random(seed), kind)
        case = TextCase(seed, text, tuple(requests), tuple(entities), source)
        outcome = parsing.check_parsing(case)
        assert outcome.mismatches == (), outcome.descriptions
        assert outcome.counts["accepted by both"] + outcome.counts["refused by both"] == 1 or (
            outcome.skipped or ""
        ).startswith("cedarpy crashed")


def test_a_flat_chain_of_10_000_ands_is_read_and_answered_alike() -> None:
    text = "permit(principal, action, resource) when { " + " && ".join(["true"] * 10_000) + " };"
    case = TextCase(0, text, (mutations_request(),), ())
    outcome = parsing.check_parsing(case)
    assert outcome.mismatches == () and outcome.counts["answers compared"] == 1


def mutations_request() -> dict[str, object]:
    from drt.mutations import REQUEST

    return REQUEST


def test_parsing_check_detects_and_shrinks_a_disagreement(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With our parser refusing every `unless`, a text with one is a mismatch; its repro is
    shrunk to little more than that clause, and replays clean once the bug is gone."""
    text = (
        'permit(principal == User::"alice", action, resource) when { 1 + 2 > 0 }\n'
        "  unless { context.a == 2 };\nforbid(principal, action, resource) when { false };"
    )
    case = TextCase(0, text, (mutations_request(),), ())
    real = parsing.PolicySet.from_str

    def refuse_unless(text: str, source: str | None = None) -> object:
        if "unless" in text:
            raise sides.CedarError("refused")
        return real(text, source)

    monkeypatch.setattr(parsing.PolicySet, "from_str", refuse_unless)
    (mismatch,) = parsing.check_parsing(case).mismatches
    assert mismatch.kind == "acceptance"
    repro = make_repro("d", case, mismatch, MASTER_SEED, 0)
    assert "unless" in repro["text"] and "forbid" not in repro["text"]
    assert len(repro["text"]) < len(text) // 2
    path = save(repro, tmp_path)
    assert replay(load(path))  # still wrong while the bug is in
    monkeypatch.undo()
    assert replay(load(path)) == []


def _repro_params() -> list[object]:
    return [pytest.param(p, id=p.stem) for p in sorted(REPROS.glob("*.json"))]


@pytest.mark.parametrize("path", _repro_params())
def test_saved_repro_agrees(path: Path) -> None:
    assert replay(load(path)) == []


# --- the tooling itself: deterministic, and able to fail ------------------------------------


def test_cases_are_determined_by_their_seed() -> None:
    seeds = [case_seed(MASTER_SEED, i) for i in range(20)]
    assert len(set(seeds)) == 20 and seeds == [case_seed(MASTER_SEED, i) for i in range(20)]
    for seed in seeds[:5]:
        assert generate(seed) == generate(seed)
        assert Case.from_json(generate(seed).to_json()) == generate(seed)


def _flip_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make our authorizer wrong: it answers the opposite decision."""
    real = sides.is_authorized

    def wrong(*args: object) -> object:
        response = real(*args)  # type: ignore[arg-type]
        flipped = "deny" if response.decision == "allow" else "allow"
        return replace(response, decision=flipped)

    monkeypatch.setattr(sides, "is_authorized", wrong)


def _agreeing_case() -> Case:
    for i in range(50):
        case = generate(case_seed(MASTER_SEED, i))
        outcome = checks.check_authorization(case)
        if outcome.counts["allow"] + outcome.counts["deny"] >= 3 and not outcome.mismatches:
            return case
    raise AssertionError("no usable case among the first 50")


def test_authorization_check_detects_a_wrong_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    case = _agreeing_case()
    _flip_decisions(monkeypatch)
    kinds = {m.kind for m in checks.check_authorization(case).mismatches}
    assert "decision" in kinds


def test_validation_check_detects_a_wrong_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(
        c
        for c in map(generate, range(100))
        if checks.check_validation(c).counts["failing policies"] and not c.templates
    )
    monkeypatch.setattr(checks, "validate", lambda *args: ValidationResult(()))
    kinds = {m.kind for m in checks.check_validation(case).mismatches}
    assert kinds == {"validation"}


def test_encoder_check_detects_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the evaluator's decisions flipped, the encoding pinned to a request disagrees."""
    case = next(
        c for c in map(generate, range(100)) if checks.check_encoder(c).counts["points"] >= 3
    )
    real = encoder_concrete.is_authorized

    def wrong(*args: object) -> object:
        response = real(*args)  # type: ignore[arg-type]
        return replace(response, decision="deny" if response.allowed else "allow")

    monkeypatch.setattr(encoder_concrete, "is_authorized", wrong)
    outcome = symbolic.check_encoder(case, analysis_timeout=None)
    assert outcome.mismatches and {m.kind for m in outcome.mismatches} == {"encoder"}


def test_a_mismatch_is_shrunk_saved_and_replayed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case = _agreeing_case()
    _flip_decisions(monkeypatch)
    mismatch = next(m for m in checks.check_authorization(case).mismatches)
    repro = make_repro("a", case, mismatch, MASTER_SEED, 0)
    small = Case.from_json(repro["case"])
    assert len(small.requests) == 1
    assert len(small.policies) + len(small.entities) < len(case.policies) + len(case.entities)
    assert checks.check_authorization(small).mismatches  # still wrong while the bug is in
    path = save(repro, tmp_path)
    assert load(path)["policies"] == small.policies_text
    assert load(path)["requests"] == list(small.requests)
    monkeypatch.undo()
    assert replay(load(path)) == []  # and fixed once it is gone


def test_shrinking_renumbers_template_links() -> None:
    case = Case(
        seed=0,
        schema="entity U; action a appliesTo { principal: U, resource: U };",
        policies=(
            "permit(principal, action, resource);",
            "permit(principal == ?principal, action, resource);",
            "forbid(principal, action, resource in ?resource);",
        ),
        links=(
            {"templateId": "policy1", "newId": "l0", "values": {"?principal": 'U::"a"'}},
            {"templateId": "policy2", "newId": "l1", "values": {"?resource": 'U::"a"'}},
        ),
        templates=(1, 2),
    )
    smaller = drop_policy(case, 1)
    assert smaller.policies == case.policies[::2]
    assert smaller.links == (
        {"templateId": "policy1", "newId": "l1", "values": case.links[1]["values"]},
    )
    assert smaller.templates == (1,)
    # the shrinker keeps only what the failure needs: here, the forbid template and its link
    kept = shrink(case, lambda c: any("forbid" in p for p in c.policies) and bool(c.links))
    assert kept.policies == (case.policies[2],) and len(kept.links) == 1


def test_the_runner_counts_resumes_and_records_a_part(tmp_path: Path) -> None:
    ledger = tmp_path / "runs.jsonl"
    args = ["--check", "a", "--check", "b", "--cases", "3", "--start", "5", "--jobs", "1"]
    args += ["--seed", "7", "--out", str(tmp_path / "out"), "--ledger", str(ledger)]
    result = CliRunner().invoke(run_main, args)
    assert result.exit_code == 0, result.output
    assert "master seed: 7" in result.output
    assert "authorization: 3 cases, 3 agree" in result.output
    assert "every case 5..7 run" in result.output
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [(r["check"], r["first"], r["through"], r["cases"]) for r in lines] == [
        ("authorization", 5, 7, 3),
        ("validation", 5, 7, 3),
    ]
    assert all(r["master_seed"] == 7 and r["mismatching"] == 0 for r in lines)


def test_an_interrupted_run_reports_and_records_what_it_ran(tmp_path: Path) -> None:
    ledger = tmp_path / "runs.jsonl"
    args = [sys.executable, "-m", "tests.drt", "--check", "a", "--cases", "1000000", "--jobs"]
    args += ["1", "--seed", "7", "--out", str(tmp_path / "out"), "--ledger", str(ledger)]
    root = Path(__file__).parent.parent
    proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"master seed: 7")  # the handler is in place
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"interrupted: reporting the cases run so far" in err and b"Traceback" not in err
    (line,) = [json.loads(text) for text in ledger.read_text().splitlines()]
    assert line["first"] == 0 and line["through"] == line["cases"] - 1 < 1000000
    assert f"authorization: {line['cases']} cases".encode() in out


def test_the_runner_records_no_run_of_code_from_another_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cedar_smt.core

    elsewhere = tmp_path / "other-worktree" / "core" / "__init__.py"
    monkeypatch.setattr(cedar_smt.core, "__file__", str(elsewhere))
    ledger = tmp_path / "runs.jsonl"
    args = ["--check", "a", "--cases", "1", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(run_main, [*args, "--ledger", str(ledger)])
    assert result.exit_code == 2
    assert f"cedar_smt.core is imported from {elsewhere.parent}" in result.output
    assert "master seed" not in result.output and not ledger.exists()
    assert CliRunner().invoke(run_main, args).exit_code == 0  # without a ledger it just runs


def test_the_runner_needs_a_number_of_cases_or_a_time() -> None:
    result = CliRunner().invoke(run_main, ["--check", "a"])
    assert result.exit_code == 2
    assert "give --cases, --minutes or both" in result.output
    assert "Traceback" not in result.output


def test_the_runner_refuses_a_ledger_it_cannot_write_before_running(tmp_path: Path) -> None:
    ledger = tmp_path / "missing" / "runs.jsonl"
    result = CliRunner().invoke(run_main, ["--cases", "1", "--ledger", str(ledger)])
    assert result.exit_code == 2
    assert "--ledger" in result.output and "No such file or directory" in result.output
    assert "master seed" not in result.output


def _part(check: str, first: int, through: int, mismatching: int = 0, seed: int = 1) -> str:
    line = {"check": check, "master_seed": seed, "first": first, "through": through}
    line |= {"cases": through - first + 1, "mismatching": mismatching, "unusable": 0}
    return json.dumps(line | {"minutes": 30.0, "jobs": 2})


def test_the_ledger_adds_up_parts_counting_overlaps_once_and_naming_gaps(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "runs.jsonl"
    parts = [
        _part("validation", 0, 999),
        _part("validation", 990, 1999, mismatching=1),  # overlaps the first part by 10
        _part("validation", 3000, 3499),  # leaves 2000..2999 unrun
        _part("validation", 0, 99, seed=2),  # another master seed: other cases
        _part("authorization", 0, 999),
    ]
    ledger.write_text("\n".join(parts) + "\n")
    result = CliRunner().invoke(ledger_main, [str(ledger)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "authorization: 1,000 distinct cases in 1 parts, 0 mismatching, 0 unusable, "
        "1.0 process-hours",
        "validation: 2,600 distinct cases in 4 parts, 1 mismatching, 0 unusable, 4.0 process-hours",
        "  gap: seed 1, cases 2,000-2,999 not run",
    ]


def test_the_ledger_names_a_line_that_is_not_json(tmp_path: Path) -> None:
    ledger = tmp_path / "runs.jsonl"
    ledger.write_text(_part("validation", 0, 9) + "\n{oops\n")
    result = CliRunner().invoke(ledger_main, [str(ledger)])
    assert result.exit_code == 1
    assert f"{ledger}:2: not a JSON line" in result.output
    assert "Traceback" not in result.output


def test_a_run_writes_status_lines_for_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tallies = run_cases(["a"], 7, 3, None, 1, tmp_path, start=0, status_every=0.0)
    assert tallies["a"].cases == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert len(lines) == 3  # one per case here; a minute apart by default, when not a terminal
    assert lines[-1].endswith("] authorization 3 (0 mismatching)")
