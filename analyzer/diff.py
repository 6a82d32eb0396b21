"""Semantic diff: every class of requests whose decision changes between two policy versions.

Policies are matched across versions by `@id` when it names one policy in each, else by
identical text, then (for a duplicated `@id`) by position; the report lists the added,
removed and changed ones, and says when an `@id` could not be used. Then, per request
environment, a class of requests is identified by which old and which new policies they
satisfy: the solver finds a request whose decision differs, the witness is decoded and
replayed through the concrete authorizer (which also gives the class), the class is blocked,
and the search goes on until no changed request remains. Each class says why its decision
changed, in a sentence. The search ranges over the requests satisfying some changed policy,
and over only the policies that can be satisfied with one (`Bearing` says why that finds the
same classes).

With `any_link`, templates are policies of the versions too, paired like the others (by
`@id`, else identical text), and linked once for every link: a template and its other
version share their link (core/links.py), so a class is of requests and links together,
and its witness names the links.

A search that cannot finish in an environment (more than `max_classes` classes, the solver
gives up, an unsupported construct, a signal) says so there and in the summary, and is never
read as "no change".
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from cedar_smt.analyzer.assumptions import (
    Assumption,
    Assumptions,
    Guard,
    applying,
    checked_assumptions,
    vacuous_environments,
    violated,
)
from cedar_smt.analyzer.checks import refuse_templates, require_valid
from cedar_smt.analyzer.links import link_templates
from cedar_smt.analyzer.minimize import minimize
from cedar_smt.analyzer.overlap import Meeting
from cedar_smt.analyzer.results import (
    AnalysisInputError,
    Counterexample,
    Dependence,
    InternalError,
    Interrupted,
    Verdict,
    combined,
    env_json,
    with_run_notes,
)
from cedar_smt.analyzer.runner import decode_model, matching_environments, timeout_ms
from cedar_smt.core.ast import to_source
from cedar_smt.core.authorizer import Outcome, decision_rule, evaluate_policy, is_authorized
from cedar_smt.core.entities import Entities
from cedar_smt.core.links import LinkSpace, link_space
from cedar_smt.core.policy import Effect, Policy
from cedar_smt.core.policy_json import TemplateLink
from cedar_smt.core.policy_set import PolicySet
from cedar_smt.core.request import Request
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.encoder.authorizer import compile_policy, z3_logic
from cedar_smt.encoder.decoder import Counterexample as Decoded
from cedar_smt.encoder.encoding import EnvEncoding, content
from cedar_smt.encoder.enforcer import footprint_hierarchy_assumptions, hierarchy_assumptions
from cedar_smt.encoder.env import Notes, SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.solver import make_solver
from cedar_smt.encoder.sorts import Universe

MAX_CLASSES = 64  # per environment, by default; more is reported, never silently dropped

# why the search in an environment stopped before it was complete
STOPPED_BY = ("class-limit", "solver", "unsupported", "interrupted")


@dataclass(frozen=True)
class PolicyRef:
    """A policy of one version, as reports name it."""

    id: str
    name: str  # the @id annotation, or the id
    effect: str
    version: str  # "old" or "new"
    source: str | None
    line: int | None
    column: int | None

    @staticmethod
    def of(p: Policy, version: str) -> PolicyRef:
        return PolicyRef(
            p.id,
            p.display_name,
            p.effect.value,
            version,
            p.source,
            p.loc.line if p.loc else None,
            p.loc.column if p.loc else None,
        )

    @property
    def where(self) -> str:
        if self.line is None:
            return self.source or self.version
        return f"{self.source or self.version}:{self.line}"

    def __str__(self) -> str:
        return f"{self.effect} `{self.name}` ({self.where})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "effect": self.effect,
            "version": self.version,
            "file": self.source,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True)
class PolicyChange:
    kind: str  # "added", "removed", "changed" or "unchanged"
    old: PolicyRef | None
    new: PolicyRef | None
    matched_by: str | None = None  # "id", "text" or "position", for a pair

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": self.old.to_json() if self.old else None,
            "new": self.new.to_json() if self.new else None,
            "matched_by": self.matched_by,
        }


@dataclass(frozen=True)
class ChangeClass:
    """Requests of one environment satisfying exactly these old and new policies."""

    transition: str  # "newly allowed" or "newly denied"
    old_satisfied: tuple[PolicyRef, ...]
    new_satisfied: tuple[PolicyRef, ...]
    responsible: tuple[PolicyRef, ...]
    explanation: str
    witness: Counterexample

    def to_json(self) -> dict[str, Any]:
        return {
            "transition": self.transition,
            "old_satisfied": [p.name for p in self.old_satisfied],
            "new_satisfied": [p.name for p in self.new_satisfied],
            "responsible": [p.to_json() for p in self.responsible],
            "explanation": self.explanation,
            "witness": self.witness.to_json(),
        }


@dataclass(frozen=True)
class EnvDiff:
    env: RequestEnv
    classes: tuple[ChangeClass, ...] = ()
    complete: bool = True  # False when the search stopped early (see stopped_by and reason)
    reason: str | None = None
    stopped_by: str | None = None  # one of STOPPED_BY when the search is incomplete
    encode_seconds: float = 0.0
    solve_seconds: float = 0.0
    confirm_seconds: float = 0.0  # decoding, replaying and shrinking the witnesses
    assumed: tuple[str, ...] | None = None  # the assumptions applying here, when any are given
    # what the search's end (no other request changes) needed of the assumptions
    dependence: Dependence | None = None

    @property
    def verdict(self) -> Verdict:
        if self.classes:
            return Verdict.REFUTED
        return Verdict.HOLDS if self.complete else Verdict.UNKNOWN

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **env_json(self.env),
            "result": "changed" if self.classes else "unchanged" if self.complete else "unknown",
            "classes": [c.to_json() for c in self.classes],
        }
        if self.assumed is not None:
            out["assumptions"] = list(self.assumed)
        if self.dependence is not None:
            out.update(self.dependence.to_json())
        if not self.complete:
            out["complete"] = False
            out["stopped_by"] = self.stopped_by
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class DiffResult:
    changes: tuple[PolicyChange, ...] = ()
    environments: tuple[EnvDiff, ...] = ()
    old_label: str = "old"
    new_label: str = "new"
    max_classes: int = MAX_CLASSES
    interrupted: str | None = None  # the signal that stopped the run, e.g. "SIGINT"
    unfinished: tuple[RequestEnv, ...] = ()  # environments not searched, when interrupted
    notes: tuple[str, ...] = ()  # how policies were matched, when `@id` could not be used
    files: tuple[tuple[str, str], ...] = ()  # (old file, new file) pairs, when not the labels
    assumptions: tuple[Assumption, ...] = ()  # every request is assumed to satisfy them

    @property
    def file_pairs(self) -> tuple[tuple[str, str], ...]:
        """Which new file each old file became, so that reports can show a removed policy
        where a reviewer of the new version looks."""
        return self.files or ((self.old_label, self.new_label),)

    @property
    def decisions_change(self) -> bool:
        return any(e.classes for e in self.environments)

    @property
    def complete(self) -> bool:
        return not self.interrupted and all(e.complete for e in self.environments)

    @property
    def incomplete(self) -> list[EnvDiff]:
        """The environments whose search stopped before it was complete."""
        return [e for e in self.environments if not e.complete]

    @property
    def classes(self) -> list[tuple[RequestEnv, ChangeClass]]:
        return [(e.env, c) for e in self.environments for c in e.classes]

    @property
    def dependence(self) -> Dependence | None:
        """What the unchanged environments needed of the assumptions, together."""
        unchanged = [e for e in self.environments if e.complete and not e.classes]
        return combined([e.dependence for e in unchanged])

    def to_json(self) -> dict[str, Any]:
        result = "changed" if self.decisions_change else "unchanged" if self.complete else "unknown"
        out: dict[str, Any] = {
            "query": "diff",
            "result": result,
            "complete": self.complete,
            "old": self.old_label,
            "new": self.new_label,
            "max_classes": self.max_classes,
            "notes": list(self.notes),
            "policies": [c.to_json() for c in self.changes if c.kind != "unchanged"],
            "environments": [e.to_json() for e in self.environments],
            "incomplete": [
                {**env_json(e.env), "stopped_by": e.stopped_by, "reason": e.reason}
                for e in self.incomplete
            ],
        }
        return with_run_notes(
            out, self.assumptions, self.dependence, self.interrupted, self.unfinished
        )


def _content(p: Policy) -> Any:
    """What a policy says, independent of its id and place."""
    return (p.effect, p.principal, p.action, p.resource, p.conditions, p.annotations)


def _text(p: Policy) -> str:
    return f"{p.effect.value} {to_source(p.to_expr())}"


def _annotated_id(p: Policy) -> str | None:
    return p.annotation_map.get("id")


def match_policies(old: Sequence[Policy], new: Sequence[Policy]) -> list[PolicyChange]:
    """Pair the versions' policies, and say how each pair was made.

    By `@id` when it names exactly one policy in each version (Cedar allows duplicates);
    the others by identical text (effect, scope and conditions) under the same `@id` or none;
    what is left of policies sharing a duplicated `@id` in order of appearance, a permit with
    a permit and a forbid with a forbid first. The rest were removed or added.
    """
    old_ids = Counter(_annotated_id(p) for p in old)
    new_ids = Counter(_annotated_id(q) for q in new)
    free = _Free(new)
    pairs: dict[int, tuple[Policy, str]] = {}
    for i, p in enumerate(old):
        ident = _annotated_id(p)
        if ident is not None and old_ids[ident] == 1 and new_ids[ident] == 1:
            pairs[i] = (new[free.take(next(free.of(ident)))], "id")
    for i, p in enumerate(old):
        if i not in pairs:
            j = free.same_text(p)
            if j is not None:
                pairs[i] = (new[free.take(j)], "text")
    for same_effect in (True, False):
        for i, p in enumerate(old):
            ident = _annotated_id(p)
            if i in pairs or ident is None or max(old_ids[ident], new_ids[ident]) < 2:
                continue
            group = (j for j in free.of(ident) if not same_effect or new[j].effect is p.effect)
            j = next(group, None)
            if j is not None:
                pairs[i] = (new[free.take(j)], "position")
    changes: list[PolicyChange] = []
    for i, p in enumerate(old):
        if i not in pairs:
            changes.append(PolicyChange("removed", PolicyRef.of(p, "old"), None))
            continue
        q, how = pairs[i]
        kind = "unchanged" if _content(p) == _content(q) else "changed"
        changes.append(PolicyChange(kind, PolicyRef.of(p, "old"), PolicyRef.of(q, "new"), how))
    changes.extend(PolicyChange("added", None, PolicyRef.of(new[j], "new")) for j in free.left())
    return changes


class _Free:
    """The policies of the new version not paired yet, by `@id` (or none), in their order.

    Finding the first of them with a policy's text is the costly step of matching (printing a
    policy takes a third of a millisecond): when the first unpaired policy of the same `@id`
    says what the policy says (the same effect, scope and conditions, hence the same text),
    it is the one, and no text is printed; otherwise every unpaired policy of that `@id` is
    printed once, and looked up by text from then on."""

    def __init__(self, new: Sequence[Policy]) -> None:
        self.new = new
        self.paired: set[int] = set()
        self.groups: dict[str | None, list[int]] = {}
        for j, q in enumerate(new):
            self.groups.setdefault(_annotated_id(q), []).append(j)
        self.start: dict[str | None, int] = dict.fromkeys(self.groups, 0)
        self.texts: dict[str | None, dict[str, list[int]]] = {}  # by @id, once printed

    def of(self, ident: str | None) -> Iterator[int]:
        """The unpaired policies with this `@id`, in order."""
        group = self.groups.get(ident, [])
        k = self.start.get(ident, 0)
        while k < len(group) and group[k] in self.paired:
            k += 1
        if ident in self.start:
            self.start[ident] = k
        return (j for j in group[k:] if j not in self.paired)

    def take(self, j: int) -> int:
        self.paired.add(j)
        return j

    def same_text(self, p: Policy) -> int | None:
        """The first unpaired policy with `p`'s `@id` and text."""
        ident = _annotated_id(p)
        by_text = self.texts.get(ident)
        if by_text is None:
            first = next(self.of(ident), None)
            if first is None:
                return None
            q = self.new[first]
            if q.effect is p.effect and content(q) == content(p):
                return first
            by_text = self.texts[ident] = {}
            for j in self.of(ident):
                by_text.setdefault(_text(self.new[j]), []).append(j)
        same = by_text.get(_text(p), [])
        while same and same[0] in self.paired:
            same.pop(0)
        return same[0] if same else None

    def left(self) -> list[int]:
        return [j for j in range(len(self.new)) if j not in self.paired]


