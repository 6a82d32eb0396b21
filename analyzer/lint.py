"""The linter: policies that do nothing, or that can error.

Each finding has a stable rule code, the policy and its place, and a witness request where
there is one (a policy that can error is shown erroring). Findings are proofs: a check the
solver cannot decide is listed as undecided, never as a finding or as its absence.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import z3

from cedar_smt.analyzer.assumptions import (
    Assumption,
    Assumptions,
    Guard,
    checked_assumptions,
    vacuous_environments,
    violated,
)
from cedar_smt.analyzer.checks import refuse_templates, require_valid
from cedar_smt.analyzer.diff import PolicyRef
from cedar_smt.analyzer.links import link_templates
from cedar_smt.analyzer.overlap import Overlap
from cedar_smt.analyzer.queries import QUERIES
from cedar_smt.analyzer.results import (
    Counterexample,
    Dependence,
    EnvResult,
    InternalError,
    Interrupted,
    QueryResult,
    Verdict,
    combined,
    overall,
)
from cedar_smt.analyzer.runner import Operand, Problem, confirm, decode_model, run, timeout_ms
from cedar_smt.core.authorizer import Outcome, decision_rule, evaluate_policy
from cedar_smt.core.entities import Entities
from cedar_smt.core.links import LinkSpace, link_space
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.validator import request_environments
from cedar_smt.encoder.decoder import Counterexample as Decoded
from cedar_smt.encoder.encoding import Compiled, EnvEncoding
from cedar_smt.encoder.enforcer import hierarchy_assumptions
from cedar_smt.encoder.env import Notes
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import make_solver
from cedar_smt.encoder.sorts import Universe


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    level: str  # SARIF level: "error", "warning" or "note"
    summary: str


RULES = {
    r.code: r
    for r in [
        Rule("L001", "dead-policy", "warning", "the policy never matches any request"),
        Rule("L002", "matches-everything", "note", "the policy matches every request it could"),
        Rule("L003", "redundant-policy", "warning", "removing the policy changes no decision"),
        Rule("L004", "shadowed-permit", "warning", "the permit can never lead to Allow"),
        Rule("L005", "shadowed-forbid", "note", "another forbid applies whenever this one does"),
        Rule(
            "L006",
            "may-error",
            "warning",
            "the policy can error (and is then skipped) even when the entities it reads exist",
        ),
    ]
}


@dataclass(frozen=True)
class Finding:
    code: str
    policy: PolicyRef
    message: str
    witness: Counterexample | None = None
    dependence: Dependence | None = None  # what the finding needed of the assumptions

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "rule": self.rule.name,
            "level": self.rule.level,
            "policy": self.policy.to_json(),
            "message": self.message,
        }
        if self.dependence is not None:
            out.update(self.dependence.to_json())
        if self.witness is not None:
            out["witness"] = self.witness.to_json()
        return out


@dataclass(frozen=True)
class Undecided:
    policy: PolicyRef
    check: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy.to_json(), "check": self.check, "reason": self.reason}


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...] = ()
    undecided: tuple[Undecided, ...] = ()
    label: str = "policies"
    interrupted: str | None = None  # the signal that stopped the run, e.g. "SIGINT"
    unlinted: tuple[PolicyRef, ...] = ()  # policies not (fully) linted, when interrupted
    assumptions: tuple[Assumption, ...] = ()  # every request is assumed to satisfy them

    @property
    def complete(self) -> bool:
        return not self.undecided and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        result = "findings" if self.findings else "clean" if self.complete else "unknown"
        out: dict[str, Any] = {
            "query": "lint",
            "result": result,
            "policies": self.label,
            "findings": [f.to_json() for f in self.findings],
            "undecided": [u.to_json() for u in self.undecided],
        }
        if self.assumptions:
            out["assumptions"] = [a.to_json() for a in self.assumptions]
        if self.interrupted:
            out["interrupted"] = self.interrupted
            out["unlinted"] = [p.to_json() for p in self.unlinted]
        return out


def lint_policies(
    policies: Sequence[Policy] | PolicySet,
    schema: Schema,
    *,
    label: str = "policies",
    timeout: float | None = None,
    on_environment: Callable[[RequestEnv], None] | None = None,
    on_check: Callable[[str, EnvResult], None] | None = None,
    plain: bool = False,
    assumptions: Assumptions | None = None,
    any_link: bool = False,
) -> LintResult:
    """Findings for each policy of the set (its templates are not linted, unless `any_link`:
    then a template is linted for every link, core/links.py: it is dead when no link of it
    matches any request, shadowed when every link of it is, and may error when some link
    can).

    Per request environment, the policies are compiled once and one solver answers every
    check with assumptions (Boolean literals standing for "this policy is satisfied", "no
    forbid applies"...). Only a model that becomes a finding's witness is decoded.
    `on_environment` is called as each environment is done, `on_check` after each check in
    each environment (query name, and its result with timings); `timeout` is in seconds per
    check and environment. `plain` runs each check as a query of its own instead
    (analyzer/runner.py), the reference the tests compare this with. With `assumptions`
    (analyzer/assumptions.py), only requests satisfying them count: a finding that needed
    them says which (its `dependence`).
    """
    if any_link and isinstance(policies, PolicySet):
        policies = (*policies, *policies.templates.values())
    policies = tuple(policies)
    refuse_templates(policies, label, any_link)
    # a set may have no link of a template (`LinkSpace.optional`); a template's own checks
    # are about a link of it (`_EnvLint.linked_`)
    links = link_space([policies], schema, optional=True) if any_link else None
    limit_ms = timeout_ms(timeout)
    require_valid(policies, schema, f"`{label}`")
    envs = request_environments(schema)
    assumed = checked_assumptions(assumptions, schema)
    vacuous = vacuous_environments(assumed, schema, envs, limit_ms)
    if plain:
        result = _lint_plain(
            policies, schema, label, limit_ms, on_environment, on_check, assumed, vacuous, links
        )
        return replace(result, assumptions=assumed)
    universe = Universe(schema)
    twins = twin_keys(policies, schema)
    answers: list[dict[str, list[EnvResult]]] = [defaultdict(list) for _ in policies]
    done: list[RequestEnv] = []
    try:
        for env in envs:
            applicable = [i for i, p in enumerate(policies) if applies(p, env, schema)]
            if applicable:
                _EnvLint(
                    universe,
                    env,
                    policies,
                    applicable,
                    limit_ms,
                    answers,
                    on_check,
                    assumed,
                    vacuous.get(env),
                    links,
                    twins,
                ).run()
            done.append(env)
            if on_environment:
                on_environment(env)
    except KeyboardInterrupt as err:
        # what is settled: the policies whose every environment was done
        settled = {
            i
            for i, p in enumerate(policies)
            if all(e in done for e in envs if applies(p, e, schema))
        }
        partial = _findings(policies, schema, envs, answers, label, settled)
        unlinted = tuple(PolicyRef.of(p, label) for i, p in enumerate(policies) if i not in settled)
        stop = Interrupted.of(err)
        result = replace(
            partial, interrupted=stop.signal_name, unlinted=unlinted, assumptions=assumed
        )
        raise Interrupted.of(err, result) from None
    return replace(_findings(policies, schema, envs, answers, label), assumptions=assumed)


REPLAY_ROUNDS = 4  # models of a policy tried before solving over all its neighbours
SATISFIED = Outcome.SATISFIED

_CHECKS = ("never-matches", "always-matches", "redundant", "shadowed", "never-errors")


class _EnvLint:
    """Every check of every policy that can apply in one environment.

    The policies are compiled once. Each check is a solve of its own, over only the policies
    it involves: a policy's own checks over that policy alone, and whether removing it
    changes a decision over the policies whose scopes can overlap with its own (two policies
    naming different principals, or different resources, with `==` are never satisfied
    together). The usual answer, a request where the policy alone decides, refutes three
    checks at once: it is satisfiable, not redundant, and not shadowed.
    """

    def __init__(
        self,
        universe: Universe,
        env: RequestEnv,
        policies: tuple[Policy, ...],
        applicable: list[int],
        timeout_ms: int | None,
        answers: list[dict[str, list[EnvResult]]],
        on_check: Callable[[str, EnvResult], None] | None,
        assumptions: tuple[Assumption, ...] = (),
        vacuous: tuple[str, ...] | None = None,
        links: LinkSpace | None = None,
        twins: Sequence[object | None] = (),
    ) -> None:
        self.assumptions, self.vacuous = assumptions, vacuous
        # which policy's answers a policy takes for its own checks (the first of its twins)
        self.first_twin: dict[int, int] = {}
        if twins and not assumptions:
            firsts: dict[object, int] = {}
            for i in applicable:
                key = twins[i]
                if key is not None:
                    self.first_twin[i] = firsts.setdefault(key, i)
        self.env, self.policies, self.applicable = env, policies, applicable
        self.answers, self.on_check, self.timeout_ms = answers, on_check, timeout_ms
        self.links = links
        self.enc = EnvEncoding(universe, env, links)
        self.senv, self.f = self.enc.senv, self.enc.f
        self.universe = universe
        self.encode_seconds = 0.0
        self.negated: dict[int, z3.BoolRef] = {}
        self.solver: z3.Solver | None = None  # the last check's, None when none was needed
        self.always_open: list[int] | None = None  # always-matches checks still open here

    def run(self) -> None:
        start = time.perf_counter()
        every_forbid = [j for j, q in enumerate(self.policies) if q.effect is Effect.FORBID]
        if self.vacuous is not None:  # no request here satisfies the assumptions
            for i in self.applicable:
                shadowed = len(every_forbid) > (self.policies[i].effect is Effect.FORBID)
                for check in _CHECKS:
                    if (check != "shadowed" or shadowed) and not self.refuted(i, check):
                        self.record(
                            i, check, Verdict.HOLDS, dependence=Dependence("vacuous", self.vacuous)
                        )
            return
        compiled: dict[int, Compiled] = {}
        failed: dict[int, str] = {}  # policies the encoder cannot represent here
        try:
            self.guard = Guard(self.assumptions, self.senv, self.enc)
        except EncodeError as err:
            self.guard = Guard((), self.senv, self.enc)
            failed = dict.fromkeys(self.applicable, f"unsupported: {err}")
        for i in self.applicable:
            if i in failed:
                continue
            try:
                compiled[i] = self.enc.policy(self.policies[i])
            except EncodeError as err:
                failed[i] = f"unsupported: {err}"
        self.compiled = compiled
        overlap = Overlap(self.policies, list(compiled))
        self.encode_seconds = time.perf_counter() - start
        f = self.f
        # which checks a policy gets depends on the whole set, as the plain path's queries do
        failed_forbid = next((failed[j] for j in failed if j in every_forbid), None)
        any_failed = next(iter(failed.values()), None)
        for i in self.applicable:
            p = self.policies[i]
            if i in failed:
                for check in _CHECKS:
                    self.record(i, check, Verdict.UNKNOWN, failed[i])
                continue
            near = overlap.with_(i)
            permits = [j for j in near if self.policies[j].effect is Effect.PERMIT]
            forbids = [j for j in near if self.policies[j].effect is Effect.FORBID]
            sat_i = compiled[i].satisfied
            if p.effect is Effect.PERMIT:
                # redundant unless it alone allows some request
                def alone(
                    i: int = i, permits: list[int] = permits, forbids: list[int] = forbids
                ) -> list[z3.BoolRef]:
                    none_of = [self.unsatisfied(j) for j in (*permits, *forbids)]
                    return [self.compiled[i].satisfied, *none_of]

                shadow = bool(every_forbid)
                shadow_failed = failed_forbid
            else:
                # redundant unless it alone denies some request a permit allows
                def alone(
                    i: int = i, permits: list[int] = permits, forbids: list[int] = forbids
                ) -> list[z3.BoolRef]:
                    some_permit = f.any([self.compiled[j].satisfied for j in permits])
                    none_of = [self.unsatisfied(j) for j in forbids]
                    return [self.compiled[i].satisfied, some_permit, *none_of]

                shadow = len(every_forbid) > 1
                shadow_failed = next((failed[j] for j in failed if j in every_forbid), None)
            checks = ["never-matches", "redundant"] + (["shadowed"] if shadow else [])
            if any_failed is None and not all(self.refuted(i, c) for c in checks):
                found, seconds = self.alone_by_replay(i, permits, forbids)
                if found == z3.sat:  # satisfiable, not redundant, not shadowed
                    for check in checks:
                        if not self.refuted(i, check):
                            self.record(i, check, Verdict.REFUTED, solve=seconds)
                elif found == z3.unsat:
                    self.settle(i, "redundant", found, seconds)
            if (
                any_failed is None
                and not all(self.refuted(i, c) for c in checks)
                and not self.answered(i, "redundant")
            ):
                answer, seconds = self.solve(alone(), [i, *near])
                if answer == z3.sat:  # satisfiable, not redundant, not shadowed
                    for check in checks:
                        if not self.refuted(i, check):
                            self.record(i, check, Verdict.REFUTED, solve=seconds)
                else:
                    self.settle(i, "redundant", answer, seconds)
            if not self.refuted(i, "redundant") and not self.answered(i, "redundant"):
                self.ask(i, "redundant", alone(), [i, *near], any_failed)
            self.ask(i, "never-matches", [sat_i], [i])
            if shadow:
                none_of = [self.unsatisfied(j) for j in forbids]
                self.ask(i, "shadowed", [sat_i, *none_of], [i, *forbids], shadow_failed)
            self.ask(i, "always-matches", [f.not_(sat_i), *self.linked_(i)], [i])
            self.may_error(i)

    def record(
        self,
        i: int,
        check: str,
        verdict: Verdict,
        reason: str | None = None,
        witness: Counterexample | None = None,
        solve: float = 0.0,
        confirm: float = 0.0,
        dependence: Dependence | None = None,
    ) -> None:
        # the environment's encoding is shared by its checks: counted once, with the first
        encode, self.encode_seconds = self.encode_seconds, 0.0
        if self.assumptions and verdict is Verdict.HOLDS and dependence is None:
            dependence = Dependence("none")  # settled without the solver
        result = EnvResult(
            self.env, verdict, reason, witness, encode, solve, confirm, dependence=dependence
        )
        self.answers[i][check].append(result)
        if self.on_check:
            self.on_check(check, result)

    def answered(self, i: int, check: str) -> bool:
        return any(r.env == self.env for r in self.answers[i][check])

    def refuted(self, i: int, check: str) -> bool:
        """Refuted already (in an earlier environment, or here): the check's answer is known."""
        return any(r.verdict is Verdict.REFUTED for r in self.answers[i][check])

    def solver_for(self, involved: list[int]) -> z3.Solver:
        """A solver holding what the formulas of the `involved` policies assume."""
        senv = self.senv
        notes = self.notes(involved)
        solver = make_solver(self.universe.ctx, self.timeout_ms)
        solver.add(*hierarchy_assumptions(senv, notes), *senv.input_assumptions(notes))
        self.guard.add_to(solver)
        return solver

    def notes(self, involved: Sequence[int]) -> Notes:
        """What the `involved` policies' formulas and the assumptions need."""
        return self.enc.notes([*(self.compiled[j].notes for j in involved), self.guard.notes])

    def solve(
        self, formulas: list[z3.BoolRef], involved: list[int]
    ) -> tuple[z3.CheckSatResult, float]:
        """Whether some request meets every formula (over the `involved` policies' terms)."""
        t0 = time.perf_counter()
        if any(z3.is_false(a) for a in formulas):
            self.solver = None
            return z3.unsat, 0.0
        solver = self.solver = self.solver_for(involved)
        solver.add(*(a for a in formulas if not z3.is_true(a)))
        return self.guard.check(solver), time.perf_counter() - t0

    def settle(self, i: int, check: str, answer: z3.CheckSatResult, seconds: float) -> None:
        if answer == z3.unsat:
            # a formula folded to false was never solved: no assumption was needed
            solved = self.solver is not None and self.guard
            dependence = self.guard.dependence(self.solver) if solved else None
            self.record(i, check, Verdict.HOLDS, solve=seconds, dependence=dependence)
        elif answer == z3.sat:
            self.record(i, check, Verdict.REFUTED, solve=seconds)
        else:
            assert self.solver is not None  # an answer other than unsat came from a solver
            reason = _unknown(self.solver, self.timeout_ms)
            self.record(i, check, Verdict.UNKNOWN, reason, solve=seconds)

    def ask(
        self,
        i: int,
        check: str,
        formulas: list[z3.BoolRef],
        involved: list[int],
        unsupported: str | None = None,
    ) -> None:
        """A check that holds iff no request meets the formulas (unknown when a policy it
        involves cannot be encoded here: `unsupported` says which). Skipped when answered."""
        if self.refuted(i, check) or self.answered(i, check) or self.shared(i, check):
            return
        if unsupported is not None:
            self.record(i, check, Verdict.UNKNOWN, unsupported)
            return
        self.settle(i, check, *self.solve(formulas, involved))

    def shared(self, i: int, check: str) -> bool:
        """Whether the answer of a check of `i` alone here is its first twin's (`twin_keys`),
        and recorded: a proof, or a refutation that shows no witness (a witness is of the
        twin's entities: `i` finds its own)."""
        first = self.first_twin.get(i, i)
        if first == i or check not in _OWN:
            return False
        for r in self.answers[first][check]:
            if r.env == self.env and r.counterexample is None and r.verdict is not Verdict.UNKNOWN:
                self.record(i, check, r.verdict, dependence=r.dependence)
                return True
        return False

    def unlinked(self, j: int, absent: tuple[str, ...]) -> bool:
        """Whether policy `j` is a template of one of the keys `absent` names."""
        p = self.policies[j]
        return self.links is not None and p.is_template and self.links.key(p) in absent

    def linked_(self, i: int) -> list[z3.BoolRef]:
        """For a template, that the set has its link: the checks of a policy alone are about
        a link of it (a set may have none, `LinkSpace.optional`)."""
        p = self.policies[i]
        if self.links is None or not p.is_template:
            return []
        present = self.senv.link_present(self.links.key(p))
        return [] if present is None else [present]

    def unsatisfied(self, j: int) -> z3.BoolRef:
        """`not (policy j is satisfied)`, built once per environment."""
        negated = self.negated.get(j)
        if negated is None:
            negated = self.negated[j] = self.f.not_(self.compiled[j].satisfied)
        return negated

    def alone_by_replay(
        self, i: int, permits: list[int], forbids: list[int]
    ) -> tuple[z3.CheckSatResult | None, float]:
        """Whether a request where policy `i` alone decides (a permit: no other permit or
        forbid is satisfied; a forbid: some permit is, and no other forbid) turns up without
        solving over all its neighbours at once (`permits`, `forbids`).

        A model of the policy is decoded and its neighbours evaluated on it concretely;
        those it satisfies and must not (a user the model happened to put in a group) are
        asked not to be, and the policy solved again with them; a forbid is asked, in turn,
        to meet one of its neighbouring permits when a model meets none. A concrete request
        is a model of every formula it meets, so when one is found, `i` is satisfiable, not
        redundant and not shadowed (sat). The formulas solved are a part of the whole
        check's, so when they have no model, neither has the whole (unsat: `i` is
        redundant), unless a permit was asked for. After `REPLAY_ROUNDS` models, or when the
        solver cannot decide, nothing follows (None) and the caller solves over all."""
        is_permit = self.policies[i].effect is Effect.PERMIT
        excluded: list[int] = []
        chosen: list[int] = []  # a forbid's neighbouring permits, each asked for in turn
        candidates = iter(permits)
        seconds = 0.0
        for _ in range(REPLAY_ROUNDS):
            formulas = [self.compiled[i].satisfied, *(self.unsatisfied(j) for j in excluded)]
            formulas += [self.compiled[j].satisfied for j in chosen[-1:]]
            answer, took = self.solve(formulas, [i, *excluded, *chosen[-1:]])
            seconds += took
            if answer == z3.unsat and not chosen:
                return answer, seconds
            if answer == z3.unsat:  # not with this permit: try the next one
                nxt = next(candidates, None)
                if nxt is None:
                    return None, seconds
                chosen.append(nxt)
                continue
            if answer != z3.sat:
                return None, seconds
            request, entities, policies, absent = self.replayed(i, excluded + chosen[-1:])
            self.refute_always_matching(request, entities, policies, absent)

            def satisfied(
                among: list[int],
                request: Request = request,
                entities: Entities = entities,
                policies: tuple[Policy, ...] = policies,
            ) -> list[int]:
                return [
                    j
                    for j in among
                    if evaluate_policy(policies[j], request, entities).outcome is SATISFIED
                ]

            if is_permit:
                extra = satisfied([*permits, *forbids])
                if not extra:
                    return z3.sat, seconds
                excluded += extra
                continue
            extra = satisfied(forbids)
            if not extra and satisfied(permits):
                return z3.sat, seconds
            excluded += extra
            if not extra:  # no permit met: ask for one
                nxt = next(candidates, None)
                if nxt is None:
                    return None, seconds
                chosen.append(nxt)
        return None, seconds

    def replayed(
        self, i: int, involved: list[int]
    ) -> tuple[Request, Entities, tuple[Policy, ...], tuple[str, ...]]:
        """The last solve's model of policy `i`, decoded and checked: it satisfies the policy
        and the assumptions when replayed (with the policies, their templates linked as the
        model says; the keys of those it has no link of last)."""
        notes = self.notes([i, *involved])
        assert self.solver is not None
        point = decode_model(self.senv, self.solver.model(), notes)
        request, entities = point.request, point.entities
        broken = violated(self.assumptions, self.env, request, entities)
        if broken:
            raise InternalError(
                f"in environment {self.env}: a model of {self.policies[i].display_name} "
                f"does not satisfy the assumption {broken[0].id} `{broken[0].condition}` "
                f"when replayed: {point.to_json()}"
            )
        policies = self.linked(point)
        if evaluate_policy(policies[i], request, entities).outcome is not SATISFIED:
            raise InternalError(
                f"in environment {self.env}: a model of {self.policies[i].display_name} "
                f"does not satisfy it when replayed: {point.to_json()}"
            )
        return request, entities, policies, point.absent

    def linked(self, point: Decoded) -> tuple[Policy, ...]:
        """The policies, their templates linked as the decoded model says (keeping ids)."""
        if self.links is None:
            return self.policies
        done = link_templates([self.policies], point, self.links, self.senv.schema, True)
        return done.policies[0]

    def refute_always_matching(
        self,
        request: Request,
        entities: Entities,
        policies: tuple[Policy, ...],
        absent: tuple[str, ...] = (),
    ) -> None:
        """A concrete request (and links) of this environment that a policy does not match
        refutes the policy's always-matches check: each one still open is evaluated on it
        (not a template the request's set has no link of: its check is about a link of it).

        The open ones are kept from one request to the next (most policies are refuted by
        the first requests): looking each policy up again would be quadratic in a store's."""
        if self.always_open is None:
            self.always_open = [
                j
                for j in self.compiled
                if not self.refuted(j, "always-matches") and not self.answered(j, "always-matches")
            ]
        still: list[int] = []
        for j in self.always_open:
            if self.answered(j, "always-matches"):  # asked since
                continue
            if absent and self.unlinked(j, absent):
                still.append(j)
                continue
            outcome = evaluate_policy(policies[j], request, entities).outcome
            if outcome is not Outcome.SATISFIED:
                self.record(j, "always-matches", Verdict.REFUTED)
            else:
                still.append(j)
        self.always_open = still

    def may_error(self, i: int) -> None:
        """Whether the policy can error when every entity it reads exists; the witness of the
        first environment where it can is decoded, replayed and shrunk."""
        if self.refuted(i, "never-errors") or self.shared(i, "never-errors"):
            return
        senv, c = self.senv, self.compiled[i]
        own = self.notes([i])
        formulas = [c.sym.err, *self.linked_(i), *senv.existence_assumptions(own)]
        answer, seconds = self.solve(formulas, [i])
        if answer != z3.sat:
            self.settle(i, "never-errors", answer, seconds)
            return
        t0 = time.perf_counter()
        p = self.policies[i]
        problem = Problem(
            "never-errors",
            (Operand(p.display_name, (p,)),),
            senv.schema,
            entities_exist=True,
            assumptions=self.assumptions,
            links=self.links,
        )
        assert self.solver is not None
        witness = confirm(problem, QUERIES["never-errors"], senv, self.solver, decision_rule, own)
        self.record(
            i,
            "never-errors",
            Verdict.REFUTED,
            witness=witness,
            solve=seconds,
            confirm=time.perf_counter() - t0,
        )


# the checks of a policy alone, whose answers a policy's twins share (see `twin_keys`)
_OWN = ("never-matches", "always-matches", "never-errors")


def twin_keys(policies: Sequence[Policy], schema: Schema) -> list[object | None]:
    """For each policy, what it shares with its twins (None: it has none).

    Twins are policies of one shape (core/policy.py: the links of a template, grants that
    differ only in the entities their principal and resource scopes name) whose named
    entities are of types whose entities are all alike (no enumerated or action types), do
    not occur elsewhere in the policy, and are equal to each other alike. Over an abstract
    store, renaming one twin's named entities into another's maps the requests and stores
    satisfying (or erroring) one to those of the other: the checks of a policy alone (`_OWN`)
    have one answer for all twins (without assumptions, which may name entities)."""
    keys: list[object | None] = []
    for p in policies:
        found = None if p.is_template else p.shape
        if found is not None:
            key, named = found
            written = repr((p.action, p.conditions))
            if all(
                u is None or (schema.interchangeable(u.type) and str(u) not in written)
                for u in named
            ):
                keys.append((key, named[0] == named[1]))
                continue
        keys.append(None)
    return keys


def _unknown(solver: z3.Solver, timeout_ms: int | None) -> str:
    why = solver.reason_unknown()
    if "timeout" in why or "canceled" in why:
        return f"timeout: the solver gave up after {(timeout_ms or 0) / 1000:g}s"
    return f"the solver could not decide: {why}"


def _findings(
    policies: tuple[Policy, ...],
    schema: Schema,
    envs: Sequence[RequestEnv],
    answers: list[dict[str, list[EnvResult]]],
    label: str,
    only: set[int] | None = None,
) -> LintResult:
    """The findings the checks' answers prove (for the policies `only` names, if given)."""
    findings: list[Finding] = []
    undecided: list[Undecided] = []
    query_of = {
        "never-matches": "never-matches",
        "always-matches": "always-matches",
        "redundant": "equivalent",
        "never-errors": "never-errors",
    }
    for i, p in enumerate(policies):
        if only is not None and i not in only:
            continue
        ref = PolicyRef.of(p, label)
        mine = answers[i]

        def verdict(
            check: str, mine: dict[str, list[EnvResult]] = mine, ref: PolicyRef = ref
        ) -> Verdict:
            results = mine.get(check, [])
            v = overall([r.verdict for r in results])
            if v is Verdict.UNKNOWN:
                reasons = sorted(
                    {r.reason for r in results if r.verdict is Verdict.UNKNOWN and r.reason}
                )
                name = query_of.get(check) or "always-denies"
                undecided.append(Undecided(ref, name, "; ".join(reasons)))
            return v

        def under(check: str, mine: dict[str, list[EnvResult]] = mine) -> Dependence | None:
            return combined([r.dependence for r in mine.get(check, [])])

        if not any(applies(p, e, schema) for e in envs):
            message = "its scope matches no request environment of the schema"
            findings.append(Finding("L001", ref, message))
            continue
        if verdict("never-matches") is Verdict.HOLDS:
            message = "no request satisfies its conditions"
            if p.is_template:
                message = "no link of the template matches any request"
            findings.append(Finding("L001", ref, message, dependence=under("never-matches")))
        else:
            if verdict("always-matches") is Verdict.HOLDS:
                message = "every request its scope allows satisfies it"
                findings.append(Finding("L002", ref, message, dependence=under("always-matches")))
            if verdict("redundant") is Verdict.HOLDS:
                message = "the other policies decide every request alike without it"
                findings.append(Finding("L003", ref, message, dependence=under("redundant")))
            if "shadowed" in mine and verdict("shadowed") is Verdict.HOLDS:
                code, message = "L005", "whenever it applies, another forbid applies too"
                if p.effect is Effect.PERMIT:
                    code, message = "L004", "whenever it applies, a forbid applies too"
                if p.is_template:
                    message = f"for every link, {message}"
                findings.append(Finding(code, ref, message, dependence=under("shadowed")))
        if verdict("never-errors") is Verdict.REFUTED:
            first = next(r for r in mine["never-errors"] if r.counterexample is not None)
            message = (
                f"it can error even when every entity it reads exists, for example for {first.env}"
            )
            if p.is_template:
                message = f"for some link, {message}"
            findings.append(Finding("L006", ref, message, first.counterexample))
    return LintResult(tuple(findings), tuple(undecided), label)


# the plain path: each check a query of its own


def _reason(result: QueryResult) -> str:
    reasons = {e.reason for e in result.environments if e.verdict is Verdict.UNKNOWN}
    return "; ".join(sorted(r for r in reasons if r))


def _lint_plain(
    policies: tuple[Policy, ...],
    schema: Schema,
    label: str,
    timeout_ms: int | None,
    on_environment: Callable[[RequestEnv], None] | None,
    on_check: Callable[[str, EnvResult], None] | None,
    assumptions: tuple[Assumption, ...] = (),
    vacuous: dict[RequestEnv, tuple[str, ...]] | None = None,
    links: LinkSpace | None = None,
) -> LintResult:
    envs = request_environments(schema)
    findings: list[Finding] = []
    undecided: list[Undecided] = []
    forbids = [p for p in policies if p.effect is Effect.FORBID]
    for p in policies:
        ref = PolicyRef.of(p, label)
        own = [e for e in envs if applies(p, e, schema)]  # where its scope can match

        def ask(
            query: str,
            *operands: Sequence[Policy],
            own: list[Any] = own,
            ref: PolicyRef = ref,
            entities_exist: bool = False,
        ) -> QueryResult:
            ops = tuple(
                Operand(o[0].display_name if len(o) == 1 else f"set{i}", tuple(o))
                for i, o in enumerate(operands)
            )
            problem = Problem(
                query,
                ops,
                schema,
                timeout_ms=timeout_ms,
                entities_exist=entities_exist,
                plain=True,
                assumptions=assumptions,
                vacuous=vacuous or {},
                links=links,
            )
            result = run(problem, own)
            if on_check:
                for e in result.environments:
                    on_check(query, e)
            if result.verdict is Verdict.UNKNOWN:
                undecided.append(Undecided(ref, query, _reason(result)))
            return result

        def proved(query: str, *operands: Sequence[Policy]) -> Dependence | bool:
            """False unless the query holds; then what it needed of the assumptions (True
            without assumptions)."""
            result = ask(query, *operands)
            return result.verdict is Verdict.HOLDS and (result.dependence or True)

        def found(code: str, message: str, proof: Dependence | bool, ref: PolicyRef = ref) -> None:
            dependence = proof if isinstance(proof, Dependence) else None
            findings.append(Finding(code, ref, message, dependence=dependence))

        if not own:
            message = "its scope matches no request environment of the schema"
            findings.append(Finding("L001", ref, message))
            continue
        if proof := proved("never-matches", [p]):
            found("L001", "no request satisfies its conditions", proof)
        else:
            if proof := proved("always-matches", [p]):
                found("L002", "every request its scope allows satisfies it", proof)
            others = [q for q in policies if q is not p]
            if proof := proved("equivalent", policies, others):
                found("L003", "the other policies decide every request alike without it", proof)
            if p.effect is Effect.PERMIT and forbids:
                if proof := proved("always-denies", [p, *forbids]):
                    found("L004", "whenever it applies, a forbid applies too", proof)
            other_forbids = [q for q in forbids if q is not p]
            as_permit = replace(p, effect=Effect.PERMIT)
            if p.effect is Effect.FORBID and other_forbids:
                if proof := proved("always-denies", [as_permit, *other_forbids]):
                    found("L005", "whenever it applies, another forbid applies too", proof)
        # a missing entity makes nearly every policy error: report the errors that remain
        # when every entity the request and the policy name is in the store
        errors = ask("never-errors", [p], entities_exist=True)
        refuted = [e for e in errors.environments if e.counterexample is not None]
        if refuted:
            message = (
                f"it can error even when every entity it reads exists, "
                f"for example for {refuted[0].env}"
            )
            findings.append(Finding("L006", ref, message, refuted[0].counterexample))
    if on_environment:
        for env in envs:
            on_environment(env)
    return LintResult(tuple(findings), tuple(undecided), label)
