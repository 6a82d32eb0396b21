"""Cedar's JSON policy format (the form Cedar's tools read and write), both ways.

`policy_to_json` and `policy_set_to_json` write what Cedar writes for the same policies;
`policies_from_json` reads that form (a policy set, or one policy as Cedar's CLI accepts)
into the policies the text parser builds from the same policies, equal to them, so every
answer is the same whichever form a policy set came in. Input Cedar refuses is refused with a
`ParseError` at the line and column of the JSON member at fault.

Text twin: core/parser.py reads Cedar text, core/policy_text.py writes it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias

from cedar_smt.core.ast import (
    STAR,
    And,
    BinaryApp,
    BinaryOp,
    Call,
    Expr,
    ExtFun,
    GetAttr,
    HasAttr,
    Is,
    Ite,
    Like,
    Lit,
    Or,
    Pattern,
    RecordLit,
    SetLit,
    Slot,
    UnaryApp,
    UnaryOp,
    Var,
    VarRef,
    assert_never,
)
from cedar_smt.core.errors import CedarError, Loc, ParseError
from cedar_smt.core.json_text import loads, loc_at, skip_space
from cedar_smt.core.json_values import check_type_name
from cedar_smt.core.parser import is_action_type, parse_expr
from cedar_smt.core.policy import (
    Condition,
    Effect,
    Policy,
    ScopeAny,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    ScopeIs,
    ScopeIsIn,
    Target,
)
from cedar_smt.core.values import LONG_MAX, LONG_MIN, EntityUID, Long, Value, to_cedar

SINGLE_POLICY_ID = "JSON policy"  # the id Cedar's CLI gives a policy read on its own

_SET_KEYS = ("staticPolicies", "templates", "templateLinks")
_POLICY_KEYS = ("effect", "principal", "action", "resource", "conditions")
_SLOTS = {Var.PRINCIPAL: "?principal", Var.RESOURCE: "?resource"}
_ANNOTATION_KEY = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")

_UNARY = {UnaryOp.NOT: "!", UnaryOp.NEG: "neg", UnaryOp.IS_EMPTY: "isEmpty"}
_UNARY_OPS = {key: op for op, key in _UNARY.items()}
_BINARY_OPS = {op.value: op for op in BinaryOp}
_FLIPPED = {">": BinaryOp.LESS, ">=": BinaryOp.LESS_EQ}  # `a > b` is `b < a`
_EXT_FUNS = {f.value: f for f in ExtFun}


# writing


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """One policy or template in Cedar's JSON form."""
    out: dict[str, Any] = {
        "effect": policy.effect.value,
        "principal": _scope_to_json(policy.principal),
        "action": _scope_to_json(policy.action),
        "resource": _scope_to_json(policy.resource),
        "conditions": [{"kind": c.kind, "body": expr_to_json(c.body)} for c in policy.conditions],
    }
    if policy.annotations:
        out["annotations"] = dict(policy.annotations)
    return out


def _scope_to_json(c: ScopeConstraint) -> dict[str, Any]:
    match c:
        case ScopeAny():
            return {"op": "All"}
        case ScopeEq(entity=e):
            return {"op": "==", **_target_to_json(e)}
        case ScopeIn(entity=e):
            return {"op": "in", **_target_to_json(e)}
        case ScopeInSet(entities=(uid,)):
            return {"op": "in", "entity": uid.to_json()}  # Cedar reads `in [A]` as `in A`
        case ScopeInSet(entities=es):
            return {"op": "in", "entities": [uid.to_json() for uid in es]}
        case ScopeIs(entity_type=t):
            return {"op": "is", "entity_type": t}
        case ScopeIsIn(entity_type=t, entity=e):
            return {"op": "is", "entity_type": t, "in": _target_to_json(e)}
    assert_never(c)


def _target_to_json(t: Target) -> dict[str, Any]:
    return {"slot": t.name} if isinstance(t, Slot) else {"entity": t.to_json()}


