"""Running a query in each request environment: encode, solve, decode, replay.

Per environment: compile the operands, ask the solver for a request violating the property,
and answer holds (no such request), refuted (one was found: it is decoded, replayed through
core's authorizer, and shown only if the replay confirms the violation) or unknown (timeout,
or a construct the encoder cannot represent). Environments can run in parallel processes.

A run stopped by a signal (`Interrupted`, or Python's KeyboardInterrupt) stops its workers,
reaps them, and raises `Interrupted` with the environments finished so far.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import z3

from cedar_smt.analyzer.assumptions import Assumption, Guard, applying, violated
from cedar_smt.analyzer.links import link_templates
from cedar_smt.analyzer.minimize import minimize
from cedar_smt.analyzer.queries import QUERIES, Query, SetFacts, SetTerms
from cedar_smt.analyzer.results import (
    AnalysisInputError,
    Counterexample,
    Dependence,
    EnvResult,
    InternalError,
    Interrupted,
    QueryResult,
    Verdict,
)
from cedar_smt.core.authorizer import (
    PYTHON_LOGIC,
    DecisionRule,
    Logic,
    Outcome,
    decision_rule,
    evaluate_policy,
    is_authorized,
)
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import Loc
from cedar_smt.core.links import LinkSpace
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.policy_json import TemplateLink
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv
from cedar_smt.core.validator import request_environments
from cedar_smt.encoder.authorizer import compile_policy, satisfied, z3_logic
from cedar_smt.encoder.decoder import Counterexample as Decoded
from cedar_smt.encoder.decoder import DecodeError, decode
from cedar_smt.encoder.encoding import EnvEncoding
from cedar_smt.encoder.enforcer import footprint_hierarchy_assumptions, hierarchy_assumptions
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import MAX_TIMEOUT_MS, leave_signals_to_python, make_solver
from cedar_smt.encoder.sorts import Universe


@dataclass(frozen=True)
class Operand:
    """One side of a query: a single policy, or a policy set, with a label for reports.

    `templates`: the set's unlinked templates, analysed only for every link (`Problem.links`),
    when they join `policies`."""

    label: str
    policies: tuple[Policy, ...]
    templates: tuple[Policy, ...] = ()


@dataclass(frozen=True)
class Problem:
    """Everything a worker needs to check a query in one environment (picklable)."""

    query: str
    operands: tuple[Operand, ...]
    schema: Schema
    condition: Policy | None = None  # `permit(...) when { <query> };` for conditional queries
    rule: str | None = None  # "file.py:function", a decision rule to use instead of Cedar's
    timeout_ms: int | None = None
    entities_exist: bool = False  # only requests whose referenced entities are in the store
    plain: bool = False  # the reference path the tests compare the fast one with (see check_env)
    assumptions: tuple[Assumption, ...] = ()  # every request is assumed to satisfy them
    # where no request satisfies them, with those that exclude each environment
    vacuous: Mapping[RequestEnv, tuple[str, ...]] = field(default_factory=dict)
    # templates analysed for every link (core/links.py): the types each slot may take
    links: LinkSpace | None = None


def timeout_ms(seconds: float | None) -> int | None:
    """A timeout in seconds as the solver's milliseconds; it must be finite and positive."""
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise AnalysisInputError(
            f"the timeout must be a finite number of seconds greater than 0, not `{seconds}`"
        )
    return min(max(1, math.ceil(seconds * 1000)), MAX_TIMEOUT_MS)


