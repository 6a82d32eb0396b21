"""Domain assumptions: Cedar conditions every request is assumed to satisfy.

An assumption is written like a `--query` condition, over principal, action, resource and
context, and is typechecked against the schema in each request environment, as policies are.
It constrains the environments where it typechecks; where it does not (it reads an attribute
the environment's principal type lacks, say), it does not apply, and the results say so. One
that typechecks in no environment is refused, at its place.

Each analysis adds, to every solver of an environment, `lit => (assumption is satisfied)`
for a fresh Boolean literal per assumption, and checks with the literals assumed. A model is
then a request satisfying every assumption (its replay checks that concretely); an `unsat`
answer comes with a core of literals, which tells the assumptions a `holds` needed: a core
without them proves the property holds without the assumptions. The solver's one-shot core
gives no unsat core: then the incremental core is asked again for a short while, and when it
cannot say, the answer "may depend" on the assumptions, never "does not".

Before an analysis, `vacuous_environments` asks whether any request of each environment
satisfies its assumptions: an assumption no request satisfies, or assumptions that exclude
every environment analysed, are refused (everything would hold); an environment they exclude
holds vacuously, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import z3

from cedar_smt.analyzer.results import AnalysisInputError, Dependence, env_json
from cedar_smt.core.authorizer import Outcome, evaluate_policy
from cedar_smt.core.entities import Entities
from cedar_smt.core.errors import Loc, ParseError
from cedar_smt.core.files import read_text
from cedar_smt.core.parser import parse_conditions, parse_expr
from cedar_smt.core.policy import Condition, Effect, Policy, ScopeAny
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, TypeCheckError, typecheck
from cedar_smt.core.validator import request_environments
from cedar_smt.encoder.authorizer import compile_policy
from cedar_smt.encoder.encoding import EnvEncoding
from cedar_smt.encoder.enforcer import hierarchy_assumptions
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import check, make_solver, unsat_core
from cedar_smt.encoder.sorts import Universe

ASSUMPTION_SOURCE = "assumption"  # the source of an assumption given as a string


@dataclass(frozen=True)
class Assumption:
    """A condition every request is assumed to satisfy, and where it was written."""

    text: str
    policy: Policy  # `permit(principal, action, resource) when { <text> };`
    source: str | None = None  # the file, `--assume`, or `assumption` (the API's)
    loc: Loc | None = None  # where it starts in its file
    id: str = ""  # `A1`, `A2`, ... in the order given, once checked against a schema
    # the environments where it does not typecheck, and so does not apply, with why
    ignored: tuple[tuple[RequestEnv, str], ...] = ()
    document: str | None = field(default=None, repr=False, compare=False)  # its file's text

    @property
    def condition(self) -> str:
        """The condition on one line, as reports show it."""
        return " ".join(self.text.split())

    @property
    def where(self) -> str:
        if self.loc is None or self.source is None:
            return self.source or ASSUMPTION_SOURCE
        return f"{self.source}:{self.loc}"

    def applies_in(self, env: RequestEnv) -> bool:
        return all(e != env for e, _ in self.ignored)

    def satisfied_by(self, request: Request, entities: Entities) -> bool:
        return evaluate_policy(self.policy, request, entities).outcome is Outcome.SATISFIED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "condition": self.condition,
            "source": self.source,
            "line": self.loc.line if self.loc else None,
            "column": self.loc.column if self.loc else None,
            "not_applying": [{**env_json(e), "reason": why} for e, why in self.ignored],
        }


def _assumption(
    body: Any, text: str, source: str | None, loc: Loc | None, document: str | None = None
) -> Assumption:
    policy = Policy(
        id=ASSUMPTION_SOURCE,
        effect=Effect.PERMIT,
        principal=ScopeAny(),
        action=ScopeAny(),
        resource=ScopeAny(),
        conditions=(Condition("when", body),),
        loc=loc,
        source=source,
        text=text,
    )
    return Assumption(text, policy, source, loc, document=document)


def parse_assumption(text: str, source: str = ASSUMPTION_SOURCE) -> Assumption:
    """One condition, as `--assume` gives it; a syntax error is placed in `text`."""
    try:
        body = parse_expr(text)
    except ParseError as err:
        lines = text.splitlines() or [""]
        loc, message = err.loc, err.message
        if loc is None or loc.line > len(lines):
            loc = Loc(len(lines), len(lines[-1]) + 1)
        message = message.replace("unexpected end of input", "unexpected end of the assumption")
        raise AnalysisInputError(
            f"the assumption is not a Cedar condition: {message}",
            source=source,
            loc=loc,
            text=text,
        ) from None
    return _assumption(body, text, source, None)


def parse_assumptions(text: str, source: str | None = None) -> list[Assumption]:
    """The conditions of an assumptions file: Cedar conditions each ended by `;` (the last
    may omit it), with `//` comments; each is placed in the file."""
    try:
        found = parse_conditions(text, source)
    except ParseError as err:
        raise AnalysisInputError(
            f"the assumptions are not Cedar conditions: {err.message}",
            source=source,
            loc=err.loc,
            text=text,
        ) from None
    return [_assumption(body, text[loc.start : loc.end], source, loc, text) for body, loc in found]


def read_assumptions(path: str) -> list[Assumption]:
    """The assumptions of a file (see `parse_assumptions`)."""
    return parse_assumptions(read_text(path), path)


Assumptions = Iterable["str | Assumption"]


def checked_assumptions(items: Assumptions | None, schema: Schema) -> tuple[Assumption, ...]:
    """The assumptions, strings parsed, named `A1`, `A2`... in order, and typechecked in every
    environment of the schema: one that typechecks in none is refused at the first error's
    place; the others note where they do not apply."""
    out = []
    envs = request_environments(schema)
    for i, item in enumerate(items or ()):
        a = parse_assumption(item) if isinstance(item, str) else item
        errors: list[tuple[RequestEnv, TypeCheckError]] = []
        for env in envs:
            try:
                typecheck(a.policy, env, schema)
            except TypeCheckError as err:
                errors.append((env, err))
        if envs and len(errors) == len(envs):
            first_env, first = errors[0]
            raise AnalysisInputError(
                f"the assumption `{_short(a.text)}` does not typecheck in any request "
                f"environment: {first.message} (for {first_env})",
                source=a.source,
                loc=first.loc,
                text=_file_text(a),
            )
        ignored = tuple((e, why.message) for e, why in errors)
        out.append(replace(a, id=f"A{i + 1}", ignored=ignored))
    return tuple(out)


def _file_text(a: Assumption) -> str:
    """The text an assumption's places count lines in: its file's, or its own."""
    return a.document if a.loc is not None and a.document is not None else a.text


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def applying(assumptions: Sequence[Assumption], env: RequestEnv) -> tuple[Assumption, ...]:
    return tuple(a for a in assumptions if a.applies_in(env))


class Guard:
    """The assumptions that apply in one environment, compiled, for a solver: each behind a
    literal of its own (raises EncodeError when one cannot be encoded here)."""

    def __init__(
        self,
        assumptions: Sequence[Assumption],
        senv: SymEnv,
        enc: EnvEncoding | None = None,
    ) -> None:
        self.assumptions = applying(assumptions, senv.env)
        f = senv.f
        self.literals: list[z3.BoolRef] = []
        self.implications: list[z3.BoolRef] = []
        parts: list[Notes] = []
        for a in self.assumptions:
            try:
                if enc is not None:
                    c = enc.policy(a.policy)
                    term, notes = c.satisfied, c.notes
                else:
                    term = f.satisfied(compile_policy(a.policy, senv))
                    notes = senv.notes
            except EncodeError as err:
                raise EncodeError(
                    f"the assumption {a.id} cannot be encoded here: {err.message}", a.id
                ) from None
            lit = z3.Bool(f"assume!{a.id}", senv.u.ctx)
            self.literals.append(lit)
            self.implications.append(z3.Implies(lit, term))
            parts.append(notes)
        self.notes = Notes.union(parts)
        self.ids = tuple(a.id for a in self.assumptions)

    def __bool__(self) -> bool:
        return bool(self.assumptions)

    def add_to(self, solver: z3.Solver) -> None:
        solver.add(*self.implications)

    def check(self, solver: z3.Solver) -> z3.CheckSatResult:
        return check(solver, *self.literals)

    def dependence(self, solver: z3.Solver) -> Dependence:
        """Which assumptions the solver's last `unsat` answer needed."""
        if not self.literals:
            return Dependence("none")
        core = unsat_core(solver, *self.literals)
        if core is None:
            return Dependence("may-depend", self.ids)
        used = {str(lit) for lit in core}
        on = tuple(
            a.id for a, lit in zip(self.assumptions, self.literals, strict=True) if str(lit) in used
        )
        return Dependence("depends" if on else "none", on)

    def violated_by(self, request: Request, entities: Entities) -> list[Assumption]:
        """The assumptions a concrete request does not satisfy."""
        return [a for a in self.assumptions if not a.satisfied_by(request, entities)]


