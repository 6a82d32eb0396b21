"""`cedar-smt batch`: a fleet of stores, each (store, check) answered as the check alone would.

The fleet is a few tiny stores of bench/stores.py's shape (one missing its policies). Every
line `batch` writes must equal what the check command prints run alone from the manifest's
folder, whether it ran in this process, in local processes or on a Dask cluster, whether a
worker was killed under it, and whether the run was stopped and resumed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main
from cedar_smt.analyzer.cli.engines import Engine
from cedar_smt.analyzer.cli.fleet import MAX_ATTEMPTS, Item, run_items
from cedar_smt.analyzer.cli.manifest import ANALYSES, Store
from cedar_smt.analyzer.cli.pieces import Answer, Piece, analyses

ROOT = Path(__file__).resolve().parent.parent
QUERY = 'principal.contractor && action == Action::"delete"'
CHECKS = [
    ["lint"],
    ["never-allows", "--query", QUERY],
    ["diff-previous"],
    ["implies", "--action", "view"],
    ["prove-invariants", "--max-policies", "1"],
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_fleet(folder: Path, stores: int, policies: int = 12) -> Path:
    """`stores` generated stores in `folder`, the last without its policies, and a manifest."""
    spec = importlib.util.spec_from_file_location("bench_stores", ROOT / "bench" / "stores.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # for its dataclasses
    spec.loader.exec_module(module)
    entries = []
    for i in range(stores):
        module.write(module.generate(policies, seed=i + 1), folder / f"tenant{i}")
        entries.append(
            {
                "name": f"tenant{i}",
                "policies": f"tenant{i}/policies.cedar",
                "schema": f"tenant{i}/schema.cedarschema",
                "template_links": f"tenant{i}/links.json",
                "entities": f"tenant{i}/entities.json",
                "previous": f"tenant{i}/edited.cedar",
            }
        )
    (folder / f"tenant{stores - 1}" / "policies.cedar").unlink()
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"stores": entries, "checks": CHECKS}, indent=1))
    return manifest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fleet(tmp_path_factory.mktemp("fleet"), 3)


def records(path: Path) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    """The lines of a results file by (store, check), without their timing."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[(r["store"], tuple(r["check"]))] = {k: v for k, v in r.items() if k != "seconds"}
    return out


@pytest.fixture(scope="module")
def reference(fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, Any]:
    """The fleet's results, run in this process."""
    out = fleet.parent / "reference.jsonl"
    code, _, err = run("batch", str(fleet), "--out", str(out))
    assert code == 1, err  # some item is refuted
    return records(out)


