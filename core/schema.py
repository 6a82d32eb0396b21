"""Schemas: the entity types and actions a Cedar application declares.

`Schema.from_str` reads either schema format: the Cedar syntax (core/schema_cedar.py) or the
JSON format (core/schema_json.py). Both give unresolved declarations, which this module turns
into the model: every name fully qualified, common types inlined, hierarchies checked.

Name resolution follows Cedar 4 (checked against cedarpy). In namespace `NS`, an unqualified
type name `N` is the common type `NS::N`, else the entity type `NS::N`, else the common type
`N` of the empty namespace, else the entity type `N`, else the builtin `__cedar::N`; a
qualified name is exactly that declaration. The type of a namespace's actions, `NS::Action`,
counts as an entity type for attributes and tags, not for parents or `appliesTo`. Action
references (`a`, `"a"`, `Action::"a"`) name `NS::Action::"a"`, else `Action::"a"`.
A declaration in a namespace may not shadow one of the same name in the empty namespace, so
the two places an unqualified name looks at never both hold it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import count
from typing import Any, TypeVar

from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import Loc, SchemaError
from cedar_smt.core.files import read_text
from cedar_smt.core.schema_cedar import read_cedar
from cedar_smt.core.schema_json import (
    ActionDecl,
    ActionRef,
    Annotations,
    CommonDecl,
    EntityDecl,
    NamespaceDecl,
    RawType,
    RecordOf,
    RefKind,
    SetOf,
    TypeRef,
    Where,
    load_json,
    locate_json,
    mentions,
    read_json,
    schema_error,
    type_to_json,
)
from cedar_smt.core.types import (
    BOOL,
    EXTENSION_TYPE_NAMES,
    LONG,
    STRING,
    Attribute,
    EntityType,
    ExtensionType,
    RecordType,
    SchemaType,
    SetType,
)
from cedar_smt.core.values import EntityUID

ACTION = "Action"

# Names a common type may not take: the type keywords of either schema format.
RESERVED_TYPE_NAMES = frozenset(
    {"Bool", "Boolean", "Entity", "Extension", "Long", "Record", "Set", "String"}
)

EMPTY_RECORD = RecordType()

BUILTIN_TYPES: dict[str, SchemaType] = {
    "__cedar::Bool": BOOL,
    "__cedar::Long": LONG,
    "__cedar::String": STRING,
    **{f"__cedar::{name}": ExtensionType(name) for name in EXTENSION_TYPE_NAMES},
}


@dataclass(frozen=True, slots=True)
class EntityTypeDef:
    name: str  # fully qualified, e.g. "NS::User"
    member_of_types: frozenset[str] = frozenset()  # direct parent types, fully qualified
    shape: RecordType = EMPTY_RECORD
    tags: SchemaType | None = None  # the type of tag values; None when there are no tags
    enum: tuple[str, ...] | None = None  # the ids of an enumerated entity type
    annotations: Annotations = ()
    loc: Loc | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActionDef:
    uid: EntityUID  # e.g. EntityUID("NS::Action", "view")
    member_of: frozenset[EntityUID] = frozenset()  # direct parents (action groups)
    principal_types: tuple[str, ...] = ()  # fully qualified, sorted; empty: applies to nothing
    resource_types: tuple[str, ...] = ()
    context: RecordType = EMPTY_RECORD
    annotations: Annotations = ()
    loc: Loc | None = field(default=None, compare=False, repr=False)


_JSON_START = re.compile(r'\ufeff?[ \t\r\n]*[\[{"0-9-]')


@dataclass(frozen=True)
class Schema:
    """Entity types by fully qualified name and actions by uid; equal when both are equal."""

    entity_types: dict[str, EntityTypeDef]
    actions: dict[EntityUID, ActionDef]

    @classmethod
    def from_str(cls, text: str, source: str | None = None) -> Schema:
        """Read a schema in the JSON format if it starts as JSON does (`{`, `[`, a string or a
        number: no text in the Cedar syntax does), else in the Cedar syntax."""
        if _JSON_START.match(text):
            return cls.from_json(text, source)
        return cls.from_cedar(text, source)

    @classmethod
    @room_for_depth(SchemaError)
    def from_json(cls, data: str | Mapping[str, Any], source: str | None = None) -> Schema:
        text = data if isinstance(data, str) else None
        try:
            return _resolve(read_json(load_json(data) if isinstance(data, str) else data))
        except SchemaError as e:
            if text is not None:
                locate_json(e, text)
            raise e.located(source, text) from None

    @classmethod
    def from_file(cls, path: str) -> Schema:
        """Read a schema file, in either format."""
        return cls.from_str(read_text(path), source=path)

    @classmethod
    @room_for_depth(SchemaError)
    def from_cedar(cls, text: str, source: str | None = None) -> Schema:
        try:
            return _resolve(read_cedar(text))
        except SchemaError as e:
            raise e.located(source, text) from None

    def to_json(self) -> dict[str, Any]:
        """The JSON schema format, every name fully qualified and common types inlined."""
        out: dict[str, dict[str, Any]] = {}

        def namespace(name: str) -> dict[str, Any]:
            return out.setdefault(name, {"entityTypes": {}, "actions": {}})

        alias = self._root_action_alias()
        for et in self.entity_types.values():
            ns, _, basename = et.name.rpartition("::")
            aliases = alias if ns and f"{ns}::{ACTION}" in self._action_types else None
            namespace(ns)["entityTypes"][basename] = _entity_type_json(et, aliases)
        for action in self.actions.values():
            ns = action.uid.type.rpartition("::")[0]
            aliases = alias if ns else None
            namespace(ns)["actions"][action.uid.id] = _action_json(action, aliases)
        if alias:
            namespace("")["commonTypes"] = {alias[ACTION]: type_to_json(EntityType(ACTION))}
        return out

    def _root_action_alias(self) -> dict[str, str]:
        """A common type for the empty namespace's `Action` type, when JSON needs one.

        In a namespace with actions of its own, `Action` names that namespace's type, so an
        attribute there of the empty namespace's `Action` type (reachable in the Cedar syntax
        through a common type) is written through a common type of the empty namespace.
        """
        if ACTION not in self._action_types:
            return {}
        nested = {t.rpartition("::")[0] for t in self._action_types} - {""}
        types: list[SchemaType] = [a.context for a in self.actions.values() if a.uid.type != ACTION]
        for et in self.entity_types.values():
            if et.name.rpartition("::")[0] in nested:
                types.extend(t for t in (et.shape, et.tags) if t is not None)
        if not any(mentions(t, ACTION) for t in types):
            return {}
        taken = {name.rpartition("::")[2] for name in self.entity_types}
        return {ACTION: next(n for i in count() if (n := f"{ACTION}{i}") not in taken)}

    def is_action(self, uid: EntityUID) -> bool:
        return uid in self.actions

    def action_ancestors(self, uid: EntityUID) -> frozenset[EntityUID]:
        """The action groups `uid` is in, directly or through other groups."""
        return self._action_ancestors.get(uid, frozenset())

    def entity_type_ancestors(self, name: str) -> frozenset[str]:
        """The entity types whose entities an entity of type `name` may be in, transitively."""
        return self._entity_type_ancestors.get(name, frozenset())

    def interchangeable(self, entity_type: str) -> bool:
        """Whether every entity of the type is alike to the validator and the encoder: a
        declared entity type, not enumerated, not an action type (their ids are checked and
        their literals fold)."""
        decl = self.entity_types.get(entity_type)
        return (
            decl is not None
            and decl.enum is None
            and not any(a.type == entity_type for a in self.actions)
        )

    def invalid_enum_uid(self, value: Any) -> EntityUID | None:
        """The first entity in `value` (an entity, or a value holding some) whose type is
        enumerated but whose id is not one of the enum's, if there is one."""
        if isinstance(value, EntityUID):
            decl = self.entity_types.get(value.type)
            bad = decl is not None and decl.enum is not None and value.id not in decl.enum
            return value if bad else None
        if isinstance(value, frozenset):
            items: Iterable[Any] = value
        elif isinstance(value, Mapping):
            items = value.values()
        else:
            return None
        return next((u for v in items if (u := self.invalid_enum_uid(v)) is not None), None)

    @cached_property
    def _action_types(self) -> frozenset[str]:
        return frozenset(uid.type for uid in self.actions)

    @cached_property
    def _action_ancestors(self) -> dict[EntityUID, frozenset[EntityUID]]:
        return _closure({uid: a.member_of for uid, a in self.actions.items()})

    @cached_property
    def _entity_type_ancestors(self) -> dict[str, frozenset[str]]:
        return _closure({n: et.member_of_types for n, et in self.entity_types.items()})


