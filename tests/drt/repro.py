"""Repro files: one mismatch, shrunk, in a self-contained JSON file; and replaying one.

A repro holds what a person needs to see the problem without this code (the schema and
policy text, the template links, the entities and requests in Cedar's JSON, both engines'
answers, the seeds) and the whole case, from which `replay` runs the check again.
A repro may carry `known_bug`: a mismatch already reported and not yet fixed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from .checks import CASE_TYPES, CHECKS, NAMES, check_encoder
from .generators import Case
from .mutations import TextCase
from .parsing import shrink_text
from .shrink import only_request, shrink
from .sides import Mismatch, Outcome

LETTERS = {name: letter for letter, name in NAMES.items()}


def _same_failure(letter: str, m: Mismatch) -> Any:
    """Whether a smaller case still fails as `m` does (same check, same kind of difference)."""

    def fails(case: Case) -> bool:
        if letter == "c":
            analysis = 10.0 if m.kind == "analysis" else None
            outcome = check_encoder(case, analysis_timeout=analysis)
        else:
            outcome = CHECKS[letter](case)
        for other in outcome.mismatches:
            if other.kind != m.kind or other.detail.get("set") != m.detail.get("set"):
                continue
            if letter == "a" and (other.request is None) != (m.request is None):
                continue
            return True
        return False

    return fails


def shrunk_case(letter: str, case: Case, m: Mismatch, budget: int = 150) -> Case:
    """The smallest case found that still fails like `m` (analyses keep their requests)."""
    if m.kind == "crash":
        return case
    start = case
    if letter == "b":
        start = replace(case, entities=(), requests=())
        if m.detail.get("set") == "alt":
            start = replace(start, policies=(), links=(), templates=())
    elif m.request is not None:
        start = only_request(case, m.request)
    fails = _same_failure(letter, m)
    if start is not case and not fails(start):
        return case
    analysis = m.kind == "analysis"
    return shrink(start, fails, budget // 3 if analysis else budget, keep_requests=analysis)


def make_repro(
    letter: str,
    case: Case | TextCase,
    m: Mismatch,
    master_seed: int | None = None,
    index: int | None = None,
) -> dict[str, Any]:
    if isinstance(case, TextCase):
        return _text_repro(letter, case, m, master_seed, index)
    small = shrunk_case(letter, case, m)
    outcome = CHECKS[letter](small) if small is not case else None
    found = _matching(outcome, m) if outcome is not None else m
    repro: dict[str, Any] = {
        "check": NAMES[letter],
        "kind": found.kind,
        "description": found.description,
        "seed": case.seed,
        "master_seed": master_seed,
        "index": index,
        "schema": small.schema,
        "policies": small.policies_text,
        "links": list(small.links),
        "entities": list(small.entities),
        "requests": list(small.requests),
        "ours": found.ours,
        "cedar": found.cedar,
    }
    if found.detail:
        repro["detail"] = found.detail
    repro["case"] = small.to_json()
    return repro


def _text_repro(
    letter: str, case: TextCase, m: Mismatch, master_seed: int | None, index: int | None
) -> dict[str, Any]:
    """A parsing mismatch with its text shrunk while the same kind of difference stays."""

    def fails(smaller: TextCase) -> bool:
        return any(o.kind == m.kind for o in CHECKS[letter](smaller).mismatches)

    small = case if m.kind == "crash" else shrink_text(case, fails)
    found = _matching(CHECKS[letter](small), m) if small is not case else m
    repro: dict[str, Any] = {
        "check": NAMES[letter],
        "kind": found.kind,
        "description": found.description,
        "seed": case.seed,
        "master_seed": master_seed,
        "index": index,
        "text": small.text,
        "requests": list(small.requests),
        "entities": list(small.entities),
        "ours": found.ours,
        "cedar": found.cedar,
        "case": small.to_json(),
    }
    return repro


def _matching(outcome: Outcome, m: Mismatch) -> Mismatch:
    return next((o for o in outcome.mismatches if o.kind == m.kind), m)


def file_name(repro: dict[str, Any]) -> str:
    return f"{LETTERS[repro['check']]}-{repro['kind']}-{repro['seed']}.json"


def save(repro: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(repro)
    path.write_text(json.dumps(repro, indent=2, ensure_ascii=False) + "\n")
    return path


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def replay(repro: dict[str, Any]) -> list[str]:
    """The mismatches the repro's check finds on its case now (empty: the engines agree)."""
    letter = LETTERS[repro["check"]]
    case = CASE_TYPES[letter].from_json(repro["case"])
    return CHECKS[letter](case).descriptions
