"""Pieces: one analysis command line and the files it reads, run where a worker is (this
process, a local process, a Dask worker), as `cedar-smt` runs it, in a temporary folder
holding its files at the paths the manifest gives (workers need no shared filesystem)."""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import click

from cedar_smt.analyzer.cli.common import (
    Main,
    as_worker,
    make_room_for_nesting,
)
from cedar_smt.analyzer.cli.queries import COMMANDS, prove_invariants
from cedar_smt.analyzer.cli.review import compare, diff, lint


@click.group(cls=Main)
def analyses() -> None:
    """The analysis commands, run as `cedar-smt` runs them (signals, internal errors)."""
    make_room_for_nesting()


for _command in (*COMMANDS, prove_invariants, diff, compare, lint):
    analyses.add_command(_command)


@dataclass(frozen=True)
class Piece:
    """A command line after `cedar-smt`, and the files it reads (path -> contents)."""

    args: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Answer:
    """What a piece's command printed, and its exit code."""

    exit: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Failure:
    """A piece that could not be run to its end: its worker died, or the engine failed."""

    reason: str
    seconds: float = 0.0


_one_at_a_time = threading.Lock()  # a piece takes the process's working folder and streams


def run_piece(piece: Piece) -> Answer:
    """Run the piece's command in this process, in a temporary folder holding its files."""
    with _one_at_a_time, tempfile.TemporaryDirectory(prefix="cedar-smt-batch-") as root:
        work = _materialize(root, piece.files)
        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        start = time.perf_counter()
        os.chdir(work)
        code = 0
        try:
            with redirect_stdout(out), redirect_stderr(err):
                analyses.main(args=list(piece.args), prog_name="cedar-smt")  # exits, always
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        finally:
            os.chdir(here)
        return Answer(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def run_piece_in_worker(piece: Piece) -> Answer:
    """`run_piece` in a local worker process, which SIGTERM ends at once."""
    as_worker()
    return run_piece(piece)


def _materialize(root: str, files: tuple[tuple[str, bytes], ...]) -> str:
    """Write `files` at their relative paths from a folder of `root`, deep enough that paths
    starting with `..` stay inside `root`; that folder."""
    ups = max((_ups(path) for path, _ in files), default=0)
    work = os.path.join(root, *["w"] * ups)
    os.makedirs(work, exist_ok=True)
    for path, data in files:
        target = os.path.normpath(os.path.join(work, path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as file:
            file.write(data)
    return work


def _ups(path: str) -> int:
    parts = os.path.normpath(path).split(os.sep)
    return next((i for i, p in enumerate(parts) if p != ".."), len(parts))