def load_rule(spec: str | None) -> DecisionRule:  # type: ignore[type-arg]
    """A decision rule from `path/to/file.py:function`, or Cedar's own.

    Whatever the rule does wrong (a file that will not load, a wrong signature, raising,
    returning something other than a boolean) is bad input, `AnalysisInputError`.
    """
    if spec is None:
        return decision_rule
    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise AnalysisInputError(f"`{spec}` is not of the form `file.py:function`")
    if not os.path.isfile(path):
        raise AnalysisInputError(f"cannot load a decision rule from `{path}`: no such file")
    loader = importlib.util.spec_from_file_location("cedar_smt_rule", path)
    if loader is None or loader.loader is None:
        raise AnalysisInputError(f"cannot load a decision rule from `{path}`: not a Python file")
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except SyntaxError as err:
        where = Loc(err.lineno, max(1, err.offset or 1)) if err.lineno else None
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
        raise AnalysisInputError(
            f"cannot load a decision rule: {err.msg}", source=path, loc=where, text=text
        ) from None
    except (Exception, SystemExit) as err:
        raise AnalysisInputError(
            f"cannot load a decision rule from `{path}`: {_failure(err)}"
        ) from None
    rule = getattr(module, name, None)
    if not callable(rule):
        raise AnalysisInputError(f"`{path}` has no function `{name}`")
    try:
        inspect.signature(rule).bind(None, None, None)
    except TypeError:
        raise AnalysisInputError(
            f"the decision rule `{spec}` must take three arguments (permits, forbids, logic), "
            f"not `{name}{inspect.signature(rule)}`"
        ) from None
    except ValueError:  # no signature to read: calling it will tell
        pass
    return _checked_rule(rule, spec)


def _checked_rule(rule: Callable[..., Any], spec: str) -> DecisionRule:  # type: ignore[type-arg]
    """`rule`, refusing what it does wrong as bad input; `True`/`False` mean allow/deny always."""

    def checked(permits: Sequence[Any], forbids: Sequence[Any], logic: Logic[Any]) -> Any:
        try:
            value = rule(permits, forbids, logic)
        except (Exception, SystemExit) as err:
            raise AnalysisInputError(
                f"the decision rule `{spec}` failed: {_failure(err)}"
            ) from None
        if isinstance(value, bool):
            if logic is PYTHON_LOGIC:
                return value
            false = logic.any([])
            return logic.negate(false) if value else false
        if logic is not PYTHON_LOGIC and isinstance(value, z3.BoolRef):
            return value
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise AnalysisInputError(
            f"the decision rule `{spec}` returned `{shown}` ({type(value).__name__}), not a boolean"
        )

    return checked


