"""Random Cedar schemas, as a small model that the other generators read, and as schema text.

The model is what the value, entity, request and policy generators consult to stay
consistent with the schema: entity types with their member-of DAG, attributes, tags and enum
ids, and actions with their groups, `appliesTo` and context records.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

PRIMITIVES = ("Bool", "Long", "String")
EXTENSIONS = ("decimal", "ipaddr", "datetime", "duration")

ENTITY_NAMES = (
    "User", "Group", "Team", "Org", "Doc", "Folder", "Photo", "Device", "Role", "Account",
)  # fmt: skip
ATTR_KINDS = (
    "Bool", "Long", "Long", "String", "String", "ref", "ref", "set_str", "set_long", "set_ref",
    "rec", "decimal", "ipaddr", "datetime", "duration", "set_set", "set_rec",
)  # fmt: skip
ATTR_NAMES = (
    "name", "age", "level", "active", "owner", "manager", "labels", "scores", "members",
    "address", "addr", "limit", "created", "ttl", "email", "score", "flag", "info", "dept",
    "full name", "x",
)  # fmt: skip
ACTION_NAMES = ("view", "edit", "delete", "share", "comment", "read", "write", "view photo")
GROUP_NAMES = ("readOnly", "allActions", "manage")
NAMESPACES = (None, None, "App", "Acme::Core")
ENUM_IDS = ("admin", "viewer", "editor", "guest")
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")


@dataclass(frozen=True)
class Prim:
    """Bool, Long, String or an extension type."""

    name: str


@dataclass(frozen=True)
class Ref:
    """A reference to an entity of a type (its unqualified name)."""

    entity: str


@dataclass(frozen=True)
class SetOf:
    elem: Type


@dataclass(frozen=True)
class Attr:
    name: str
    type: Type
    required: bool = True


@dataclass(frozen=True)
class Rec:
    attrs: tuple[Attr, ...] = ()

    def get(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)


Type = Prim | Ref | SetOf | Rec
BOOL, LONG, STRING = Prim("Bool"), Prim("Long"), Prim("String")


@dataclass(frozen=True)
class EntityDecl:
    name: str
    parents: tuple[str, ...] = ()
    attrs: Rec = Rec()
    tags: Type | None = None
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ActionDecl:
    name: str
    groups: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()  # empty: no `appliesTo` (an action group)
    resources: tuple[str, ...] = ()
    context: Rec = Rec()
    context_alias: str | None = None  # the context is written as this common type


@dataclass(frozen=True)
class SchemaModel:
    namespace: str | None
    entities: tuple[EntityDecl, ...]
    actions: tuple[ActionDecl, ...]

    def entity(self, name: str) -> EntityDecl:
        return next(e for e in self.entities if e.name == name)

    def action(self, name: str) -> ActionDecl:
        return next(a for a in self.actions if a.name == name)

    def qualify(self, name: str) -> str:
        return f"{self.namespace}::{name}" if self.namespace else name

    @property
    def action_type(self) -> str:
        return self.qualify("Action")

    @property
    def request_actions(self) -> tuple[ActionDecl, ...]:
        return tuple(a for a in self.actions if a.principals and a.resources)

    def ancestor_types(self, name: str) -> set[str]:
        """The types an entity of type `name` can be a descendant of (transitively)."""
        seen: set[str] = set()
        todo = list(self.entity(name).parents)
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(self.entity(t).parents)
        return seen

    def action_ancestors(self, name: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.action(name).groups)
        while todo:
            g = todo.pop()
            if g not in seen:
                seen.add(g)
                todo.extend(self.action(g).groups)
        return seen

    def text(self) -> str:
        return render(self)


def attr_name(name: str) -> str:
    """An attribute name as schema text and record-literal key: bare when an identifier."""
    return name if _IDENT.match(name) else quote(name)


def quote(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def type_text(t: Type, aliases: dict[Type, str] | None = None) -> str:
    if aliases and t in aliases:
        return aliases[t]
    match t:
        case Prim(name):
            return name
        case Ref(entity):
            return entity
        case SetOf(elem):
            return f"Set<{type_text(elem, aliases)}>"
        case Rec(attrs):
            fields = [
                f"{attr_name(a.name)}{'' if a.required else '?'}: {type_text(a.type, aliases)}"
                for a in attrs
            ]
            return "{" + ", ".join(fields) + "}"


def render(model: SchemaModel) -> str:
    aliases = {a.context: a.context_alias for a in model.actions if a.context_alias}
    lines = [f"type {name} = {type_text(t)};" for t, name in aliases.items()]
    for e in model.entities:
        if e.enum is not None:
            lines.append(f"entity {e.name} enum [{', '.join(quote(i) for i in e.enum)}];")
            continue
        parents = f" in [{', '.join(e.parents)}]" if e.parents else ""
        shape = f" = {type_text(e.attrs, aliases)}" if e.attrs.attrs else ""
        tags = f" tags {type_text(e.tags)}" if e.tags is not None else ""
        lines.append(f"entity {e.name}{parents}{shape}{tags};")
    for a in model.actions:
        name = a.name if _IDENT.match(a.name) else quote(a.name)
        groups = f" in [{', '.join(attr_name(g) for g in a.groups)}]" if a.groups else ""
        applies = ""
        if a.principals:
            context = type_text(a.context, aliases)
            applies = (
                f" appliesTo {{ principal: [{', '.join(a.principals)}], "
                f"resource: [{', '.join(a.resources)}], context: {context} }}"
            )
        lines.append(f"action {name}{groups}{applies};")
    if model.namespace is None:
        return "\n".join(lines) + "\n"
    body = "\n".join("  " + line for line in lines)
    return f"namespace {model.namespace} {{\n{body}\n}}\n"


def json_type(
    t: Type, aliases: dict[Type, str] | None = None, rng: random.Random | None = None
) -> dict[str, Any]:
    """A type in Cedar's JSON schema format; with `rng`, in its equivalent spellings too."""
    vary = rng is not None and rng.random() < 0.3
    if aliases and t in aliases:
        return {"type": "EntityOrCommon", "name": aliases[t]} if vary else {"type": aliases[t]}
    match t:
        case Prim(name):
            if name in EXTENSIONS:
                return {"type": "Extension", "name": name}
            return {"type": "Boolean" if name == "Bool" else name}
        case Ref(entity):
            return {"type": "EntityOrCommon" if vary else "Entity", "name": entity}
        case SetOf(elem):
            return {"type": "Set", "element": json_type(elem, aliases, rng)}
        case Rec(attrs):
            fields = {}
            for a in attrs:
                field = json_type(a.type, aliases, rng)
                if not a.required or (rng is not None and rng.random() < 0.2):
                    field["required"] = a.required
                fields[a.name] = field
            return {"type": "Record", "attributes": fields}


