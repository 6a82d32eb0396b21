"""Exit codes CI can trust: a crash is never read as an answer.

An exception nobody expected exits 4 with one line saying so and where to report it (the
traceback only with CEDAR_SMT_DEBUG=1); a timeout must be finite and positive; a decision
rule that misbehaves is bad input (exit 2), however it misbehaves; `--jobs` is capped; and
progress bars are for terminals only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import integration_suite as suite
from cedar_smt import analyzer
from cedar_smt.analyzer.cli import main
from cedar_smt.analyzer.runner import usable_jobs
from cedar_smt.core import PolicySet, Schema

TINYTODO = suite.ROOT / "examples" / "tinytodo"
V1, V3 = str(TINYTODO / "policies.cedar"), str(TINYTODO / "policies-v3.cedar")
SCHEMA = str(TINYTODO / "schema.cedarschema")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from cedar_smt.analyzer import runner

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("an unexpected state")

    monkeypatch.setattr(runner, "check_env", broken)


def test_an_unexpected_exception_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    crash(monkeypatch)
    code, out, err = run("always-denies", V1, "--schema", SCHEMA)
    assert (code, out) == (4, "")
    first, second = err.splitlines()
    assert first.startswith("internal error: ValueError: an unexpected state (at ")
    assert "test_cli_exit_codes.py:" in first  # where it was raised
    assert second == (
        "this is a bug in cedar-smt: please report it to its maintainers, with the command and "
        "its input files; CEDAR_SMT_DEBUG=1 shows the traceback"
    )


def test_cedar_smt_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    crash(monkeypatch)
    code, _, err = run("always-denies", V1, "--schema", SCHEMA, env={"CEDAR_SMT_DEBUG": "1"})
    assert code == 4
    assert err.startswith("Traceback (most recent call last):")
    assert "internal error: ValueError: an unexpected state" in err
    assert "CEDAR_SMT_DEBUG" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["equivalent", V1, V3],
        ["never-errors", V1, "--policy", "policy0"],
        ["prove-invariants", V1],
        ["diff", V1, V3],
        ["lint", V1],
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "-1", "0"])
def test_a_timeout_is_finite_and_positive(command: list[str], timeout: str) -> None:
    code, out, err = run(*command, "--schema", SCHEMA, "--timeout", timeout)
    assert (code, out) == (2, "")
    assert "is not a finite number of seconds greater than 0" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 0, "10"])
def test_the_api_refuses_such_timeouts_too(timeout: Any) -> None:
    schema = Schema.from_file(SCHEMA)
    policies = PolicySet.from_file(V1)
    with pytest.raises(analyzer.AnalysisInputError, match="finite number of seconds"):
        analyzer.check_always_denies(policies, schema, timeout=timeout)
    with pytest.raises(analyzer.AnalysisInputError, match="finite number of seconds"):
        analyzer.diff_policies(list(policies), list(policies), schema, timeout=timeout)
    with pytest.raises(analyzer.AnalysisInputError, match="finite number of seconds"):
        analyzer.lint_policies(list(policies), schema, timeout=timeout)


def test_a_huge_timeout_is_as_good_as_none() -> None:
    code, _, _ = run("equivalent", V1, V1, "--schema", SCHEMA, "--timeout", "1e300")
    assert code == 0


RULES = """\
def raises(permits, forbids, logic):
    return 1 / 0

def returns_a_number(permits, forbids, logic):
    return 3

def returns_nothing(permits, forbids, logic):
    pass

def returns_a_z3_integer(permits, forbids, logic):
    import z3
    return z3.Int("x")

def takes_two(permits, forbids):
    return True

def exits(permits, forbids, logic):
    raise SystemExit(0)

def allows_everything(permits, forbids, logic):
    return True

def fails_on_three_policies(permits, forbids, logic):
    if len(permits) + len(forbids) == 3:
        raise RuntimeError("three")
    return logic.both(logic.any(permits), logic.negate(logic.any(forbids)))

