"""Reading a case on each side, ours and cedarpy's, and their answers in one comparable form.

A side that refuses an input raises `Refused`, naming the stage (schema, policies, links,
entities); a request one side refuses gets `{"refused": message}`; otherwise an answer is
`{"decision", "reasons", "errors"}` with sorted policy ids. `Mismatch` and `Outcome` are what
the checks (checks.py, symbolic.py) return.
"""

from __future__ import annotations

import json
import re
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cedarpy

from cedar_smt.core import CedarError, Entities, PolicySet, Request, Schema, is_authorized
from cedar_smt.core.parser import parse_policies
from cedar_smt.core.policy import Policy

from .generators import Case

_POLICY_ERROR = re.compile(r"error while evaluating policy `(.*?)`: ")


@dataclass(frozen=True)
class Mismatch:
    kind: str  # what differs: "decision", "reasons", "errors", "refusal", "crash", ...
    description: str
    ours: Any = None
    cedar: Any = None
    request: int | None = None  # the request it concerns, if one
    detail: dict[str, Any] = field(default_factory=dict)  # what a repro needs besides the case


@dataclass(frozen=True)
class Outcome:
    check: str
    mismatches: tuple[Mismatch, ...] = ()
    skipped: str | None = None  # why the case could not be used, when it could not
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def descriptions(self) -> list[str]:
        return [m.description for m in self.mismatches]


class Refused(Exception):
    """An engine refused an input: `stage` says which (schema, policies, links, entities)."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


def crash_text(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in frames)
    return f"{type(err).__name__}: {err} (at {where})"


@dataclass(frozen=True)
class Ours:
    schema: Schema
    policies: PolicySet
    entities: Entities


@lru_cache(maxsize=4)
def read_schema(text: str) -> Schema:
    """Our reading of a schema: the checks read a case's schema once, however many sets."""
    return Schema.from_str(text)


@lru_cache(maxsize=4)
def _parse_policies(text: str) -> tuple[Policy, ...]:
    return tuple(parse_policies(text))


def read_policies(text: str) -> PolicySet:
    """Our reading of a policy text, parsed once however many checks read it (a fresh set:
    linking adds to it)."""
    return PolicySet(_parse_policies(text))


def load_ours(case: Case) -> Ours:
    """Our reading of the case; `Refused` names the stage that refused it."""
    stage = "schema"
    try:
        schema = read_schema(case.schema)
        stage = "policies"
        policies = read_policies(case.policies_text)
        stage = "links"
        if case.links:
            policies.link_json(list(case.links))
        stage = "entities"
        entities = Entities.from_json(list(case.entities), schema)
    except CedarError as err:
        raise Refused(stage, str(err)) from None
    return Ours(schema, policies, entities)


def cedar_policies(text: str, links: list[dict[str, Any]]) -> Any:
    """A cedarpy policy set with the templates linked (links in Cedar's JSON form)."""
    return _link(cedarpy.PolicySet.from_str(text), links)


def _link(policies: Any, links: list[dict[str, Any]]) -> Any:
    if links:
        policies = policies.with_linked_batch(
            [
                {
                    "template_id": link["templateId"],
                    "new_id": link["newId"],
                    "values": link["values"],
                }
                for link in links
            ]
        )
    return policies


def cedar_schema(text: str) -> Any:
    """cedarpy's schema handle, from Cedar's schema syntax or its JSON format."""
    if text.lstrip().startswith("{"):
        return cedarpy.Schema.from_json_str(text)
    return cedarpy.Schema.from_str(text)


def load_cedar(case: Case) -> tuple[Any, Any, Any]:
    """cedarpy's reading of the case: schema, policies and entities handles."""
    stage = "schema"
    try:
        schema = cedar_schema(case.schema)
        stage = "policies"
        policies = cedarpy.PolicySet.from_str(case.policies_text)
        stage = "links"
        policies = _link(policies, list(case.links))
        stage = "entities"
        entities = cedarpy.Entities.from_json_str(json.dumps(list(case.entities)), schema)
    except ValueError as err:
        message = str(err)
        if stage == "entities" and case.requests:
            message = _entities_error(case) or message
        raise Refused(stage, message) from None
    return schema, policies, entities


def _entities_error(case: Case) -> str | None:
    """cedarpy's detailed message for a store it refuses (its handle gives a generic one)."""
    text = json.dumps(list(case.entities))
    result = cedarpy.is_authorized(case.requests[0], "", text, case.schema)
    for message in result.diagnostics.errors:
        if message.startswith("failed to parse entities"):
            return message.replace(f"from:\n{text}: ", "")
    return None


def answer(decision: str, reasons: Any, errors: Any) -> dict[str, Any]:
    return {"decision": decision, "reasons": sorted(reasons), "errors": sorted(errors)}


def cedar_answer(result: Any) -> dict[str, Any]:
    if result.decision is cedarpy.Decision.NoDecision:
        return {"refused": " ".join(result.diagnostics.errors)}
    errors = set()
    for message in result.diagnostics.errors:
        found = _POLICY_ERROR.match(message)
        errors.add(found.group(1) if found else f"<unparsed: {message}>")
    return answer(result.decision.value.lower(), result.diagnostics.reasons, errors)


def cedar_outcome(theirs: dict[str, Any], policy_level: bool) -> str:
    """Cedar's answer (`cedar_answer`) as a counterexample's decision names it: the decision,
    or for a question about one policy whether it errors or is satisfied."""
    if "refused" in theirs:
        return f"refused ({theirs['refused'][:300]})"
    if not policy_level:
        return str(theirs["decision"])
    return "error" if theirs["errors"] else "satisfied" if theirs["reasons"] else "not satisfied"


def our_answers(case: Case) -> list[dict[str, Any]]:
    """Our answer to each request; raises `Refused` when the whole case is refused."""
    ours = load_ours(case)
    out = []
    for spec in case.requests:
        try:
            request = Request.from_json(spec, ours.schema)
        except CedarError as err:
            out.append({"refused": str(err)})
            continue
        response = is_authorized(request, ours.policies, ours.entities)
        mine = answer(response.decision, response.reasons, response.errors)
        mine["overflows"] = sum("integer overflow" in m for m in response.errors.values())
        out.append(mine)
    return out


def cedar_answers(case: Case) -> list[dict[str, Any]]:
    schema, policies, entities = load_cedar(case)
    results = cedarpy.is_authorized_batch(list(case.requests), policies, entities, schema)
    return [cedar_answer(r) for r in results]


def guarded(side: Callable[[Case], list[dict[str, Any]]], case: Case) -> Any:
    """The side's answers, or the stage it refused the case at, or the crash."""
    try:
        return side(case)
    except Refused as err:
        return {"refused": err.stage, "message": err.message}
    except Exception as err:  # a crash is a finding, not a reason to stop the run
        return {"crash": crash_text(err)}