def violated(
    assumptions: Sequence[Assumption], env: RequestEnv, request: Request, entities: Entities
) -> list[Assumption]:
    """The assumptions applying in `env` that a concrete request does not satisfy."""
    return [a for a in applying(assumptions, env) if not a.satisfied_by(request, entities)]


def vacuous_environments(
    assumptions: Sequence[Assumption],
    schema: Schema,
    envs: Sequence[RequestEnv],
    timeout_ms: int | None = None,
) -> dict[RequestEnv, tuple[str, ...]]:
    """The environments of `envs` where no request satisfies the assumptions that apply,
    each with the assumptions that exclude it (an unsat core of them, or all when the solver
    gives none).

    Refused, as bad input: an assumption that no request of any environment where it applies
    satisfies, and assumptions that together exclude every environment of `envs` (every
    property would hold). A check the solver cannot decide counts as satisfiable."""
    if not assumptions:
        return {}
    universe = Universe(schema)
    vacuous: dict[RequestEnv, tuple[str, ...]] = {}
    satisfiable: set[str] = set()
    for env in envs:
        answer, core = _satisfiable(assumptions, universe, env, timeout_ms)
        if answer != z3.unsat:
            satisfiable.update(a.id for a in applying(assumptions, env))
            continue
        vacuous[env] = core
        for a in applying(assumptions, env):
            alone = _satisfiable([a], universe, env, timeout_ms)[0]
            if a.id not in satisfiable and alone != z3.unsat:
                satisfiable.add(a.id)
    for a in assumptions:
        if a.id in satisfiable or not any(a.applies_in(e) for e in envs):
            continue
        raise AnalysisInputError(
            f"no request satisfies the assumption {a.id} `{_short(a.text)}` in any request "
            "environment where it applies, so every property would hold under it",
            source=a.source,
            loc=a.loc,
            text=_file_text(a),
        )
    if envs and len(vacuous) == len(envs):
        count = f"{len(envs)} request environment{'s' if len(envs) != 1 else ''}"
        ids = ", ".join(a.id for a in assumptions)
        raise AnalysisInputError(
            f"no request satisfies the assumptions {ids} together in any of the {count} "
            "analysed, so every property would hold under them"
        )
    return vacuous


