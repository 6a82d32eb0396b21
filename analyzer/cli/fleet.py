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

The CLI (`batch`, in cli/batch.py) adds the output file, resuming and the summary.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shlex
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click

from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_SIGNALLED,
    EXIT_UNKNOWN,
    STOP_SIGNALS,
    Main,
    as_worker,
    make_room_for_nesting,
)
from cedar_smt.analyzer.cli.queries import COMMANDS, prove_invariants
from cedar_smt.analyzer.cli.review import compare, diff, lint
from cedar_smt.analyzer.results import Interrupted, Verdict, overall
from cedar_smt.analyzer.runner import process_pool, select_environments, sigint_held, stop_workers
from cedar_smt.core import CedarError, Schema, request_environments
from cedar_smt.core.errors import Loc
from cedar_smt.core.typechecker import RequestEnv

# check name -> (the command that answers it, the store's files it takes as arguments)
ANALYSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "always-allows": ("always-allows", ("policies",)),
    "always-denies": ("always-denies", ("policies",)),
    "never-allows": ("never-allows", ("policies",)),
    "never-errors": ("never-errors", ("policies",)),
    "always-matches": ("always-matches", ("policies",)),
    "never-matches": ("never-matches", ("policies",)),
    "matches-equivalent": ("matches-equivalent", ("policies", "policies")),
    "matches-implies": ("matches-implies", ("policies", "policies")),
    "matches-disjoint": ("matches-disjoint", ("policies", "policies")),
    "equivalent": ("equivalent", ("previous", "policies")),
    "implies": ("implies", ("previous", "policies")),
    "disjoint": ("disjoint", ("previous", "policies")),
    "prove-invariants": ("prove-invariants", ("policies",)),
    "lint": ("lint", ("policies",)),
    "diff-previous": ("diff", ("previous", "policies")),
    "compare": ("compare", ("previous", "policies")),
}
RUN_WHOLE = {"compare"}  # its four-way result is not a join of per-environment answers
SUPPLIED = ("--schema", "--template-links", "--json", "--sarif")  # batch gives these itself
VERDICT_EXIT = {Verdict.HOLDS: 0, Verdict.REFUTED: EXIT_REFUTED, Verdict.UNKNOWN: EXIT_UNKNOWN}
ANSWERED = (0, EXIT_REFUTED, EXIT_UNKNOWN)  # exit codes that come with an answer
MAX_ATTEMPTS = 3  # a piece whose worker process died this often is marked, not run again

Check = tuple[str, ...]


@click.group(cls=Main)
def analyses() -> None:
    """The analysis commands, run as `cedar-smt` runs them (signals, internal errors)."""
    make_room_for_nesting()


for _command in (*COMMANDS, prove_invariants, diff, compare, lint):
    analyses.add_command(_command)


class FleetError(CedarError):
    """A manifest, folder of stores or check that `batch` cannot take."""


@dataclass(frozen=True)
class Store:
    """One policy store; paths are relative to the fleet's folder (or absolute)."""

    name: str
    policies: str
    schema: str
    template_links: str | None = None
    entities: str | None = None  # accepted, and read by no analysis yet
    previous: str | None = None  # the version `diff-previous` and the set comparisons start from


@dataclass(frozen=True)
class Fleet:
    base: str  # the folder the stores' paths are relative to
    stores: tuple[Store, ...]
    checks: tuple[Check, ...]

    @property
    def items(self) -> list[tuple[Store, Check]]:
        return [(s, c) for s in self.stores for c in self.checks]


def parse_check(text: str) -> Check:
    """A check written as its command line, `never-allows --query '...'`."""
    try:
        return tuple(shlex.split(text))
    except ValueError as err:
        raise FleetError(f"the check `{text}` is not a command line: {err}") from None


def validate_check(check: Check) -> Check:
    if not check or check[0] not in ANALYSES:
        name = check[0] if check else ""
        raise FleetError(
            f"`{name}` is not a check batch runs; the checks are " + ", ".join(ANALYSES)
        )
    for arg in check[1:]:
        if arg.split("=", 1)[0] in SUPPLIED:
            raise FleetError(
                f"the check `{shlex.join(check)}` gives `{arg.split('=', 1)[0]}`, which batch "
                "gives each store itself"
            )
    return check


