"""Seeded random test cases for differential testing: one schema and everything that uses it.

`generate(seed)` draws, from `random.Random(seed)` alone, a schema (tests/drt/schemas.py),
entity ids, a store and requests (tests/drt/stores.py), policies and templates with links
(tests/drt/policies.py, tests/drt/expressions.py), and a second policy set and a query for
the analyses. A `Case` is plain JSON-able data, so that any case can be replayed or saved.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from . import stores
from .policies import PolicyGen
from .schemas import SchemaGen, render_json
from .values import make_world

QUERIES = ("equivalent", "implies", "always-denies", "never-errors")


@dataclass(frozen=True)
class Case:
    seed: int
    schema: str
    policies: tuple[str, ...]  # policies and templates in order: the i-th is `policy{i}`
    links: tuple[dict[str, Any], ...] = ()
    entities: tuple[dict[str, Any], ...] = ()
    requests: tuple[dict[str, Any], ...] = ()
    alt_policies: tuple[str, ...] = ()  # the second operand of two-set analyses
    query: str = "always-denies"
    templates: tuple[int, ...] = field(default=())  # indexes of the templates in `policies`

    @property
    def policies_text(self) -> str:
        return "\n".join(self.policies)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)


def case_seed(master: int, index: int) -> int:
    """The seed of case `index` of a run: fixed by the master seed and the index alone."""
    digest = hashlib.sha256(f"{master}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def generate(seed: int) -> Case:
    rng = random.Random(seed)
    model = SchemaGen(rng).schema()
    json_schema = rng.random() < 0.25
    world = make_world(rng, model)
    gen = PolicyGen(rng, world)
    specs = [gen.policy() for _ in range(rng.randint(1, 6))]
    templates = [gen.policy(template=True) for _ in range(rng.choices([0, 1, 2], [5, 4, 1])[0])]
    for t in templates:
        specs.insert(rng.randint(0, len(specs)), t)
    texts = tuple(s.text() for s in specs)
    template_ids = [(f"policy{i}", s) for i, s in enumerate(specs) if s.is_template]
    links = gen.links(template_ids)
    alt = gen.mutate([s for s in specs if not s.is_template])
    return Case(
        seed=seed,
        schema=render_json(model, rng) if json_schema else model.text(),
        policies=texts,
        links=tuple(links),
        entities=tuple(stores.entities(rng, world)),
        requests=tuple(stores.requests(rng, world, rng.randint(3, 6), [s.env for s in specs])),
        alt_policies=tuple(s.text() for s in alt),
        query=rng.choice(QUERIES),
        templates=tuple(i for i, s in enumerate(specs) if s.is_template),
    )