def expr_to_json(e: Expr) -> dict[str, Any]:
    """An expression in Cedar's JSON form, with the operators it was written with."""
    match e:
        case Lit(value=v):
            return _literal_to_json(v)
        case VarRef(var=v):
            return {"Var": v.value}
        case Slot(name=n):
            return {"Slot": n}
        case Ite(cond=c, then=t, else_=f):
            body = {"if": expr_to_json(c), "then": expr_to_json(t), "else": expr_to_json(f)}
            return {"if-then-else": body}
        case And(
            left=Is(arg=a, entity_type=t),
            right=BinaryApp(op=BinaryOp.IN, left=a_in, right=b),
            sugar="is in",
        ) if a_in == a:
            return {"is": {"left": expr_to_json(a), "entity_type": t, "in": expr_to_json(b)}}
        case And(left=a, right=b):
            return _binary_to_json("&&", a, b)
        case Or(left=a, right=b):
            return _binary_to_json("||", a, b)
        case UnaryApp(op=UnaryOp.NOT, arg=BinaryApp(op=BinaryOp.EQ, left=a, right=b), sugar="!="):
            return _binary_to_json("!=", a, b)
        case UnaryApp(op=op, arg=a):
            return {_UNARY[op]: {"arg": expr_to_json(a)}}
        case BinaryApp(op=op, left=a, right=b, sugar=">" | ">=" as sugar) if _FLIPPED[sugar] is op:
            return _binary_to_json(sugar, b, a)
        case BinaryApp(op=op, left=a, right=b):
            return _binary_to_json(op.value, a, b)
        case Like(arg=a, pattern=p):
            return {"like": {"left": expr_to_json(a), "pattern": pattern_to_json(p)}}
        case Is(arg=a, entity_type=t):
            return {"is": {"left": expr_to_json(a), "entity_type": t}}
        case HasAttr(arg=a, attr=n):
            return {"has": {"left": expr_to_json(a), "attr": n}}
        case GetAttr(arg=a, attr=n):
            return {".": {"left": expr_to_json(a), "attr": n}}
        case SetLit(elements=xs):
            return {"Set": [expr_to_json(x) for x in xs]}
        case RecordLit(fields=fs):
            return {"Record": {k: expr_to_json(x) for k, x in fs}}
        case Call(fn=fn, args=xs):
            return {fn.value: [expr_to_json(x) for x in xs]}
    assert_never(e)


def _binary_to_json(key: str, a: Expr, b: Expr) -> dict[str, Any]:
    return {key: {"left": expr_to_json(a), "right": expr_to_json(b)}}


def _literal_to_json(v: Value) -> dict[str, Any]:
    if isinstance(v, EntityUID):
        return {"Value": {"__entity": v.to_json()}}
    if isinstance(v, Long):
        return {"Value": v.value}
    if isinstance(v, bool | str):
        return {"Value": v}
    # a set, record or extension value (never a parsed literal): as the text that denotes it
    return expr_to_json(parse_expr(to_cedar(v)))


def pattern_to_json(p: Pattern) -> list[Any]:
    """A `like` pattern: `"Wildcard"` for each `*`, `{"Literal": c}` for each character."""
    return ["Wildcard" if c is STAR else {"Literal": c} for c in p.elems]


# reading


@dataclass(frozen=True, slots=True)
class TemplateLink:
    """One entry of `templateLinks`: a new policy made from a template by binding its slots."""

    template_id: str
    new_id: str
    values: tuple[tuple[str, EntityUID], ...]
    loc: Loc | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """As Cedar writes it (and as `PolicySet.link_json` reads it)."""
        values = {slot: {"__entity": uid.to_json()} for slot, uid in self.values}
        return {"templateId": self.template_id, "newId": self.new_id, "values": values}


