"""Access review against generated stores (bench/stores.py), against the issue's targets and
beside cedarpy authorizing the same triples once each with one fixed context.

    python bench/access.py --policies 1000 --principals 100

prints one row per measurement, in CPU seconds of this process (the machine is shared; the
ratios compare measurements taken side by side in this run):

- `who-can` for one document in the store (1,000 principals at 1,000 policies) and in a store
  of `--big-entities` entities with the same number of policies; target 1 s;
- the matrix of the first `--principals` principals over every action and resource, by the
  grouped path (`AccessReview.grants`), by the plain path (`grant` triple by triple) on the
  first `--plain-principals`, and by `cedarpy.is_authorized_batch` on the same triples;
- the whole matrix (every principal, action and resource), streamed, with the peak memory;
  target 60 s, and faster than cedarpy on the same triples (its time extrapolated from its
  rate on the sample: 5 million requests do not fit in memory as one batch).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stores

from cedar_smt.analyzer.access import Access, AccessReview, access_matrix, who_can
from cedar_smt.core import Entities, PolicySet, Schema
from cedar_smt.core.values import EntityUID

WHO_CAN_TARGET = 1.0  # seconds, issue 17
MATRIX_TARGET = 60.0

VIEW, D1 = EntityUID("Action", "view"), EntityUID("Document", "d1")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def _load(policies: int, seed: int, entities: int | None = None) -> tuple[Any, ...]:
    store = stores.generate(policies, seed, entities)
    schema = Schema.from_str(stores.SCHEMA)
    pset = PolicySet.from_str(store.text)
    pset.link_json(store.links)
    entities_json = stores.entities(store)
    return store, schema, pset, entities_json, Entities.from_json(entities_json, schema)


def _who_can(schema: Schema, policies: PolicySet, entities: Entities, label: str) -> None:
    result, took = _cpu(lambda: who_can(policies, schema, entities, VIEW, D1))
    kinds = {a.value: sum(g.access is a for g in result.principals) for a in Access}
    print(
        f"who-can view d1, {label}: {took:.2f}s CPU (target {WHO_CAN_TARGET:g}s: "
        f"{took / WHO_CAN_TARGET:.2f}x of it) {kinds}"
    )


def _counts(grants: Any) -> dict[Access, int]:
    counts = dict.fromkeys(Access, 0)
    for g in grants:
        counts[g.access] += 1
    return counts


def _kinds(counts: dict[Access, int]) -> str:
    return ", ".join(f"{counts[a]} {a.value}" for a in Access)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--principals", type=int, default=100, help="the sample's principals")
    parser.add_argument(
        "--plain-principals",
        type=int,
        default=10,
        help="principals of the sample decided triple by triple as well (0: none)",
    )
    parser.add_argument(
        "--big-entities",
        type=int,
        default=10000,
        help="entities of the second store who-can runs on (0: skip it)",
    )
    parser.add_argument("--no-full", action="store_true", help="skip the whole matrix")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-cedarpy", action="store_true")
    args = parser.parse_args()

    store, schema, policies, entities_json, entities = _load(args.policies, args.seed)
    print(
        f"store: {len(policies)} policies, {len(entities)} entities "
        f"({store.users} users, {store.documents} documents, {store.folders} folders)"
    )
    _who_can(schema, policies, entities, f"{store.users:,} principals")

    review = AccessReview(policies, schema, entities)
    chosen = [EntityUID("User", f"u{i}") for i in range(args.principals)]
    triples = [(p, a, r) for p in chosen for _, a, r in review.triples(principal=p)]

    def sample() -> dict[Access, int]:
        return _counts(review.grants(principals=set(chosen)))

    counts, took = _cpu(sample)
    print(
        f"matrix, {args.principals} principals ({len(triples):,} triples), grouped: "
        f"{took:.1f}s CPU, {len(triples) / took:,.0f}/s ({_kinds(counts)})"
    )
    if args.plain_principals:
        plain_review = AccessReview(policies, schema, entities)
        few = [t for t in triples if t[0] in chosen[: args.plain_principals]]
        plain_counts, plain = _cpu(lambda: _counts(plain_review.grant(*t) for t in few))
        grouped_review = AccessReview(policies, schema, entities)
        grouped_counts, grouped = _cpu(
            lambda: _counts(grouped_review.grants(principals=set(chosen[: args.plain_principals])))
        )
        assert plain_counts == grouped_counts, (plain_counts, grouped_counts)
        print(
            f"  the first {args.plain_principals} principals ({len(few):,} triples), fresh: "
            f"triple by triple {plain:.1f}s ({len(few) / plain:,.0f}/s), grouped "
            f"{grouped:.1f}s ({len(few) / grouped:,.0f}/s); grouped / triple by triple = "
            f"{grouped / plain:.2f}"
        )

    whole = None
    if not args.no_full:  # before cedarpy, so that the peak memory is the matrix's
        full = AccessReview(policies, schema, entities)
        total = full.count()
        counts, took_full = _cpu(lambda: _counts(access_matrix(full, include_never=True)))
        whole = (total, counts, took_full, _peak_mb())
        del full

    cedar_rate = None
    if not args.no_cedarpy:
        import cedarpy

        context = {"mfa": True, "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}, "hour": 12}
        requests = [
            {"principal": str(p), "action": str(a), "resource": str(r), "context": context}
            for p, a, r in triples
        ]
        text = json.dumps(policies.to_json())
        answers, cedar = _cpu(
            lambda: cedarpy.is_authorized_batch(requests, text, entities_json, stores.SCHEMA)
        )
        assert len(answers) == len(requests)
        cedar_rate = len(requests) / cedar
        del requests, answers
        print(
            f"cedarpy.is_authorized_batch, the same {len(triples):,} triples, one context: "
            f"{cedar:.1f}s CPU ({cedar_rate:,.0f}/s); access review / cedarpy = "
            f"{took / cedar:.2f}"
        )

    if whole is not None:
        _whole(whole, cedar_rate)
    if args.big_entities:  # last: its store would count in the matrix's peak memory
        big, _, big_policies, _, big_entities = _load(args.policies, args.seed, args.big_entities)
        _who_can(
            schema,
            big_policies,
            big_entities,
            f"{len(big_policies)} policies, {len(big_entities):,} entities, "
            f"{big.users:,} principals",
        )


def _whole(whole: tuple[int, dict[Access, int], float, float], cedar_rate: float | None) -> None:
    total, counts, took, peak = whole
    line = (
        f"whole matrix, {total:,} triples, streamed: {took:.1f}s CPU, {total / took:,.0f}/s "
        f"({_kinds(counts)}); target {MATRIX_TARGET:g}s: {took / MATRIX_TARGET:.2f}x of it"
    )
    if cedar_rate is not None:
        line += (
            f"; cedarpy at its rate above: {total / cedar_rate:.0f}s, access review / cedarpy "
            f"= {took / (total / cedar_rate):.2f}"
        )
    print(line + f"; peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
