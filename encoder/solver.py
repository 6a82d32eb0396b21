"""Creating and running Z3 solvers: the one place that sets solver options, timeouts and seeds.

Relevancy propagation is a search heuristic, not a semantic option, and neither setting
suits every formula: with Z3's default, equalities between nested sets over finite domains
(a `Set<Set<{}>>` attribute, say) can run until the timeout, which `relevancy=0` decides at
once; with `relevancy=0`, every string atom of a formula must be satisfied, relevant or not,
and a check over a few `like` conditions that the default settles in a tenth of a second runs
out of time. So `check` tries the default for a slice of the budget
(`RELEVANCY_SLICE_MS`), then `relevancy=0` for as long, then both again with twice the time
and another random seed, and so on until the budget is spent.

Every solver starts in Z3's incremental core (a `push` before anything is asserted): the
one-shot path preprocesses the whole formula first, and a lint check over a few dozen
policies with `like` conditions took 6 s there and 0.05 s in the incremental core.

A check can run for hours, and Z3 holds the thread that calls it: Python runs no signal
handler until it returns, and Z3's own Ctrl-C handling (`ctrl_c`) would turn a Ctrl-C into an
"unknown" answer and carry on. So `check` hands the solver to a helper thread (one per calling
thread, kept for the next check: starting a thread per check would cost a millisecond each)
while the calling thread waits, where signal handlers do run; when the wait is interrupted
(Ctrl-C, or any exception a handler raises) it interrupts Z3 and lets the exception go on.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import z3

DEFAULT_SEED = 0
MAX_TIMEOUT_MS = 2**32 - 1  # Z3 keeps timeouts in an unsigned 32-bit number of milliseconds
INTERRUPT_GRACE_SECONDS = 1.0  # how long an interrupted check may take to return
RELEVANCY_SLICE_MS = 2000  # the part of a check's budget spent with Z3's default relevancy

_budgets: weakref.WeakKeyDictionary[z3.Solver, int | None] = weakref.WeakKeyDictionary()


def make_solver(
    ctx: z3.Context, timeout_ms: int | None = None, seed: int = DEFAULT_SEED
) -> z3.Solver:
    """A solver whose checks (through `check`) each take at most `timeout_ms` in all."""
    solver = z3.Solver(ctx=ctx)
    solver.set("random_seed", seed)
    solver.set("ctrl_c", False)  # signals are the caller's: see `check`
    _budgets[solver] = None if timeout_ms is None else min(timeout_ms, MAX_TIMEOUT_MS)
    solver.push()  # Z3's incremental core: see above
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
    """`solver.check(*assumptions)` within the solver's budget, in attempts of growing length
    (see above); a signal handler's exception interrupts it at once."""
    budget = _budgets.get(solver)
    start = time.monotonic()
    answer = z3.unknown
    for relevancy, seed, slice_ms in _schedule():
        left = None if budget is None else budget - int((time.monotonic() - start) * 1000)
        if left is not None and left <= 0:
            break  # the last attempt's answer: unknown, for a timeout
        solver.set("relevancy", relevancy)
        solver.set("random_seed", DEFAULT_SEED + seed)
        solver.set("timeout", slice_ms if left is None else min(slice_ms, left))
        answer = _check(solver, assumptions)
        why = solver.reason_unknown() if answer == z3.unknown else ""
        if "timeout" not in why and "canceled" not in why:  # Z3 says either when time runs out
            break
    return answer


def _schedule() -> Iterator[tuple[int, int, int]]:
    """(relevancy, seed, milliseconds) of each attempt: the default relevancy, then none, with
    the time doubling and a new seed each round. A check's time varies wildly with the search's
    first choices (one formula: 0.05 s, or minutes), so restarting is cheap insurance."""
    slice_ms, seed = RELEVANCY_SLICE_MS, 0
    while True:
        yield 2, seed, slice_ms
        yield 0, seed, slice_ms
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