def duplicated_ids(
    old: Sequence[Policy], new: Sequence[Policy], labels: tuple[str, str]
) -> tuple[str, ...]:
    """A note for each `@id` that names several policies of a version, and so matches none."""
    old_ids = Counter(_annotated_id(p) for p in old)
    new_ids = Counter(_annotated_id(q) for q in new)
    notes = []
    for ident in sorted({i for i in (*old_ids, *new_ids) if i is not None}):
        if max(old_ids[ident], new_ids[ident]) < 2:
            continue
        counts = f"{old_ids[ident]} of `{labels[0]}` and {new_ids[ident]} of `{labels[1]}`"
        notes.append(
            f'`@id("{ident}")` names {counts}: those policies are matched by identical text, '
            "then in order of appearance"
        )
    return tuple(notes)


def _explain(
    transition: str,
    old_sat: set[str],
    new_sat: set[str],
    old: Sequence[Policy],
    new: Sequence[Policy],
    changes: Sequence[PolicyChange],
) -> tuple[tuple[PolicyRef, ...], str]:
    """The policies that make the difference, and a sentence saying how."""
    counterpart: dict[tuple[str, str], PolicyChange] = {}
    for c in changes:
        if c.old:
            counterpart[("old", c.old.id)] = c
        if c.new:
            counterpart[("new", c.new.id)] = c
    gained = Effect.PERMIT if transition == "newly allowed" else Effect.FORBID
    lost = Effect.FORBID if transition == "newly allowed" else Effect.PERMIT
    parts: list[str] = []
    responsible: list[PolicyRef] = []
    for p in new:
        if p.effect is not gained or p.id not in new_sat:
            continue
        c = counterpart[("new", p.id)]
        ref = PolicyRef.of(p, "new")
        if c.kind == "added":
            parts.append(f"{ref} was added and applies")
        elif c.old is None or c.old.id not in old_sat:
            parts.append(f"{ref.effect} `{ref.name}` (changed, {ref.where}) now applies")
        else:
            continue
        responsible.append(ref)
    for p in old:
        if p.effect is not lost or p.id not in old_sat:
            continue
        c = counterpart[("old", p.id)]
        ref = PolicyRef.of(p, "old")
        if c.kind == "removed":
            parts.append(f"{ref} was removed")
        elif c.new is None or c.new.id not in new_sat:
            where = c.new.where if c.new else ref.where
            parts.append(f"{ref.effect} `{ref.name}` (changed, {where}) no longer applies")
        else:
            continue
        responsible.append(ref)
    if not parts:
        parts.append("the policies that decide it changed")
    return tuple(responsible), f"{transition}: " + " and ".join(parts)


