"""Fleet analysis: the same checks over many policy stores, on local processes or Dask.

A fleet is read from a manifest (JSON) or a folder of stores. Each (store, check) is an
*item*, answered by the analysis command itself, run in-process with `--json`; an item whose
command takes the environment filters is split into *pieces*, one per request environment,
and the pieces' answers are joined into what the command prints for the whole store (each
environment is analysed from a fresh start, so its answer is the same alone or among
others). Pieces run on any `concurrent.futures.Executor`: this process, a pool of local
processes, or a Dask cluster's (`Client.get_executor`). The files a piece reads travel with
it and are written under a temporary folder where it runs, at the paths the manifest gives,
so its answer names them as the command run from the manifest's folder would, and workers
need no shared filesystem.

The fleet is read in cli/manifest.py, pieces run as cli/pieces.py says, on the engines of
cli/engines.py; the CLI (`batch`, in cli/batch.py) adds the output file, resuming and the
summary.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import click

from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_SIGNALLED,
    EXIT_UNKNOWN,
    STOP_SIGNALS,
)
from cedar_smt.analyzer.cli.engines import Engine, describe_failure
from cedar_smt.analyzer.cli.manifest import ANALYSES, STORE_OPTIONS, Check, Fleet, Store
from cedar_smt.analyzer.cli.pieces import Answer, Failure, Piece, analyses
from cedar_smt.analyzer.results import Interrupted, Verdict, overall
from cedar_smt.analyzer.runner import select_environments
from cedar_smt.core import CedarError, Schema, request_environments
from cedar_smt.core.typechecker import RequestEnv

RUN_WHOLE = {"compare"}  # its four-way result is not a join of per-environment answers
VERDICT_EXIT = {Verdict.HOLDS: 0, Verdict.REFUTED: EXIT_REFUTED, Verdict.UNKNOWN: EXIT_UNKNOWN}
ANSWERED = (0, EXIT_REFUTED, EXIT_UNKNOWN)  # exit codes that come with an answer
MAX_ATTEMPTS = 3  # a piece whose worker process died this often is marked, not run again


# planning an item, and joining its answers


@dataclass
class Item:
    """One (store, check): its pieces and, as they come, their answers."""

    store: Store
    check: Check
    command: str
    pieces: list[Piece]
    answers: list[Answer | Failure | None] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.answers = [None] * len(self.pieces)
        self.attempts = [0] * len(self.pieces)

    @property
    def finished(self) -> bool:
        return all(a is not None for a in self.answers)

    def record(self) -> dict[str, Any]:
        """The item's line of the results: the command's JSON and exit code for the store."""
        answers = [a for a in self.answers if a is not None]
        seconds = round(sum(a.seconds for a in answers), 3)
        out: dict[str, Any] = {"store": self.store.name, "check": list(self.check)}
        failed = next((a for a in answers if isinstance(a, Failure)), None)
        if failed is not None:
            error: dict[str, Any] = {"result": "error", "exit": None, "output": None}
            error["error"] = failed.reason
            return {**out, **error, "seconds": seconds}
        done = [a for a in answers if isinstance(a, Answer)]
        stderr = "".join(dict.fromkeys(line for a in done for line in a.stderr.splitlines(True)))
        wrong = next((a for a in done if a.exit not in ANSWERED), None)
        code: int = (wrong or done[0]).exit
        try:
            if wrong is not None or len(done) == 1:
                output = json.loads((wrong or done[0]).stdout) if code in ANSWERED else None
            else:
                output, code = JOINS[self.command]([json.loads(a.stdout) for a in done])
        except (ValueError, KeyError, TypeError, IndexError) as err:
            reason = f"batch could not read the answer of `{self.command}`: {err}"
            error = {"result": "error", "exit": code, "output": None, "error": reason}
            return {**out, **error, "seconds": seconds}
        if isinstance(output, dict) and isinstance(output.get("result"), str):
            result = output["result"]
        elif isinstance(output, dict) and output.get("query") == "access-diff":
            result = {0: "unchanged", EXIT_REFUTED: "changed", EXIT_UNKNOWN: "unknown"}[code]
        else:
            result = {0: "holds", EXIT_REFUTED: "refuted", EXIT_UNKNOWN: "unknown"}.get(
                code, "error"
            )
        out.update(result=result, exit=code, output=output, seconds=seconds)
        if stderr:
            out["stderr"] = stderr
        return out


def plan(fleet: Fleet, store: Store, check: Check, read: Callable[[str], bytes | None]) -> Item:
    """The item's pieces: one per request environment when its command takes the filters
    and the store's schema has several, else the whole command."""
    command, inputs = ANALYSES[check[0]]
    options = STORE_OPTIONS.get(check[0], ())
    paths = [getattr(store, name) for name in inputs]
    option_paths = [getattr(store, name) for _, name in options]
    needed = [*inputs, *(name for _, name in options)]
    missing = [name for name in needed if getattr(store, name) is None]
    if missing:
        reason = f'the store has no "{missing[0]}" for `{check[0]}` to start from'
        item = Item(store, check, command, [Piece(())])
        item.answers = [Failure(reason)]
        return item
    args = [command, *paths, *check[1:], "--schema", store.schema]
    if store.template_links is not None:
        args += ["--template-links", store.template_links]
    for (option, _), path in zip(options, option_paths, strict=True):
        args += [option, path]
    args.append("--json")
    files = []
    for p in dict.fromkeys([*paths, store.schema, store.template_links, *option_paths]):
        if p is not None and not os.path.isabs(p) and (data := read(p)) is not None:
            files.append((p, data))
    # an impact's classes are grouped over the whole store: not a join of environments
    envs = None if check[0] in STORE_OPTIONS else _environments(fleet, store, command, args)
    if envs is None:
        return Item(store, check, command, [Piece(tuple(args), tuple(files))])
    return Item(store, check, command, [Piece((*args, *_only(e)), tuple(files)) for e in envs])


