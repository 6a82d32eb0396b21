"""Templates analysed for every link agree with their concrete links, and with Cedar.

Random cases with templates and concrete links (tests/drt's generators, fixed seeds): where
the any-link analysis holds, the concretely linked sets must hold too, and every any-link
counterexample, its templates linked with its links, must get from cedarpy the decisions the
analysis reports (tests/drt/anylink.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("cedarpy")

from drt.anylink import check_any_link
from drt.generators import case_seed, generate

MASTER = 18
CHUNKS = 4
PER_CHUNK = 60  # case indexes per chunk; about two in five cases have a template


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_any_link_agrees_with_concrete_links_and_cedar(chunk: int) -> None:
    counts: Counter[str] = Counter()
    failures = []
    used = 0
    for index in range(chunk * PER_CHUNK, (chunk + 1) * PER_CHUNK):
        case = generate(case_seed(MASTER, index))
        if not case.templates:
            continue
        outcome = check_any_link(case)
        if outcome.skipped:
            continue
        used += 1
        counts.update(outcome.counts)
        failures.extend(f"case {index}: {m.description}" for m in outcome.mismatches)
    assert not failures, "\n".join(failures[:5])
    assert used >= 10, counts
    # both answers, and the implication itself, are exercised
    assert counts["counterexamples"] > 0, counts
    assert sum(n for k, n in counts.items() if "any-link holds" in k) > 0, counts
    assert sum(n for k, n in counts.items() if " linked " in k) > 0, counts