def _satisfied(policies: Sequence[Policy], cx: Any) -> set[str]:
    return {
        p.id
        for p in policies
        if evaluate_policy(p, cx.request, cx.entities).outcome is Outcome.SATISFIED
    }


def _decision(terms: list[tuple[Policy, z3.BoolRef]], f: Any) -> z3.BoolRef:
    permits = [t for p, t in terms if p.effect is Effect.PERMIT]
    forbids = [t for p, t in terms if p.effect is Effect.FORBID]
    return decision_rule(permits, forbids, z3_logic(f))


def _key(p: Policy, links: LinkSpace | None = None) -> tuple[Any, ...]:
    """What a policy's part in a decision depends on: its effect and its compiled form's (for
    a template, its link's key too)."""
    return (p.effect, content(p, links))


@dataclass(frozen=True)
class Delta:
    """The policies of each version that the other has no policy saying the same of.

    A request's decision is a function of which permits and which forbids it satisfies, and
    whether a policy is satisfied depends only on its scope and conditions (`content`), so
    the decisions of two versions are functions of the same sets of (effect, content) pairs,
    each counted once however many policies say it. Two policies of the versions with the
    same pair are satisfied by the same requests. So when a request satisfies no policy of
    `old` nor of `new` (the changed ones: their pair is on one side only), it satisfies the
    same pairs in both versions and their decisions are equal: **a request whose decision
    differs satisfies some changed policy.**"""

    old: tuple[Policy, ...]
    new: tuple[Policy, ...]

    @staticmethod
    def of(old: Sequence[Policy], new: Sequence[Policy], links: LinkSpace | None = None) -> Delta:
        old_keys = [_key(p, links) for p in old]
        new_keys = [_key(q, links) for q in new]
        in_old, in_new = set(old_keys), set(new_keys)
        return Delta(
            tuple(p for p, k in zip(old, old_keys, strict=True) if k not in in_new),
            tuple(q for q, k in zip(new, new_keys, strict=True) if k not in in_old),
        )


