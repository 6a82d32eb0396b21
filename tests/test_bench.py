"""The benchmark script keeps working: small workloads through every table it prints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))  # as Python does for a script's own folder
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_authorization_table_compares_both_engines(bench):
    rows = bench.authorization_table([("TinyTodo", bench.tinytodo())])
    assert rows[0][-1] == "cedar-smt / batch"
    (row,) = rows[1:]
    assert row[0].startswith("TinyTodo") and int(row[1]) > 0
    assert row[-1].endswith("x") and float(row[-1][:-1]) > 0


def test_latency_table_has_every_query(bench):
    tinytodo = [s for s in bench.example_sets() if s[0] == "tinytodo"]
    rows = bench.latency_table(tinytodo)
    queries = {r[0].split(" (")[0] for r in rows[1:]}
    assert queries == {"equivalent", "implies", "always-denies", "never-errors", "diff", "lint"}


def test_scaling_proves_the_refactoring_and_finds_the_change(bench):
    rows = bench.scaling_table([10])  # the script asserts both answers
    assert [r[0] for r in rows[1:]] == ["10"]


def test_linked_store_table_answers_right(bench):
    sys.path.insert(0, str(ROOT / "bench"))
    import scale

    rows = scale.linked_table([30], limit=300)  # the script checks each command's answer
    assert [r[1].split()[0] for r in rows[1:]] == ["equivalent", "diff", "lint"]
    assert all(not r[2].startswith(">") for r in rows[1:])


def test_readme_has_one_results_section_for_the_script_to_rewrite(bench):
    readme = (ROOT / "README.md").read_text()
    assert readme.count(bench.MARK_START) == 1 and readme.count(bench.MARK_END) == 1


def test_large_inputs_are_timed_against_cedarpy(bench):
    sys.path.insert(0, str(ROOT / "bench"))
    import large

    rows = large.policy_file_rows(500, repeat=1) + large.attribute_chain_rows((100,), 1)
    assert all(r[-1].endswith("x") for r in rows)
    store = large.entity_store_row(1_000, 10, with_cedarpy=True)
    assert store[1].endswith("MB peak)") and store[2].endswith("MB peak)")


def test_hostile_inputs_are_timed_against_cedarpy(bench):
    rows = bench.hostile_table()
    assert rows[0][-1] == "cedar-smt / cedarpy"
    assert all(r[-1].endswith("x") for r in rows[1:])


def test_access_bench_prints_every_row():
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "access.py"),
            *("--policies", "40", "--principals", "6", "--plain-principals", "2"),
            *("--big-entities", "400"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    who = [line for line in out.splitlines() if line.startswith("who-can view d1")]
    assert len(who) == 2 and "entities" in who[1], out  # the second, in the bigger store
    for row in ("grouped / triple by triple", "access review / cedarpy", "whole matrix"):
        assert row in out, out
    assert "target 60s" in out and "target 1s" in out
