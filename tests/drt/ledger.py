"""`python -m tests.drt.ledger [FILE]`: what the parts of a long run add up to, per check.

A run done in parts leaves one ledger line per check and part, naming the range of case
indexes the part ran without a hole (`first` to `through`). Parts may overlap (a part with
several processes stops each one at its own case), so cases are counted as the union of
those ranges, per master seed; mismatches and process-minutes are summed over the parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

_DEFAULT = Path(__file__).parent / "runs.jsonl"


@dataclass
class Total:
    ranges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # seed -> [first, end)
    parts: int = 0
    mismatching: int = 0
    unusable: int = 0
    minutes: float = 0.0

    def add(self, line: dict[str, Any]) -> None:
        self.parts += 1
        self.mismatching += line["mismatching"]
        self.unusable += line["unusable"]
        self.minutes += line["minutes"] * line["jobs"]
        span = (line["first"], line["through"] + 1)
        self.ranges.setdefault(line["master_seed"], []).append(span)

    @property
    def cases(self) -> int:
        return sum(_union_size(spans) for spans in self.ranges.values())

    def gaps(self) -> list[tuple[int, int, int]]:
        """(seed, first, last) of each index range no part covered, between covered ones."""
        out = []
        for seed, spans in sorted(self.ranges.items()):
            end = None
            for a, b in sorted(spans):
                if end is not None and a > end:
                    out.append((seed, end, a - 1))
                end = b if end is None else max(end, b)
        return out


def _union_size(spans: list[tuple[int, int]]) -> int:
    size, end = 0, None
    for a, b in sorted(spans):
        if end is None or a >= end:
            size += b - a
            end = b
        elif b > end:
            size += b - end
            end = b
    return size


def totals(lines: list[dict[str, Any]]) -> dict[str, Total]:
    out: dict[str, Total] = {}
    for line in lines:
        out.setdefault(line["check"], Total()).add(line)
    return out


def read(path: Path) -> list[dict[str, Any]]:
    lines = []
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError as err:
                raise click.ClickException(f"{path}:{n}: not a JSON line ({err.msg})") from None
    return lines


@click.command()
@click.argument(
    "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=_DEFAULT
)
def main(path: Path) -> None:
    """Totals per check of the ledger at PATH (default: tests/drt/runs.jsonl)."""
    for check, t in sorted(totals(read(path)).items()):
        click.echo(
            f"{check}: {t.cases:,} distinct cases in {t.parts} parts, "
            f"{t.mismatching} mismatching, {t.unusable:,} unusable, "
            f"{t.minutes / 60:.1f} process-hours"
        )
        for seed, first, last in t.gaps():
            click.echo(f"  gap: seed {seed}, cases {first:,}-{last:,} not run")


if __name__ == "__main__":
    main()
