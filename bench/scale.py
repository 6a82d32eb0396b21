"""Analyses on generated stores shaped like real ones (bench/stores.py), at growing sizes:
each command timed as a user runs it (a fresh `cedar-smt` process), with its peak memory.

    python bench/scale.py --sizes 100 1000 --limit 600

For each size: `equivalent` of a reordering, `implies` after a removal, `diff` of a
one-policy edit, `lint`, `never-allows` with a custom query, and `never-errors` of every
policy; whole-command time, time per request environment, peak memory, and how much each
grows per 10× policies. Every answer is checked (a refactoring must be proved equivalent, a
removal proved to imply, the edit found as a change...), so a fast wrong answer fails the run.

    python bench/scale.py --links 10000 --limit 600

times a store made mostly of links of one sharing template (`stores.py --links`: that many
links beside about 300 policies of the other shapes): `equivalent` of a reordering of its
policies and links, `diff` of one link moved to another folder, and `lint`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import stores

ENVIRONMENTS = 8  # the generated schema's request environments


# the targets, whole command on this 2-core machine: seconds by (policies, query)
TARGETS = {
    (1000, "equivalent"): 10.0,
    (1000, "implies"): 10.0,
    (1000, "diff"): 20.0,
    (1000, "lint"): 120.0,
    (1000, "never-allows"): 10.0,
    (10000, "equivalent"): 120.0,
    (10000, "implies"): 120.0,
    (10000, "diff"): 120.0,
}

# linked policies at scale (issue 18): seconds by (links, query), whole command
LINK_TARGETS = {
    (10000, "equivalent"): 20.0,
    (10000, "diff"): 20.0,
    (10000, "lint"): 120.0,
}
LINKED_STATIC = 400  # policies of the other shapes generated beside the links (~300 static)


@dataclass(frozen=True)
class Measure:
    seconds: float | None  # None: stopped at the limit
    cpu_seconds: float
    peak_mb: float
    exit: int | None
    output: str


def measure(args: Sequence[str], limit: float) -> Measure:
    """Run a command to its end (or `limit` seconds); its wall and CPU time and peak resident
    memory. The peak is the child's own high-water mark (`VmHWM`), read as it runs: the
    rusage maximum counts the memory of this process too, which the child shares between
    fork and exec."""
    start = time.perf_counter()
    peak_kb = 0
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = start + limit
        while True:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                return Measure(None, usage.ru_utime + usage.ru_stime, peak_kb / 1024, None, "")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Measure(elapsed, cpu, peak_kb / 1024, proc.returncode, out.read().decode())


def _high_water_kb(pid: int) -> int:
    """The peak resident memory of a running process so far, in kB (0 if it has ended)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "cedar_smt", *map(str, args)]


@dataclass(frozen=True)
class Task:
    name: str
    args: list[str]
    expect: int  # the exit code of the right answer
    environments: int


def tasks(d: Path, schema_args: list[str]) -> list[Task]:
    p = d / "policies.cedar"
    s = [*schema_args, "--json"]
    return [
        Task("equivalent (a reordering)", cli("equivalent", p, d / "reordered.cedar", *s), 0, 8),
        Task("implies (after a removal)", cli("implies", d / "removed.cedar", p, *s), 0, 8),
        Task("diff (one policy edited)", cli("diff", p, d / "edited.cedar", *s), 1, 8),
        Task("lint", cli("lint", p, *s), 1, 8),
        Task(
            "never-allows (custom query)",
            cli("never-allows", p, *s, "--query", stores.NEVER_ALLOWS_QUERY),
            0,
            8,
        ),
        Task(
            "never-errors (every policy)",
            [sys.executable, str(Path(__file__).parent / "never_errors.py"), str(d)],
            0,
            8,
        ),
    ]


def linked_tasks(d: Path, schema_args: list[str]) -> list[Task]:
    s = [*schema_args, "--json"]
    return [
        Task(
            "equivalent (links and policies reordered)",
            cli("equivalent", d / "policies.json", d / "reordered.json", *s),
            0,
            8,
        ),
        Task("diff (one link moved)", cli("diff", d / "policies.json", d / "moved.json", *s), 1, 8),
        Task(
            "lint",
            cli("lint", d / "policies.cedar", *s, "--template-links", d / "links.json"),
            1,
            8,
        ),
    ]