def test_every_line_is_what_the_check_prints_alone(
    fleet: Path, reference: dict[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads(fleet.read_text())
    assert len(reference) == len(manifest["stores"]) * len(CHECKS)
    monkeypatch.chdir(fleet.parent)
    for store in manifest["stores"]:
        for check in CHECKS:
            command, inputs = ANALYSES[check[0]]
            args = [command, *(store[i] for i in inputs), *check[1:]]
            args += ["--schema", store["schema"], "--template-links", store["template_links"]]
            code, out, err = run(*args, "--json")
            r = reference[(store["name"], tuple(check))]
            assert (r["exit"], r.get("stderr", "")) == (code, err), (store["name"], check)
            assert r["output"] == (json.loads(out) if out else None)
            assert json.dumps(r["output"]) == json.dumps(json.loads(out) if out else None)
    results = {r["result"] for r in reference.values()}
    assert {"holds", "refuted", "changed", "clean", "error"} <= results


def test_the_summary_counts_and_names_what_failed(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    shutil.copy(fleet.parent / "reference.jsonl", out)
    code, text, _ = run("batch", str(fleet), "--out", str(out), "--json")
    summary = json.loads(text)
    assert code == summary["exit"] == 1
    assert (summary["items"], summary["answered"], summary["earlier"]) == (15, 15, 15)
    assert summary["results"]["diff-previous"] == {"changed": 2, "error": 1}
    assert summary["failing"]["lint"] == {"error": ["tenant2"]}
    (error,) = [e for e in summary["errors"] if e["check"] == ["lint"]]
    assert "cannot read `tenant2/policies.cedar`" in error["stderr"]
    assert len(summary["slowest"]) == 10
    code, text, _ = run("batch", str(fleet), "--out", str(out))
    assert text.startswith(f"batch: 15 of 15 items answered in {out} (0 now, 15 by an earlier run)")
    assert "  lint: error in tenant2" in text


def test_a_folder_of_stores_takes_its_checks_from_the_command_line(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    code, _, err = run(
        "batch", str(fleet.parent), "--out", str(out), "--check", f"never-allows --query '{QUERY}'"
    )
    assert code == 0, err
    got = records(out)  # tenant2, without its policies.cedar, is not a store
    assert set(got) == {(f"tenant{i}", ("never-allows", "--query", QUERY)) for i in range(2)}
    for key, r in got.items():
        assert r == reference[key]


def test_every_analysis_command_is_a_check() -> None:
    commands = {command for command, _ in ANALYSES.values()}
    assert commands == set(analyses.commands)
    assert all(analyses.commands[c] is main.commands[c] for c in commands)
    concrete = {"authorize", "validate", "translate", "batch"}
    over_a_store = {"who-can", "what-can", "access-matrix"}  # they need an entity store
    assert set(main.commands) - commands == concrete | over_a_store


@pytest.mark.parametrize(
    ("manifest", "args", "message"),
    [
        ("{", [], "the manifest is not JSON: Expecting property name"),
        ('{"stores": 1}', [], 'must be an object with a list of "stores"'),
        ('{"stores": [{"name": "a"}], "checks": [["lint"]]}', [], 'needs "policies", a string'),
        ('{"stores": [], "checks": [["translate"]]}', [], "`translate` is not a check batch runs"),
        ('{"stores": [], "checks": []}', [], "no checks to run"),
        ('{"stores": []}', ["--check", "lint --schema x"], "gives `--schema`, which batch gives"),
        (
            '{"stores": []}',
            ["--check", "diff-previous --entities e"],
            "gives `--entities`, which batch gives",
        ),
        ('{"stores": []}', ["--check", "lint 'x"], "is not a command line"),
        (
            '{"stores": [{"name": "a", "policies": "p", "schema": "s"}, '
            '{"name": "a", "policies": "p", "schema": "s"}], "checks": [["lint"]]}',
            [],
            "names several stores 'a'",
        ),
        ('{"stores": [], "checks": [["lint"]]}', ["--scheduler", "tcp://h:1"], "goes with"),
    ],
)
def test_bad_input_is_refused_with_one_message(
    tmp_path: Path, manifest: str, args: list[str], message: str
) -> None:
    (tmp_path / "m.json").write_text(manifest)
    code, _, err = run("batch", str(tmp_path / "m.json"), "--out", str(tmp_path / "r"), *args)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_results_file_batch_did_not_write_is_refused(fleet: Path, tmp_path: Path) -> None:
    (tmp_path / "r").write_text("not json\n")
    code, _, err = run("batch", str(fleet), "--out", str(tmp_path / "r"))
    assert code == 2 and "line 1 is not a line batch writes" in err


def test_an_unfinished_last_line_is_run_again(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    lines = [json.dumps(r | {"seconds": 0.0}) for r in reference.values()]
    out.write_text("\n".join(lines[:12]) + "\n" + lines[12][:30])
    code, text, _ = run("batch", str(fleet), "--out", str(out))
    assert code == 1
    assert "(3 now, 12 by an earlier run)" in text
    assert records(out) == reference


# engines


def test_local_processes_give_the_same_lines(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    code, _, err = run("batch", str(fleet), "--out", str(out), "--jobs", "2")
    assert code == 1, err
    assert records(out) == reference


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c


def test_a_dask_cluster_gives_the_same_lines(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path, cluster: Any
) -> None:
    out = tmp_path / "results.jsonl"
    args = ["--executor", "dask", "--scheduler", cluster.scheduler_address]
    code, _, err = run("batch", str(fleet), "--out", str(out), *args)
    assert code == 1, err
    assert records(out) == reference


def wait_for_lines(path: Path, count: int, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"fewer than {count} lines in {path} after {within} s")


def test_a_dask_worker_killed_mid_run_loses_no_item(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path, cluster: Any
) -> None:
    out = tmp_path / "results.jsonl"
    from distributed import Client

    with Client(cluster.scheduler_address) as client:
        victims = list(client.run(os.getpid).values())

    def kill_one() -> None:
        wait_for_lines(out, 2)
        os.kill(victims[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    args = ["--executor", "dask", "--scheduler", cluster.scheduler_address]
    code, _, err = run("batch", str(fleet), "--out", str(out), *args)
    killer.join()
    assert code == 1, err
    # a piece whose worker died is run again by Dask: every item is answered, none marked
    assert records(out) == reference


def start_batch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cedar_smt", "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


needs_proc = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads /proc")


@needs_proc
def test_a_local_worker_killed_mid_run_loses_no_item(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    proc = start_batch(str(fleet), "--out", str(out), "--jobs", "2")
    wait_for_lines(out, 2)
    workers = [
        p for p in children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    # the pieces the dead worker's pool held are run again in a new pool
    assert records(out) == reference


@needs_proc
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_stopped_run_goes_on_where_it_stopped(
    fleet: Path, reference: dict[Any, Any], tmp_path: Path, jobs: str
) -> None:
    out = tmp_path / "results.jsonl"
    proc = start_batch(str(fleet), "--out", str(out), "--jobs", jobs)
    wait_for_lines(out, 3)
    seen = children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    assert "the same command goes on from there" in err
    deadline = time.monotonic() + 3.0  # the workers, reaped (test_signals.py's allowance)
    while [p for p in seen if running(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [(p, Path(f"/proc/{p}/cmdline").read_bytes()) for p in seen if running(p)]
    assert not left
    done = records(out)
    assert 3 <= len(done) < len(reference), err
    code, text, err = run("batch", str(fleet), "--out", str(out), "--jobs", jobs)
    assert code == 1, err
    assert f"({len(reference) - len(done)} now, {len(done)} by an earlier run)" in text, text
    assert records(out) == reference


# the loop, with an engine whose workers die


class Dying(Engine):
    """Each piece's worker dies, every time."""

    def __init__(self) -> None:
        self.restarts = 0

    def executor(self) -> Executor:
        raise AssertionError

    def submit(self, piece: Piece) -> Future[Answer]:
        future: Future[Answer] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future

    def restart(self) -> None:
        self.restarts += 1


def test_a_piece_that_kills_its_worker_every_time_is_marked() -> None:
    store = Store("s", "p.cedar", "s.cedarschema")
    item = Item(store, ("lint",), "lint", [Piece(("lint",)), Piece(("lint",))])
    written: list[dict[str, Any]] = []
    engine = Dying()
    run_items(iter([item]), engine, written.append)
    (record,) = written
    assert record["result"] == "error" and record["exit"] is None
    assert record["error"] == f"the worker process running it died, {MAX_ATTEMPTS} times"
    assert engine.restarts >= MAX_ATTEMPTS


def test_a_check_over_every_link_of_the_templates(tmp_path: Path) -> None:
    """`--any-link` passes to the check: the unsafe sharing template of examples/templates
    lets someone delete another's document for some link, which only that mode finds."""
    examples = ROOT / "examples" / "templates"
    for name in ("share-folder", "share-folder-unsafe"):
        (tmp_path / "fleet" / name).mkdir(parents=True)
        shutil.copy(examples / f"{name}.cedar", tmp_path / "fleet" / name / "policies.cedar")
        shutil.copy(examples / "schema.cedarschema", tmp_path / "fleet" / name)
    query = 'action == Action::"delete" && !(resource is Document && resource.owner == principal)'
    results = {}
    for mode in ([], ["--any-link"]):
        out = tmp_path / f"results{len(mode)}.jsonl"
        check = ["never-allows", "--query", query, *mode]
        run("batch", str(tmp_path / "fleet"), "--out", str(out), "--check", shlex.join(check))
        results[len(mode)] = {k[0]: r for k, r in records(out).items()}
    assert {k: r["result"] for k, r in results[0].items()} == {
        "share-folder": "holds",
        "share-folder-unsafe": "holds",  # the template is left out without a link
    }
    assert {k: r["result"] for k, r in results[1].items()} == {
        "share-folder": "holds",
        "share-folder-unsafe": "refuted",
    }
    refuted = results[1]["share-folder-unsafe"]["output"]["environments"]
    links = [e["counterexample"]["links"] for e in refuted if e["result"] == "refuted"]
    assert links and all(ls[0]["newId"] == "share-folder/link" for ls in links)


def test_the_impact_of_a_change_over_each_stores_entities(fleet: Path, tmp_path: Path) -> None:
    """`impact-previous` diffs `previous` against `policies` over the store's own entities:
    the line is what `diff --entities` prints alone, its result `changed` or `unchanged`; a
    store without entities is marked, and the run goes on."""
    manifest = json.loads(fleet.read_text())
    manifest["stores"][1].pop("entities")
    manifest["checks"] = [["impact-previous"], ["impact-previous", "--action", "view"]]
    path = fleet.parent / "impact.json"
    path.write_text(json.dumps(manifest))
    out = tmp_path / "results.jsonl"
    code, text, _ = run("batch", str(path), "--out", str(out), "--json")
    got = records(out)
    assert code == 1 and len(got) == 6
    store = manifest["stores"][0]
    here = os.getcwd()
    os.chdir(fleet.parent)
    try:
        for check in manifest["checks"]:
            args = ["diff", store["previous"], store["policies"], *check[1:]]
            args += ["--schema", store["schema"], "--template-links", store["template_links"]]
            code, alone, _ = run(*args, "--entities", store["entities"], "--json")
            r = got[("tenant0", tuple(check))]
            assert r["output"] == json.loads(alone) and r["exit"] == code
            assert r["output"]["query"] == "access-diff"
            assert r["result"] == {0: "unchanged", 1: "changed"}[code]
    finally:
        os.chdir(here)
    assert got[("tenant0", ("impact-previous",))]["result"] == "changed"
    missing = got[("tenant1", ("impact-previous",))]
    assert missing["result"] == "error"
    assert 'the store has no "entities" for `impact-previous`' in missing["error"]
    assert got[("tenant2", ("impact-previous",))]["result"] == "error"  # no policies
    summary = json.loads(text)
    assert summary["results"]["impact-previous"] == {"changed": 1, "error": 2}
