"""Templates analysed for every link against the same templates linked concretely.

On a case with templates, in one request environment (drawn as check (c) draws it):

- `always-denies` of the statics and templates for every link: where it holds, the statics
  with the case's concrete links (any number per template) must hold too;
- `never-errors` of each template for every link: where it holds, each of its links must;
- `equivalent` of the statics and templates against the second policy set with the same
  templates (one link shared by both sides): where it holds, the two sets with one concrete
  link of each template must be equivalent too.

Every counterexample of the any-link analyses is replayed through cedarpy, its templates
linked with the counterexample's links: cedarpy must decide as the analysis reports.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cedarpy

from cedar_smt import analyzer
from cedar_smt.analyzer import InternalError, QueryResult, Verdict
from cedar_smt.core import CedarError, Policy, PolicySet, request_environments
from cedar_smt.core.validator import Validator

from .generators import Case
from .sides import (
    Mismatch,
    Outcome,
    Refused,
    cedar_answer,
    cedar_outcome,
    crash_text,
    load_ours,
)


def _validates(validator: Validator, policy: Policy) -> bool:
    return all(e.code == "never-applies" for e in validator.policy_errors(policy))


def check_any_link(case: Case, timeout: float = 10.0) -> Outcome:
    try:
        ours = load_ours(case)
    except Refused as err:
        return Outcome("any-link", skipped=f"{err.stage} refused")
    validator = Validator(ours.schema)
    templates = [t for t in ours.policies.templates.values() if _validates(validator, t)]
    if not templates:
        return Outcome("any-link", skipped="no template validates")
    statics = [p for p in ours.policies if p.template_id is None and _validates(validator, p)]
    kept = {t.id for t in templates}
    links = [p for p in ours.policies if p.template_id in kept]
    rng = random.Random(case.seed)
    env = rng.choice(request_environments(ours.schema))
    options = {
        "principal_type": env.principal,
        "action": str(env.action),
        "resource_type": env.resource,
        "timeout": timeout,
    }
    probe = _Probe(case, ours.schema, statics, templates, links, options)
    try:
        _always_denies(probe)
        _never_errors(probe)
        _equivalent(probe)
    except InternalError as err:
        probe.mismatches.append(Mismatch("any-link", f"internal error: {err}"[:3000]))
    except Exception as err:
        probe.mismatches.append(Mismatch("crash", f"we crash: {crash_text(err)}"))
    return Outcome("any-link", tuple(probe.mismatches), counts=probe.counts)


@dataclass
class _Probe:
    """A case's validating policies, the environment's options, and what the checks found."""

    case: Case
    schema: Any
    statics: list[Policy]
    templates: list[Policy]
    links: list[Policy]
    options: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)


def _implied(
    what: str,
    symbolic: QueryResult,
    concrete: QueryResult,
    counts: Counter[str],
    mismatches: list[Mismatch],
) -> None:
    """Where the any-link analysis holds, the concrete one must."""
    counts[f"{what} any-link {symbolic.verdict.value}"] += 1
    if symbolic.verdict is Verdict.HOLDS:
        counts[f"{what} linked {concrete.verdict.value}"] += 1
        if concrete.verdict is Verdict.REFUTED:
            cx = concrete.counterexamples[0].to_json()
            text = f"{what}: holds for every link, but refuted linked: {cx}"[:3000]
            mismatches.append(Mismatch("any-link", text))


def _always_denies(probe: _Probe) -> None:
    statics, templates = probe.statics, probe.templates
    schema, options = probe.schema, probe.options
    symbolic = analyzer.check_always_denies(
        [*statics, *templates], schema, any_link=True, **options
    )
    concrete = analyzer.check_always_denies([*statics, *probe.links], schema, **options)
    _implied("always-denies", symbolic, concrete, probe.counts, probe.mismatches)
    operands = {"policies": (statics, templates)}
    probe.mismatches.extend(replay(probe.case, symbolic, operands, probe.counts))


def _never_errors(probe: _Probe) -> None:
    counts, mismatches = probe.counts, probe.mismatches
    for t in probe.templates:
        symbolic = analyzer.check_never_errors(t, probe.schema, any_link=True, **probe.options)
        for link in (p for p in probe.links if p.template_id == t.id):
            concrete = analyzer.check_never_errors(link, probe.schema, **probe.options)
            _implied("never-errors", symbolic, concrete, counts, mismatches)
        operands = {t.id: ([], [t])}
        mismatches.extend(replay(probe.case, symbolic, operands, counts, policy_level=True))


def _equivalent(probe: _Probe) -> None:
    statics, templates = probe.statics, probe.templates
    schema, options = probe.schema, probe.options
    try:
        alt = PolicySet.from_str("\n".join(probe.case.alt_policies))
    except CedarError:
        return
    validator = Validator(schema)
    alt_statics = [replace(p, id=f"alt{i}") for i, p in enumerate(alt) if _validates(validator, p)]
    symbolic = analyzer.check_equivalent(
        [*statics, *templates], [*alt_statics, *templates], schema, any_link=True, **options
    )
    one = {}
    for link in probe.links:  # one concrete link of each template, shared by both sides
        one.setdefault(link.template_id, link)
    if len(one) == len(templates):
        concrete = analyzer.check_equivalent(
            [*statics, *one.values()], [*alt_statics, *one.values()], schema, **options
        )
        _implied("equivalent", symbolic, concrete, probe.counts, probe.mismatches)
    sides = {"first": (statics, templates), "second": (alt_statics, templates)}
    probe.mismatches.extend(replay(probe.case, symbolic, sides, probe.counts))


def replay(
    case: Case,
    result: QueryResult,
    operands: dict[str, tuple[Sequence[Policy], Sequence[Policy]]],
    counts: Counter[str],
    policy_level: bool = False,
) -> list[Mismatch]:
    """cedarpy, given each operand's text and the counterexample's links, must decide as the
    analysis reports (for a policy, satisfied means its link alone allows)."""
    out = []
    for cx in result.counterexamples:
        counts["counterexamples"] += 1
        request = cx.request.to_json()
        action_type = cx.request.action.type
        entities = [e for e in cx.entities.to_json() if e["uid"]["type"] != action_type]
        for label, (statics, templates) in operands.items():
            claimed = cx.decisions.get(label)
            texts = [p.text or "" for p in [*statics, *templates]]
            # cedarpy names policies by place: the templates come after the statics
            renamed = {t.id: f"policy{len(statics) + k}" for k, t in enumerate(templates)}
            links = [
                {
                    "template_id": renamed[link.template_id],
                    "new_id": link.new_id,
                    "values": {slot: uid.to_json() for slot, uid in link.values},
                }
                for link in cx.links
                if link.template_id in renamed
            ]
            policies = cedarpy.PolicySet.from_str("\n".join(texts))
            if links:
                policies = policies.with_linked_batch(links)
            theirs = cedar_answer(cedarpy.is_authorized(request, policies, entities, case.schema))
            got = cedar_outcome(theirs, policy_level)
            if got != claimed:
                text = f"any-link counterexample: {label}: the analysis says {claimed}, cedar {got}"
                detail = {"policies": texts, "links": links, "request": request}
                out.append(Mismatch("any-link", text, claimed, theirs, detail=detail))
    return out
