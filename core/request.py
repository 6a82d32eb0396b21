"""Requests: principal, action, resource and context.

With a schema, the context is read against the action's declared context type, and (unless
asked not to) the request is checked against the action's `appliesTo`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from cedar_smt.core.ast import Var
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.errors import CedarError, RequestError
from cedar_smt.core.json_text import member_locations
from cedar_smt.core.json_values import (
    record_from_json_typed,
    uid_from_json,
    value_from_json,
)
from cedar_smt.core.schema import Schema
from cedar_smt.core.values import EntityUID, Record, Value, to_json

_KEYS = ("principal", "action", "resource", "context")


@dataclass(frozen=True, slots=True)
class Request:
    principal: EntityUID
    action: EntityUID
    resource: EntityUID
    context: Record = field(default_factory=Record)

    def var(self, v: Var) -> Value:
        if v is Var.PRINCIPAL:
            return self.principal
        if v is Var.ACTION:
            return self.action
        if v is Var.RESOURCE:
            return self.resource
        return self.context

    @classmethod
    @room_for_depth(RequestError)
    def from_json(
        cls,
        obj: dict[str, Any],
        schema: Schema | None = None,
        *,
        validate: bool = True,
        source: str | None = None,
        text: str | None = None,
    ) -> Request:
        """Read `{"principal", "action", "resource", "context"?}`.

        Entities may be written `{"type", "id"}`, `{"__entity": {...}}` or `'Type::"id"'`.
        Given the JSON `text` the object was read from, an error names the line and column of
        the member it is about (of the object, for a member that is missing).

        Other members are ignored, as Cedar's request format ignores them, but only beside a
        `context`: Cedar requires one, and without it a member we do not know is refused
        (`contxt` is not read as an empty context).
        """
        part: str | None = None
        try:
            if not isinstance(obj, dict):
                raise RequestError("a request must be a JSON object")
            unknown = [k for k in obj if k not in _KEYS]
            if unknown and "context" not in obj:
                part = unknown[0]
                close = difflib.get_close_matches(part, _KEYS, n=1)
                raise RequestError(
                    f"unknown member `{part}` in the request"
                    + (f" (did you mean `{close[0]}`?)" if close else "")
                    + ": a request has `principal`, `action`, `resource` and `context`"
                )
            for key in ("principal", "action", "resource"):
                if key not in obj:
                    raise RequestError(f"the request has no `{key}`")
            uids: list[EntityUID] = []
            for part in ("principal", "action", "resource"):  # `part` places an error
                uids.append(uid_from_json(obj[part], part))
            principal, action, resource = uids
            part = "context"
            raw_context = obj.get("context", {})
            if not isinstance(raw_context, dict):
                raise RequestError("the context must be a JSON object")
            part = None
            return cls.build(principal, action, resource, raw_context, schema, validate=validate)
        except CedarError as err:
            part = getattr(err, "part", None) or part
            loc = None if text is None else member_locations(text).get(part or "")
            raise RequestError(err.message, source=source, loc=loc, text=text) from None

    @classmethod
    def build(
        cls,
        principal: EntityUID,
        action: EntityUID,
        resource: EntityUID,
        raw_context: dict[str, Any],
        schema: Schema | None = None,
        *,
        validate: bool = True,
    ) -> Request:
        """A request from its parts; an error's `part` names the part it is about."""
        part = "action"
        try:
            decl = schema.actions.get(action) if schema is not None else None
            if schema is not None and validate:
                if decl is None:
                    raise RequestError(f"request's action `{action}` is not declared in the schema")
                for part, uid, allowed in (
                    ("principal", principal, decl.principal_types),
                    ("resource", resource, decl.resource_types),
                ):
                    if uid.type not in allowed:
                        names = ", ".join(f"`{t}`" for t in allowed) or "none"
                        raise RequestError(
                            f"{part} type `{uid.type}` is not valid for `{action}` "
                            f"(it applies to {names})"
                        )
                    if schema.invalid_enum_uid(uid) is not None:
                        raise RequestError(
                            f"{part} `{uid}` is not one of the ids of enumerated type `{uid.type}`"
                        )
            part = "context"
            if decl is not None:
                context = record_from_json_typed(raw_context, decl.context, "context")
                bad = schema.invalid_enum_uid(context) if schema is not None and validate else None
                if bad is not None:
                    raise RequestError(
                        f"context: `{bad}` is not one of the ids of enumerated type `{bad.type}`"
                    )
            else:
                value = value_from_json(raw_context, "context")
                if not isinstance(value, Record):
                    raise RequestError(
                        "the context must be a record, not an escaped entity or extension"
                    )
                context = value
        except CedarError as err:
            located = RequestError(err.message)
            located.part = part
            raise located from None
        return cls(principal, action, resource, context)

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal.to_json(),
            "action": self.action.to_json(),
            "resource": self.resource.to_json(),
            "context": to_json(self.context),
        }