@dataclass(frozen=True)
class Bearing:
    """The policies of each version that the search for changed requests in one environment
    needs, and the changed ones among them (which apply here).

    Soundness. Let `R` be the requests of the environment satisfying some changed policy
    (`Delta`). Every request whose decision differs is in `R`, so the search may be
    restricted to `R` without losing a class: it asks for `reach ∧ old ≠ new`, `reach` being
    "some changed policy is satisfied". A request of `R` satisfies some changed policy `d`,
    so it satisfies no policy whose scope cannot overlap `d`'s (analyzer/overlap.py: two
    `principal ==` naming different entities, or two `resource ==`; this holds in every
    store and of every model the solver can give). An unchanged policy (its pair on both
    sides) whose scope overlaps no changed policy's is therefore false on all of `R`, and
    dropping it from both versions' decisions changes neither on `R`; a policy whose scope
    cannot match the environment is false there as well. So on `R` the decisions built from
    the kept policies (`old`, `new`: every changed policy and every unchanged one that meets
    a changed one, applying here) are the decisions of the whole versions, each class of
    changed requests (the old and the new policies they satisfy) is one whose dropped
    policies are all unsatisfied, and blocking a class by the kept policies' terms blocks
    exactly that class within `R`. The classes found are the same as over the whole
    versions; only the solver's route to them differs. The same argument holds concretely:
    a request satisfying the kept policies of a class's witness satisfies a changed policy,
    so its dropped policies are unsatisfied too; witnesses are shrunk checking the kept
    policies, and each is replayed in full before it is shown (a dropped policy satisfied
    there is an internal error).

    An unchanged policy the encoder cannot represent is not compiled when it does not meet
    a changed one, so such an environment gets an answer where compiling every policy
    would report it unsupported."""

    old: tuple[Policy, ...]
    new: tuple[Policy, ...]
    changed: tuple[Policy, ...]

    @staticmethod
    def of(
        delta: Delta, old: Sequence[Policy], new: Sequence[Policy], env: RequestEnv, schema: Schema
    ) -> Bearing:
        changed = [p for p in (*delta.old, *delta.new) if applies(p, env, schema)]
        ids = {id(p) for p in changed}
        meeting = Meeting(changed)

        def kept(p: Policy) -> bool:
            return id(p) in ids or (meeting.meets(p) and applies(p, env, schema))

        return Bearing(
            tuple(p for p in old if kept(p)), tuple(q for q in new if kept(q)), tuple(changed)
        )