def _only(env: RequestEnv) -> tuple[str, ...]:
    """The filters choosing `env` alone (an action by its full name: ids may repeat)."""
    return (
        "--principal-type",
        env.principal,
        "--action",
        str(env.action),
        "--resource-type",
        env.resource,
    )


_schemas: dict[str, Schema | None] = {}


def _environments(
    fleet: Fleet, store: Store, command: str, args: list[str]
) -> list[RequestEnv] | None:
    """The environments the command would analyse, when it takes the filters and they are
    several; None when it is run whole (it reports any problem with its input itself)."""
    cmd = analyses.commands[command]
    if command in RUN_WHOLE or not any(p.name == "principal_type" for p in cmd.params):
        return None
    try:
        ctx = cmd.make_context(command, list(args[1:]), resilient_parsing=True)
    except click.exceptions.ClickException:
        return None
    path = os.path.join(fleet.base, store.schema)
    if path not in _schemas:
        if len(_schemas) > 64:
            _schemas.clear()
        try:
            _schemas[path] = Schema.from_file(path)
        except (CedarError, OSError, RecursionError):
            _schemas[path] = None
    schema = _schemas[path]
    if schema is None:
        return None
    p = ctx.params
    envs = select_environments(
        request_environments(schema), p["principal_type"], p["action_filter"], p["resource_type"]
    )
    return envs if len(envs) > 1 else None