K = TypeVar("K")


def _closure(parents: Mapping[K, Iterable[K]]) -> dict[K, frozenset[K]]:
    out = {}
    for start, direct in parents.items():
        seen: set[K] = set()
        todo = list(direct)
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(parents.get(node, ()))
        out[start] = frozenset(seen)
    return out


def _entity_type_json(et: EntityTypeDef, aliases: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if et.enum is not None:
        body["enum"] = list(et.enum)
    if et.member_of_types:
        body["memberOfTypes"] = sorted(et.member_of_types)
    if et.shape.attributes:
        body["shape"] = type_to_json(et.shape, aliases)
    if et.tags is not None:
        body["tags"] = type_to_json(et.tags, aliases)
    if et.annotations:
        body["annotations"] = dict(et.annotations)
    return body


def _action_json(action: ActionDef, aliases: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if action.member_of:
        body["memberOf"] = [{"id": p.id, "type": p.type} for p in sorted(action.member_of)]
    if action.principal_types or action.resource_types or action.context.attributes:
        body["appliesTo"] = {
            "principalTypes": list(action.principal_types),
            "resourceTypes": list(action.resource_types),
            "context": type_to_json(action.context, aliases),
        }
    if action.annotations:
        body["annotations"] = dict(action.annotations)
    return body


# ---- resolution ----


def _qualify(namespace: str, name: str) -> str:
    return f"{namespace}::{name}" if namespace else name


def _candidates(name: str, namespace: str) -> tuple[str, ...]:
    """The fully qualified names `name`, written in `namespace`, may stand for, in order."""
    if "::" in name or not namespace:
        return (name,)
    return (f"{namespace}::{name}", name)


def _where(raw: RawType | None, default: Where) -> Where:
    """Where a type was written, when the declarations kept it."""
    return raw.at if isinstance(raw, TypeRef) and raw.at is not None else default


def _loc(at: Where) -> Loc | None:
    return at if isinstance(at, Loc) else None


def _resolve(namespaces: Sequence[NamespaceDecl]) -> Schema:
    return _Resolver(namespaces).schema()


class _Resolver:
    """Checks the declarations of all namespaces together and builds the `Schema`."""

    def __init__(self, namespaces: Sequence[NamespaceDecl]) -> None:
        self.commons: dict[str, tuple[str, CommonDecl]] = {}
        self.entities: dict[str, tuple[str, EntityDecl]] = {}
        self.actions: dict[EntityUID, tuple[str, ActionDecl]] = {}
        self.action_types: set[str] = set()
        self.common_types: dict[str, SchemaType] = {}
        self.resolving: list[str] = []  # common types being resolved, to report a cycle
        self._declare(namespaces)
        self._check_shadowing()

    def schema(self) -> Schema:
        for name in self.commons:
            self._common(name)
        entity_types = {name: self._entity_type(name, *d) for name, d in self.entities.items()}
        actions = {uid: self._action(uid, *d) for uid, d in self.actions.items()}
        self._check_acyclic(actions)
        return Schema(entity_types, actions)

    def _declare(self, namespaces: Sequence[NamespaceDecl]) -> None:
        seen: set[str] = set()
        for ns in namespaces:
            if ns.name in seen:
                raise schema_error(f"duplicate namespace `{ns.name}`", ns.at)
            seen.add(ns.name)
            _check_not_cedar(ns.name, ns.at)
            for common in ns.common_types:
                if common.name in RESERVED_TYPE_NAMES:
                    raise schema_error(
                        f"`{common.name}` is a builtin type name and cannot name a common type",
                        common.at,
                    )
                _check_not_cedar(common.name, common.at)
                full = _qualify(ns.name, common.name)
                _add(self.commons, full, (ns.name, common), f"common type `{full}`", common.at)
            for entity in ns.entity_types:
                if entity.name == ACTION:
                    raise schema_error(
                        f"`{ACTION}` is the type of actions and cannot name an entity type",
                        entity.at,
                    )
                _check_not_cedar(entity.name, entity.at)
                full = _qualify(ns.name, entity.name)
                _add(self.entities, full, (ns.name, entity), f"entity type `{full}`", entity.at)
            for action in ns.actions:
                uid = EntityUID(_qualify(ns.name, ACTION), action.name)
                _add(self.actions, uid, (ns.name, action), f"action `{uid}`", action.at)
                self.action_types.add(uid.type)

    def _check_shadowing(self) -> None:
        types: list[tuple[str, tuple[str, CommonDecl | EntityDecl]]] = [
            *self.commons.items(),
            *self.entities.items(),
        ]
        for full, (ns, decl) in types:
            if ns and (decl.name in self.commons or decl.name in self.entities):
                raise schema_error(
                    f"`{full}` shadows `{decl.name}`, declared in the empty namespace", decl.at
                )
        for uid, (ns, action) in self.actions.items():
            if ns and EntityUID(ACTION, uid.id) in self.actions:
                raise schema_error(
                    f"`{uid}` shadows `{EntityUID(ACTION, uid.id)}`, declared in the empty "
                    "namespace",
                    action.at,
                )

    def _check_acyclic(self, actions: Mapping[EntityUID, ActionDef]) -> None:
        """Action groups form a DAG; report the first cycle found, at its first action."""
        done: set[EntityUID] = set()
        path: list[EntityUID] = []

        def visit(uid: EntityUID) -> None:
            if uid in done:
                return
            if uid in path:
                cycle = " -> ".join(f"`{u}`" for u in [*path[path.index(uid) :], uid])
                raise schema_error(
                    f"cycle in the action hierarchy: {cycle}", self.actions[uid][1].at
                )
            path.append(uid)
            for parent in sorted(actions[uid].member_of):
                visit(parent)
            path.pop()
            done.add(uid)

        for uid in actions:
            visit(uid)

    def _entity_type(self, name: str, ns: str, decl: EntityDecl) -> EntityTypeDef:
        if decl.enum is not None and not decl.enum:
            raise schema_error("`enum` must list at least one entity id", decl.at)
        shape = EMPTY_RECORD if decl.shape is None else self._type(decl.shape, ns)
        if not isinstance(shape, RecordType):
            raise schema_error(
                f"the shape of entity type `{name}` must be a record type, not `{shape}`",
                _where(decl.shape, decl.at),
            )
        return EntityTypeDef(
            name,
            member_of_types=frozenset(self._entity_type_name(r, ns) for r in decl.member_of),
            shape=shape,
            tags=None if decl.tags is None else self._type(decl.tags, ns),
            enum=None if decl.enum is None else tuple(dict.fromkeys(decl.enum)),
            annotations=decl.annotations,
            loc=_loc(decl.at),
        )

    def _action(self, uid: EntityUID, ns: str, decl: ActionDecl) -> ActionDef:
        context = EMPTY_RECORD if decl.context is None else self._type(decl.context, ns)
        if not isinstance(context, RecordType):
            raise schema_error(
                f"the context of action `{uid}` must be a record type, not `{context}`",
                _where(decl.context, decl.at),
            )
        return ActionDef(
            uid,
            member_of=frozenset(self._action_ref(r, ns) for r in decl.member_of),
            principal_types=self._entity_type_names(decl.principals, ns),
            resource_types=self._entity_type_names(decl.resources, ns),
            context=context,
            annotations=decl.annotations,
            loc=_loc(decl.at),
        )

    def _entity_type_names(self, refs: Iterable[TypeRef], ns: str) -> tuple[str, ...]:
        return tuple(sorted({self._entity_type_name(r, ns) for r in refs}))

    def _entity_type_name(self, ref: TypeRef, ns: str) -> str:
        """A declared entity type (not an action type): parents, principals, resources."""
        for full in _candidates(ref.name, ns):
            if full in self.entities:
                return full
        raise schema_error(f"unknown entity type `{ref.name}`", ref.at)

    def _action_ref(self, ref: ActionRef, ns: str) -> EntityUID:
        candidates = _candidates(ref.type or ACTION, ns)
        for kind in candidates:
            if EntityUID(kind, ref.id) in self.actions:
                return EntityUID(kind, ref.id)
        raise schema_error(f"unknown action `{EntityUID(candidates[0], ref.id)}`", ref.at)

    def _type(self, raw: RawType, ns: str) -> SchemaType:
        match raw:
            case TypeRef():
                return self._type_ref(raw, ns)
            case SetOf(element):
                return SetType(self._type(element, ns))
            case RecordOf(attributes):
                return RecordType.of(
                    {a.name: Attribute(self._type(a.type, ns), a.required) for a in attributes}
                )
            case _:
                return raw

    def _type_ref(self, ref: TypeRef, ns: str) -> SchemaType:
        for full in _candidates(ref.name, ns):
            if ref.kind is not RefKind.ENTITY and full in self.commons:
                return self._common(full)
            if ref.kind is not RefKind.COMMON and (
                full in self.entities or full in self.action_types
            ):
                return EntityType(full)
        if ref.kind is not RefKind.ENTITY:
            builtin = ref.name if "::" in ref.name else f"__cedar::{ref.name}"
            if builtin in BUILTIN_TYPES:
                return BUILTIN_TYPES[builtin]
        what = "entity type" if ref.kind is RefKind.ENTITY else "type"
        raise schema_error(f"unknown {what} `{ref.name}`", ref.at)

    def _common(self, full: str) -> SchemaType:
        if full in self.common_types:
            return self.common_types[full]
        ns, decl = self.commons[full]
        if full in self.resolving:
            cycle = [*self.resolving[self.resolving.index(full) :], full]
            path = " -> ".join(f"`{n}`" for n in cycle)
            raise schema_error(f"cycle among common types: {path}", decl.at)
        self.resolving.append(full)
        resolved = self._type(decl.type, ns)
        self.resolving.pop()
        self.common_types[full] = resolved
        return resolved


def _add(table: dict[K, Any], key: K, value: Any, what: str, at: Where) -> None:
    if key in table:
        raise schema_error(f"duplicate declaration of {what}", at)
    table[key] = value


def _check_not_cedar(name: str, at: Where) -> None:
    if "__cedar" in name.split("::"):
        raise schema_error(f"`{name}` uses `__cedar`, which is reserved for builtin types", at)