def link_of(template: Policy, linked: Policy) -> TemplateLink:
    """The link that makes `linked` from `template`."""
    values = []
    for slot_scope, linked_scope in (
        (template.principal, linked.principal),
        (template.resource, linked.resource),
    ):
        slot = getattr(slot_scope, "entity", None)
        if isinstance(slot, Slot):
            values.append((slot.name, getattr(linked_scope, "entity")))  # noqa: B009
    return TemplateLink(template.id, linked.id, tuple(values))


@dataclass(frozen=True)
class JsonPolicies:
    """What a JSON policy set holds, in its order: static policies, templates and links."""

    policies: tuple[Policy, ...]
    templates: tuple[Policy, ...]
    links: tuple[TemplateLink, ...]
    source: str | None = field(default=None, compare=False)
    text: str | None = field(default=None, compare=False, repr=False)


def policies_from_json(data: str | Mapping[str, Any], source: str | None = None) -> JsonPolicies:
    """Read Cedar's JSON policy format: a policy set, or one policy or template on its own
    (whose id is `JSON policy`, as in Cedar's CLI).

    `data` is the JSON text (errors then name its line and column) or the decoded object.
    """
    text = data if isinstance(data, str) else None
    try:
        obj = loads(data, "policies") if isinstance(data, str) else data
        return _Reader(text, source).document(obj)
    except CedarError as err:
        raise ParseError(err.message, loc=err.loc).located(source, text) from None


Path: TypeAlias = tuple[str | int, ...]