def diff_environment(
    old: Sequence[Policy],
    new: Sequence[Policy],
    changes: Sequence[PolicyChange],
    env: RequestEnv,
    universe: Universe,
    timeout_ms: int | None = None,
    labels: tuple[str, str] = ("old", "new"),
    max_classes: int = MAX_CLASSES,
    plain: bool = False,
    assumptions: Sequence[Assumption] = (),
    vacuous: tuple[str, ...] | None = None,
    delta: Delta | None = None,
    links: LinkSpace | None = None,
) -> EnvDiff:
    """Every class of changed requests in `env`, up to `max_classes` of them (`plain`: the
    reference path of analyzer/runner.py, every policy compiled afresh and hierarchy facts on
    every pair of entity terms), among the requests satisfying `assumptions` (`vacuous`: the
    assumptions that no request of `env` satisfies, when none does). The fast path searches
    only among the policies that bear on a change (`Bearing`; `delta`: the versions' changed
    policies, when the caller has them)."""
    start = time.perf_counter()
    given = tuple(a.id for a in applying(assumptions, env)) if assumptions else None
    if vacuous is not None:
        return EnvDiff(env, assumed=given, dependence=Dependence("vacuous", vacuous))
    try:
        if plain:
            senv = SymEnv(universe, env, links)
            f = senv.f
            old_terms = [(p, f.satisfied(compile_policy(p, senv))) for p in old]
            new_terms = [(p, f.satisfied(compile_policy(p, senv))) for p in new]
            old_decision, new_decision = _decision(old_terms, f), _decision(new_terms, f)
            guard = Guard(assumptions, senv)
            differs = f.not_(f.eq(old_decision, new_decision))
        else:
            enc = EnvEncoding(universe, env, links)
            senv, f = enc.senv, enc.f
            delta = delta or Delta.of(old, new, links)
            bearing = Bearing.of(delta, old, new, env, senv.schema)
            old_set, new_set = enc.policy_set(bearing.old), enc.policy_set(bearing.new)
            old_terms = [(p, enc.policy(p).satisfied) for p in bearing.old]
            new_terms = [(p, enc.policy(p).satisfied) for p in bearing.new]
            reach = f.any([enc.policy(p).satisfied for p in bearing.changed])
            differs = f.and_(reach, f.not_(f.eq(old_set.decision, new_set.decision)))
            guard = Guard(assumptions, senv, enc)
    except EncodeError as err:
        return EnvDiff(
            env,
            complete=False,
            reason=f"unsupported: {err}",
            stopped_by="unsupported",
            assumed=given,
        )
    encoded = time.perf_counter() - start
    independent = Dependence("none") if given is not None else None
    if z3.is_false(differs):
        return EnvDiff(env, encode_seconds=encoded, assumed=given, dependence=independent)
    if plain:
        notes = senv.notes
        hierarchy = footprint_hierarchy_assumptions(senv)
    else:
        notes = enc.notes([old_set.notes, new_set.notes, guard.notes])
        hierarchy = hierarchy_assumptions(senv, notes)
    solver = make_solver(universe.ctx, timeout_ms)
    solver.add(*hierarchy, *senv.input_assumptions(notes), differs)
    guard.add_to(solver)
    classes: list[ChangeClass] = []
    seen: set[Signature] = set()
    timing: dict[str, Any] = {
        "encode_seconds": encoded,
        "solve_seconds": 0.0,
        "confirm_seconds": 0.0,
        "assumed": given,
    }

    def stopped(by: str, reason: str) -> EnvDiff:
        return EnvDiff(env, tuple(classes), complete=False, reason=reason, stopped_by=by, **timing)

    try:
        while True:
            t0 = time.perf_counter()
            answer = guard.check(solver)
            timing["solve_seconds"] += time.perf_counter() - t0
            if answer == z3.unsat:
                dependence = guard.dependence(solver) if given is not None else None
                return EnvDiff(env, classes=tuple(classes), dependence=dependence, **timing)
            if answer != z3.sat:
                return stopped("solver", f"the solver stopped: {solver.reason_unknown()}")
            if len(classes) >= max_classes:
                limit = f"{max_classes} class{'es' if max_classes != 1 else ''}"
                return stopped(
                    "class-limit", f"stopped at the limit of {limit}; more requests change decision"
                )
            t0 = time.perf_counter()
            cls, (old_sat, new_sat) = _witness_class(
                old,
                new,
                changes,
                senv,
                solver.model(),
                labels,
                seen,
                notes,
                assumptions,
                None if plain else bearing,
                links,
            )
            classes.append(cls)
            seen.add((old_sat, new_sat))
            # block this class (the policies that cannot apply here are in every class alike)
            same = [f.eq(t, f.bool(p.id in old_sat)) for p, t in old_terms if not z3.is_false(t)]
            same += [f.eq(t, f.bool(p.id in new_sat)) for p, t in new_terms if not z3.is_false(t)]
            solver.add(f.not_(f.and_(*same)))
            timing["confirm_seconds"] += time.perf_counter() - t0
    except KeyboardInterrupt as err:
        reason = f"interrupted by {Interrupted.of(err).signal_name}"
        raise Interrupted.of(err, stopped("interrupted", reason)) from None