def _join_query(outs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    environments = [e for o in outs for e in o["environments"]]
    verdict = overall([Verdict(e["result"]) for e in environments])
    joined = {"query": outs[0]["query"], "result": verdict.value, "environments": environments}
    return joined, VERDICT_EXIT[verdict]


def _join_invariants(outs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    count = len(outs[0]["policies"])
    sets = [_join_query([o["policies"][i] for o in outs])[0] for i in range(count)]
    rule = outs[0]["rule"]
    verdict = overall([Verdict(r["result"]) for r in rule["invariants"] + sets])
    joined = {"query": "prove-invariants", "result": verdict.value, "rule": rule, "policies": sets}
    return joined, VERDICT_EXIT[verdict]


def _join_diff(outs: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    environments = [e for o in outs for e in o["environments"]]
    complete = all(o["complete"] for o in outs)
    changed = any(e["classes"] for e in environments)
    joined = {
        **outs[0],
        "result": "changed" if changed else "unchanged" if complete else "unknown",
        "complete": complete,
        "environments": environments,
        "incomplete": [e for o in outs for e in o["incomplete"]],
    }
    return joined, EXIT_REFUTED if changed else 0 if complete else EXIT_UNKNOWN


JOINS: dict[str, Callable[[list[dict[str, Any]]], tuple[dict[str, Any], int]]] = {
    **{c: _join_query for c, _ in ANALYSES.values() if c not in ("prove-invariants", "diff")},
    "prove-invariants": _join_invariants,
    "diff": _join_diff,
}  # lint takes no environment filters: it is never split


def run_items(
    items: Iterator[Item], engine: Engine, on_record: Callable[[dict[str, Any]], None]
) -> None:
    """Run every item's pieces on `engine`, at most `engine.capacity()` at a time, and call
    `on_record` with each item's record as soon as its last piece is answered.

    A piece whose worker process died is run again, up to MAX_ATTEMPTS times, then marked;
    a signal (noted while waiting, or reported by a piece run in this process) stops the
    engine's work and raises `Interrupted`."""
    with _signals_noted() as noted:
        _run_items(items, engine, on_record, noted)


@contextmanager
def _signals_noted() -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM are noted rather than raised: raised in the middle of
    `concurrent.futures.wait`, they can leave a lock of its held, and the executor's thread
    then hangs the exit. The loop raises `Interrupted` when it sees one noted; a second one
    ends the process, as `signals_interrupt` does. (A piece run in this process handles the
    signals while it runs, as its command does.)"""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def note(signum: int, frame: FrameType | None) -> None:
        if noted:
            os._exit(EXIT_SIGNALLED + signum)
        noted.append(signum)

    previous = {}
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            previous[s] = signal.signal(s, note)
    try:
        yield noted
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


POLL_SECONDS = 0.1  # how often the loop looks for a noted signal


def _run_items(
    items: Iterator[Item],
    engine: Engine,
    on_record: Callable[[dict[str, Any]], None],
    noted: list[int],
) -> None:
    queue: deque[tuple[Item, int]] = deque()
    flying: dict[Future[Answer], tuple[Item, int, int]] = {}
    generation = 0  # of the local pool: a broken one is replaced once

    def settle(item: Item, index: int, answer: Answer | Failure) -> None:
        item.answers[index] = answer
        if item.finished:
            on_record(item.record())

    try:
        while True:
            while len(flying) < engine.capacity():
                if queue:
                    item, index = queue.popleft()
                    flying[engine.submit(item.pieces[index])] = (item, index, generation)
                    continue
                planned = next(items, None)
                if planned is None:
                    break
                if planned.finished:  # answered in planning: a missing input
                    on_record(planned.record())
                queue.extend((planned, i) for i, a in enumerate(planned.answers) if a is None)
            if noted:
                raise Interrupted(noted[0])
            if not flying:
                return
            done, _ = wait(list(flying), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                item, index, born = flying.pop(future)
                try:
                    answer: Answer | Failure = future.result()
                except BrokenProcessPool:
                    if born == generation:
                        engine.restart()
                        generation += 1
                    item.attempts[index] += 1
                    if item.attempts[index] < MAX_ATTEMPTS:
                        queue.appendleft((item, index))
                        continue
                    answer = Failure(f"the worker process running it died, {MAX_ATTEMPTS} times")
                except Exception as err:
                    answer = Failure(describe_failure(err))
                if isinstance(answer, Answer) and answer.exit > EXIT_SIGNALLED:
                    if engine.in_process:  # the signal was ours
                        raise Interrupted(answer.exit - EXIT_SIGNALLED)
                    answer = Failure(f"its worker was stopped by a signal (exit {answer.exit})")
                settle(item, index, answer)
    except KeyboardInterrupt as err:
        engine.stop()
        raise Interrupted.of(err) from None