class _Reader:
    """Reads one JSON document; `fail` places an error at the JSON path it names."""

    def __init__(self, text: str | None, source: str | None) -> None:
        self.text = text
        self.source = source
        self.where = ""  # the policy or link being read, to name in messages

    def fail(self, message: str, path: Path, *, at_key: bool = False) -> NoReturn:
        loc = None if self.text is None else loc_at(self.text, _offset(self.text, path, at_key))
        raise ParseError(f"{self.where}: {message}" if self.where else message, loc=loc)

    def members(
        self, x: Any, path: Path, what: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any]:
        """`x` as an object with the required members and no others than the optional ones."""
        if not isinstance(x, dict):
            self.fail(f"{what} must be a JSON object, found {_show(x)}", path)
        for key in x:
            if key not in required and key not in optional:
                expected = _one_of([f"`{k}`" for k in required + optional])
                self.fail(
                    f"unknown member `{key}` in {what}; expected {expected}",
                    (*path, key),
                    at_key=True,
                )
        for key in required:
            if key not in x:
                self.fail(f"{what} has no `{key}`", path)
        return x

    # documents

    def document(self, obj: Any) -> JsonPolicies:
        if not isinstance(obj, dict):
            self.fail(f"expected a policy set or a policy (a JSON object), found {_show(obj)}", ())
        is_set = any(k in obj for k in _SET_KEYS)
        is_policy = any(k in obj for k in _POLICY_KEYS)
        if is_set and is_policy:
            self.fail("the object has members of both a policy set and a policy", ())
        if is_set:
            return self.policy_set(obj)
        if is_policy:
            loc = None if self.text is None else loc_at(self.text, skip_space(self.text, 0))
            policy = self.policy(obj, (), SINGLE_POLICY_ID, loc)
            if policy.is_template:
                return JsonPolicies((), (policy,), (), self.source, self.text)
            return JsonPolicies((policy,), (), (), self.source, self.text)
        self.fail(
            "expected a policy set (`staticPolicies`, `templates`, `templateLinks`) or a policy "
            "(`effect`, `principal`, `action`, `resource`, `conditions`)",
            (),
        )

    def policy_set(self, obj: dict[str, Any]) -> JsonPolicies:
        self.members(obj, (), "a policy set", _SET_KEYS, ())
        static = self.policy_map(obj["staticPolicies"], "staticPolicies", templates=False)
        templates = self.policy_map(obj["templates"], "templates", templates=True)
        static_ids = {p.id for p in static}
        for t in templates:
            if t.id in static_ids:
                self.where = ""
                self.fail(
                    f"`{t.id}` is the id of a static policy and of a template",
                    ("templates", t.id),
                    at_key=True,
                )
        links = obj["templateLinks"]
        if not isinstance(links, list):
            self.fail(
                f"`templateLinks` must be a JSON list, found {_show(links)}", ("templateLinks",)
            )
        locs = self.places(("templateLinks",))
        read = tuple(self.link(x, i, locs.get(i)) for i, x in enumerate(links))
        return JsonPolicies(static, templates, read, self.source, self.text)

    def link(self, x: Any, i: int, loc: Loc | None) -> TemplateLink:
        self.where = f"template link {i}"
        path: Path = ("templateLinks", i)
        x = self.members(x, path, "a template link", ("templateId", "newId", "values"), ())
        for key in ("templateId", "newId"):
            if not isinstance(x[key], str):
                self.fail(f"`{key}` must be a string, found {_show(x[key])}", (*path, key))
        values = x["values"]
        if not isinstance(values, dict):
            self.fail(f"`values` must be a JSON object, found {_show(values)}", (*path, "values"))
        bound = []
        for slot, v in values.items():
            at = (*path, "values", slot)
            if slot not in _SLOTS.values():
                self.fail(f"`{slot}` is not a template slot", at, at_key=True)
            bound.append((slot, self.uid(v, at)))
        return TemplateLink(x["templateId"], x["newId"], tuple(bound), loc)

    def policy_map(self, x: Any, key: str, *, templates: bool) -> tuple[Policy, ...]:
        if not isinstance(x, dict):
            self.fail(f"`{key}` must be a JSON object from ids to policies", (key,))
        locs = self.places((key,), at_key=True)
        out = []
        kind = "template" if templates else "policy"
        for pid, p in x.items():
            self.where = f"{kind} `{pid}`"
            policy = self.policy(p, (key, pid), pid, locs.get(pid))
            if not templates and policy.is_template:
                self.fail(
                    "a static policy cannot have template slots (templates go in `templates`)",
                    (key, pid),
                    at_key=True,
                )
            out.append(policy)
        return tuple(out)

    def places(self, path: Path, *, at_key: bool = False) -> dict[str | int, Loc]:
        """Where each member (or element) of the object (or list) at `path` starts, or its key
        does (in one pass over the text, however many there are)."""
        if self.text is None:
            return {}
        children = _children(self.text, _offset(self.text, path, at_key=False))
        offsets = [key_pos if at_key else value_pos for key_pos, value_pos in children.values()]
        return dict(zip(children, _locs(self.text, offsets), strict=True))

    # policies

    def policy(self, x: Any, path: Path, pid: str, loc: Loc | None) -> Policy:
        x = self.members(x, path, "a policy", _POLICY_KEYS, ("annotations",))
        effect = x["effect"]
        if effect not in ("permit", "forbid"):
            self.fail(
                f"`effect` must be `permit` or `forbid`, found {_show(effect)}", (*path, "effect")
            )
        conditions = x["conditions"]
        if not isinstance(conditions, list):
            self.fail(
                f"`conditions` must be a JSON list, found {_show(conditions)}",
                (*path, "conditions"),
            )
        return Policy(
            id=pid,
            effect=Effect(effect),
            principal=self.scope(x["principal"], (*path, "principal"), Var.PRINCIPAL),
            action=self.action_scope(x["action"], (*path, "action")),
            resource=self.scope(x["resource"], (*path, "resource"), Var.RESOURCE),
            conditions=tuple(
                self.condition(c, (*path, "conditions", i)) for i, c in enumerate(conditions)
            ),
            annotations=self.annotations(x.get("annotations", {}), (*path, "annotations")),
            loc=loc,
            source=self.source,
        )

    def annotations(self, x: Any, path: Path) -> tuple[tuple[str, str | None], ...]:
        if not isinstance(x, dict):
            self.fail(f"`annotations` must be a JSON object, found {_show(x)}", path)
        for key, value in x.items():
            if not _ANNOTATION_KEY.fullmatch(key):
                self.fail(f"`{key}` is not a valid annotation name", (*path, key), at_key=True)
            if value is not None and not isinstance(value, str):
                self.fail(f"annotation `{key}` must be a string or null", (*path, key))
        return tuple(sorted(x.items(), key=lambda kv: kv[0]))

    def scope(self, x: Any, path: Path, var: Var) -> ScopeConstraint:
        what = f"the `{var.value}` scope"
        op = self.scope_op(x, path, what)
        match op:
            case "All" | "all":
                return ScopeAny()
            case "==":
                return ScopeEq(self.target(x, path, what, var))
            case "in":
                return ScopeIn(self.target(x, path, what, var))
            case "is":
                x = self.members(x, path, what, ("op", "entity_type"), ("in",))
                t = self.type_name(x["entity_type"], (*path, "entity_type"))
                if "in" not in x:
                    return ScopeIs(t)
                inner = x["in"]
                if not isinstance(inner, dict):
                    self.fail(f"`in` must be a JSON object, found {_show(inner)}", (*path, "in"))
                return ScopeIsIn(t, self.target(inner, (*path, "in"), what, var))
        self.fail(
            f"unknown operator `{op}` in {what}; expected `All`, `==`, `in` or `is`", (*path, "op")
        )

    def scope_op(self, x: Any, path: Path, what: str) -> str:
        if not isinstance(x, dict):
            self.fail(f"{what} must be a JSON object, found {_show(x)}", path)
        if "op" not in x:
            self.fail(f"{what} has no `op`", path)
        op = x["op"]
        if not isinstance(op, str):
            self.fail(f"`op` must be a string, found {_show(op)}", (*path, "op"))
        return op

    def target(self, x: dict[str, Any], path: Path, what: str, var: Var) -> Target:
        """`{"entity": ...}` or `{"slot": ...}` (other members are ignored, as in Cedar)."""
        if "entity" in x:
            return self.uid(x["entity"], (*path, "entity"))
        if "slot" not in x:
            self.fail(f"{what} needs an `entity` or a `slot`", path)
        slot = x["slot"]
        if slot != _SLOTS[var]:
            if slot in _SLOTS.values():
                found = f"`{slot}`"
            else:
                found = f"{_show(slot)}, which is not a template slot"
            self.fail(f"expected the slot `{_SLOTS[var]}`, found {found}", (*path, "slot"))
        return Slot(slot)

    def action_scope(self, x: Any, path: Path) -> ScopeConstraint:
        what = "the `action` scope"
        op = self.scope_op(x, path, what)
        match op:
            case "All" | "all":
                return ScopeAny()
            case "==" | "in" if "entity" in x:
                uid = self.action_uid(x["entity"], (*path, "entity"))
                return ScopeEq(uid) if op == "==" else ScopeIn(uid)
            case "in" if "entities" in x:
                uids = x["entities"]
                if not isinstance(uids, list):
                    self.fail(
                        f"`entities` must be a JSON list, found {_show(uids)}", (*path, "entities")
                    )
                read = tuple(self.action_uid(u, (*path, "entities", i)) for i, u in enumerate(uids))
                return ScopeIn(read[0]) if len(read) == 1 else ScopeInSet(read)
            case "==" | "in":
                if "slot" in x:
                    self.fail("template slots are not allowed in the action scope", (*path, "slot"))
                wanted = "an `entity`" if op == "==" else "an `entity` or `entities`"
                self.fail(f"{what} needs {wanted}", path)
            case "is":
                self.fail("`is` is not allowed in the action scope", (*path, "op"))
        self.fail(f"unknown operator `{op}` in {what}; expected `All`, `==` or `in`", (*path, "op"))

    def action_uid(self, x: Any, path: Path) -> EntityUID:
        uid = self.uid(x, path)
        if not is_action_type(uid.type):
            self.fail(f"expected an action (an entity of type `Action`), found `{uid}`", path)
        return uid

    def uid(self, x: Any, path: Path) -> EntityUID:
        """`{"type", "id"}` or `{"__entity": {"type", "id"}}` (other members are ignored)."""
        if isinstance(x, dict) and isinstance(x.get("__expr"), str):
            self.fail("the `__expr` escape is no longer supported", path)
        inner = x.get("__entity") if isinstance(x, dict) and "__entity" in x else x
        at = (*path, "__entity") if inner is not x else path
        if not isinstance(inner, dict) or not all(k in inner for k in ("type", "id")):
            self.fail(
                'expected an entity reference like {"type": "User", "id": "alice"}, '
                f"found {_show(x)}",
                path,
            )
        if not isinstance(inner["id"], str):
            self.fail(f"an entity id must be a string, found {_show(inner['id'])}", (*at, "id"))
        return EntityUID(self.type_name(inner["type"], (*at, "type")), inner["id"])

    def type_name(self, x: Any, path: Path) -> str:
        try:
            return check_type_name(x, "entity type")
        except CedarError as err:
            self.fail(err.message.removeprefix("entity type: "), path)

    def condition(self, x: Any, path: Path) -> Condition:
        x = self.members(x, path, "a condition", ("kind", "body"), ())
        kind = x["kind"]
        if kind not in ("when", "unless"):
            self.fail(f"`kind` must be `when` or `unless`, found {_show(kind)}", (*path, "kind"))
        return Condition(kind, self.expr(x["body"], (*path, "body"), kind))

    # expressions

    def expr(self, x: Any, path: Path, clause: str) -> Expr:
        if not isinstance(x, dict) or len(x) != 1:
            if isinstance(x, dict) and len(x) > 1:
                ops = " and ".join(f"`{k}`" for k in list(x)[:2])
                self.fail(f"an expression has one operator, found {ops}", path)
            self.fail(
                f"expected an expression (a JSON object with one operator), found {_show(x)}", path
            )
        ((op, body),) = x.items()
        at = (*path, op)
        if op in _EXT_FUNS:
            return self.call(_EXT_FUNS[op], body, at, clause)
        match op:
            case "Value":
                return self.value(body, at)
            case "Var":
                if body not in ("principal", "action", "resource", "context"):
                    self.fail(f"{_show(body)} is not a variable", at)
                return VarRef(Var(body))
            case "Slot":
                if body in _SLOTS.values():
                    self.fail(f"found template slot {body} in a `{clause}` clause", at)
                self.fail(f"{_show(body)} is not a template slot", at)
            case "!" | "neg" | "isEmpty":
                (a,) = self.operands(body, at, op, ("arg",), clause)
                return UnaryApp(_UNARY_OPS[op], a)
            case "!=":
                a, b = self.operands(body, at, op, ("left", "right"), clause)
                return UnaryApp(UnaryOp.NOT, BinaryApp(BinaryOp.EQ, a, b), sugar="!=")
            case ">" | ">=":
                a, b = self.operands(body, at, op, ("left", "right"), clause)
                return BinaryApp(_FLIPPED[op], b, a, sugar=op)
            case "&&" | "||":
                a, b = self.operands(body, at, op, ("left", "right"), clause)
                return And(a, b) if op == "&&" else Or(a, b)
            case "." | "has":
                return self.attribute(op, body, at, clause)
            case "like":
                body = self.members(body, at, "`like`", ("left", "pattern"), ())
                left = self.expr(body["left"], (*at, "left"), clause)
                return Like(left, self.pattern(body["pattern"], (*at, "pattern")))
            case "is":
                body = self.members(body, at, "`is`", ("left", "entity_type"), ("in",))
                left = self.expr(body["left"], (*at, "left"), clause)
                t = self.type_name(body["entity_type"], (*at, "entity_type"))
                if "in" not in body:
                    return Is(left, t)
                right = self.expr(body["in"], (*at, "in"), clause)
                return And(Is(left, t), BinaryApp(BinaryOp.IN, left, right), sugar="is in")
            case "if-then-else":
                cond, then, else_ = self.operands(body, at, op, ("if", "then", "else"), clause)
                return Ite(cond, then, else_)
            case "Set":
                if not isinstance(body, list):
                    self.fail(f"`Set` must be a JSON list, found {_show(body)}", at)
                return SetLit(tuple(self.expr(e, (*at, i), clause) for i, e in enumerate(body)))
            case "Record":
                if not isinstance(body, dict):
                    self.fail(f"`Record` must be a JSON object, found {_show(body)}", at)
                fields = ((k, self.expr(v, (*at, k), clause)) for k, v in body.items())
                return RecordLit(tuple(sorted(fields, key=lambda kv: kv[0])))
        if op in _BINARY_OPS:
            a, b = self.operands(body, at, op, ("left", "right"), clause)
            return BinaryApp(_BINARY_OPS[op], a, b)
        if op == "unknown":
            self.fail("`unknown` is not a valid function", path, at_key=False)
        self.fail(f"unknown operator `{op}`", at, at_key=True)

    def operands(
        self, body: Any, path: Path, op: str, names: tuple[str, ...], clause: str
    ) -> list[Expr]:
        body = self.members(body, path, f"`{op}`", names, ())
        return [self.expr(body[n], (*path, n), clause) for n in names]

    def attribute(self, op: str, body: Any, path: Path, clause: str) -> Expr:
        body = self.members(body, path, f"`{op}`", ("left", "attr"), ())
        target = self.expr(body["left"], (*path, "left"), clause)
        attr = body["attr"]
        if isinstance(attr, str):
            return GetAttr(target, attr) if op == "." else HasAttr(target, attr)
        if (
            op == "has"
            and isinstance(attr, list)
            and attr
            and all(isinstance(a, str) for a in attr)
        ):
            result: Expr = HasAttr(target, attr[0])  # `e has a.b`, desugared as the parser does
            for prev, name in itertools.pairwise(attr):
                target = GetAttr(target, prev)
                result = And(result, HasAttr(target, name))
            return result
        wanted = "a string" if op == "." else "a string or a non-empty list of strings"
        self.fail(f"`attr` must be {wanted}, found {_show(attr)}", (*path, "attr"))

    def pattern(self, x: Any, path: Path) -> Pattern:
        if not isinstance(x, list):
            self.fail(f"a `like` pattern must be a JSON list, found {_show(x)}", path)
        elems: list[str | None] = []
        for i, e in enumerate(x):
            if e == "Wildcard" or e == {"Wildcard": None}:
                elems.append(STAR)
            elif isinstance(e, dict) and len(e) == 1 and isinstance(e.get("Literal"), str):
                elems.extend(e["Literal"])
            else:
                self.fail(
                    f'expected `"Wildcard"` or `{{"Literal": "..."}}`, found {_show(e)}',
                    (*path, i),
                )
        return Pattern(tuple(elems))

    def call(self, fn: ExtFun, body: Any, path: Path, clause: str) -> Expr:
        if not isinstance(body, list):
            self.fail(
                f"the arguments of `{fn.value}` must be a JSON list, found {_show(body)}", path
            )
        if not body and not fn.is_constructor:
            self.fail(f"`{fn.value}` is a method: its first argument is the receiver", path)
        return Call(fn, tuple(self.expr(a, (*path, i), clause) for i, a in enumerate(body)))

    def value(self, x: Any, path: Path) -> Expr:
        """A value in Cedar's JSON value form, as the expression that denotes it."""
        if isinstance(x, bool | str):
            return Lit(x)
        if isinstance(x, int):
            if not LONG_MIN <= x <= LONG_MAX:
                self.fail(f"integer {x} does not fit in a 64-bit Long", path)
            return Lit(Long(x))
        if isinstance(x, list):
            return SetLit(tuple(self.value(e, (*path, i)) for i, e in enumerate(x)))
        if isinstance(x, dict):
            escape = self.escape(x, path)
            if escape is not None:
                return escape
            fields = ((k, self.value(v, (*path, k))) for k, v in x.items())
            return RecordLit(tuple(sorted(fields, key=lambda kv: kv[0])))
        if x is None:
            self.fail("found a `null`; JSON `null`s are not allowed in Cedar", path)
        self.fail(f"{_show(x)} is not a Cedar value (numbers must be integers)", path)

    def escape(self, x: dict[str, Any], path: Path) -> Expr | None:
        """What an `__entity` or `__extn` escape denotes; None for an ordinary record (Cedar
        reads an object as an escape only when it has the escape's shape)."""
        if len(x) != 1:
            return None
        ((key, inner),) = x.items()
        at = (*path, key)
        if key == "__expr" and isinstance(inner, str):
            self.fail("the `__expr` escape is no longer supported", path)
        if not isinstance(inner, dict) or len(inner) < 2:
            return None
        if key == "__entity" and isinstance(inner.get("type"), str):
            if isinstance(inner.get("id"), str):
                return Lit(EntityUID(self.type_name(inner["type"], (*at, "type")), inner["id"]))
        if key == "__extn" and isinstance(inner.get("fn"), str):
            if "arg" in inner:
                args, arg_paths = [inner["arg"]], [(*at, "arg")]
            elif isinstance(inner.get("args"), list):
                args = inner["args"]
                arg_paths = [(*at, "args", i) for i in range(len(args))]
            else:
                return None
            name = inner["fn"]
            fn = _EXT_FUNS.get(name)
            if fn is None:
                self.fail(f"`{name}` is not a valid extension function", (*at, "fn"))
            if not args and not fn.is_constructor:
                self.fail(f"`{name}` is a method: its first argument is the receiver", at)
            return Call(fn, tuple(self.value(a, p) for a, p in zip(args, arg_paths, strict=True)))
        return None


