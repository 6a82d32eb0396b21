"""Entities: the entity store a request is evaluated against.

Read from Cedar's entity JSON (a list of `{"uid", "attrs", "parents", "tags"?}`), optionally
against a schema (which then also supplies the action entities and their groups). A cycle in
the hierarchy is an error, found when the store is built. An entity's ancestors (its parents,
theirs, and so on) are found when first asked for, and kept within a budget: in a hierarchy
where entities have several parents, the ancestors of every entity together can be far more
than the store (100,000 entities in 50 levels of two parents each: some 2.5 billion pairs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cedar_smt.core.bulk import paused_gc
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import CedarError, EntitiesError
from cedar_smt.core.files import read_text
from cedar_smt.core.json_text import JsonValueError, loads, locate_item
from cedar_smt.core.json_values import (
    record_from_json_typed,
    uid_from_json,
    value_from_json,
    value_from_json_typed,
)
from cedar_smt.core.schema import Schema
from cedar_smt.core.values import EntityUID, Record, Value, to_json

_EMPTY_RECORD = Record()


@dataclass(frozen=True)
class Entity:
    uid: EntityUID
    attrs: Record = _EMPTY_RECORD
    parents: frozenset[EntityUID] = frozenset()
    tags: Record = _EMPTY_RECORD
    ancestors: frozenset[EntityUID] = field(default=frozenset(), compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uid": self.uid.to_json(),
            "attrs": {k: to_json(v) for k, v in self.attrs.items()},
            "parents": [p.to_json() for p in sorted(self.parents)],
        }
        if self.tags:
            out["tags"] = {k: to_json(v) for k, v in self.tags.items()}
        return out


def is_action_type(type_name: str) -> bool:
    return type_name == "Action" or type_name.endswith("::Action")


ANCESTORS_KEPT = 2_000_000  # ancestors remembered, over all entities asked about


class Entities(Mapping[EntityUID, Entity]):
    """An immutable entity store; an entity it gives has its ancestors filled in."""

    def __init__(self, entities: Iterable[Entity] = ()) -> None:
        by_uid: dict[EntityUID, Entity] = {}
        for e in entities:
            prior = by_uid.get(e.uid)
            if prior is not None and prior != e:
                raise EntitiesError(f"duplicate entity entry `{e.uid}`")
            by_uid[e.uid] = e
        _check_acyclic(by_uid)
        self._entities = by_uid
        self._closed: dict[EntityUID, Entity] = {}  # entities with their ancestors, as asked
        self._kept = 0  # ancestors held in `_closed`

    def __getstate__(self) -> dict[str, Any]:
        return {"_entities": self._entities}  # ancestors are found again where it is read

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._entities = state["_entities"]
        self._closed, self._kept = {}, 0

    # Mapping protocol
    def __getitem__(self, uid: EntityUID) -> Entity:
        closed = self._closed.get(uid)
        if closed is not None:
            return closed
        e = self._entities[uid]
        ancestors = self._ancestors(e)
        closed = e if e.ancestors == ancestors else replace(e, ancestors=ancestors)
        self._keep(closed)
        return closed

    def _ancestors(self, e: Entity) -> frozenset[EntityUID]:
        """Every entity above `e`, by a search that reuses the ancestors already found."""
        entities, closed = self._entities, self._closed
        found: set[EntityUID] = set()
        pending = list(e.parents)
        while pending:
            uid = pending.pop()
            if uid in found:
                continue
            found.add(uid)
            known = closed.get(uid)
            if known is not None:
                found |= known.ancestors
                continue
            other = entities.get(uid)
            if other is not None:
                pending.extend(other.parents)
        return frozenset(found)

    def _keep(self, closed: Entity) -> None:
        if self._closed.setdefault(closed.uid, closed) is not closed:
            return
        self._kept += len(closed.ancestors)
        while self._kept > ANCESTORS_KEPT and len(self._closed) > 1:  # the oldest go first
            try:
                oldest = self._closed.pop(next(iter(self._closed)))
            except (RuntimeError, StopIteration, KeyError):  # another thread is at it
                break
            self._kept -= len(oldest.ancestors)

    def __iter__(self) -> Iterator[EntityUID]:
        return iter(self._entities)

    def __len__(self) -> int:
        return len(self._entities)

    def __contains__(self, uid: object) -> bool:
        return uid in self._entities

    # what the evaluator asks
    def ancestors_or_empty(self, uid: EntityUID) -> frozenset[EntityUID]:
        closed = self._closed.get(uid)
        if closed is not None:
            return closed.ancestors
        return self[uid].ancestors if uid in self._entities else frozenset()

    def attrs_or_empty(self, uid: EntityUID) -> Record:
        e = self._entities.get(uid)
        return e.attrs if e is not None else _EMPTY_RECORD

    def tags_or_empty(self, uid: EntityUID) -> Record:
        e = self._entities.get(uid)
        return e.tags if e is not None else _EMPTY_RECORD

    @classmethod
    @room_for_depth(EntitiesError)
    def from_json(
        cls,
        data: str | list[Any],
        schema: Schema | None = None,
        source: str | None = None,
    ) -> Entities:
        """Read Cedar entity JSON (text or already-decoded list), optionally against a schema."""
        with paused_gc():
            return cls._read(data, schema, source)

    @classmethod
    def _read(cls, data: str | list[Any], schema: Schema | None, source: str | None) -> Entities:
        text = data if isinstance(data, str) else None
        try:
            items = loads(data, "entities") if isinstance(data, str) else data
            if not isinstance(items, list):
                raise EntitiesError("entities must be a JSON list of entity objects")
            entities = []
            for i, item in enumerate(items):
                try:
                    entities.append(_entity_from_json(item, i, schema))
                except EntitiesError as err:  # point at the entity
                    locate_item(err, text, i)
                    raise
            if schema is not None:
                entities = _with_schema_actions(entities, schema)
            return cls(entities)
        except CedarError as err:
            raise EntitiesError(err.message, loc=err.loc).located(source, text) from None

    @classmethod
    def from_file(cls, path: str, schema: Schema | None = None) -> Entities:
        return cls.from_json(read_text(path), schema, source=path)

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self._entities.values()]

    def __repr__(self) -> str:
        return f"Entities({list(self._entities)!r})"


def _check_acyclic(by_uid: dict[EntityUID, Entity]) -> None:
    """A cycle in the hierarchy is an error; found in time and memory linear in the store."""
    done: set[EntityUID] = set()
    for root in by_uid:
        if root in done:
            continue
        # iterative depth-first search, so deep hierarchies cannot exhaust the stack
        on_path: set[EntityUID] = {root}
        stack: list[tuple[EntityUID, Iterator[EntityUID]]] = [(root, iter(by_uid[root].parents))]
        while stack:
            uid, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                on_path.discard(uid)
                done.add(uid)
            elif nxt in on_path:
                raise EntitiesError(f"the entity hierarchy has a cycle containing `{nxt}`")
            elif nxt in by_uid and nxt not in done:
                on_path.add(nxt)
                stack.append((nxt, iter(by_uid[nxt].parents)))


def _field(item: dict[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise EntitiesError(f"{where}: missing field `{key}`")
    return item[key]


def _entity_from_json(item: Any, index: int, schema: Schema | None) -> Entity:
    where = f"entity {index}"
    if not isinstance(item, dict):
        raise EntitiesError(f"{where}: expected an object with `uid`, `attrs` and `parents`")
    try:
        uid = uid_from_json(_field(item, "uid", where), f"{where}, uid", allow_string=False)
        where = f"entity `{uid}`"
        raw_attrs = _field(item, "attrs", where)
        raw_parents = _field(item, "parents", where)
        raw_tags = item.get("tags", {})
        if not isinstance(raw_attrs, dict):
            raise EntitiesError(f"{where}: `attrs` must be a JSON object")
        if not isinstance(raw_parents, list):
            raise EntitiesError(f"{where}: `parents` must be a JSON list")
        if not isinstance(raw_tags, dict):
            raise EntitiesError(f"{where}: `tags` must be a JSON object")
        parents = frozenset(
            uid_from_json(p, f"{where}, parent", allow_string=False) for p in raw_parents
        )
        if schema is None:
            attrs = Record(
                {k: value_from_json(v, f"{where}, attribute `{k}`") for k, v in raw_attrs.items()}
            )
            tags = Record(
                {k: value_from_json(v, f"{where}, tag `{k}`") for k, v in raw_tags.items()}
            )
            return Entity(uid, attrs, parents, tags)
        return _conforming_entity(uid, raw_attrs, parents, raw_tags, schema, where)
    except JsonValueError as err:
        raise EntitiesError(err.message) from None


def _conforming_entity(
    uid: EntityUID,
    raw_attrs: dict[str, Any],
    parents: frozenset[EntityUID],
    raw_tags: dict[str, Any],
    schema: Schema,
    where: str,
) -> Entity:
    if is_action_type(uid.type):
        return _conforming_action(uid, raw_attrs, parents, raw_tags, schema, where)
    decl = schema.entity_types.get(uid.type)
    if decl is None:
        raise EntitiesError(f"{where}: entity type `{uid.type}` is not declared in the schema")
    if schema.invalid_enum_uid(uid) is not None:
        raise EntitiesError(f"{where}: {_not_in_enum(uid, schema)}")
    attrs = record_from_json_typed(raw_attrs, decl.shape, f"{where}, attributes")
    allowed = schema.entity_type_ancestors(uid.type)
    for p in parents:
        if p.type not in allowed:
            raise EntitiesError(
                f"{where}: `{uid}` is not allowed to have an ancestor of type `{p.type}` "
                "according to the schema"
            )
    if raw_tags and decl.tags is None:
        first = next(iter(raw_tags))
        raise EntitiesError(
            f"{where}: found a tag `{first}`, but no tags should exist on `{uid}` according to "
            "the schema"
        )
    tags: dict[str, Value] = {}
    if decl.tags is not None:
        tags = {
            k: value_from_json_typed(v, decl.tags, f"{where}, tag `{k}`")
            for k, v in raw_tags.items()
        }
    bad = schema.invalid_enum_uid(frozenset(parents)) or schema.invalid_enum_uid(attrs)
    bad = bad or schema.invalid_enum_uid(tags)
    if bad is not None:
        raise EntitiesError(f"{where}: {_not_in_enum(bad, schema)}")
    return Entity(uid, attrs, parents, Record(tags))


def _not_in_enum(uid: EntityUID, schema: Schema) -> str:
    choices = ", ".join(f'"{c}"' for c in schema.entity_types[uid.type].enum or ())
    return f"`{uid.id}` is not one of the ids of enumerated type `{uid.type}` ({choices})"


def _conforming_action(
    uid: EntityUID,
    raw_attrs: dict[str, Any],
    parents: frozenset[EntityUID],
    raw_tags: dict[str, Any],
    schema: Schema,
    where: str,
) -> Entity:
    decl = schema.actions.get(uid)
    if decl is None:
        raise EntitiesError(
            f"{where}: found action entity `{uid}`, but it was not declared as an action in "
            "the schema"
        )
    declared = schema.action_ancestors(uid)
    given = set(parents)
    for p in parents:
        if p in schema.actions:
            given |= schema.action_ancestors(p)
    if raw_attrs or raw_tags or given != declared:
        raise EntitiesError(
            f"{where}: definition of action `{uid}` does not match its schema declaration"
        )
    return Entity(uid, Record(), decl.member_of)


def _with_schema_actions(entities: list[Entity], schema: Schema) -> list[Entity]:
    given = {e.uid for e in entities}
    extra = [
        Entity(uid, Record(), decl.member_of)
        for uid, decl in schema.actions.items()
        if uid not in given
    ]
    return entities + extra
