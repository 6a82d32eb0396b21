"""Make a failing case smaller while it keeps failing the same way.

Greedy and cheap: keep only the request concerned, then drop policies (renumbering template
links), links, entities, context attributes and optional parts of entities one at a time,
keeping each removal after which the case still fails, until nothing more can go or the
budget of re-checks is spent.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from .generators import Case

Fails = Callable[[Case], bool]


def shrink(
    case: Case,
    fails: Fails,
    budget: int = 150,
    keep_requests: bool = False,
    seconds: float = 60.0,
) -> Case:
    """At most `budget` re-checks and about `seconds`; `keep_requests` leaves the requests
    alone (the analyses pick their environment there)."""
    deadline = time.monotonic() + seconds
    calls = 0
    changed = True
    while changed:
        changed = False
        for candidate in _candidates(case, keep_requests):
            if calls >= budget or time.monotonic() > deadline:
                return case
            calls += 1
            if fails(candidate):
                case, changed = candidate, True
                break
    return case


def only_request(case: Case, index: int) -> Case:
    return replace(case, requests=(case.requests[index],))


def _candidates(case: Case, keep_requests: bool) -> Iterator[Case]:
    for i in range(len(case.policies)):
        yield drop_policy(case, i)
    for i in range(len(case.links)):
        yield replace(case, links=case.links[:i] + case.links[i + 1 :])
    for i in range(len(case.alt_policies)):
        yield replace(case, alt_policies=case.alt_policies[:i] + case.alt_policies[i + 1 :])
    for i in range(len(case.entities)):
        yield replace(case, entities=case.entities[:i] + case.entities[i + 1 :])
    for i, request in enumerate(() if keep_requests else case.requests):
        for key in list(request.get("context", {})):
            smaller = copy.deepcopy(request)
            del smaller["context"][key]
            yield replace(case, requests=_put(case.requests, i, smaller))
    for i, entity in enumerate(case.entities):
        for smaller in _smaller_entities(entity):
            yield replace(case, entities=_put(case.entities, i, smaller))


def _put(items: tuple[Any, ...], i: int, item: Any) -> tuple[Any, ...]:
    return (*items[:i], item, *items[i + 1 :])


def _smaller_entities(entity: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for j in range(len(entity.get("parents", []))):
        smaller = copy.deepcopy(entity)
        del smaller["parents"][j]
        yield smaller
    for key in list(entity.get("attrs", {})):
        smaller = copy.deepcopy(entity)
        del smaller["attrs"][key]
        yield smaller
    for key in list(entity.get("tags", {})):
        smaller = copy.deepcopy(entity)
        del smaller["tags"][key]
        yield smaller


def drop_policy(case: Case, index: int) -> Case:
    """The case without its `index`-th policy; later positional ids shift down by one."""

    def renumber(policy_id: str) -> str:
        n = int(policy_id.removeprefix("policy"))
        return f"policy{n - 1}" if n > index else policy_id

    dropped = f"policy{index}"
    links = tuple(
        dict(link, templateId=renumber(link["templateId"]))
        for link in case.links
        if link["templateId"] != dropped
    )
    templates = tuple(t - (t > index) for t in case.templates if t != index)
    policies = case.policies[:index] + case.policies[index + 1 :]
    return replace(case, policies=policies, links=links, templates=templates)
