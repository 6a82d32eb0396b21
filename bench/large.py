"""Large inputs, read and checked by both engines side by side: a file of 70,000 policies
(validated; one request authorized), long attribute chains, and an entity store whose
hierarchy has many paths.

Times are CPU seconds of this process (`time.process_time`), which the other work on a shared
machine disturbs less than wall-clock time; each figure is the best of `repeat` runs. The
entity store rows run each engine in a fresh process, to report its peak memory. Cedar closes
the hierarchy when it reads the store: 4,000 entities take it 1.3 GB, so it is not run on
100,000 (some 2.5 billion ancestor pairs).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import cedarpy

from cedar_smt.core import Entities, PolicySet, Request, Schema, is_authorized, validate

SCHEMA = """
entity User, Team;
entity Document = { owner: User };
action view, edit appliesTo { principal: [User], resource: [Document] };
"""
REQUEST = {
    "principal": 'User::"user5"',
    "action": 'Action::"view"',
    "resource": 'Document::"doc5"',
    "context": {},
}


def many_policies(n: int) -> str:
    """`n` policies of one scope each, as a large deployment writes per-user grants."""
    return "".join(
        f'permit (principal == User::"user{i}", action == Action::"{("edit", "view")[i % 2]}",'
        f' resource == Document::"doc{i}");\n'
        for i in range(n)
    )


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _ours_validate(text: str) -> bool:
    return validate(PolicySet.from_str(text), Schema.from_str(SCHEMA)).passed


def _ours_authorize(text: str) -> str:
    schema = Schema.from_str(SCHEMA)
    request = Request.from_json(REQUEST, schema)
    return is_authorized(request, PolicySet.from_str(text), Entities.from_json([], schema)).decision


def policy_file_rows(n: int, repeat: int) -> list[list[str]]:
    text = many_policies(n)
    assert _ours_validate(text) and cedarpy.validate_policies(text, SCHEMA).validation_passed
    theirs = cedarpy.is_authorized(REQUEST, text, "[]", SCHEMA).decision.value.lower()
    assert _ours_authorize(text) == theirs == "allow"
    label = f"{n:,} policies ({len(text) / 1e6:.1f} MB)"
    rows = []
    for what, ours, cedar in (
        ("read and validate", lambda: _ours_validate(text),
         lambda: cedarpy.validate_policies(text, SCHEMA)),
        ("read and authorize one request", lambda: _ours_authorize(text),
         lambda: cedarpy.is_authorized(REQUEST, text, "[]", SCHEMA)),
    ):  # fmt: skip
        a, b = _best(ours, repeat), _best(cedar, repeat)
        rows.append([f"{label}: {what}", f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}x"])
    return rows


def attribute_chain_rows(links: tuple[int, ...], repeat: int) -> list[list[str]]:
    rows = []
    for n in links:
        text = f"permit(principal, action, resource) when {{ context{'.a' * n} == 1 }};"
        a = _best(lambda text=text: PolicySet.from_str(text), repeat)
        b = _best(lambda text=text: cedarpy.PolicySet.from_str(text), repeat)
        rows.append(
            [f"read an attribute chain of {n:,} links", f"{a:.3f}", f"{b:.3f}", f"{a / b:.2f}x"]
        )
    return rows


_STORE = """
import json, resource, sys, time
engine, n, levels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
width = n // levels
items = [
    {"uid": {"type": "G", "id": f"{l}-{i}"}, "attrs": {},
     "parents": [{"type": "G", "id": f"{l - 1}-{(7 * i + 13 * k) % width}"}
                 for k in range(2 if l else 0)]}
    for l in range(levels) for i in range(width)
]
text = json.dumps(items)
policy = 'permit(principal in G::"0-5", action, resource);'
request = {"principal": f'G::"{levels - 1}-7"', "action": 'Action::"a"', "resource": 'G::"0-0"',
           "context": {}}
t0 = time.process_time()
if engine == "cedarpy":
    import cedarpy
    decision = cedarpy.is_authorized(request, policy, text).decision.value.lower()
else:
    from cedar_smt.core import Entities, PolicySet, Request, is_authorized
    store = Entities.from_json(text)
    policies = PolicySet.from_str(policy)
    decision = is_authorized(Request.from_json(request), policies, store).decision
print(json.dumps({"seconds": time.process_time() - t0, "decision": decision,
                  "megabytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _store(engine: str, n: int, levels: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _STORE, engine, str(n), str(levels)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def entity_store_row(n: int, levels: int, with_cedarpy: bool) -> list[str]:
    """Read a store of `n` entities in `levels` levels of two parents each, authorize one
    request that asks about the hierarchy; each engine in a fresh process."""
    ours = _store("ours", n, levels)
    cell = f"{ours['seconds']:.2f} ({ours['megabytes']:,.0f} MB peak)"
    label = f"{n:,} entities in {levels} levels of two parents: read, authorize one request"
    if not with_cedarpy:
        return [label, cell, "not run", ""]
    theirs = _store("cedarpy", n, levels)
    assert ours["decision"] == theirs["decision"]
    other = f"{theirs['seconds']:.2f} ({theirs['megabytes']:,.0f} MB peak)"
    return [label, cell, other, f"{ours['seconds'] / theirs['seconds']:.2f}x"]


def large_table(quick: bool = False) -> list[list[str]]:
    rows = [["input", "cedar-smt CPU s", "cedarpy CPU s", "cedar-smt / cedarpy"]]
    repeat = 1 if quick else 3
    rows += policy_file_rows(7_000 if quick else 70_000, repeat)
    rows += attribute_chain_rows((1_000, 4_000) if quick else (1_000, 2_000, 4_000), repeat)
    rows.append(entity_store_row(1_000 if quick else 4_000, 50, with_cedarpy=True))
    rows.append(entity_store_row(10_000 if quick else 100_000, 50, with_cedarpy=False))
    return rows