Signature = tuple[frozenset[str], frozenset[str]]  # the old and the new policies satisfied


def _witness_class(
    old: Sequence[Policy],
    new: Sequence[Policy],
    changes: Sequence[PolicyChange],
    senv: SymEnv,
    model: z3.ModelRef,
    labels: tuple[str, str],
    seen: set[Signature],
    notes: Notes,
    assumptions: Sequence[Assumption] = (),
    bearing: Bearing | None = None,
    links: LinkSpace | None = None,
) -> tuple[ChangeClass, Signature]:
    """The class of changed requests a model is in, with a replayed and shrunk witness (which
    satisfies the assumptions; with `links`, the templates linked as the model says). With
    `bearing`, the search's model ranged over its policies only: the witness is shrunk
    checking those, and replayed over every policy."""
    env = senv.env
    cx = decode_model(senv, model, notes)
    made: tuple[TemplateLink, ...] = ()
    if links is not None:
        done = link_templates([old, new], cx, links, senv.schema, keep_ids=True)
        (old, new), made = done.policies, done.links
    broken = violated(assumptions, env, cx.request, cx.entities)
    if broken:
        raise InternalError(
            f"the diff witness in {env} does not satisfy the assumption {broken[0].id} "
            f"`{broken[0].condition}` when replayed: {cx.to_json()}"
        )
    old_sat, new_sat = _satisfied(old, cx), _satisfied(new, cx)
    old_resp = is_authorized(cx.request, old, cx.entities)
    new_resp = is_authorized(cx.request, new, cx.entities)
    signature = (frozenset(old_sat), frozenset(new_sat))
    if old_resp.allowed == new_resp.allowed or signature in seen:
        raise InternalError(
            f"the diff witness in {env} does not replay as a new class of changed "
            f"decisions: {cx.to_json()}"
        )

    checked_old, checked_new = (old, new) if bearing is None else (bearing.old, bearing.new)
    if links is not None and bearing is not None:  # the bearing policies, linked alike
        linked = {("old", p.id): p for p in old} | {("new", q.id): q for q in new}
        checked_old = tuple(linked[("old", p.id)] for p in checked_old)
        checked_new = tuple(linked[("new", q.id)] for q in checked_new)
    if bearing is not None and not (
        old_sat <= {p.id for p in checked_old} and new_sat <= {q.id for q in checked_new}
    ):
        raise InternalError(
            f"the diff witness in {env} satisfies a policy that no changed policy's scope "
            f"overlaps: {cx.to_json()}"
        )

    def same_class(request: Request, entities: Entities) -> bool:
        point = Decoded(request, entities)
        sat = (frozenset(_satisfied(checked_old, point)), frozenset(_satisfied(checked_new, point)))
        return sat == signature and not violated(assumptions, env, request, entities)

    request, entities = minimize(cx.request, cx.entities, same_class)
    if bearing is not None:
        point = Decoded(request, entities)
        replayed = (frozenset(_satisfied(old, point)), frozenset(_satisfied(new, point)))
        if replayed != signature:
            raise InternalError(
                f"the shrunk diff witness in {env} is not in the class it was shrunk in when "
                f"replayed over every policy: {point.to_json()}"
            )
    transition = "newly allowed" if new_resp.allowed else "newly denied"
    responsible, sentence = _explain(transition, old_sat, new_sat, old, new, changes)
    witness = Counterexample(
        request, entities, {labels[0]: old_resp.decision, labels[1]: new_resp.decision}, {}, made
    )
    cls = ChangeClass(
        transition,
        tuple(PolicyRef.of(p, "old") for p in old if p.id in old_sat),
        tuple(PolicyRef.of(p, "new") for p in new if p.id in new_sat),
        responsible,
        sentence,
        witness,
    )
    return cls, signature


