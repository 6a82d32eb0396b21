"""The command line: run many seeded cases of the checks in parallel and save the mismatches.

    python -m tests.drt [--check a|b|c|d|all ...] (--cases N | --minutes T) [--jobs J] [--seed S]
                        [--start I] [--out DIR] [--ledger FILE]

Case `i` of a run is generated from `case_seed(S, i)` alone, so any case reproduces by
itself; the master seed is printed first. Each mismatch is shrunk and saved in DIR as a
repro file (tests/drt/repro.py); the summary counts, per check, the cases run, agreements,
mismatches and unusable cases with the reason.

A long run can be done in parts: `--start I` begins at case I of the same master seed, and
the summary says up to which case every case has been run (`0..K`), so the next part starts
at K + 1. `--ledger FILE` appends one JSON line per check with the date, seed, range, counts
and duration: the record of a run that took several parts. Interrupted (Ctrl-C or SIGTERM),
a run stops, reports and writes its ledger lines for what it ran.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click

import cedar_smt.core

from .checks import CASES, CHECKS, NAMES, crash_text
from .generators import case_seed
from .repro import make_repro, save


@dataclass(frozen=True)
class Unit:
    letter: str
    master: int
    index: int


@dataclass(frozen=True)
class UnitResult:
    letter: str
    index: int
    seed: int
    mismatches: tuple[str, ...] = ()
    skipped: str | None = None
    repros: tuple[dict[str, Any], ...] = ()
    counts: Counter[str] = field(default_factory=Counter)


def run_unit(unit: Unit) -> UnitResult:
    seed = case_seed(unit.master, unit.index)
    try:
        return _run_unit(unit, seed)
    except Exception as err:  # a bug of the generators or checks: report it, go on
        return UnitResult(unit.letter, unit.index, seed, (f"drt crash: {crash_text(err)}",))


def _run_unit(unit: Unit, seed: int) -> UnitResult:
    case = CASES[unit.letter](seed)
    outcome = CHECKS[unit.letter](case)
    repros = []
    seen = set()
    for m in outcome.mismatches:
        if m.kind in seen:  # one repro per kind of difference and case
            continue
        seen.add(m.kind)
        repros.append(make_repro(unit.letter, case, m, unit.master, unit.index))
    return UnitResult(
        unit.letter,
        unit.index,
        seed,
        tuple(m.description for m in outcome.mismatches),
        outcome.skipped,
        tuple(repros),
        outcome.counts,
    )


@dataclass
class Tally:
    cases: int = 0
    agreements: int = 0
    mismatching: int = 0
    mismatches: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    done: set[int] = field(default_factory=set)

    def add(self, r: UnitResult) -> None:
        self.cases += 1
        self.done.add(r.index)
        self.counts.update(r.counts)
        if r.mismatches:
            self.mismatching += 1
            self.mismatches += len(r.mismatches)
        elif r.skipped:
            self.skipped[r.skipped] += 1
        else:
            self.agreements += 1

    def through(self, start: int) -> int:
        """The last index such that every case from `start` to it has been run (start - 1 if
        the first has not)."""
        index = start
        while index in self.done:
            index += 1
        return index - 1


def _units(letters: list[str], master: int, start: int, cases: int | None) -> Iterator[Unit]:
    index = start
    while cases is None or index < start + cases:
        for letter in letters:
            yield Unit(letter, master, index)
        index += 1


def run(
    letters: list[str],
    master: int,
    cases: int | None,
    minutes: float | None,
    jobs: int,
    out: Path,
    start: int = 0,
    status_every: float | None = None,
) -> dict[str, Tally]:
    """Run the cases; `status_every` seconds, a status line on stderr (for logs, where the
    progress bar shows nothing until the end; by default, when stderr is not a terminal)."""
    if status_every is None and not sys.stderr.isatty():
        status_every = 60.0
    tallies = {letter: Tally() for letter in letters}
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    total = cases * len(letters) if cases is not None else int((minutes or 0) * 60)
    clock = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    with (
        ctx.Pool(jobs, initializer=_ignore_interrupts) as pool,
        click.progressbar(length=total, file=sys.stderr, label="cases") as bar,
    ):
        results = pool.imap_unordered(run_unit, _units(letters, master, start, cases), chunksize=1)
        try:
            _collect(results, tallies, out, bar, cases, clock, status_every, deadline)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: reporting the cases run so far", err=True)
        pool.terminate()
    return tallies


def _ignore_interrupts() -> None:
    """In a worker: leave interruptions to the parent, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _collect(
    results: Iterator[UnitResult],
    tallies: dict[str, Tally],
    out: Path,
    bar: Any,
    cases: int | None,
    clock: float,
    status_every: float | None,
    deadline: float | None,
) -> None:
    """Tally the results as they come, until they end or the deadline passes."""
    last_status = clock
    for r in results:
        tallies[r.letter].add(r)
        for repro in r.repros:
            path = save(repro, out)
            click.echo(f"\nmismatch ({NAMES[r.letter]}): {path}", err=True)
        if r.mismatches and not r.repros:
            click.echo(f"\nseed {r.seed} ({NAMES[r.letter]}): {r.mismatches[0]}", err=True)
        if cases is not None:
            bar.update(1)
        else:
            bar.update(int(time.monotonic() - clock) - bar.pos)
        now = time.monotonic()
        if status_every is not None and now - last_status >= status_every:
            last_status = now
            click.echo(f"\n{status(tallies, now - clock)}", err=True)
        if deadline is not None and now >= deadline:
            return


