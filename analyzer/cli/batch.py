"""`batch`: the same checks over a fleet of policy stores, into a file of JSON lines.

The fleet, its pieces and the engines they run on are `fleet`'s; this module holds the
command, the results file (read back to resume a run) and the summary.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import click

from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    exit_interrupted,
    fail,
    reports_bad_input,
    with_progress,
)
from cedar_smt.analyzer.cli.engines import Dask, Engine, InProcess, Processes
from cedar_smt.analyzer.cli.fleet import Item, plan, run_items
from cedar_smt.analyzer.cli.manifest import (
    Check,
    Fleet,
    FleetError,
    parse_check,
    read_folder,
    read_manifest,
)
from cedar_smt.analyzer.results import Interrupted
from cedar_smt.analyzer.runner import usable_jobs

Key = tuple[str, Check]
LISTED = 10  # stores listed per check and outcome in the text summary, and slowest items


class Results:
    """The results file: the records it already holds, and the new ones, appended and flushed
    one line at a time (a run stopped in the middle of a line loses only that line)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records: dict[Key, dict[str, Any]] = {}
        if os.path.exists(path):
            with open(path, "rb") as file:
                data = file.read()
            whole = data[: data.rfind(b"\n") + 1]  # a last line without its end is unfinished
            if len(whole) != len(data):
                with open(path, "r+b") as file:
                    file.truncate(len(whole))
            for n, line in enumerate(whole.decode("utf-8", "replace").splitlines(), 1):
                if line.strip():
                    self._read(line, n)
        self.file = open(path, "a", encoding="utf-8")

    def _read(self, line: str, n: int) -> None:
        try:
            record = json.loads(line)
            key = (record["store"], tuple(record["check"]))
            assert isinstance(key[0], str) and all(isinstance(a, str) for a in key[1])
        except (ValueError, KeyError, TypeError, AssertionError):
            raise FleetError(
                f"`{self.path}` line {n} is not a line batch writes: give --out a new file or "
                "one an earlier run of batch wrote"
            ) from None
        self.records[key] = record

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        self.records[(record["store"], tuple(record["check"]))] = record

    def close(self) -> None:
        self.file.close()


def _reader(fleet: Fleet) -> Callable[[str], bytes | None]:
    """Reads a store's file relative to the fleet's folder; None when it cannot (the command
    then says why, as it would alone). The last store's files are kept: checks share them."""
    kept: dict[str, bytes | None] = {}

    def read(path: str) -> bytes | None:
        if path not in kept:
            if len(kept) > 16:
                kept.clear()
            try:
                with open(os.path.join(fleet.base, path), "rb") as file:
                    kept[path] = file.read()
            except OSError:
                kept[path] = None
        return kept[path]

    return read


def _engine(executor: str, jobs: int, scheduler: str | None) -> Engine:
    if executor == "dask":
        return Dask(scheduler, jobs)
    jobs = usable_jobs(jobs, jobs)
    return InProcess() if jobs == 1 else Processes(jobs)


def shown(check: Check) -> str:
    return shlex.join(check)


def summary(fleet: Fleet, results: Results, ran: int) -> dict[str, Any]:
    """Counts per check and result, the items that did not answer 0 (holds, clean,
    unchanged) by check and outcome, and the slowest items."""
    records = [results.records.get((s.name, c)) for s, c in fleet.items]
    answered = [r for r in records if r is not None]
    checks: dict[str, Counter[str]] = {shown(c): Counter() for c in fleet.checks}
    failing: dict[str, dict[str, list[str]]] = {}
    for r in answered:
        checks[shown(tuple(r["check"]))][r["result"]] += 1
        if r["exit"] != 0:
            by = failing.setdefault(shown(tuple(r["check"])), {})
            by.setdefault(r["result"], []).append(r["store"])
    slowest = sorted(answered, key=lambda r: -r.get("seconds", 0))[:LISTED]
    return {
        "exit": exit_code(records),
        "items": len(records),
        "answered": len(answered),
        "now": ran,
        "earlier": len(answered) - ran,
        "results": {c: dict(counts) for c, counts in checks.items()},
        "failing": failing,
        "errors": [
            {k: r.get(k) for k in ("store", "check", "exit", "error", "stderr") if k in r}
            for r in answered
            if r["result"] == "error"
        ],
        "slowest": [
            {"store": r["store"], "check": r["check"], "seconds": r.get("seconds")} for r in slowest
        ],
    }