def _answered(task: Task, limit: float, where: str) -> Measure:
    """The task measured; stops the bench when it ended with another answer than expected."""
    m = measure(task.args, limit)
    if m.seconds is not None and m.exit != task.expect:
        raise SystemExit(
            f"{task.name} at {where}: exit {m.exit}, expected {task.expect}\n{m.output[-2000:]}"
        )
    return m


def linked_table(
    sizes: Sequence[int], limit: float, seed: int = 1, only: Sequence[str] = ()
) -> list[list[str]]:
    """The table for stores of `sizes` links of one template (beside ~300 other policies)."""
    rows = [["links", "query", "seconds", "CPU seconds", "peak MB", "of target"]]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            d = Path(tmp) / f"links{n}"
            stores.write(stores.generate(LINKED_STATIC, seed, links=n), d)
            for task in linked_tasks(d, ["--schema", str(d / "schema.cedarschema")]):
                query = task.name.split()[0]
                if only and query not in only:
                    continue
                m = _answered(task, limit, f"{n} links")
                rows.append(
                    [
                        f"{n:,}",
                        task.name,
                        f"{m.seconds:.1f}" if m.seconds is not None else f"> {limit:g}",
                        f"{m.cpu_seconds:.1f}",
                        f"{m.peak_mb:,.0f}",
                        _of_target(n, task.name, m.seconds, limit, LINK_TARGETS),
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
    return rows


def scale_table(
    sizes: Sequence[int],
    limit: float,
    seed: int = 1,
    only: Sequence[str] = (),
    largest: dict[str, int] | None = None,
) -> list[list[str]]:
    """The table; `only` names the queries to run (all when empty), `largest` the size up to
    which a query runs (lint checks each policy in each environment: at 10,000 policies,
    minutes)."""
    rows = [
        [
            "policies",
            "query",
            "seconds",
            "CPU seconds",
            "ms per environment",
            "peak MB",
            "× time per 10× policies",
            "of target",
        ]
    ]
    previous: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            d = Path(tmp) / f"store{n}"
            stores.write(stores.generate(n, seed), d)
            schema_args = [
                "--schema",
                str(d / "schema.cedarschema"),
                "--template-links",
                str(d / "links.json"),
            ]
            for task in tasks(d, schema_args):
                query = task.name.split()[0]
                if only and query not in only:
                    continue
                if largest and n > largest.get(query, n):
                    continue
                m = _answered(task, limit, f"{n} policies")
                growth = ""
                if m.seconds is not None and task.name in previous:
                    growth = f"{m.seconds / previous[task.name]:.1f}×"
                if m.seconds is not None:
                    previous[task.name] = m.seconds
                rows.append(
                    [
                        f"{n:,}",
                        task.name,
                        f"{m.seconds:.1f}" if m.seconds is not None else f"> {limit:g}",
                        f"{m.cpu_seconds:.1f}",
                        f"{m.seconds / task.environments * 1000:,.0f}"
                        if m.seconds is not None
                        else "",
                        f"{m.peak_mb:,.0f}",
                        growth,
                        _of_target(n, task.name, m.seconds, limit),
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
    return rows


def _of_target(
    n: int,
    name: str,
    seconds: float | None,
    limit: float,
    targets: dict[tuple[int, str], float] = TARGETS,
) -> str:
    """The time as a share of the issue's target (`0.4× of 10 s`), if there is one."""
    target = targets.get((n, name.split()[0]))
    if target is None:
        return ""
    if seconds is None:
        return f"> {limit / target:.1f}× of {target:g} s"
    return f"{seconds / target:.2f}× of {target:g} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument(
        "--links",
        type=int,
        nargs="+",
        default=[],
        help="time stores of this many template links instead (see stores.py --links)",
    )
    parser.add_argument("--limit", type=float, default=600, help="seconds per command")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", nargs="+", default=[], help="queries to run (equivalent, lint, ...)"
    )
    args = parser.parse_args()
    print(f"seed {args.seed}", flush=True)
    if args.links:
        print(json.dumps(linked_table(args.links, args.limit, args.seed, args.only)))
    else:
        print(json.dumps(scale_table(args.sizes, args.limit, args.seed, args.only)))


if __name__ == "__main__":
    main()