not_a_function = 1
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "rules.py:raises",
            "the decision rule `rules.py:raises` failed: ZeroDivisionError: "
            "division by zero (rules.py:2)",
        ),
        (
            "rules.py:returns_a_number",
            "the decision rule `rules.py:returns_a_number` returned `3` (int), not a boolean",
        ),
        (
            "rules.py:returns_nothing",
            "the decision rule `rules.py:returns_nothing` returned `None` (NoneType), not a "
            "boolean",
        ),
        (
            "rules.py:returns_a_z3_integer",
            "the decision rule `rules.py:returns_a_z3_integer` returned `x` (ArithRef), not a "
            "boolean",
        ),
        (
            "rules.py:takes_two",
            "the decision rule `rules.py:takes_two` must take three "
            "arguments (permits, forbids, logic), not `takes_two(permits, forbids)`",
        ),
        (
            "rules.py:exits",
            "the decision rule `rules.py:exits` failed: SystemExit: 0 (rules.py:18)",
        ),
        ("rules.py:not_a_function", "`rules.py` has no function `not_a_function`"),
        ("rules.py:nope", "`rules.py` has no function `nope`"),
        ("missing.py:f", "cannot load a decision rule from `missing.py`: no such file"),
        ("rules.py", "`rules.py` is not of the form `file.py:function`"),
        (
            "broken.py:f",
            "broken.py:2:12: cannot load a decision rule: '(' was never closed\n"
            "      return (\n"
            "             ^",
        ),
        (
            "imports.py:f",
            "cannot load a decision rule from `imports.py`: ModuleNotFoundError: "
            "No module named 'no_such_module_anywhere' (imports.py:1)",
        ),
    ],
)
def test_a_misbehaving_rule_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, message: str
) -> None:
    (tmp_path / "rules.py").write_text(RULES)
    (tmp_path / "broken.py").write_text("def f(permits, forbids, logic):\n    return (\n")
    (tmp_path / "imports.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run("prove-invariants", "--rule", spec)
    assert (code, out) == (2, "")
    assert err.replace(str(tmp_path) + os.sep, "") == f"error: {message}\n"


def test_a_rule_that_fails_in_a_worker_is_bad_input_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the policy set (2 permits, 1 forbid) meets the failing case: in worker processes."""
    (tmp_path / "rules.py").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    args = ["prove-invariants", V1, "--schema", SCHEMA, "--max-policies", "1", "--jobs", "2"]
    code, out, err = run(*args, "--rule", "rules.py:fails_on_three_policies")
    assert (code, out) == (2, "")
    assert err.startswith(
        "error: the decision rule `rules.py:fails_on_three_policies` failed: RuntimeError: three"
    )


def test_a_rule_may_answer_with_a_python_boolean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules.py").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("prove-invariants", "--rule", "rules.py:allows_everything", "--json")
    assert code == 1
    invariants = json.loads(out)["rule"]["invariants"]
    assert [i["result"] for i in invariants] == ["refuted", "refuted"]


def test_jobs_are_capped_by_environments_and_cpus() -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_jobs(1000, 9) == min(9, cpus or 1)
    assert usable_jobs(1000, 1) == 1
    assert usable_jobs(1, 9) == 1
    one = json.loads(run("implies", V3, V1, "--schema", SCHEMA, "--json")[1])
    many = json.loads(run("implies", V3, V1, "--schema", SCHEMA, "--json", "--jobs", "1000")[1])
    assert [e["result"] for e in one["environments"]] == [e["result"] for e in many["environments"]]


def test_no_progress_bar_without_a_terminal(tmp_path: Path) -> None:
    """Twelve environments (a bar from ten), stderr a pipe: nothing on stderr."""
    actions = ", ".join(f"a{i}" for i in range(12))
    (tmp_path / "s.cedarschema").write_text(
        f"entity U; entity R; action {actions} appliesTo {{ principal: [U], resource: [R] }};"
    )
    (tmp_path / "p.cedar").write_text("permit (principal, action, resource);")
    for command in (["always-allows", "p.cedar"], ["diff", "p.cedar", "p.cedar"]):
        done = subprocess.run(
            [sys.executable, "-m", "cedar_smt", *command, "--schema", "s.cedarschema"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert (done.returncode, done.stderr) == (0, "")
