"""Creating Z3 solvers: the one place that sets solver options, timeouts and seeds.

`relevancy=0` is a search heuristic, not a semantic option: with Z3's default relevancy
propagation, equalities between nested sets over finite domains (a `Set<Set<{}>>` attribute,
say) can run until the timeout, while with it off they are decided at once.
"""

from __future__ import annotations

import z3

DEFAULT_SEED = 0


def make_solver(
    ctx: z3.Context, timeout_ms: int | None = None, seed: int = DEFAULT_SEED
) -> z3.Solver:
    solver = z3.Solver(ctx=ctx)
    solver.set("relevancy", 0)
    solver.set("random_seed", seed)
    if timeout_ms is not None:
        solver.set("timeout", timeout_ms)
    return solver