def render_json(model: SchemaModel, rng: random.Random | None = None) -> str:
    """The schema in Cedar's JSON schema format."""
    aliases = {a.context: a.context_alias for a in model.actions if a.context_alias}
    entity_types: dict[str, Any] = {}
    for e in model.entities:
        if e.enum is not None:
            entity_types[e.name] = {"enum": list(e.enum)}
            continue
        decl: dict[str, Any] = {"memberOfTypes": list(e.parents)}
        if e.attrs.attrs:
            decl["shape"] = json_type(e.attrs, aliases, rng)
        if e.tags is not None:
            decl["tags"] = json_type(e.tags, None, rng)
        entity_types[e.name] = decl
    actions: dict[str, Any] = {}
    for a in model.actions:
        action: dict[str, Any] = {}
        if a.groups:
            action["memberOf"] = [{"id": g} for g in a.groups]
        if a.principals:
            action["appliesTo"] = {
                "principalTypes": list(a.principals),
                "resourceTypes": list(a.resources),
                "context": json_type(a.context, aliases, rng),
            }
        actions[a.name] = action
    namespace: dict[str, Any] = {"entityTypes": entity_types, "actions": actions}
    if aliases:
        namespace["commonTypes"] = {name: json_type(t, None, rng) for t, name in aliases.items()}
    return json.dumps({model.namespace or "": namespace}, indent=2, ensure_ascii=False) + "\n"