def _failure(err: BaseException) -> str:
    """`Type: message (file:line)`, at the innermost frame of the traceback."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {err}{where}"


def _symbolic(
    q: Query,
    op: Operand,
    enc: EnvEncoding,
    rule: DecisionRule,  # type: ignore[type-arg]
) -> tuple[Any, Notes]:
    if q.level == "policy":
        c = enc.policy(op.policies[0])
        return c.sym, c.notes
    s = enc.policy_set(op.policies, rule)
    f = enc.f
    return SetTerms(s.decision, f.any(s.permits), f.any(s.forbids)), s.notes


def _concrete(q: Query, op: Operand, cx: Any, rule: DecisionRule) -> Any:  # type: ignore[type-arg]
    if q.level == "policy":
        return evaluate_policy(op.policies[0], cx.request, cx.entities).outcome
    response = is_authorized(cx.request, op.policies, cx.entities, rule)
    outcomes = [(p, evaluate_policy(p, cx.request, cx.entities).outcome) for p in op.policies]
    return SetFacts(
        response,
        any(o is Outcome.SATISFIED for p, o in outcomes if p.effect is Effect.PERMIT),
        any(o is Outcome.SATISFIED for p, o in outcomes if p.effect is Effect.FORBID),
    )


def _describe(q: Query, op: Operand, value: Any) -> tuple[str, dict[str, Any]]:
    if q.level == "policy":
        return value.value, {}
    names = {p.id: p.display_name for p in op.policies}
    response = value.response
    return response.decision, {
        "reasons": sorted(names.get(r, r) for r in response.reasons),
        "errors": {names.get(k, k): v for k, v in sorted(response.errors.items())},
    }


def _reason(solver: z3.Solver, timeout_ms: int | None) -> str:
    why = solver.reason_unknown()
    if "timeout" in why or "canceled" in why:
        seconds = (timeout_ms or 0) / 1000
        return f"timeout: the solver gave up after {seconds:g}s"
    return f"the solver could not decide: {why}"


def _plain(
    problem: Problem,
    q: Query,
    senv: SymEnv,
    rule: DecisionRule,  # type: ignore[type-arg]
) -> tuple[SymEnv, list[Any], z3.BoolRef]:
    f = senv.f
    operands: list[Any] = []
    for op in problem.operands:
        if q.level == "policy":
            operands.append(compile_policy(op.policies[0], senv))
        else:
            permits, forbids = satisfied(op.policies, senv)
            decision = rule(permits, forbids, z3_logic(f))
            operands.append(SetTerms(decision, f.any(permits), f.any(forbids)))
    condition = f.true
    if problem.condition is not None:
        condition = f.satisfied(compile_policy(problem.condition, senv))
    return senv, operands, condition


def check_env(
    problem: Problem,
    env: RequestEnv,
    universe: Universe | None = None,
    encoding: EnvEncoding | None = None,
) -> EnvResult:
    """The query's answer in one request environment (`encoding`: the environment's compiled
    policies, when other questions share them).

    With `problem.plain`, every sort is built in the environment's context, every policy is
    compiled afresh and the hierarchy facts cover every pair of entity terms the formulas touch:
    the path the encoding had before it was made fast, kept as the reference the tests compare
    the fast one with."""
    q = QUERIES[problem.query]
    rule = load_rule(problem.rule)
    start = time.perf_counter()
    universe = universe or Universe(problem.schema, shared=not problem.plain)
    assumed = tuple(a.id for a in applying(problem.assumptions, env))
    given = assumed if problem.assumptions else None
    if env in problem.vacuous:
        excluded = Dependence("vacuous", problem.vacuous[env])
        return EnvResult(env, Verdict.HOLDS, assumed=given, dependence=excluded)
    try:
        if problem.plain:
            senv = SymEnv(universe, env, problem.links)
            senv, operands, condition = _plain(problem, q, senv, rule)
            guard = Guard(problem.assumptions, senv)
            notes = senv.notes
            hierarchy = footprint_hierarchy_assumptions(senv)
        else:
            enc = encoding or EnvEncoding(universe, env, problem.links)
            senv = enc.senv
            compiled = [_symbolic(q, op, enc, rule) for op in problem.operands]
            operands = [terms for terms, _ in compiled]
            parts = [notes for _, notes in compiled]
            condition = enc.f.true
            if problem.condition is not None:
                c = enc.policy(problem.condition)
                condition = c.satisfied
                parts.append(c.notes)
            guard = Guard(problem.assumptions, senv, enc)
            parts.append(guard.notes)
            notes = enc.notes(parts)
            hierarchy = hierarchy_assumptions(senv, notes)
        f = senv.f
        goal = q.holds(f, operands, condition)
    except EncodeError as err:
        reason = str(err)
        if err.policy_id == "query":
            reason = f"the query cannot be encoded here: {err.message}"
        elif any(err.policy_id == a.id for a in problem.assumptions):
            reason = err.message
        else:
            reason = f"unsupported: {reason}"
        return EnvResult(
            env, Verdict.UNKNOWN, reason, encode_seconds=time.perf_counter() - start, assumed=given
        )
    encoded = time.perf_counter()
    independent = Dependence("none") if given is not None else None
    if z3.is_true(goal):
        return EnvResult(
            env,
            Verdict.HOLDS,
            encode_seconds=encoded - start,
            assumed=given,
            dependence=independent,
        )
    solver = make_solver(senv.u.ctx, problem.timeout_ms)
    solver.add(*hierarchy, *senv.input_assumptions(notes), f.not_(goal))
    guard.add_to(solver)
    if problem.entities_exist:
        solver.add(*senv.existence_assumptions(notes))
    answer = guard.check(solver)
    solved = time.perf_counter()
    timing: dict[str, Any] = {
        "encode_seconds": encoded - start,
        "solve_seconds": solved - encoded,
        "assumed": given,
    }
    if answer == z3.unsat:
        dependence = guard.dependence(solver) if given is not None else None
        return EnvResult(env, Verdict.HOLDS, dependence=dependence, **timing)
    if answer != z3.sat:
        return EnvResult(env, Verdict.UNKNOWN, _reason(solver, problem.timeout_ms), **timing)
    cx = confirm(problem, q, senv, solver, rule, notes)
    confirmed = time.perf_counter() - solved
    return EnvResult(env, Verdict.REFUTED, None, cx, confirm_seconds=confirmed, **timing)


def decode_model(senv: SymEnv, model: z3.ModelRef, notes: Notes | None = None) -> Decoded:
    """The counterexample a model describes; a model the decoder cannot read is a bug."""
    try:
        return decode(senv, model, notes)
    except DecodeError as err:
        raise InternalError(f"in environment {senv.env}: {err}") from err


def confirm(
    problem: Problem,
    q: Query,
    senv: SymEnv,
    solver: z3.Solver,
    rule: DecisionRule,  # type: ignore[type-arg]
    notes: Notes,
) -> Counterexample:
    """Decode the model and replay it; it must show the violation the solver claimed.

    The confirmed counterexample is then made smaller, keeping it a confirmed violation.
    """
    cx = decode_model(senv, solver.model(), notes)
    operands, links = linked_operands(problem, cx)

    def replay(request: Request, entities: Entities) -> tuple[list[Any], bool]:
        point = Decoded(request, entities)
        concrete = [_concrete(q, op, point, rule) for op in operands]
        meets = True
        if problem.condition is not None:
            outcome = evaluate_policy(problem.condition, request, entities).outcome
            meets = outcome is Outcome.SATISFIED
        return concrete, meets

    def shows_violation(request: Request, entities: Entities) -> bool:
        return q.violated(*replay(request, entities)) and not violated(
            problem.assumptions, senv.env, request, entities
        )

    if not q.violated(*replay(cx.request, cx.entities)):
        raise InternalError(
            f"the solver's counterexample to `{q.name}` in environment {senv.env} does not show "
            f"the violation when replayed: {_shown(cx, links)}"
        )
    broken = violated(problem.assumptions, senv.env, cx.request, cx.entities)
    if broken:
        raise InternalError(
            f"the solver's counterexample to `{q.name}` in environment {senv.env} does not "
            f"satisfy the assumption {broken[0].id} `{broken[0].condition}` when replayed: "
            f"{_shown(cx, links)}"
        )
    request, entities = minimize(
        cx.request, cx.entities, shows_violation, keep_entities=problem.entities_exist
    )
    concrete, meets = replay(request, entities)
    decisions, details = {}, {}
    for op, value in zip(operands, concrete, strict=True):
        decisions[op.label], details[op.label] = _describe(q, op, value)
    if problem.condition is not None:
        decisions["query"] = "satisfied" if meets else "not satisfied"
    return Counterexample(request, entities, decisions, details, links)


def linked_operands(
    problem: Problem, cx: Decoded
) -> tuple[tuple[Operand, ...], tuple[TemplateLink, ...]]:
    """The operands with their templates linked as the counterexample's slot values say."""
    if problem.links is None:
        return problem.operands, ()
    done = link_templates(
        [op.policies for op in problem.operands], cx, problem.links, problem.schema
    )
    operands = tuple(
        Operand(op.label, policies)
        for op, policies in zip(problem.operands, done.policies, strict=True)
    )
    return operands, done.links


