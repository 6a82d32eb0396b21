"""Creating and running Z3 solvers: the one place that sets solver options, timeouts and seeds.

`relevancy=0` is a search heuristic, not a semantic option: with Z3's default relevancy
propagation, equalities between nested sets over finite domains (a `Set<Set<{}>>` attribute,
say) can run until the timeout, while with it off they are decided at once.

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
from typing import Any

import z3

DEFAULT_SEED = 0
MAX_TIMEOUT_MS = 2**32 - 1  # Z3 keeps timeouts in an unsigned 32-bit number of milliseconds
INTERRUPT_GRACE_SECONDS = 1.0  # how long an interrupted check may take to return


def make_solver(
    ctx: z3.Context, timeout_ms: int | None = None, seed: int = DEFAULT_SEED
) -> z3.Solver:
    solver = z3.Solver(ctx=ctx)
    solver.set("relevancy", 0)
    solver.set("random_seed", seed)
    solver.set("ctrl_c", False)  # signals are the caller's: see `check`
    if timeout_ms is not None:
        solver.set("timeout", min(timeout_ms, MAX_TIMEOUT_MS))
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
    """`solver.check(*assumptions)`, which a signal handler's exception interrupts at once."""
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