class SchemaGen:
    """Draws one random schema model."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def schema(self) -> SchemaModel:
        rng = self.rng
        names = rng.sample(ENTITY_NAMES, rng.randint(3, 6))
        enum_name = names[-1] if rng.random() < 0.3 else None
        entities = []
        for i, name in enumerate(names):
            if name == enum_name:
                ids = tuple(rng.sample(ENUM_IDS, rng.randint(1, 3)))
                entities.append(EntityDecl(name, enum=ids))
                continue
            # parents come later in the list, so the type graph is a DAG (plus self-loops)
            later = names[i + 1 :]
            parents = [p for p in later if rng.random() < 0.45]
            if rng.random() < 0.3:
                parents.append(name)
            attrs = self.record(names, depth=0, size=rng.randint(0, 5))
            tags = self.tag_type(names) if rng.random() < 0.3 else None
            entities.append(EntityDecl(name, tuple(parents), attrs, tags))
        return SchemaModel(rng.choice(NAMESPACES), tuple(entities), self.actions(names))

    def tag_type(self, names: list[str]) -> Type:
        rng = self.rng
        return rng.choice([STRING, LONG, SetOf(STRING), Ref(rng.choice(names)), Prim("decimal")])

    def record(self, names: list[str], depth: int, size: int) -> Rec:
        rng = self.rng
        attrs = tuple(
            Attr(n, self.attr_type(names, depth), rng.random() < 0.65)
            for n in rng.sample(ATTR_NAMES, size)
        )
        return Rec(attrs)

    def attr_type(self, names: list[str], depth: int) -> Type:
        rng = self.rng
        kind = rng.choice(ATTR_KINDS)
        if kind == "ref":
            return Ref(rng.choice(names))
        if kind == "set_str":
            return SetOf(STRING)
        if kind == "set_long":
            return SetOf(LONG)
        if kind == "set_ref":
            return SetOf(Ref(rng.choice(names)))
        if kind == "set_set":
            return SetOf(SetOf(rng.choice([STRING, LONG])))
        if kind == "set_rec":
            return SetOf(Rec((Attr("n", LONG), Attr("s", STRING, rng.random() < 0.5))))
        if kind == "rec":
            if depth >= 2:
                return LONG
            return self.record(names, depth + 1, rng.randint(1, 3))
        return Prim(kind)

    def actions(self, names: list[str]) -> tuple[ActionDecl, ...]:
        rng = self.rng
        groups = rng.sample(GROUP_NAMES, rng.randint(0, 2))
        leaves = rng.sample(ACTION_NAMES, rng.randint(2, 4))
        decls = []
        for i, g in enumerate(groups):
            decls.append(ActionDecl(g, tuple(groups[i + 1 : i + 2])))
        shared = self.record(names, depth=0, size=rng.randint(0, 4))
        for i, a in enumerate(leaves):
            in_groups = tuple(g for g in groups if rng.random() < 0.6)
            principals = tuple(sorted(rng.sample(names, rng.randint(1, 2))))
            resources = tuple(sorted(rng.sample(names, rng.randint(1, 2))))
            # actions often share their context type, so that `action in [...]` typechecks
            context = shared if rng.random() < 0.5 else self.record(names, 0, rng.randint(0, 4))
            alias = "Ctx" if context is shared and shared.attrs and rng.random() < 0.5 else None
            if i == 0 and not decls and rng.random() < 0.3:
                in_groups = ()
            decls.append(ActionDecl(a, in_groups, principals, resources, context, alias))
        return _consistent_aliases(tuple(decls))


def _consistent_aliases(decls: tuple[ActionDecl, ...]) -> tuple[ActionDecl, ...]:
    """One common type per distinct context: an alias is used for all actions or none."""
    aliased = {d.context for d in decls if d.context_alias}
    return tuple(
        ActionDecl(
            d.name,
            d.groups,
            d.principals,
            d.resources,
            d.context,
            "Ctx" if d.context in aliased else None,
        )
        for d in decls
    )
