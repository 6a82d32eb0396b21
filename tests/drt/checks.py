"""The four differential checks; each takes a case and says where the two sides disagree.

(a) `authorization`: `core.is_authorized` against `cedarpy.is_authorized`, everything read with
    the schema on both sides: per request the decision, the determining policies and the
    erroring policies must be equal, and an input one engine refuses the other must refuse too.
(b) `validation`: `core.validate` against `cedarpy.validate_policies` (templates included): the
    verdict, the set of policies with errors, and how many distinct errors each has.
(c) `encoder` (symbolic.py): pinned to each request, the encoding of the validating policies
    must have exactly the evaluator's outcomes, and the counterexamples of the case's analysis
    query must get from cedarpy the decisions the analysis reports.
(d) `parsing` (parsing.py): on mutated policy texts (mutations.py), our parser must accept
    exactly what cedarpy's accepts, and an accepted text must mean the same policies.

Each check returns an `Outcome`: its mismatches (empty when the sides agree), why the case
was unusable if it was, and counts of what the case exercised.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import cedarpy

from cedar_smt.core import CedarError, validate

from .generators import Case, generate
from .mutations import TextCase, text_case
from .parsing import check_parsing
from .sides import (
    Mismatch,
    Outcome,
    cedar_answers,
    crash_text,
    guarded,
    our_answers,
    read_policies,
    read_schema,
)
from .symbolic import check_encoder


def compare_answers(i: int, ours: dict[str, Any], cedar: dict[str, Any]) -> list[Mismatch]:
    if "refused" in ours or "refused" in cedar:
        if ("refused" in ours) != ("refused" in cedar):
            who = "we refuse" if "refused" in ours else "cedar refuses"
            text = f"request {i}: {who} the request ({ours.get('refused') or cedar['refused']})"
            return [Mismatch("refusal", text, ours, cedar, i)]
        return []
    out = []
    for key in ("decision", "reasons", "errors"):
        if ours[key] != cedar[key]:
            text = f"request {i}: {key}: ours {ours[key]}, cedar {cedar[key]}"
            out.append(Mismatch(key, text, ours, cedar, i))
    return out


def check_authorization(case: Case) -> Outcome:
    ours = guarded(our_answers, case)
    cedar = guarded(cedar_answers, case)
    counts: Counter[str] = Counter()
    if isinstance(ours, dict) and "crash" in ours:
        return Outcome("authorization", (Mismatch("crash", f"we crash: {ours['crash']}", ours),))
    if isinstance(cedar, dict) and "crash" in cedar:
        return Outcome("authorization", skipped=f"cedarpy raised {cedar['crash'][:60]}")
    if isinstance(ours, dict) or isinstance(cedar, dict):
        if (
            isinstance(ours, dict)
            and isinstance(cedar, dict)
            and ours["refused"] == cedar["refused"]
        ):
            counts[f"{ours['refused']} refused by both"] += 1
            return Outcome("authorization", counts=counts)
        text = (
            f"the case: ours {_stage(ours)}, cedar {_stage(cedar)}"
            f" ({(ours if isinstance(ours, dict) else cedar).get('message', '')[:300]})"
        )
        return Outcome("authorization", (Mismatch("refusal", text, _short(ours), _short(cedar)),))
    mismatches = []
    for i, (mine, theirs) in enumerate(zip(ours, cedar, strict=True)):
        mismatches.extend(compare_answers(i, mine, theirs))
        counts["requests"] += 1
        if "refused" in mine:
            counts["refused"] += 1
            continue
        counts[mine["decision"]] += 1
        counts["errored" if mine["errors"] else "no error"] += 1
        counts["overflow"] += mine.get("overflows", 0)
    return Outcome("authorization", tuple(mismatches), counts=counts)


def _stage(side: Any) -> str:
    return f"refuses the {side['refused']}" if isinstance(side, dict) else "accepts it"


def _short(side: Any) -> Any:
    return side if isinstance(side, dict) else "accepted"


def our_validation(schema_text: str, policies_text: str) -> dict[str, Any]:
    try:
        schema = read_schema(schema_text)
    except CedarError as err:
        return {"refused": "schema", "message": str(err)}
    try:
        policies = read_policies(policies_text)
    except CedarError as err:
        return {"refused": "policies", "message": str(err)}
    result = validate(policies, schema)
    answer = _validation_answer(result.passed, ((e.policy_id, e.message) for e in result.errors))
    return {**answer, "count": len(policies) + len(policies.templates)}


def cedar_validation(schema_text: str, policies_text: str) -> dict[str, Any]:
    result = cedarpy.validate_policies(policies_text, schema_text)
    for e in result.errors:
        if not e.policy_id and e.error.startswith("Schema parse error"):
            return {"refused": "schema", "message": e.error}
        if not e.policy_id and e.error.startswith("Policy parse error"):
            return {"refused": "policies", "message": e.error}
    errors = ((e.policy_id, e.error) for e in result.errors)
    return _validation_answer(result.validation_passed, errors)


def _validation_answer(passed: bool, errors: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """One side's verdict: its messages by policy, the failing policies, how many each has."""
    messages: dict[str, list[str]] = {}
    for policy_id, message in errors:
        messages.setdefault(policy_id, []).append(message)
    return {
        "passed": passed,
        "failing": sorted(messages),
        "errors": {k: len(v) for k, v in sorted(messages.items())},
        "messages": messages,
    }


def check_validation(case: Case) -> Outcome:
    counts: Counter[str] = Counter()
    mismatches = []
    for label, text in (("policies", case.policies_text), ("alt", "\n".join(case.alt_policies))):
        try:
            ours = our_validation(case.schema, text)
        except Exception as err:
            ours = {"crash": crash_text(err)}
        cedar = cedar_validation(case.schema, text)
        if "refused" in ours and "refused" in cedar and ours["refused"] == cedar["refused"]:
            counts[f"refused {ours['refused']}"] += 1
            continue
        if _verdict(ours) != _verdict(cedar):
            text_ = f"{label}: ours {_brief(ours)}, cedar {_brief(cedar)}"
            mismatches.append(Mismatch("validation", text_, ours, cedar, detail={"set": label}))
            continue
        counts["passed" if ours["passed"] else "failed"] += 1
        counts["failing policies"] += len(ours["failing"])
        counts["validating policies"] += ours["count"] - len(ours["failing"])
    return Outcome("validation", tuple(mismatches), counts=counts)


def _verdict(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("passed", "failing", "errors", "refused", "crash") if k in v}


def _brief(v: dict[str, Any]) -> str:
    if "passed" in v:
        return "passed" if v["passed"] else f"failed {v['errors']}"
    return json.dumps(v)[:300]


CHECKS: dict[str, Callable[[Any], Outcome]] = {
    "a": check_authorization,
    "b": check_validation,
    "c": check_encoder,
    "d": check_parsing,
}
NAMES = {"a": "authorization", "b": "validation", "c": "encoder", "d": "parsing"}
# each check's cases: how case `i` is drawn from its seed, and read back from a repro
CASES: dict[str, Callable[[int], Any]] = {"a": generate, "b": generate, "c": generate}
CASES["d"] = text_case
CASE_TYPES: dict[str, type[Case] | type[TextCase]] = {"a": Case, "b": Case, "c": Case}
CASE_TYPES["d"] = TextCase