def status(tallies: dict[str, Tally], seconds: float) -> str:
    """One line: the minutes so far and, per check, the cases run and the mismatching ones."""
    parts = [
        f"{NAMES[letter]} {t.cases:,} ({t.mismatching} mismatching)"
        for letter, t in tallies.items()
    ]
    return f"[{seconds / 60:.1f} min] " + ", ".join(parts)


def report(tallies: dict[str, Tally], start: int = 0) -> str:
    lines = []
    for letter, t in tallies.items():
        lines.append(
            f"{NAMES[letter]}: {t.cases} cases, {t.agreements} agree, "
            f"{t.mismatching} with mismatches ({t.mismatches} mismatches), "
            f"{sum(t.skipped.values())} unusable; every case {start}..{t.through(start)} run"
        )
        for reason, n in t.skipped.most_common():
            lines.append(f"    unusable: {n} x {reason}")
    return "\n".join(lines)


@click.command()
@click.option(
    "--check",
    "which",
    type=click.Choice(["a", "b", "c", "d", "all"]),
    multiple=True,
    default=["all"],
    help="a (authorization), b (validation), c (encoder), d (parsing) or all; may be repeated",
)
@click.option(
    "--cases",
    type=int,
    default=None,
    help="cases per check (with --minutes, whichever ends first)",
)
@click.option("--minutes", type=float, default=None, help="run until this much time has passed")
@click.option("--jobs", type=int, default=None, help="processes (default: one per core)")
@click.option("--seed", type=int, default=None, help="master seed (default: a random one)")
@click.option("--start", type=click.IntRange(min=0), default=0, help="first case index")
@click.option("--out", type=click.Path(path_type=Path), default=Path("drt-mismatches"))
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="append a JSON line per check recording this run",
)
def main(
    which: tuple[str, ...],
    cases: int | None,
    minutes: float | None,
    jobs: int | None,
    seed: int | None,
    start: int,
    out: Path,
    ledger: Path | None,
) -> None:
    """Differential random testing of cedar-smt against cedarpy (Cedar's Rust engine)."""
    if cases is None and minutes is None:
        raise click.UsageError("give --cases, --minutes or both (whichever ends first)")
    if ledger is not None:  # found unwritable now, not after hours of running
        _same_checkout()
        try:
            ledger.open("a").close()
        except OSError as err:
            raise click.BadParameter(str(err), param_hint="--ledger") from None
    master = seed if seed is not None else random.SystemRandom().randrange(2**32)
    click.echo(f"master seed: {master}")
    letters = ["a", "b", "c", "d"] if "all" in which else sorted(set(which))
    jobs = jobs or multiprocessing.cpu_count()
    began, clock = datetime.now(timezone.utc), time.monotonic()
    commit = _commit()  # now: commits made while the run goes do not name its code
    previous = signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: stop, report, record
    tallies = run(letters, master, cases, minutes, jobs, out, start)
    signal.signal(signal.SIGTERM, previous)
    seconds = time.monotonic() - clock
    click.echo(report(tallies, start))
    click.echo(f"{seconds / 60:.1f} minutes on {jobs} processes")
    if ledger is not None:
        with ledger.open("a") as f:
            for letter, t in tallies.items():
                line = _ledger_line(letter, t, master, start, began, seconds, jobs, commit)
                f.write(json.dumps(line))
                f.write("\n")
    if any(t.mismatching for t in tallies.values()):
        click.echo(f"mismatches saved in {out}/")
        sys.exit(1)


def _ledger_line(
    letter: str,
    t: Tally,
    master: int,
    start: int,
    began: datetime,
    seconds: float,
    jobs: int,
    commit: str,
) -> dict[str, Any]:
    return {
        "check": NAMES[letter],
        "began": began.isoformat(timespec="seconds"),
        "minutes": round(seconds / 60, 1),
        "jobs": jobs,
        "master_seed": master,
        "first": start,
        "through": t.through(start),
        "cases": t.cases,
        "agree": t.agreements,
        "mismatching": t.mismatching,
        "unusable": sum(t.skipped.values()),
        "cedarpy": version("cedarpy"),
        "commit": commit,
    }


def _same_checkout() -> None:
    """Refuses a ledger line about code the run does not test: a run started in one worktree
    while `cedar_smt` is installed from another would name this checkout's commit."""
    here = Path(__file__).resolve().parents[2]
    tested = Path(cedar_smt.core.__file__).resolve().parent
    if not tested.is_relative_to(here):
        refused = click.ClickException(
            f"the checks are in {here} but cedar_smt.core is imported from {tested}: "
            "install this checkout (pip install -e .) or run the checks of the installed one"
        )
        refused.exit_code = 2  # a setting to correct, as for the other refusals before running
        raise refused


def _commit() -> str:
    """The commit the run's code is at, so that a ledger line names the generators it used.

    The checks and the cedar-smt they test must come from one checkout (see `_same_checkout`).
    """
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    ).stdout.splitlines()
    # the ledger a run appends to is not code: runs one after another stay at the commit
    dirty = [line for line in changed if not line.endswith("tests/drt/runs.jsonl")]
    return found.stdout.strip() + ("+changes" if dirty else "")
