"""Fleet analysis: one manifest of generated stores, `cedar-smt batch` on three engines.

    python bench/fleet.py --stores 200 --policies 12 --out /tmp/fleet

writes `--stores` stores of bench/stores.py's shape (store i from seed i + 1, each with an
edited version as its `previous`) and a manifest of four checks (lint, prove-invariants,
never-allows of the property the stores' forbid guarantees, diff-previous), then runs
`cedar-smt batch` on it with local `--jobs 1`, `--jobs 2`, and a Dask LocalCluster of two
worker processes (one thread each, started before the clock starts, as a real cluster would
be), side by side in one run. It checks that the three results files agree line for line
(timings aside) and prints wall time, items per second and the speed-up over `--jobs 1`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import stores  # bench/stores.py, beside this script

CHECKS = [
    ["lint"],
    ["prove-invariants"],
    ["never-allows", "--query", stores.NEVER_ALLOWS_QUERY],
    ["diff-previous"],
]


def write_fleet(out: Path, count: int, policies: int) -> tuple[Path, list[int]]:
    """The stores and their manifest; a seed whose store is too small for an edited version
    is skipped (the seeds used are returned)."""
    entries, seeds, seed = [], [], 0
    while len(seeds) < count:
        seed += 1
        store = stores.generate(policies, seed=seed)
        try:
            stores.variants(store)
        except (IndexError, AssertionError):
            continue
        seeds.append(seed)
        folder = out / f"tenant{len(seeds) - 1:04d}"
        stores.write(store, folder)
        entries.append(
            {
                "name": folder.name,
                "policies": f"{folder.name}/policies.cedar",
                "schema": f"{folder.name}/schema.cedarschema",
                "template_links": f"{folder.name}/links.json",
                "previous": f"{folder.name}/edited.cedar",
            }
        )
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"stores": entries, "checks": CHECKS}, indent=1) + "\n")
    return manifest, seeds


def batch(manifest: Path, results: Path, *options: str) -> float:
    """Seconds for `cedar-smt batch` to answer every item, from a fresh results file."""
    results.unlink(missing_ok=True)
    print(f"  (load average {os.getloadavg()[0]:.1f})", end="", flush=True)
    start = time.perf_counter()
    command = [sys.executable, "-m", "cedar_smt", "batch", str(manifest), "--out", str(results)]
    done = subprocess.run(
        [*command, *options],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"batch {' '.join(options)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def lines(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[(r["store"], json.dumps(r["check"]))] = {k: v for k, v in r.items() if k != "seconds"}
    return out


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(f"| {r} |" for r in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--policies", type=int, default=12)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-dask", action="store_true", help="Only the local engines.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest, seeds = write_fleet(args.out, args.stores, args.policies)
    items = args.stores * len(CHECKS)
    print(
        f"{args.stores} stores of about {args.policies} policies (seeds 1-{seeds[-1]}, "
        f"{seeds[-1] - len(seeds)} skipped) x {len(CHECKS)} checks = {items} items, "
        f"on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the start)",
        flush=True,
    )
    runs: list[tuple[str, float, Path]] = []
    for jobs in ("1", "2"):
        results = args.out / f"jobs{jobs}.jsonl"
        runs.append((f"local --jobs {jobs}", batch(manifest, results, "--jobs", jobs), results))
        print(f"  {runs[-1][0]}: {runs[-1][1]:.1f} s", flush=True)
    if not args.no_dask:
        from distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            started = time.perf_counter() - start
            results = args.out / "dask.jsonl"
            options = ("--executor", "dask", "--scheduler", cluster.scheduler_address)
            seconds = batch(manifest, results, *options)
            runs.append(("Dask LocalCluster, 2 workers", seconds, results))
        print(f"  {runs[-1][0]}: {runs[-1][1]:.1f} s (the cluster took {started:.1f} s to start)")
    reference = lines(runs[0][2])
    assert len(reference) == items, f"{len(reference)} lines for {items} items"
    for name, _, path in runs[1:]:
        assert lines(path) == reference, f"{name} answered otherwise than local --jobs 1"
    print("every engine wrote the same lines (timings aside)\n")
    base = runs[0][1]
    rows = [["engine", "wall time", "items/s", "speed-up"]]
    for name, seconds, _ in runs:
        rows.append([name, f"{seconds:.1f} s", f"{items / seconds:.2f}", f"{base / seconds:.2f}x"])
    print(table(rows))


if __name__ == "__main__":
    main()