def read_manifest(path: str, checks: Iterable[Check] = ()) -> Fleet:
    """The fleet a JSON manifest describes: `{"stores": [{"name", "policies", "schema",
    "template_links"?, "entities"?, "previous"?}], "checks": [["lint"], ...]}`; `checks`,
    when given, replace the manifest's."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FleetError(
            f"the manifest is not JSON: {err.msg}",
            source=path,
            loc=Loc(err.lineno, err.colno),
            text=text,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("stores"), list):
        raise FleetError(f'the manifest `{path}` must be an object with a list of "stores"')
    stores = tuple(_store(entry, i, path) for i, entry in enumerate(data["stores"]))
    given = tuple(checks)
    if not given:
        raw = data.get("checks")
        if not isinstance(raw, list) or not all(
            isinstance(c, list) and all(isinstance(a, str) for a in c) for c in raw
        ):
            raise FleetError(
                f'the manifest `{path}` must have "checks", a list of command lines as lists '
                'of strings, such as [["lint"], ["never-allows", "--query", "..."]]'
            )
        given = tuple(tuple(c) for c in raw)
    return _fleet(str(Path(path).parent), stores, given, path)


STORE_KEYS = ("name", "policies", "schema", "template_links", "entities", "previous")


def _store(entry: Any, index: int, path: str) -> Store:
    where = f"store {index + 1} of `{path}`"
    if not isinstance(entry, dict):
        raise FleetError(f"{where} is not an object")
    unknown = sorted(set(entry) - set(STORE_KEYS))
    if unknown:
        raise FleetError(f"{where} has unknown keys {', '.join(map(repr, unknown))}")
    for key in STORE_KEYS:
        required = key in ("name", "policies", "schema")
        if (required and key not in entry) or (key in entry and not isinstance(entry[key], str)):
            raise FleetError(f'{where} needs "{key}", a string')
    return Store(**entry)


def read_folder(path: str, checks: Iterable[Check]) -> Fleet:
    """A folder of stores, one folder each holding `policies.cedar`, `schema.cedarschema` or
    `schema.json`, and optionally `links.json`, `entities.json` and `previous.cedar`."""
    stores = []
    for sub in sorted(p for p in Path(path).iterdir() if p.is_dir()):
        if not (sub / "policies.cedar").is_file():
            continue
        schema = "schema.cedarschema" if (sub / "schema.cedarschema").is_file() else "schema.json"

        def optional(name: str, sub: Path = sub) -> str | None:
            return f"{sub.name}/{name}" if (sub / name).is_file() else None

        stores.append(
            Store(
                sub.name,
                f"{sub.name}/policies.cedar",
                f"{sub.name}/{schema}",
                optional("links.json"),
                optional("entities.json"),
                optional("previous.cedar"),
            )
        )
    if not stores:
        raise FleetError(f"`{path}` has no folder holding a `policies.cedar`")
    return _fleet(path, tuple(stores), tuple(checks), path)


def _fleet(base: str, stores: tuple[Store, ...], checks: tuple[Check, ...], path: str) -> Fleet:
    if not checks:
        raise FleetError("no checks to run: give them with --check")
    names = [s.name for s in stores]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise FleetError(f"`{path}` names several stores {', '.join(map(repr, twice))}")
    return Fleet(os.path.abspath(base), stores, tuple(validate_check(c) for c in checks))


# pieces: what a worker runs


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
    paths = [getattr(store, name) for name in inputs]
    missing = [name for name, p in zip(inputs, paths, strict=True) if p is None]
    if missing:
        reason = f'the store has no "{missing[0]}" for `{check[0]}` to start from'
        item = Item(store, check, command, [Piece(())])
        item.answers = [Failure(reason)]
        return item
    args = [command, *paths, *check[1:], "--schema", store.schema]
    if store.template_links is not None:
        args += ["--template-links", store.template_links]
    args.append("--json")
    files = []
    for p in dict.fromkeys([*paths, store.schema, store.template_links]):
        if p is not None and not os.path.isabs(p) and (data := read(p)) is not None:
            files.append((p, data))
    envs = _environments(fleet, store, command, args)
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


# engines: where pieces run


class Engine:
    """An executor, how many pieces to keep in flight on it, and how to end it."""

    in_process = False  # pieces run in this process: their exit 130/143 is our own signal

    def executor(self) -> Executor:
        raise NotImplementedError

    def capacity(self) -> int:
        return 1

    def submit(self, piece: Piece) -> Future[Answer]:
        return self.executor().submit(run_piece, piece)

    def restart(self) -> None:
        """A fresh executor, after a worker's death broke this one."""

    def stop(self) -> None:
        """End the work under way at once (a signal)."""
        self.close()

    def close(self) -> None:
        pass


class _Inline(Executor):
    """Runs each call as it is submitted, in this process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


class InProcess(Engine):
    in_process = True

    def __init__(self) -> None:
        self._executor = _Inline()

    def executor(self) -> Executor:
        return self._executor


class Processes(Engine):
    """A pool of `jobs` local processes, which leave SIGINT to this one."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = process_pool(jobs)

    def executor(self) -> Executor:
        return self._pool

    def capacity(self) -> int:
        return 2 * self.jobs

    def submit(self, piece: Piece) -> Future[Answer]:
        with sigint_held():  # a worker it starts inherits SIGINT blocked
            return self._pool.submit(run_piece_in_worker, piece)

    def restart(self) -> None:
        stop_workers(self._pool)
        self._pool = process_pool(self.jobs)

    def stop(self) -> None:
        stop_workers(self._pool)

    def close(self) -> None:
        self._pool.shutdown()


class Dask(Engine):
    """A Dask cluster: the scheduler at `address`, or a local cluster of `jobs` processes."""

    REFRESH_SECONDS = 5.0

    def __init__(self, address: str | None, jobs: int) -> None:
        try:  # typed loosely: Dask's own annotations are partial
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise FleetError(
                "--executor dask needs Dask's `distributed`: pip install 'cedar-smt[dask]'"
            ) from None
        self._cluster: Any = None
        if address is None:
            with sigint_held():
                self._cluster = distributed.LocalCluster(
                    n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0"
                )
            address = self._cluster.scheduler_address
        try:
            self.client: Any = distributed.Client(address, timeout="30s")
        except OSError as err:
            if self._cluster is not None:
                self._cluster.close()
            raise FleetError(f"cannot reach the Dask scheduler at `{address}`: {err}") from None
        self._executor: Executor = self.client.get_executor(pure=False)
        self._threads, self._asked = 1, 0.0

    def executor(self) -> Executor:
        return self._executor

    def capacity(self) -> int:
        """Twice the workers' threads, asked again now and then (workers come and go)."""
        if time.monotonic() - self._asked > self.REFRESH_SECONDS:
            self._threads = max(1, sum(self.client.nthreads().values()))
            self._asked = time.monotonic()
        return 2 * self._threads

    def stop(self) -> None:
        self._executor.shutdown(wait=False)
        self.close()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def describe_failure(err: BaseException) -> str:
    if type(err).__name__ == "KilledWorker":
        return f"every Dask worker that ran it died ({err})"
    return f"the engine failed: {type(err).__name__}: {err}"


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
