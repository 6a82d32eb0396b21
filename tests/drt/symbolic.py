"""Check (c): the encoder against the evaluator, and the analyses against cedarpy.

Pinned to each request both engines accept, the encoding of the case's validating policies
must have exactly the evaluator's outcome for each policy and the decision
(encoder/concrete.py). Then the case's query (equivalent or implies with the second policy
set, always-denies, or never-errors of one policy) runs in one request environment, and each
counterexample must get from cedarpy the decisions (or outcomes) the analysis reports; a
counterexample that fails our own replay (`analyzer.InternalError`) is a mismatch too.
Half the cases with templates (chosen from the seed alone, so that the cases drawn for each
seed stay the same) also analyse their templates for every link (tests/drt/anylink.py).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cedarpy
import z3

from cedar_smt import analyzer
from cedar_smt.analyzer import InternalError
from cedar_smt.core import CedarError, Policy, PolicySet, Request, RequestEnv, request_environments
from cedar_smt.core.validator import Validator
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.authorizer import compile_policy
from cedar_smt.encoder.authorizer import is_authorized as symbolic_decision
from cedar_smt.encoder.concrete import disagreements
from cedar_smt.encoder.decoder import Decoder
from cedar_smt.encoder.env import SymEnv
from cedar_smt.encoder.errors import EncodeError
from cedar_smt.encoder.factory import Sym
from cedar_smt.encoder.sorts import Universe

from .anylink import check_any_link
from .generators import Case
from .sides import (
    Mismatch,
    Ours,
    Outcome,
    Refused,
    cedar_answer,
    cedar_answers,
    cedar_outcome,
    cedar_policies,
    crash_text,
    load_ours,
)


def _validates(validator: Validator, policy: Policy) -> bool:
    # a policy whose scope matches no environment is dead, not wrong (as the analyses say)
    return all(e.code == "never-applies" for e in validator.policy_errors(policy))


def check_encoder(
    case: Case, timeout_ms: int = 10_000, analysis_timeout: float | None = 10.0
) -> Outcome:
    """`analysis_timeout=None` checks the encoding at the requests only, without the query."""
    try:
        ours = load_ours(case)
    except Refused as err:
        return Outcome("encoder", skipped=f"{err.stage} refused")
    try:
        # the encoding is only defined on inputs Cedar accepts (check (a) compares refusals)
        accepted = [not a.get("refused") for a in cedar_answers(case)]
    except Refused as err:
        return Outcome("encoder", skipped=f"{err.stage} refused by cedar only")
    validator = Validator(ours.schema)
    valid = [p for p in ours.policies if _validates(validator, p)]
    if not valid:
        return Outcome("encoder", skipped="no policy validates")
    counts: Counter[str] = Counter()
    lossy = [0]
    mismatches: list[Mismatch] = []
    try:
        requests = _pinned_points(case, ours, valid, accepted, timeout_ms, counts, mismatches)
        if analysis_timeout is not None:
            with _watching_set_decoding() as lossy:
                mismatches.extend(_analysis(case, ours, valid, requests, analysis_timeout, counts))
    except InternalError as err:
        text = f"{case.query}: internal error: {err}"[:3000]
        detail = {"query": case.query, "error": str(err), "approximated sets": lossy[0]}
        mismatches.append(Mismatch("analysis", text, "internal error", detail=detail))
    except Exception as err:
        mismatches.append(Mismatch("crash", f"we crash: {crash_text(err)}"))
    if analysis_timeout is not None and any_link_case(case):
        linked = check_any_link(case, analysis_timeout)
        mismatches.extend(linked.mismatches)
        counts.update({f"any-link {k}": n for k, n in linked.counts.items()})
        counts["any-link cases" if linked.skipped is None else "any-link unusable"] += 1
    return Outcome("encoder", tuple(mismatches), counts=counts)


ANY_LINK_SHARE = 0.5


def any_link_case(case: Case) -> bool:
    """Whether the case's templates are also analysed for every link: drawn from the seed by
    a generator of its own, so that no other draw of the case changes."""
    return bool(case.templates) and random.Random(f"any-link {case.seed}").random() < ANY_LINK_SHARE


@contextmanager
def _watching_set_decoding() -> Iterator[list[int]]:
    """Count the sets the decoder reads from a model set with unknown or `true` default.

    Such a set may have members the decoder cannot name (encoder/decoder.py decodes it against
    the candidate values only); the count tells an internal error caused by that apart.
    """
    seen = [0]
    real = Decoder.set_elements

    def watched(self: Decoder, v: z3.ExprRef, elem: Any) -> Any:
        if self.array_entries(v)[1] is not False:
            seen[0] += 1
        return real(self, v, elem)

    Decoder.set_elements = watched  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Decoder.set_elements = real  # type: ignore[method-assign]


def _pinned_points(
    case: Case,
    ours: Ours,
    valid: list[Policy],
    cedar_accepts: list[bool],
    timeout_ms: int,
    counts: Counter[str],
    mismatches: list[Mismatch],
) -> list[Request]:
    """Check the encoding at each request; return the requests both engines accept."""
    universe = Universe(ours.schema)
    envs: dict[tuple[str, EntityUID, str], tuple[SymEnv, list[tuple[Policy, Sym]], Any]] = {}
    accepted = []
    for i, spec in enumerate(case.requests):
        try:
            request = Request.from_json(spec, ours.schema)
        except CedarError:
            continue
        if not cedar_accepts[i]:
            counts["requests only cedar refuses"] += 1
            continue
        accepted.append(request)
        key = (request.principal.type, request.action, request.resource.type)
        if key not in envs:
            context = ours.schema.actions[request.action].context
            env = SymEnv(universe, RequestEnv(key[0], key[1], key[2], context))
            compiled = []
            for p in valid:
                try:
                    compiled.append((p, compile_policy(p, env)))
                except EncodeError as err:
                    counts[f"unencodable: {err.message[:60]}"] += 1
            decision = symbolic_decision([p for p, _ in compiled], env)
            envs[key] = (env, compiled, decision)
        env, compiled, decision = envs[key]
        counts["points"] += 1
        counts["policy outcomes"] += len(compiled)
        for problem in disagreements(env, compiled, decision, request, ours.entities, timeout_ms):
            # the solver giving up is no evidence of a disagreement: counted, not reported
            if problem.startswith("could not decide") or problem.endswith("(unknown)"):
                counts["undecided points"] += 1
                continue
            mismatches.append(Mismatch("encoder", f"request {i}: {problem}", request=i))
    return accepted


def _analysis(
    case: Case,
    ours: Ours,
    valid: list[Policy],
    requests: list[Request],
    timeout: float,
    counts: Counter[str],
) -> list[Mismatch]:
    """Run the case's query in one environment; replay its counterexamples through cedarpy."""
    rng = random.Random(case.seed)
    envs = request_environments(ours.schema)
    if requests:
        r = rng.choice(requests)
        target = (r.principal.type, str(r.action), r.resource.type)
    else:
        e = rng.choice(envs)
        target = (e.principal, str(e.action), e.resource)
    options = {
        "principal_type": target[0],
        "action": target[1],
        "resource_type": target[2],
        "timeout": timeout,
    }
    operands: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    query = case.query
    if query in ("equivalent", "implies"):
        alt_text = "\n".join(case.alt_policies)
        try:
            alt = PolicySet.from_str(alt_text)
        except CedarError:
            counts["analysis skipped: alt set does not parse"] += 1
            return []
        alt_valid = [p for p in alt if _validates(Validator(ours.schema), p)]
        check = analyzer.check_equivalent if query == "equivalent" else analyzer.check_implies
        result = check(valid, alt_valid, ours.schema, **options)
        operands["first"] = operand_text(case, valid)
        operands["second"] = ("\n".join(case.alt_policies[_index(p.id)] for p in alt_valid), [])
    elif query == "always-denies":
        result = analyzer.check_always_denies(valid, ours.schema, **options)
        operands["policies"] = operand_text(case, valid)
    else:
        policy = rng.choice(valid)
        result = analyzer.check_never_errors(policy, ours.schema, **options)
        operands[policy.id] = operand_text(case, [policy])
    for env_result in result.environments:
        verdict = env_result.verdict.value
        if env_result.reason and verdict == "unknown":
            counts[f"analysis unknown: {env_result.reason[:50]}"] += 1
        counts[f"{query} {verdict}"] += 1
    mismatches = []
    for cx in result.counterexamples:
        counts["counterexamples"] += 1
        action_type = cx.request.action.type
        mismatches.extend(replay_counterexample(case, query, operands, cx, action_type))
    return mismatches