def _show(x: Any) -> str:
    text = json.dumps(x, ensure_ascii=False)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _offset(text: str, path: Path, at_key: bool) -> int:
    """Where the JSON value at `path` starts in `text` (its key, with `at_key`); as far along
    the path as it exists. `text` is valid JSON."""
    pos = skip_space(text, 0)
    for depth, step in enumerate(path):
        places = _children(text, pos)
        if step not in places:
            break
        key_pos, value_pos = places[step]
        pos = key_pos if at_key and depth == len(path) - 1 else value_pos
    return pos


def _children(text: str, pos: int) -> dict[str | int, tuple[int, int]]:
    """The members of the JSON object (or the elements of the list) at `pos`: where each one's
    key and value start (an element's two are the same)."""
    decoder = json.JSONDecoder()
    out: dict[str | int, tuple[int, int]] = {}
    opener = text[pos : pos + 1]
    if opener not in ("{", "["):
        return out
    pos = skip_space(text, pos + 1)
    index = 0
    while pos < len(text) and text[pos] not in "}]":
        if opener == "{":
            key, after = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
            value = skip_space(text, skip_space(text, after) + 1)  # past `:`
            out[key] = (pos, value)
        else:
            value = pos
            out[index] = (pos, pos)
            index += 1
        pos = skip_space(text, decoder.raw_decode(text, value)[1])
        if text[pos : pos + 1] == ",":
            pos = skip_space(text, pos + 1)
    return out


def _locs(text: str, offsets: list[int]) -> list[Loc]:
    """`loc_at` for many offsets, counting the lines once."""
    out: list[Loc] = [Loc(0, 0)] * len(offsets)
    line, counted = 1, 0
    for i in sorted(range(len(offsets)), key=offsets.__getitem__):
        pos = offsets[i]
        line += text.count("\n", counted, pos)
        counted = pos
        out[i] = Loc(line, pos - text.rfind("\n", 0, pos), pos, pos + 1)
    return out


__all__ = [
    "SINGLE_POLICY_ID",
    "JsonPolicies",
    "TemplateLink",
    "expr_to_json",
    "link_of",
    "pattern_to_json",
    "policies_from_json",
    "policy_to_json",
]
