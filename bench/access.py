"""Access review against a generated store (bench/stores.py): `who-can` for one resource, and
the access matrix for the first principals of the store over every action and resource,
beside cedarpy authorizing the same triples once each with one fixed context.

    python bench/access.py --policies 1000 --principals 100

prints one row per measurement: seconds, triples per second, the peak resident memory of this
process, and the ratio to cedarpy measured side by side in this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stores

from cedar_smt.analyzer.access import Access, AccessReview, access_matrix, who_can
from cedar_smt.core import Entities, PolicySet, Schema
from cedar_smt.core.values import EntityUID


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--principals", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-cedarpy", action="store_true")
    args = parser.parse_args()

    store = stores.generate(args.policies, args.seed)
    schema = Schema.from_str(stores.SCHEMA)
    policies = PolicySet.from_str(store.text)
    policies.link_json(store.links)
    entities_json = stores.entities(store)
    entities = Entities.from_json(entities_json, schema)
    print(
        f"store: {len(policies)} policies, {len(entities)} entities "
        f"({store.users} users, {store.documents} documents, {store.folders} folders)"
    )

    start = time.perf_counter()
    result = who_can(
        policies, schema, entities, EntityUID("Action", "view"), EntityUID("Document", "d1")
    )
    took = time.perf_counter() - start
    kinds = {a.value: sum(g.access is a for g in result.principals) for a in Access}
    print(f"who-can view d1 over {store.users} principals: {took:.2f}s {kinds}")

    review = AccessReview(policies, schema, entities)
    chosen = [EntityUID("User", f"u{i}") for i in range(args.principals)]
    triples = [(p, a, r) for p in chosen for _, a, r in review.triples(principal=p)]
    start = time.perf_counter()
    counts = dict.fromkeys(Access, 0)
    for p, a, r in triples:
        counts[review.grant(p, a, r).access] += 1
    took = time.perf_counter() - start
    rate = len(triples) / took
    full = review.count()
    print(
        f"matrix, {args.principals} principals: {len(triples)} triples in {took:.1f}s "
        f"({rate:,.0f}/s; {counts[Access.ALWAYS]} always, {counts[Access.SOMETIMES]} "
        f"sometimes, {counts[Access.NEVER]} never, {counts[Access.UNKNOWN]} unknown); "
        f"the whole matrix ({full:,} triples) at this rate: {full / rate:.0f}s; "
        f"peak memory {_peak_mb():.0f} MB"
    )
    streamed = sum(1 for _ in access_matrix(review, [EntityUID("Action", "share")]))
    print(f"streamed share matrix: {streamed} entries, peak memory {_peak_mb():.0f} MB")

    if args.no_cedarpy:
        return
    import cedarpy

    context = {"mfa": True, "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}, "hour": 12}
    requests = [
        {"principal": str(p), "action": str(a), "resource": str(r), "context": context}
        for p, a, r in triples
    ]
    text = policies.to_json()
    start = time.perf_counter()
    answers = cedarpy.is_authorized_batch(requests, json.dumps(text), entities_json, stores.SCHEMA)
    cedar = time.perf_counter() - start
    assert len(answers) == len(requests)
    print(
        f"cedarpy.is_authorized_batch, the same {len(requests)} triples, one context: "
        f"{cedar:.1f}s; access review / cedarpy = {took / cedar:.2f}"
    )


if __name__ == "__main__":
    main()