def render_summary(s: dict[str, Any], out: str) -> str:
    lines = [
        f"batch: {s['answered']} of {s['items']} items answered in {out} ({s['now']} now, "
        f"{s['earlier']} by an earlier run)"
    ]
    width = max(len(c) for c in s["results"])
    for check, counts in s["results"].items():
        told = ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) or "none yet"
        lines.append(f"  {check.ljust(width)}  {told}")
    if s["failing"]:
        lines.append("not answered 0 (holds, clean, unchanged):")
        for check, by in s["failing"].items():
            for result, stores in sorted(by.items()):
                more = f" and {len(stores) - LISTED} more" if len(stores) > LISTED else ""
                lines.append(f"  {check}: {result} in {', '.join(stores[:LISTED])}{more}")
    for e in s["errors"][:LISTED]:
        why = (e.get("error") or e.get("stderr") or "").strip().splitlines()
        lines.append(f"  error: {e['store']}, {shown(tuple(e['check']))}: {why[0] if why else ''}")
    if s["slowest"]:
        lines.append("slowest:")
        for r in s["slowest"]:
            lines.append(f"  {r['seconds']:8.2f} s  {r['store']}  {shown(tuple(r['check']))}")
    return "\n".join(lines)


def exit_code(records: list[dict[str, Any] | None]) -> int:
    """1 when an item was refuted (or found something, or changed), else 3 when one is
    unknown or was not answered, else 0."""
    exits = [r["exit"] if r else None for r in records]
    if EXIT_REFUTED in exits:
        return EXIT_REFUTED
    return EXIT_UNKNOWN if any(e != 0 for e in exits) else 0


@click.command()
@click.argument("source", metavar="MANIFEST|FOLDER", type=click.Path(exists=True))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The results, one JSON line per (store, check); a rerun skips what it holds.",
)
@click.option(
    "--check",
    "check_texts",
    multiple=True,
    metavar="'CHECK OPTIONS'",
    help="A check as its command line, e.g. 'never-allows --query \"...\"' (repeatable): "
    "the checks of a folder of stores; they replace a manifest's.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Local processes, or a Dask cluster.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local processes (1: this one); with --executor dask and no --scheduler, the workers "
    "of a Dask cluster started on this machine.",
)
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="The Dask scheduler to run on.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_bad_input
def batch(
    source: str,
    out_path: str,
    check_texts: tuple[str, ...],
    executor: str,
    jobs: int,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Run checks over many policy stores: MANIFEST, a JSON file naming the stores and the
    checks, or FOLDER, one folder per store (policies.cedar, schema.cedarschema or
    schema.json, and optionally links.json, entities.json, previous.cedar) with --check.

    Each (store, check) gets a line in --out with the check command's JSON and exit code, as
    that command run alone from the manifest's folder prints them. A store is split by
    request environment where the check takes --principal-type, --action and
    --resource-type, and its answers joined. Exit 0 when every item answered 0, 1 when one
    was refuted, found something or changed, 3 when one is unknown or could not be
    answered, 2 on bad input, 130/143 when stopped (run the same command again to go on).
    """
    if scheduler is not None and executor != "dask":
        fail("--scheduler goes with --executor dask")
    checks = [parse_check(text) for text in check_texts]
    if os.path.isdir(source):
        fleet = read_folder(source, checks)
    else:
        fleet = read_manifest(source, checks)
    results = Results(out_path)
    todo = [(s, c) for s, c in fleet.items if (s.name, c) not in results.records]
    ran = 0

    def items() -> Iterator[Item]:
        read = _reader(fleet)
        for store, check in todo:
            yield plan(fleet, store, check, read)

    def record(r: dict[str, Any], on_done: Callable[[Any], None] | None) -> None:
        nonlocal ran
        results.write(r)
        ran += 1
        if on_done:
            on_done(r)

    try:
        if todo:
            engine = _engine(executor, jobs, scheduler)
            try:
                with_progress(
                    len(todo),
                    "items",
                    lambda on_done: run_items(items(), engine, lambda r: record(r, on_done)),
                )
            finally:
                engine.close()
    except Interrupted as err:
        results.close()
        click.echo(
            f"batch: {len(results.records)} items in {out_path}, {len(todo) - ran} left; the "
            "same command goes on from there",
            err=True,
        )
        exit_interrupted(err)
    results.close()
    s = summary(fleet, results, ran)
    click.echo(json.dumps(s, indent=2) if as_json else render_summary(s, out_path))
    sys.exit(s["exit"])


__all__ = ["Results", "batch", "summary"]