def _index(policy_id: str) -> int:
    return int(policy_id.removeprefix("policy"))


def operand_text(case: Case, policies: list[Policy]) -> tuple[str, list[dict[str, Any]]]:
    """Cedar text (and links) with the same policies: statics, then the linked templates."""
    static = [case.policies[_index(p.id)] for p in policies if p.id.startswith("policy")]
    linked = {p.id for p in policies if not p.id.startswith("policy")}
    links = [link for link in case.links if link["newId"] in linked]
    template_ids = sorted({link["templateId"] for link in links}, key=_index)
    renamed = {t: f"policy{len(static) + k}" for k, t in enumerate(template_ids)}
    texts = static + [case.policies[_index(t)] for t in template_ids]
    links = [dict(link, templateId=renamed[link["templateId"]]) for link in links]
    return "\n".join(texts), links


def replay_counterexample(
    case: Case,
    query: str,
    operands: dict[str, tuple[str, list[dict[str, Any]]]],
    cx: analyzer.Counterexample,
    action_type: str,
) -> list[Mismatch]:
    """cedarpy must take, on the counterexample, the decisions the analysis reports."""
    request = cx.request.to_json()
    # with a schema, Cedar takes the actions from it, and refuses a store that repeats them
    entities = [e for e in cx.entities.to_json() if e["uid"]["type"] != action_type]
    out = []
    for label, (text, links) in operands.items():
        claimed = cx.decisions.get(label)
        result = cedarpy.is_authorized(request, cedar_policies(text, links), entities, case.schema)
        theirs = cedar_answer(result)
        got = cedar_outcome(theirs, policy_level=query == "never-errors")
        if got != claimed:
            out.append(
                Mismatch(
                    "analysis",
                    f"{query} counterexample: {label}: the analysis says {claimed}, cedar {got}",
                    claimed,
                    theirs,
                    detail={
                        "query": query,
                        "label": label,
                        "policies": text,
                        "links": links,
                        "request": request,
                        "entities": entities,
                    },
                )
            )
    return out
