"""Creating and running Z3 solvers: the one place that sets solver options, timeouts and seeds.

`relevancy=0` is a search heuristic, not a semantic option: with Z3's default relevancy
propagation, equalities between nested sets over finite domains (a `Set<Set<{}>>` attribute,
say) can run until the timeout, while with it off they are decided at once.

A check can run for hours, and Z3 holds the thread that calls it: Python runs no signal
handler until it returns, and Z3's own Ctrl-C handling (`ctrl_c`) would turn a Ctrl-C into an
"unknown" answer and carry on. So `check` runs the solver in a helper thread while the calling
thread waits, where signal handlers do run; when the wait is interrupted (Ctrl-C, or any
exception a handler raises) it interrupts Z3 and lets the exception go on.
"""

from __future__ import annotations

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


def check(solver: z3.Solver, *assumptions: Any) -> z3.CheckSatResult:
    """`solver.check(*assumptions)`, which a signal handler's exception interrupts at once."""
    done = threading.Event()
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(solver.check(*assumptions))
        except BaseException as err:  # handed to the caller
            outcome.append(err)
        finally:
            done.set()

    threading.Thread(target=work, name="z3-check", daemon=True).start()
    try:
        while not done.wait(0.25):
            pass
    except BaseException:
        solver.ctx.interrupt()
        done.wait(INTERRUPT_GRACE_SECONDS)
        raise
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: z3.CheckSatResult = outcome[0]
    return result
