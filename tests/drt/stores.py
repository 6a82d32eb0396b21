"""Random entity stores and requests that conform to a schema model (and a few that do not).

Stores hold most, not all, of each type's ids, so that requests and attributes reference
missing entities; parents follow the schema's member-of DAG over several levels (within a
self-referencing type, only towards later ids, so the hierarchy stays acyclic); tags and
optional attributes are present about half the time. A small share of stores and requests
is deliberately broken in one place, and both engines must refuse those alike.
"""

from __future__ import annotations

import random
from typing import Any

from .schemas import Rec, Ref, SchemaModel, SetOf
from .values import World, entity_json, value_json, wrong_value

TAG_KEYS = ("k", "role", "x y", "")


def entities(rng: random.Random, world: World, broken: float = 0.04) -> list[dict[str, Any]]:
    schema = world.schema
    out: list[dict[str, Any]] = []
    for decl in schema.entities:
        if decl.enum is not None:
            continue
        ids = world.ids[decl.name]
        for i, eid in enumerate(ids):
            if rng.random() < 0.2:
                continue
            parents = []
            for p in decl.parents:
                pool = ids[i + 1 :] if p == decl.name else world.ids[p]
                for pid in pool:
                    if rng.random() < 0.4:
                        parents.append(entity_json(rng, {"type": schema.qualify(p), "id": pid}))
            item: dict[str, Any] = {
                "uid": {"type": schema.qualify(decl.name), "id": eid},
                "attrs": value_json(rng, world, decl.attrs),
                "parents": parents,
            }
            if decl.tags is not None:
                keys = [k for k in TAG_KEYS if rng.random() < 0.4]
                item["tags"] = {k: value_json(rng, world, decl.tags) for k in keys}
            out.append(item)
    if out and rng.random() < broken:
        _break_entity(rng, world, rng.choice(out))
    if rng.random() < 0.1:
        out.extend(_actions(rng, schema, broken))
    rng.shuffle(out)
    return out


def _actions(rng: random.Random, schema: SchemaModel, broken: float) -> list[dict[str, Any]]:
    """The schema's actions as entities, as a store may hold them (rarely with wrong groups)."""
    out = []
    for a in schema.actions:
        groups = list(a.groups)
        if rng.random() < broken:
            groups = [g.name for g in schema.actions if g.name != a.name][:1]
        parents = [{"type": schema.action_type, "id": g} for g in groups]
        out.append(
            {"uid": {"type": schema.action_type, "id": a.name}, "attrs": {}, "parents": parents}
        )
    return out


def _enum_refs(world: World, rec: Rec) -> list[str]:
    """The attributes of `rec` that hold an entity, or a set of entities, of an enum type."""
    out = []
    for a in rec.attrs:
        t = a.type.elem if isinstance(a.type, SetOf) else a.type
        if isinstance(t, Ref) and world.schema.entity(t.entity).enum is not None:
            out.append(a.name)
    return out


def _bad_enum(world: World, rec: Rec, name: str) -> Any:
    a = rec.get(name)
    assert a is not None
    t = a.type.elem if isinstance(a.type, SetOf) else a.type
    uid = {"type": world.schema.qualify(t.entity), "id": "nope"}  # type: ignore[union-attr]
    return [uid] if isinstance(a.type, SetOf) else uid


def _break_entity(rng: random.Random, world: World, item: dict[str, Any]) -> None:
    decl = world.schema.entity(item["uid"]["type"].split("::")[-1])
    attrs = decl.attrs.attrs
    how = rng.choice(["type", "missing", "undeclared", "parent", "tags", "enum", "enum"])
    enum_parents = [p for p in decl.parents if world.schema.entity(p).enum is not None]
    enum_attrs = _enum_refs(world, decl.attrs)
    if how == "enum" and (enum_parents or enum_attrs):
        # an entity of an enumerated type whose id is not one of the enum's
        if enum_attrs and (not enum_parents or rng.random() < 0.5):
            name = rng.choice(enum_attrs)
            item["attrs"][name] = _bad_enum(world, decl.attrs, name)
        else:
            parent = {"type": world.schema.qualify(rng.choice(enum_parents)), "id": "nope"}
            item["parents"].append(parent)
    elif how == "type" and attrs:
        a = rng.choice(attrs)
        item["attrs"][a.name] = wrong_value(rng, a.type)
    elif how == "missing" and any(a.required for a in attrs):
        item["attrs"].pop(rng.choice([a for a in attrs if a.required]).name, None)
    elif how == "parent":
        others = [e.name for e in world.schema.entities if e.name not in decl.parents]
        if others:
            item["parents"].append(world.uid(rng, rng.choice(others)))
        else:
            item["attrs"]["undeclared"] = 1
    elif how == "tags" and decl.tags is None:
        item["tags"] = {"k": "v"}
    else:
        item["attrs"]["undeclared"] = 1


def requests(
    rng: random.Random,
    world: World,
    count: int,
    envs: list[tuple[str, str, str]],
    broken: float = 0.04,
) -> list[dict[str, Any]]:
    """Requests, most in the environments `envs` the policies were drawn for."""
    schema = world.schema
    out = []
    for _ in range(count):
        if envs and rng.random() < 0.7:
            p_type, name, r_type = rng.choice(envs)
            action = schema.action(name)
        else:
            action = rng.choice(schema.request_actions)
            p_type, r_type = rng.choice(action.principals), rng.choice(action.resources)
        principal = world.uid(rng, p_type)
        resource = world.uid(rng, r_type)
        if rng.random() < 0.1:
            principal = dict(principal, id="nobody")
        request = {
            "principal": principal,
            "action": {"type": schema.action_type, "id": action.name},
            "resource": resource,
            "context": value_json(rng, world, action.context),
        }
        if rng.random() < broken:
            _break_request(rng, world, request, action.context)
        for role in ("principal", "resource"):
            if rng.random() < 0.2:  # the `Type::"id"` form requests also take
                uid = request[role]
                request[role] = f"{uid['type']}::{_quote(uid['id'])}"
        if not request["context"] and rng.random() < 0.5:
            del request["context"]
        out.append(request)
    return out


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _break_request(rng: random.Random, world: World, request: dict[str, Any], context: Rec) -> None:
    schema: SchemaModel = world.schema
    how = rng.choice(
        ["principal", "action", "context_type", "context_missing", "context_extra", "enum"]
    )
    enum_attrs = _enum_refs(world, context)
    if how == "enum" and enum_attrs:
        name = rng.choice(enum_attrs)
        request["context"][name] = _bad_enum(world, context, name)
    elif how == "principal":
        request["principal"] = world.uid(rng, rng.choice(schema.entities).name)
    elif how == "action":
        request["action"] = {"type": schema.action_type, "id": "undeclared"}
    elif how == "context_type" and context.attrs:
        a = rng.choice(context.attrs)
        request["context"][a.name] = wrong_value(rng, a.type)
    elif how == "context_missing" and any(a.required for a in context.attrs):
        request["context"].pop(rng.choice([a for a in context.attrs if a.required]).name, None)
    else:
        request["context"]["undeclared"] = 1
