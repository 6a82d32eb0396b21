"""Templates analysed for every link: a choice of slot types encoded in one formula, against
one analysis per combination of slot types (as request environments are enumerated).

    python bench/any_link.py --templates 1 2 3

For k sharing templates (`principal in ?principal`, `resource in ?resource`: two types each
in examples/templates' schema, so 4^k combinations), `never-allows` of editing a folder (which
a forbid prevents: every combination is proved) and `implies` of the set by the set with one
more permit, both ways, in the same process; CPU seconds (process time) and the ratio
enumeration / choice. The answers must agree: each combination holds exactly when the choice
does.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from cedar_smt.analyzer.checks import query_policy
from cedar_smt.analyzer.results import Verdict
from cedar_smt.analyzer.runner import Operand, Problem, run
from cedar_smt.core import PolicySet, Schema, request_environments
from cedar_smt.core.links import LinkSpace, link_space

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "templates"


def templates(k: int) -> PolicySet:
    """k sharing templates that never grant `delete`, and a forbid."""
    text = "".join(
        f'@id("share{i}")\npermit (principal in ?principal, '
        'action in [Action::"view", Action::"comment", Action::"edit"], resource in ?resource);\n'
        for i in range(k)
    )
    text += (
        '@id("no-edit-folders")\nforbid (principal, action == Action::"edit", resource is Folder);'
    )
    return PolicySet.from_str(text)


OWNERS = tuple(
    PolicySet.from_str(
        "permit (principal, action, resource is Document) when { resource.owner == principal };"
    )
)


def timed(problem: Problem, schema: Schema) -> tuple[Verdict, float]:
    start = time.process_time()
    result = run(problem, request_environments(schema))
    return result.verdict, time.process_time() - start


def compare(name: str, problem: Problem, schema: Schema) -> tuple[str, float, float, int]:
    assert problem.links is not None
    choice_verdict, choice = timed(problem, schema)
    slots = [
        (key, slot, types) for key, s in problem.links.types.items() for slot, types in s.items()
    ]
    combos = list(itertools.product(*(types for _, _, types in slots)))
    total, verdicts = 0.0, []
    for combo in combos:
        types: dict[str, dict[str, tuple[str, ...]]] = {}
        for (key, slot, _), t in zip(slots, combo, strict=True):
            types.setdefault(key, {})[slot] = (t,)
        one = Problem(**{**problem.__dict__, "links": LinkSpace(types, problem.links.keys)})
        verdict, seconds = timed(one, schema)
        verdicts.append(verdict)
        total += seconds
    every = Verdict.HOLDS if all(v is Verdict.HOLDS for v in verdicts) else Verdict.REFUTED
    assert every is choice_verdict, (name, choice_verdict, verdicts)
    return name, choice, total, len(combos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    schema = Schema.from_file(str(EX / "schema.cedarschema"))
    query = query_policy('action == Action::"edit" && resource is Folder', schema)
    print(
        f"{'workload':<34} {'combinations':>12} {'choice s':>9} {'enumerated s':>13} {'ratio':>6}"
    )
    for k in args.templates:
        ps = templates(k)
        policies = (*ps, *ps.templates.values())
        links = link_space([policies], schema)
        op = Operand("policies", policies)
        rows = [
            compare(
                f"never-allows, {k} template{'s' * (k > 1)}",
                Problem("never-allows", (op,), schema, condition=query, links=links),
                schema,
            ),
            compare(
                f"implies, {k} template{'s' * (k > 1)}",
                Problem(
                    "implies",
                    (op, Operand("more", (*policies, *OWNERS))),
                    schema,
                    links=link_space([policies, (*policies, *OWNERS)], schema),
                ),
                schema,
            ),
        ]
        for name, choice, total, n in rows:
            print(f"{name:<34} {n:>12} {choice:>9.2f} {total:>13.2f} {total / choice:>6.1f}")


if __name__ == "__main__":
    main()
