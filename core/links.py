"""The links a template may have: which entity types each of its slots may take.

A template analysed for every link (`--any-link`) is linked once with symbolic slot values:
`?principal` and `?resource` range over every entity of the types the schema and the
template's scope allow, whether or not the entity is in a store (Cedar links any entity).

- `principal == ?principal`: the principal types of the request environments the template
  may apply to;
- `principal in ?principal`: those types and every type their entities may be in;
- `principal is T in ?principal`: `T` and every type its entities may be in;

and likewise for `?resource`. Templates are keyed by `link_key` (their `@id` annotation, else
their id; the id also when another template of the same set has the same `@id`): templates of
the same key, such as two versions of one template, share one link, and the types of a slot
are those any of them allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cedar_smt.core.ast import Slot
from cedar_smt.core.policy import Policy, ScopeConstraint, ScopeEq, ScopeIn, ScopeIsIn
from cedar_smt.core.schema import Schema
from cedar_smt.core.typechecker import RequestEnv, applies
from cedar_smt.core.validator import request_environments
from cedar_smt.core.values import EntityUID

SLOTS = ("?principal", "?resource")


def link_key(template: Policy) -> str:
    """What pairs a template with its other versions: its `@id` annotation, else its id."""
    return template.display_name


@dataclass(frozen=True)
class LinkSpace:
    """The templates of an analysis for every link: each one's key, and the types each slot
    of a key may take."""

    types: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # (id, @id) of a template whose key is not `link_key`'s (its `@id` is not unique)
    keys: Mapping[tuple[str, str | None], str] = field(default_factory=dict)
    # whether a set may have no link of a template: a question about a policy set holds for
    # every set with at most one link of each template (a link that applies nowhere is not
    # always there to stand for none: a slot of an enumerated type with one entity)
    optional: bool = False

    def key(self, template: Policy) -> str:
        found = self.keys.get((template.id, template.annotation_map.get("id")))
        return found if found is not None else link_key(template)

    def slot_types(self, key: str, slot: str) -> tuple[str, ...] | None:
        return self.types.get(key, {}).get(slot)


def link_id(key: str, taken: Iterable[str] = ()) -> str:
    """The policy id of a template's symbolic link, `<key>/link`, distinct from `taken`."""
    used = set(taken)
    new_id, n = f"{key}/link", 1
    while new_id in used:
        n += 1
        new_id = f"{key}/link{n}"
    return new_id


def slot_scope(template: Policy, slot: str) -> ScopeConstraint | None:
    """The scope constraint that holds `slot`, if the template has that slot."""
    for c in (template.principal, template.resource):
        if isinstance(getattr(c, "entity", None), Slot) and c.entity.name == slot:  # type: ignore[union-attr]
            return c
    return None


def env_slot_types(template: Policy, slot: str, env: RequestEnv, schema: Schema) -> set[str]:
    """The types `slot` may take for the template to match a request of `env`."""
    c = slot_scope(template, slot)
    if c is None or not applies(template, env, schema):
        return set()
    var_type = env.principal if slot == "?principal" else env.resource
    match c:
        case ScopeEq():
            return {var_type}
        case ScopeIn():
            return {var_type, *schema.entity_type_ancestors(var_type)}
        case ScopeIsIn(entity_type=t) if t == var_type:
            return {var_type, *schema.entity_type_ancestors(var_type)}
    return set()


def slot_types(
    template: Policy, slot: str, schema: Schema, envs: Iterable[RequestEnv] | None = None
) -> tuple[str, ...]:
    """The types `slot` may take for the template to match some request (of `envs`, by
    default every environment of the schema), sorted."""
    found: set[str] = set()
    for env in request_environments(schema) if envs is None else envs:
        found |= env_slot_types(template, slot, env, schema)
    return tuple(sorted(t for t in found if t in schema.entity_types))


def link_space(
    sets: Iterable[Iterable[Policy]], schema: Schema, optional: bool = False
) -> LinkSpace:
    """The link space of the templates of `sets` (policy sets, or single templates): a
    template's key is its `@id`, or its id when its set has another template of that `@id`;
    per key and slot, the types any template of that key allows (`optional`: a set may have
    no link of a template, `LinkSpace.optional`)."""
    envs = request_environments(schema)
    space: dict[str, dict[str, set[str]]] = {}
    keys: dict[tuple[str, str | None], str] = {}
    for policies in sets:
        templates = [p for p in policies if p.is_template]
        named = Counter(link_key(t) for t in templates)
        for t in templates:
            key = link_key(t)
            if named[key] > 1:
                key = keys[(t.id, t.annotation_map.get("id"))] = t.id
            slots = space.setdefault(key, {})
            for slot in t.slots:
                slots.setdefault(slot, set()).update(slot_types(t, slot, schema, envs))
    types = {
        key: {slot: tuple(sorted(found)) for slot, found in slots.items()}
        for key, slots in space.items()
    }
    return LinkSpace(types, keys, optional)


def unused_value(types: tuple[str, ...], schema: Schema) -> EntityUID | None:
    """A value for a slot whose link does not matter (the template cannot apply where it is
    asked about): an entity of the first type it may take, or, when it may take none (the
    template applies nowhere), of the schema's first entity type."""
    candidates = types or tuple(sorted(schema.entity_types))
    if not candidates:
        return None
    decl = schema.entity_types.get(candidates[0])
    if decl is not None and decl.enum:
        return EntityUID(candidates[0], sorted(decl.enum)[0])
    return EntityUID(candidates[0], "unlinked")
