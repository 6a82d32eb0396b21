"""Benchmarks, measured side by side in one run: authorization against cedarpy, analysis
latency per query and request environment, and how analyses scale with policy count.

    python bench/run.py                   # print every table
    python bench/run.py --update-readme   # and rewrite the README's results section

Every authorization workload is also checked: both engines must decide every request alike.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import platform
import random
import statistics
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cedarpy
import z3
from hostile import hostile_table  # bench/ is on the path, as for any script
from large import large_table
from scale import linked_table, scale_table

from cedar_smt import analyzer
from cedar_smt.core import Entities, PolicySet, Request, Schema, is_authorized

ROOT = Path(__file__).resolve().parent.parent

SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "cedar-examples"
CORPUS = SHARED / "cedar-integration-tests" / "corpus-tests.tar.gz"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


# --- workloads for authorization ------------------------------------------------------


class Workload:
    """Policies, a schema, entities and requests, read by both engines."""

    def __init__(
        self,
        name: str,
        policies: str,
        schema: str,
        entities: list[Any],
        requests: list[dict[str, Any]],
    ) -> None:
        self.name = name
        self.texts = (policies, schema, entities, requests)
        self.schema = Schema.from_str(schema)
        self.policies = PolicySet.from_str(policies)
        self.entities = Entities.from_json(entities, self.schema)
        self.requests = [Request.from_json(r, self.schema) for r in requests]
        self.c_policies = cedarpy.PolicySet.from_str(policies)
        self.c_schema = cedarpy.Schema.from_str(schema)
        self.c_entities = cedarpy.Entities.from_json_str(json.dumps(entities), self.c_schema)
        self.c_requests = requests


def tinytodo() -> list[Workload]:
    d = ROOT / "examples" / "tinytodo"
    requests = [json.loads(p.read_text()) for p in sorted((d / "requests").glob("*.json"))]
    return [
        Workload(
            "TinyTodo (3 policies, 9 entities)",
            (d / "policies.cedar").read_text(),
            (d / "schema.cedarschema").read_text(),
            json.loads((d / "entities.json").read_text()),
            requests * 50,
        )
    ]


def document_cloud(users: int = 400, seed: int = 7) -> list[Workload]:
    """document_cloud's policies and schema, with a generated store of 1,000+ entities."""
    rng = random.Random(seed)
    d = EXAMPLES / "document_cloud"
    groups = users // 2
    docs = users
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Drive", "id": "drive"}, "attrs": {}, "parents": []}
    ]
    entities.append({"uid": {"type": "Public", "id": "public"}, "attrs": {}, "parents": []})
    for g in range(groups):
        entities.append(
            {
                "uid": {"type": "Group", "id": f"g{g}"},
                "attrs": {"owner": {"type": "User", "id": f"u{rng.randrange(users)}"}},
                "parents": [
                    {"type": "DocumentShare", "id": f"s{rng.randrange(docs * 3)}"} for _ in range(2)
                ],
            }
        )
    for u in range(users):
        entities.append(
            {
                "uid": {"type": "User", "id": f"u{u}"},
                "attrs": {
                    "personalGroup": {"type": "Group", "id": f"g{u % groups}"},
                    "blocked": [
                        {"type": "User", "id": f"u{rng.randrange(users)}"}
                        for _ in range(rng.randrange(3))
                    ],
                },
                "parents": [{"type": "Group", "id": f"g{rng.randrange(groups)}"} for _ in range(3)],
            }
        )
    for i in range(docs):
        entities.append(
            {
                "uid": {"type": "Document", "id": f"d{i}"},
                "attrs": {
                    "owner": {"type": "User", "id": f"u{rng.randrange(users)}"},
                    "isPrivate": rng.random() < 0.3,
                    "publicAccess": rng.choice(["none", "view", "edit"]),
                    "viewACL": {"type": "DocumentShare", "id": f"s{3 * i}"},
                    "modifyACL": {"type": "DocumentShare", "id": f"s{3 * i + 1}"},
                    "manageACL": {"type": "DocumentShare", "id": f"s{3 * i + 2}"},
                },
                "parents": [],
            }
        )
    for s in range(docs * 3):
        entities.append(
            {"uid": {"type": "DocumentShare", "id": f"s{s}"}, "attrs": {}, "parents": []}
        )
    actions = ["ViewDocument", "ModifyDocument", "DeleteDocument", "EditIsPrivate", "AddToShareACL"]
    requests = []
    for _ in range(1000):
        principal = {"type": "User", "id": f"u{rng.randrange(users)}"}
        if rng.random() < 0.1:
            principal = {"type": "Public", "id": "public"}
        action = "ViewDocument" if principal["type"] == "Public" else rng.choice(actions)
        requests.append(
            {
                "principal": principal,
                "action": {"type": "Action", "id": action},
                "resource": {"type": "Document", "id": f"d{rng.randrange(docs)}"},
                "context": {"is_authenticated": rng.random() < 0.8},
            }
        )
    return [
        Workload(
            f"document_cloud ({len(PolicySet.from_str((d / 'policies.cedar').read_text()))} "
            f"policies, {len(entities)} entities)",
            (d / "policies.cedar").read_text(),
            (d / "policies.cedarschema").read_text(),
            entities,
            requests,
        )
    ]