def _shown(cx: Decoded, links: Sequence[TemplateLink]) -> dict[str, Any]:
    out = cx.to_json()
    if links:
        out["links"] = [link.to_json() for link in links]
    return out


def _checked(args: tuple[Problem, RequestEnv]) -> EnvResult:
    return check_env(*args)


def usable_jobs(jobs: int, tasks: int) -> int:
    """At most one process per task and per CPU this process may run on."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(jobs, tasks, cpus or 1))


def run(
    problem: Problem,
    envs: Sequence[RequestEnv],
    jobs: int = 1,
    on_done: Callable[[EnvResult], None] | None = None,
) -> QueryResult:
    """The query in every environment of `envs`, in `jobs` processes; results in `envs` order.

    Each environment starts afresh (a universe of its own: Z3's answers depend on the terms a
    context already holds), so its answer is the same alone, after others, or in a worker."""
    q = QUERIES[problem.query]
    results: dict[RequestEnv, EnvResult] = {}

    def finish(result: EnvResult) -> None:
        results[result.env] = result
        if on_done:
            on_done(result)

    try:
        jobs = usable_jobs(jobs, len(envs))
        if jobs == 1:
            for env in envs:
                finish(check_env(problem, env))
        else:
            _run_in_processes(problem, envs, jobs, finish)
    except KeyboardInterrupt as err:
        partial = QueryResult(
            q.name,
            tuple(results[e] for e in envs if e in results),
            q.description,
            Interrupted.of(err).signal_name,
            tuple(e for e in envs if e not in results),
            problem.assumptions,
        )
        raise Interrupted.of(err, partial) from None
    return QueryResult(
        q.name,
        tuple(results[e] for e in envs),
        q.description,
        assumptions=problem.assumptions,
    )


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """`jobs` worker processes that leave SIGINT to this one, end with it, and have its room
    for nesting; `stop_workers` ends them at once."""
    with sigint_held():  # workers start with it blocked; this process gets it after
        return ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_setup,
            initargs=(sys.getrecursionlimit(), os.getpid()),
        )


def _run_in_processes(
    problem: Problem, envs: Sequence[RequestEnv], jobs: int, finish: Callable[[EnvResult], None]
) -> None:
    pool = process_pool(jobs)
    try:
        with sigint_held():
            futures = {pool.submit(_checked, (problem, env)): env for env in envs}
        for future in as_completed(futures):
            finish(future.result())
    except BaseException:
        stop_workers(pool)
        raise
    pool.shutdown()


@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold SIGINT back while workers are started: they inherit the blocked signal, so that a
    Ctrl-C sent to the whole process group never reaches them (the parent stops them), and
    one sent meanwhile reaches this process when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_setup(recursion_limit: int, parent: int) -> None:
    """A worker gets the room for nesting its parent has, leaves SIGINT to the parent (SIGTERM
    is how the parent stops it), and does not outlive the parent."""
    sys.setrecursionlimit(recursion_limit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    leave_signals_to_python()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone, even if the parent could not stop it (SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's processes, running or idle, and reap them within about a second.

    `shutdown` alone waits for the tasks under way, which may take hours; Python before 3.14
    has no public way to end them, hence the executor's `_processes`.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + 1.0
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def select_environments(
    envs: Iterable[RequestEnv],
    principal_type: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
) -> list[RequestEnv]:
    """The environments matching the given principal type, action and resource type."""
    out = []
    for env in envs:
        if principal_type is not None and env.principal != principal_type:
            continue
        if action is not None and action not in (str(env.action), env.action.id):
            continue
        if resource_type is not None and env.resource != resource_type:
            continue
        out.append(env)
    return out


MAX_LISTED = 20


def matching_environments(
    schema: Schema,
    principal_type: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
) -> list[RequestEnv]:
    """`select_environments` of the schema's; when none match, say which filter and why."""
    envs = request_environments(schema)
    chosen = select_environments(envs, principal_type, action, resource_type)
    if chosen:
        return chosen
    ids = [a.id for a in {e.action for e in envs}]  # an id two action types share is ambiguous
    actions = [e.action.id if ids.count(e.action.id) == 1 else str(e.action) for e in envs]
    filters = [
        ("principal type", principal_type, [e.principal for e in envs]),
        ("action", action, actions),
        ("resource type", resource_type, [e.resource for e in envs]),
    ]
    for i, (kind, value, present) in enumerate(filters):
        alone = [value if j == i else None for j in range(3)]
        if value is not None and not select_environments(envs, *alone):
            names = [f"`{n}`" for n in sorted(set(present))]
            raise AnalysisInputError(
                f"no request environment has {kind} `{value}`; the schema's {kind}s are "
                + _listed(names, ", ")
            )
    given = " and ".join(f"{kind} `{value}`" for kind, value, _ in filters if value is not None)
    raise AnalysisInputError(
        f"no request environment has {given} together; the schema's environments are "
        + _listed([str(e) for e in envs], "; ")
    )


def _listed(names: Sequence[str], sep: str) -> str:
    if not names:
        return "none (no action applies to any entity type)"
    more = f" (and {len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
    return sep.join(names[:MAX_LISTED]) + more