def diff_policies(
    old: Sequence[Policy] | PolicySet,
    new: Sequence[Policy] | PolicySet,
    schema: Schema,
    *,
    labels: tuple[str, str] = ("old", "new"),
    principal_type: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    timeout: float | None = None,
    max_classes: int = MAX_CLASSES,
    on_done: Callable[[EnvDiff], None] | None = None,
    plain: bool = False,
    files: Sequence[tuple[str, str]] = (),
    old_schema: Schema | None = None,
    assumptions: Assumptions | None = None,
    any_link: bool = False,
) -> DiffResult:
    """Every class of requests whose decision differs between `old` and `new`, per environment.

    The search in an environment stops after `max_classes` classes (the result says so).
    `old_schema`, when the schema changed with the policies, is the one `old` is validated
    against first (`old` must validate against `schema` too: both versions are compared on
    the requests `schema` allows). `files` pairs each old file with the new one it became.
    `assumptions` (analyzer/assumptions.py) restrict the requests compared to those
    satisfying them. `any_link`: the versions' templates (those of a `PolicySet`, and any
    given among the policies) are compared for every link, the same on both sides.
    """
    old, new = _with_templates(old, any_link), _with_templates(new, any_link)
    for version, label in ((old, labels[0]), (new, labels[1])):
        refuse_templates(version, label, any_link)
    # a set may have no link of a template (`LinkSpace.optional`)
    links = link_space([old, new], schema, optional=True) if any_link else None
    if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
        raise AnalysisInputError(
            f"the class limit must be a whole number from 1, not `{max_classes}`"
        )
    if old_schema is not None:
        require_valid(old, old_schema, f"`{labels[0]}`", "the schema of their own version")
    require_valid(old, schema, f"`{labels[0]}`")
    # a policy validates or not by what it says: those of `new` saying what one of `old`
    # says (which validated) are valid
    delta = None if plain else Delta.of(old, new, links)
    require_valid(new if delta is None else delta.new, schema, f"`{labels[1]}`")
    envs = matching_environments(schema, principal_type, action, resource_type)
    changes = match_policies(old, new)
    notes = duplicated_ids(old, new, labels)
    limit_ms = timeout_ms(timeout)
    assumed = checked_assumptions(assumptions, schema)
    vacuous = vacuous_environments(assumed, schema, envs, limit_ms)
    results: list[EnvDiff] = []
    try:
        for env in envs:
            universe = Universe(schema)  # one each: an environment's classes are the same alone
            results.append(
                diff_environment(
                    old,
                    new,
                    changes,
                    env,
                    universe,
                    limit_ms,
                    labels,
                    max_classes,
                    plain,
                    assumed,
                    vacuous.get(env),
                    delta,
                    links,
                )
            )
            if on_done:
                on_done(results[-1])
    except KeyboardInterrupt as err:
        if isinstance(err, Interrupted) and isinstance(err.partial, EnvDiff):
            results.append(err.partial)
        stop = Interrupted.of(err)
        partial = DiffResult(
            tuple(changes),
            tuple(results),
            *labels,
            max_classes,
            stop.signal_name,
            tuple(envs[len(results) :]),
            notes,
            tuple(files),
            assumed,
        )
        raise Interrupted.of(err, partial) from None
    return DiffResult(
        tuple(changes),
        tuple(results),
        *labels,
        max_classes,
        notes=notes,
        files=tuple(files),
        assumptions=assumed,
    )


def _with_templates(policies: Sequence[Policy] | PolicySet, any_link: bool) -> tuple[Policy, ...]:
    if any_link and isinstance(policies, PolicySet):
        return (*policies, *policies.templates.values())
    return tuple(policies)


__all__ = [
    "ChangeClass",
    "DiffResult",
    "EnvDiff",
    "PolicyChange",
    "PolicyRef",
    "diff_policies",
    "match_policies",
]
