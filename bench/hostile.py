"""Hostile inputs, timed side by side with cedarpy: what an attacker who writes a policy or a
request could make each engine spend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import cedarpy

from cedar_smt.core import Entities, PolicySet, Request, is_authorized


def _best_ms(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def like_wildcards() -> tuple[str, float, float]:
    """A policy whose `like` pattern has 200 wildcards, against a 10 KB context string that
    almost matches (a backtracking matcher tries every split)."""
    pattern = "*a" * 200 + "c"
    text = f'permit(principal, action, resource) when {{ context.s like "{pattern}" }};'
    context = {"s": "a" * 10_000 + "b"}
    parts = {"principal": 'User::"u"', "action": 'Action::"a"', "resource": 'Doc::"d"'}
    policies = PolicySet.from_str(text)
    request = Request.from_json({**parts, "context": context})
    entities = Entities([])
    ours = is_authorized(request, policies, entities)
    theirs = cedarpy.is_authorized({**parts, "context": context}, text, "[]")
    assert ours.decision == theirs.decision.value.lower() == "deny"
    return (
        f"`like` with 200 wildcards, {len(json.dumps(context)):,}-byte context",
        _best_ms(lambda: is_authorized(request, policies, entities)),
        _best_ms(lambda: cedarpy.is_authorized({**parts, "context": context}, text, "[]")),
    )


def hostile_table() -> list[list[str]]:
    rows = [["input", "cedar-smt ms", "cedarpy ms", "cedar-smt / cedarpy"]]
    for label, ours, theirs in [like_wildcards()]:
        rows.append([label, f"{ours:.2f}", f"{theirs:.2f}", f"{ours / theirs:.2f}x"])
    return rows
