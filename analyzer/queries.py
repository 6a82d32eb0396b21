"""The verification queries, each defined twice: as a formula and as a concrete check.

A query over policies (one or two) or policy sets (one or two) says, per request
environment, what must hold. `holds` builds that as a Z3 formula over the compiled operands;
`violated` decides whether one concrete request violates it, which is how every
counterexample is confirmed by the concrete authorizer before it is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from cedar_smt.core.authorizer import Outcome, Response
from cedar_smt.encoder.factory import Factory, Sym


@dataclass(frozen=True)
class SetTerms:
    """A policy set in one environment: its decision and whether any permit/forbid holds."""

    decision: z3.BoolRef
    some_permit: z3.BoolRef
    some_forbid: z3.BoolRef


@dataclass(frozen=True)
class SetFacts:
    """The same, concretely, for one request."""

    response: Response
    some_permit: bool
    some_forbid: bool

    @property
    def allowed(self) -> bool:
        return self.response.allowed


Symbolic = Any  # Sym for policy-level queries, SetTerms for set-level ones
Concrete = Any  # Outcome for policy-level queries, SetFacts for set-level ones


@dataclass(frozen=True)
class Query:
    name: str
    level: str  # "policy" or "set"
    arity: int
    holds: Callable[[Factory, Sequence[Symbolic], z3.BoolRef], z3.BoolRef]
    violated: Callable[[Sequence[Concrete], bool], bool]
    description: str
    conditional: bool = False  # restricted by a `--query` condition


def _sat(f: Factory, s: Sym) -> z3.BoolRef:
    return f.satisfied(s)


def _eq(f: Factory, a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    return f.and_(f.implies(a, b), f.implies(b, a))


SAT = Outcome.SATISFIED

QUERIES: dict[str, Query] = {
    q.name: q
    for q in [
        Query(
            "never-errors",
            "policy",
            1,
            lambda f, s, c: f.not_(s[0].err),
            lambda o, c: o[0] is Outcome.ERROR,
            "holds iff the policy never errors",
        ),
        Query(
            "always-matches",
            "policy",
            1,
            lambda f, s, c: _sat(f, s[0]),
            lambda o, c: o[0] is not SAT,
            "holds iff the policy is satisfied by every request",
        ),
        Query(
            "never-matches",
            "policy",
            1,
            lambda f, s, c: f.not_(_sat(f, s[0])),
            lambda o, c: o[0] is SAT,
            "holds iff the policy is satisfied by no request",
        ),
        Query(
            "matches-equivalent",
            "policy",
            2,
            lambda f, s, c: _eq(f, _sat(f, s[0]), _sat(f, s[1])),
            lambda o, c: (o[0] is SAT) != (o[1] is SAT),
            "holds iff the two policies are satisfied by the same requests",
        ),
        Query(
            "matches-implies",
            "policy",
            2,
            lambda f, s, c: f.implies(_sat(f, s[0]), _sat(f, s[1])),
            lambda o, c: o[0] is SAT and o[1] is not SAT,
            "holds iff every request satisfying the first policy satisfies the second",
        ),
        Query(
            "matches-disjoint",
            "policy",
            2,
            lambda f, s, c: f.not_(f.and_(_sat(f, s[0]), _sat(f, s[1]))),
            lambda o, c: o[0] is SAT and o[1] is SAT,
            "holds iff no request satisfies both policies",
        ),
        Query(
            "always-allows",
            "set",
            1,
            lambda f, s, c: s[0].decision,
            lambda o, c: not o[0].allowed,
            "holds iff the policies allow every request",
        ),
        Query(
            "always-denies",
            "set",
            1,
            lambda f, s, c: f.not_(s[0].decision),
            lambda o, c: o[0].allowed,
            "holds iff the policies deny every request",
        ),
        Query(
            "equivalent",
            "set",
            2,
            lambda f, s, c: _eq(f, s[0].decision, s[1].decision),
            lambda o, c: o[0].allowed != o[1].allowed,
            "holds iff both policy sets decide every request the same way",
        ),
        Query(
            "implies",
            "set",
            2,
            lambda f, s, c: f.implies(s[0].decision, s[1].decision),
            lambda o, c: o[0].allowed and not o[1].allowed,
            "holds iff every request the first set allows, the second allows too",
        ),
        Query(
            "disjoint",
            "set",
            2,
            lambda f, s, c: f.not_(f.and_(s[0].decision, s[1].decision)),
            lambda o, c: o[0].allowed and o[1].allowed,
            "holds iff no request is allowed by both policy sets",
        ),
        Query(
            "never-allows",
            "set",
            1,
            lambda f, s, c: f.not_(f.and_(c, s[0].decision)),
            lambda o, c: c and o[0].allowed,
            "holds iff the policies allow no request that meets the query",
            conditional=True,
        ),
        Query(
            "always-allows-when",
            "set",
            1,
            lambda f, s, c: f.implies(c, s[0].decision),
            lambda o, c: c and not o[0].allowed,
            "holds iff the policies allow every request that meets the query",
            conditional=True,
        ),
        Query(
            "explicit-permit",
            "set",
            1,
            lambda f, s, c: f.implies(s[0].decision, s[0].some_permit),
            lambda o, c: o[0].allowed and not o[0].some_permit,
            "holds iff a request is allowed only when some permit policy is satisfied",
        ),
        Query(
            "forbid-overrides-permit",
            "set",
            1,
            lambda f, s, c: f.implies(s[0].some_forbid, f.not_(s[0].decision)),
            lambda o, c: o[0].some_forbid and o[0].allowed,
            "holds iff a request is denied whenever some forbid policy is satisfied",
        ),
    ]
}
