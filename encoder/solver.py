"""Creating and running Z3 solvers: the one place that sets solver options, timeouts and seeds.

Relevancy propagation is a search heuristic, not a semantic option, and neither setting
suits every formula: with Z3's default, equalities between nested sets over finite domains
(a `Set<Set<{}>>` attribute, say) can run until the timeout, which `relevancy=0` decides at
once; with `relevancy=0`, every string atom of a formula must be satisfied, relevant or not,
and a check over a few `like` conditions that the default settles in a tenth of a second runs
out of time. Nor does either of Z3's two cores: the one-shot core (a solver never pushed,
checked without assumptions) preprocesses the whole formula first, and a lint check over a
few dozen policies with `like` conditions took 6 s there and 0.05 s in the incremental core;
the other way round, a request pinned to concrete values with nested sets took the
incremental core 8 s and the one-shot core none. So `check` runs a portfolio, one attempt
after the other: each core with the default relevancy and then with none, for a slice of the
budget each (`FIRST_SLICE_MS`), then all four again with twice the time and another random
seed, and so on until the budget is spent. The solver `make_solver` returns works in the
incremental core; the one-shot attempts run on a fresh solver given the same assertions (and
the assumptions as assertions), whose model, when it answers, is the one the solver's
`model()` returns.

A check can run for hours, and Z3 holds the thread that calls it: Python runs no signal
handler until it returns, and Z3's own Ctrl-C handling (`ctrl_c`) would turn a Ctrl-C into an
"unknown" answer and carry on. So `check` hands the solver to a helper thread (one per calling
thread, kept for the next check: starting a thread per check would cost a millisecond each)
while the calling thread waits, where signal handlers do run; when the wait is interrupted
(Ctrl-C, or any exception a handler raises) it interrupts Z3 and lets the exception go on.

Each request environment gets a context of its own (so that no environment's answer depends on
the ones analysed before it), and a Z3 context allocates two tables of 8 MB as it starts. With
glibc's default settings, deleting a context hands that memory back to the system, and the next
context has the kernel map and zero 17 MB of fresh pages: about 3 ms of system time per
environment in a process whose heap has grown, a third of an example set's latency per query
and environment. `make_context` first asks glibc to keep up to `KEPT_FREE_BYTES` of freed
memory for the process (and to take blocks below `MMAP_THRESHOLD_BYTES` from its heap, where
that memory is), so the next context reuses the pages. This changes where memory comes from,
never what Z3 computes.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import z3

DEFAULT_SEED = 0
MAX_TIMEOUT_MS = 2**32 - 1  # Z3 keeps timeouts in an unsigned 32-bit number of milliseconds
INTERRUPT_GRACE_SECONDS = 1.0  # how long an interrupted check may take to return
FIRST_SLICE_MS = 1000  # the first attempts' share of a check's budget (see above)
CORE_BUDGET_MS = 2000  # asking the incremental core again for an unsat core (see unsat_core)
KEPT_FREE_BYTES = 64 * 2**20  # freed memory glibc keeps for the process (see above)
MMAP_THRESHOLD_BYTES = 32 * 2**20  # the largest glibc allows; larger blocks get pages of their own


class Solver(z3.Solver):  # type: ignore[misc]
    """A Z3 solver in the incremental core, whose last `check` may have been answered by a
    one-shot copy of it (see above): `model` and `reason_unknown` are that answer's."""

    def __init__(self, ctx: z3.Context, budget_ms: int | None) -> None:
        super().__init__(ctx=ctx)
        self.budget_ms = budget_ms
        self.answered_by: z3.Solver | None = None
        self.out_of_time = False

    def model(self) -> z3.ModelRef:
        if self.answered_by is not None:
            return self.answered_by.model()
        return super().model()

    def reason_unknown(self) -> str:
        if self.out_of_time:
            return "timeout"  # Z3 says "canceled" for some attempts its timeout stopped
        if self.answered_by is not None:
            return str(self.answered_by.reason_unknown())
        return str(super().reason_unknown())


class _Context(z3.Context):  # type: ignore[misc]
    """z3.Context, which a signal can interrupt halfway through `__init__` (Ctrl-C raises
    there, from any thread's delivery) without its `__del__`, which reads `owner`, printing a
    traceback when it is collected: an unfinished context owns nothing."""

    owner = False


def make_context() -> z3.Context:
    """A new Z3 context, which every solver of an analysis lives in."""
    _keep_freed_memory()
    return _Context()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_memory_kept = False  # a forked child inherits the setting with the flag


def _keep_freed_memory() -> None:
    """Have glibc keep freed memory for the next context (see above); elsewhere, nothing."""
    global _memory_kept
    if _memory_kept:
        return
    _memory_kept = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, TypeError, AttributeError):  # no C library to ask, or not glibc's
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_BYTES)