def _satisfiable(
    assumptions: Sequence[Assumption],
    universe: Universe,
    env: RequestEnv,
    timeout_ms: int | None,
) -> tuple[z3.CheckSatResult, tuple[str, ...]]:
    """Whether some request of `env` satisfies the assumptions applying there; when none
    does, the assumptions that exclude it."""
    enc = EnvEncoding(universe, env)
    try:
        guard = Guard(assumptions, enc.senv, enc)
    except EncodeError:  # the analysis says so, in this environment
        return z3.unknown, ()
    if not guard:
        return z3.sat, ()
    notes = enc.notes([guard.notes])
    solver = make_solver(universe.ctx, timeout_ms)
    solver.add(*hierarchy_assumptions(enc.senv, notes), *enc.senv.input_assumptions(notes))
    guard.add_to(solver)
    answer = guard.check(solver)
    if answer != z3.unsat:
        return answer, ()
    return answer, guard.dependence(solver).on or guard.ids


def used_ids(dependences: Iterable[Dependence | None]) -> tuple[str, ...]:
    """The assumptions any of the answers depends on (or may), in order."""
    ids = {i for d in dependences if d is not None and d.kind != "none" for i in d.on}
    return tuple(sorted(ids, key=lambda i: int(i[1:])))


__all__ = [
    "Assumption",
    "Guard",
    "checked_assumptions",
    "parse_assumption",
    "parse_assumptions",
    "read_assumptions",
    "vacuous_environments",
]