def corpus_sample(count: int = 200) -> list[Workload]:
    """Validating tests of Cedar's corpus, each with its own policies, schema and store."""
    out = []
    with tarfile.open(CORPUS) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    names = sorted(n for n in files if n.endswith(".json") and not n.endswith(".entities.json"))
    for name in names[:: max(1, len(names) // (count * 2))]:
        spec = json.loads(files[name])
        if not spec["shouldValidate"]:
            continue
        requests = [
            {k: r[k] for k in ("principal", "action", "resource", "context")}
            for r in spec["requests"]
        ]
        try:
            out.append(
                Workload(
                    name,
                    files[spec["policies"]].decode(),
                    files[spec["schema"]].decode(),
                    json.loads(files[spec["entities"]]),
                    requests,
                )
            )
        except Exception:  # cedarpy refuses a few corpus stores without validation
            continue
        if len(out) >= count:
            break
    return out


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def time_best(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def authorization_table(groups: list[tuple[str, list[Workload]]]) -> list[list[str]]:
    rows = [
        [
            "workload",
            "requests",
            "cedar-smt req/s",
            "cedarpy req/s",
            "cedarpy batch req/s",
            "cedar-smt / batch",
        ]
    ]
    for label, workloads in groups:
        label = workloads[0].name if len(workloads) == 1 else label
        n = sum(len(w.requests) for w in workloads)
        for w in workloads:  # both engines must decide alike
            answers = cedarpy.is_authorized_batch(
                w.c_requests, w.c_policies, w.c_entities, w.c_schema
            )
            for req, theirs in zip(w.requests, answers, strict=True):
                ours = is_authorized(req, w.policies, w.entities).decision
                assert ours == theirs.decision.value.lower(), (w.name, req)
        ours = time_best(
            lambda workloads=workloads: [
                is_authorized(r, w.policies, w.entities) for w in workloads for r in w.requests
            ]
        )
        single = time_best(
            lambda workloads=workloads: [
                cedarpy.is_authorized(r, w.c_policies, w.c_entities, w.c_schema)
                for w in workloads
                for r in w.c_requests
            ]
        )
        batch = time_best(
            lambda workloads=workloads: [
                cedarpy.is_authorized_batch(w.c_requests, w.c_policies, w.c_entities, w.c_schema)
                for w in workloads
            ]
        )
        rows.append(
            [
                label,
                str(n),
                f"{rate(n, ours):,.0f}",
                f"{rate(n, single):,.0f}",
                f"{rate(n, batch):,.0f}",
                f"{batch / ours:.2f}x",
            ]
        )
    return rows


# --- analysis latency -----------------------------------------------------------------


def example_sets() -> list[tuple[str, PolicySet, Schema]]:
    out = []
    dirs = [p.parent for p in sorted(EXAMPLES.rglob("policies.cedar"))] + [
        ROOT / "examples" / "tinytodo"
    ]
    for d in dirs:
        schema = Schema.from_file(str(next(d.glob("*.cedarschema"))))
        policies = PolicySet.from_file(str(d / "policies.cedar"))
        if (d / "linked").exists():
            policies.link_json((d / "linked").read_text())
        out.append((d.name, policies, schema))
    return out


def latency_table(sets: list[tuple[str, PolicySet, Schema]]) -> list[list[str]]:
    """Per query and request environment: encoding, solving, and confirming the counterexample
    (decoding the model, replaying it concretely and shrinking it)."""
    samples: dict[str, list[tuple[float, float, float]]] = {}

    def add(query: str, results: Any) -> None:
        for e in results.environments:
            timing = (e.encode_seconds, e.solve_seconds, e.confirm_seconds)
            samples.setdefault(query, []).append(timing)

    for _, policies, schema in sets:
        ps = list(policies)
        fewer = ps[:-1]  # a policy dropped: decisions change, so counterexamples are found
        add("equivalent (policies reordered)", analyzer.check_equivalent(ps, ps[::-1], schema))
        add("equivalent (one policy dropped)", analyzer.check_equivalent(ps, fewer, schema))
        add("implies (one policy dropped)", analyzer.check_implies(ps, fewer, schema))
        add("always-denies", analyzer.check_always_denies(ps, schema))
        for p in ps:
            add("never-errors (each policy)", analyzer.check_never_errors(p, schema))
        add("diff (one policy dropped)", analyzer.diff_policies(ps, fewer, schema))
        analyzer.lint_policies(
            ps,
            schema,
            on_check=lambda _q, r: samples.setdefault("lint (each check)", []).append(
                (r.encode_seconds, r.solve_seconds, r.confirm_seconds)
            ),
        )
    rows = [
        [
            "query",
            "samples",
            "median ms",
            "max ms",
            "median encode ms",
            "median solve ms",
            "median confirm ms",
        ]
    ]
    for query, values in samples.items():
        totals = [sum(v) for v in values]
        rows.append(
            [
                query,
                str(len(values)),
                f"{statistics.median(totals) * 1000:.1f}",
                f"{max(totals) * 1000:.1f}",
                *(f"{statistics.median(v[i] for v in values) * 1000:.1f}" for i in range(3)),
            ]
        )
    return rows


# --- scaling --------------------------------------------------------------------------

SCALING_SCHEMA = """
entity User = { level: Long, dept: String };
entity Doc = { tag: String, owner: User };
action read appliesTo { principal: [User], resource: [Doc], context: { mfa: Bool, n: Long } };
"""


def generated(n: int, flipped: bool = False) -> str:
    """`n` policies in one environment; `flipped` writes each condition the other way round."""
    out = []
    for i in range(n):
        a, b = f"principal.level >= {i % 10}", f'resource.tag == "t{i}"'
        if i % 10 == 9:
            c, d = f'principal.dept == "d{i}"', "!context.mfa"
            cond = f"{d} && {c}" if flipped else f"{c} && {d}"
            out.append(f'forbid (principal, action == Action::"read", resource) when {{ {cond} }};')
        else:
            cond = f"{b} && {a}" if flipped else f"{a} && {b}"
            out.append(f'permit (principal, action == Action::"read", resource) when {{ {cond} }};')
    return "\n".join(out)


def scaling_table(sizes: Sequence[int]) -> list[list[str]]:
    schema = Schema.from_str(SCALING_SCHEMA)
    rows = [
        [
            "policies",
            "equivalent (a refactoring): encode s",
            "encode ms per policy",
            "solve s",
            "total s",
            "diff (one policy changed): encode s",
            "solve s",
            "total s",
        ]
    ]
    for n in sizes:
        a = list(PolicySet.from_str(generated(n)))
        b = list(PolicySet.from_str(generated(n, flipped=True)))
        t0 = time.perf_counter()
        result = analyzer.check_equivalent(a, b, schema)
        total = time.perf_counter() - t0
        assert result.holds, "a refactoring must be proved equivalent"
        (env,) = result.environments
        changed = generated(n).replace(
            'resource.tag == "t0"', 'resource.tag == "t0" && context.n > 0', 1
        )
        c = list(PolicySet.from_str(changed))
        t0 = time.perf_counter()
        diff = analyzer.diff_policies(a, c, schema)
        diff_total = time.perf_counter() - t0
        assert diff.decisions_change
        (denv,) = diff.environments
        rows.append(
            [
                str(n),
                f"{env.encode_seconds:.2f}",
                f"{env.encode_seconds / (2 * n) * 1000:.2f}",  # both sides are encoded
                f"{env.solve_seconds:.2f}",
                f"{total:.2f}",
                f"{denv.encode_seconds:.2f}",
                f"{denv.solve_seconds:.2f}",
                f"{diff_total:.2f}",
            ]
        )
    return rows


# --- report ---------------------------------------------------------------------------


def stores_table(sizes: Sequence[int]) -> list[list[str]]:
    """bench/scale.py's table; lint and never-errors (a query per policy) stop at 1,000
    policies."""
    return scale_table(sizes, limit=600, largest={"lint": 1000, "never-errors": 1000})


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{datetime.date.today().isoformat()}, {cpu} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, Z3 {z3.get_version_string()}, "
        f"cedarpy {importlib.metadata.version('cedarpy')}"
    )


def markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the README's results section"
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke test")
    parser.add_argument(
        "--store-sizes",
        type=int,
        nargs="+",
        default=[100, 1000, 10000],
        help="policies in the generated stores (at 10,000, lint is left out: see README)",
    )
    parser.add_argument(
        "--links",
        type=int,
        nargs="*",
        default=[10000],
        help="links in the generated stores of template links (none: the table is left out)",
    )
    args = parser.parse_args()
    report = [f"Measured {machine()}.", ""]
    print(report[0], flush=True)
    groups = [
        ("TinyTodo", tinytodo()),
        ("document_cloud, generated store", document_cloud(100 if args.quick else 400)),
    ]
    groups.append(("corpus sample", corpus_sample(20 if args.quick else 200)))
    groups[-1] = (f"corpus sample ({len(groups[-1][1])} tests)", groups[-1][1])
    sections = [
        (
            "Authorization throughput (higher is better; "
            "the last column > 1 means cedar-smt is faster)",
            authorization_table(groups),
        ),
        (
            "Analysis latency per query and request environment, on every example policy set",
            latency_table(example_sets()),
        ),
        (
            "Scaling: generated policy sets in one request environment",
            scaling_table([10, 100] if args.quick else [10, 100, 1000]),
        ),
        (
            "Stores shaped like real ones (bench/stores.py, seed 1; whole command in a fresh "
            "process, all 8 request environments)",
            stores_table([30, 100] if args.quick else args.store_sizes),
        ),
        ("Hostile inputs (one authorization each)", hostile_table()),
        (
            "Large inputs (CPU seconds, best of three; the last column < 1 means cedar-smt "
            "is faster)",
            large_table(args.quick),
        ),
    ]
    links = [100] if args.quick else args.links
    if links:
        title = (
            "Stores of template links (bench/stores.py --links, seed 1, about 300 other "
            "policies; whole command in a fresh process, all 8 request environments)"
        )
        sections.insert(-2, (title, linked_table(links, limit=600)))
    for title, rows in sections:
        text = f"**{title}**\n\n{markdown(rows)}\n"
        print(text, flush=True)
        report.append(text)
    if args.update_readme:
        readme = ROOT / "README.md"
        content = readme.read_text()
        start, end = content.index(MARK_START), content.index(MARK_END)
        content = (
            content[: start + len(MARK_START)] + "\n" + "\n".join(report) + "\n" + content[end:]
        )
        readme.write_text(content)
        print("README.md updated")


if __name__ == "__main__":
    main()