def make_solver(ctx: z3.Context, timeout_ms: int | None = None, seed: int = DEFAULT_SEED) -> Solver:
    """A solver whose checks (through `check`) each take at most `timeout_ms` in all."""
    solver = Solver(ctx, None if timeout_ms is None else min(timeout_ms, MAX_TIMEOUT_MS))
    solver.set("random_seed", seed)
    solver.set("ctrl_c", False)  # signals are the caller's: see `check`
    solver.push()  # the incremental core: see above
    return solver


def leave_signals_to_python() -> None:
    """Stop Z3 from taking SIGINT in every solver of this process, not only ours."""
    z3.set_param("ctrl_c", False)


class _Helper:
    """A thread that runs the checks one calling thread hands it, one at a time."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked child has the object, not the thread
        self.requests: queue.SimpleQueue[tuple[z3.Solver, tuple[Any, ...]]] = queue.SimpleQueue()
        self.replies: queue.SimpleQueue[tuple[Any, BaseException | None]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="z3-check", daemon=True).start()

    def _serve(self) -> None:
        while True:
            solver, assumptions = self.requests.get()
            try:
                self.replies.put((solver.check(*assumptions), None))
            except BaseException as err:  # handed to the caller
                self.replies.put((None, err))


_helpers = threading.local()


def _helper() -> _Helper:
    helper: _Helper | None = getattr(_helpers, "helper", None)
    if helper is None or helper.pid != os.getpid():
        helper = _helpers.helper = _Helper()
    return helper


def check(solver: z3.Solver, *assumptions: Any) -> z3.CheckSatResult:
    """`solver.check(*assumptions)` within the solver's budget, by the portfolio of attempts
    described above; a signal handler's exception interrupts it at once. A solver that
    `make_solver` did not make is checked once, as it is."""
    if not isinstance(solver, Solver):
        return _check(solver, assumptions)
    solver.answered_by, solver.out_of_time = None, False
    budget = solver.budget_ms
    start = time.monotonic()
    answer, why = z3.unknown, "timeout"
    one_shot: z3.Solver | None = None
    for incremental, relevancy, seed, slice_ms in _schedule():
        left = None if budget is None else budget - int((time.monotonic() - start) * 1000)
        if left is not None and left <= 0:
            break  # the last attempt's answer: unknown, for a timeout
        if incremental:
            attempt: z3.Solver = solver
        else:
            if one_shot is None:
                one_shot = z3.Solver(ctx=solver.ctx)
                one_shot.set("ctrl_c", False)
                one_shot.add(*solver.assertions(), *assumptions)
            attempt = one_shot
        attempt.set("relevancy", relevancy)
        attempt.set("random_seed", DEFAULT_SEED + seed)
        attempt.set("timeout", slice_ms if left is None else min(slice_ms, left))
        answer = _check(attempt, assumptions if incremental else ())
        solver.answered_by = None if incremental else attempt
        why = attempt.reason_unknown() if answer == z3.unknown else ""
        if "timeout" not in why and "canceled" not in why:  # Z3 says either when time runs out
            break
    solver.out_of_time = answer == z3.unknown and ("timeout" in why or "canceled" in why)
    return answer


def unsat_core(solver: z3.Solver, *assumptions: Any) -> list[z3.BoolRef] | None:
    """The assumptions the last `check(solver, *assumptions)`, answered `unsat`, needed; None
    when that is not known. Only the incremental core gives unsat cores: when the one-shot copy
    answered, the incremental core is asked again, for at most `CORE_BUDGET_MS`."""
    if not isinstance(solver, Solver) or solver.answered_by is None:
        return list(solver.unsat_core())
    budget = CORE_BUDGET_MS if solver.budget_ms is None else min(CORE_BUDGET_MS, solver.budget_ms)
    solver.set("timeout", budget)
    if _check(solver, assumptions) != z3.unsat:
        return None
    return list(solver.unsat_core())


def _schedule() -> Iterator[tuple[bool, int, int, int]]:
    """(incremental core?, relevancy, seed, milliseconds) of each attempt: the incremental and
    the one-shot core, each with the default relevancy and with none, the time doubling and
    a new seed each round. A check's time varies wildly with the search's first choices (one
    formula: 0.05 s, or minutes), so restarting is cheap insurance."""
    slice_ms, seed = FIRST_SLICE_MS, 0
    while True:
        for relevancy in (2, 0):
            for incremental in (True, False):
                yield incremental, relevancy, seed, slice_ms
        slice_ms, seed = min(slice_ms * 2, MAX_TIMEOUT_MS), seed + 1


def _check(solver: z3.Solver, assumptions: tuple[Any, ...]) -> z3.CheckSatResult:
    """`solver.check(*assumptions)` on the helper thread, interruptible."""
    helper = _helper()
    helper.requests.put((solver, assumptions))
    try:
        while True:
            try:
                result, err = helper.replies.get(timeout=0.25)
                break
            except queue.Empty:
                continue
    except BaseException:
        solver.ctx.interrupt()
        try:
            helper.replies.get(timeout=INTERRUPT_GRACE_SECONDS)
        except queue.Empty:  # still busy: the next check gets a helper of its own
            _helpers.helper = None
        raise
    if err is not None:
        raise err
    answer: z3.CheckSatResult = result
    return answer
