"""Random policies and templates over a schema model: every scope form, when/unless clauses.

Each policy is drawn for one request environment (an action that applies to some principal
and resource types): most scopes pin the environment's types and action, so that the
conditions, typed for it, validate; others leave them open, and then the conditions are
sometimes guarded with `principal is T &&` (which Cedar's validator understands) and
sometimes not. Templates put `?principal` / `?resource` in the scope; links fill the slots
with entities of types the scope can accept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from .expressions import Env, ExprGen, entity_literal, string_literal
from .schemas import SchemaModel
from .values import World


@dataclass(frozen=True)
class PolicySpec:
    effect: str
    principal: str
    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = ()  # ("when" | "unless", expression)
    annotations: tuple[tuple[str, str], ...] = ()
    slots: tuple[tuple[str, tuple[str, ...]], ...] = ()  # slot -> entity types a link may use
    env: tuple[str, str, str] = ("", "", "")  # principal type, action, resource type drawn for

    @property
    def is_template(self) -> bool:
        return bool(self.slots)

    def text(self) -> str:
        notes = "".join(f"@{k}({string_literal(v)})\n" for k, v in self.annotations)
        body = "".join(f"\n{kind} {{ {expr} }}" for kind, expr in self.conditions)
        return f"{notes}{self.effect}({self.principal}, {self.action}, {self.resource}){body};"


class PolicyGen:
    def __init__(self, rng: random.Random, world: World, bad: float = 0.06) -> None:
        self.rng = rng
        self.world = world
        self.schema: SchemaModel = world.schema
        self.bad = bad

        # most policies of a case share one or two environments, so that they meet requests
        self.focus = [self.any_env() for _ in range(rng.randint(1, 2))]

    def any_env(self) -> Env:
        rng = self.rng
        action = rng.choice(self.schema.request_actions)
        return Env(rng.choice(action.principals), action, rng.choice(action.resources))

    def env(self) -> Env:
        return self.rng.choice(self.focus) if self.rng.random() < 0.75 else self.any_env()

    def policy(self, template: bool = False) -> PolicySpec:
        rng = self.rng
        env = self.env()
        slot_vars = []
        if template:
            slot_vars = rng.choice([["principal"], ["resource"], ["principal", "resource"]])
        principal, p_pinned, p_slot = self.var_scope("principal", env.principal, slot_vars)
        resource, r_pinned, r_slot = self.var_scope("resource", env.resource, slot_vars)
        action = self.action_scope(env)
        exprs = ExprGen(rng, self.world, env, self.bad)
        conditions = []
        for _ in range(rng.choices([0, 1, 2], weights=[2, 6, 2])[0]):
            body = exprs.bool_(rng.randint(1, 3))
            prefix = []
            if not p_pinned and rng.random() < 0.5:
                prefix.append(f"principal is {self.schema.qualify(env.principal)}")
            if not r_pinned and rng.random() < 0.5:
                prefix.append(f"resource is {self.schema.qualify(env.resource)}")
            if prefix:
                body = " && ".join([*prefix, f"({body})"])
            conditions.append(("when" if rng.random() < 0.75 else "unless", body))
        if rng.random() < 0.003:
            conditions.append(("when", "principal.nope()"))  # a parse error in the whole set
        annotations = []
        if rng.random() < 0.3:
            annotations.append(("id", rng.choice(["owner rule", "p", "日本", 'q"t'])))
        if rng.random() < 0.1:
            annotations.append(("advice", "be careful"))
        slots = tuple(s for s in (p_slot, r_slot) if s is not None)
        effect = "permit" if rng.random() < 0.65 else "forbid"
        return PolicySpec(
            effect,
            principal,
            action,
            resource,
            tuple(conditions),
            tuple(annotations),
            slots,
            (env.principal, env.action.name, env.resource),
        )

    def var_scope(
        self, var: str, entity: str, slot_vars: list[str]
    ) -> tuple[str, bool, tuple[str, tuple[str, ...]] | None]:
        """The scope of `var`, whether it pins the variable's type, and its slot if any."""
        rng = self.rng
        s = self.schema
        qualified = s.qualify(entity)
        ancestors = sorted(s.ancestor_types(entity) | {entity})
        if var in slot_vars:
            slot = f"?{var}"
            form = rng.choice(["eq", "in", "is_in"])
            if form == "eq":
                return f"{var} == {slot}", False, (slot, (entity,))
            if form == "in":
                return f"{var} in {slot}", False, (slot, tuple(ancestors))
            return f"{var} is {qualified} in {slot}", True, (slot, tuple(ancestors))
        form = rng.choices(["any", "eq", "is", "is_in", "in"], weights=[2, 2, 3, 1.5, 2])[0]
        if form == "any":
            return var, False, None
        if form == "eq":
            return f"{var} == {entity_literal(rng, self.world, entity)}", True, None
        if form == "is":
            return f"{var} is {qualified}", True, None
        ancestor = entity_literal(rng, self.world, rng.choice(ancestors))
        if form == "is_in":
            return f"{var} is {qualified} in {ancestor}", True, None
        return f"{var} in {ancestor}", False, None

    def action_scope(self, env: Env) -> str:
        rng = self.rng
        s = self.schema

        def uid(name: str) -> str:
            return f"{s.action_type}::{string_literal(name)}"

        groups = sorted(s.action_ancestors(env.action.name))
        form = rng.choices(["any", "eq", "group", "list"], weights=[1.5, 5, 1.5, 2])[0]
        if form == "any":
            return "action"
        if form == "group" and groups:
            return f"action in {uid(rng.choice(groups))}"
        if form == "list":
            others = [a.name for a in s.actions if a.name != env.action.name]
            names = [env.action.name, *rng.sample(others, rng.randint(0, min(1, len(others))))]
            rng.shuffle(names)
            return f"action in [{', '.join(uid(n) for n in names)}]"
        return f"action == {uid(env.action.name)}"

    def links(self, templates: list[tuple[str, PolicySpec]]) -> list[dict[str, Any]]:
        """Template links in Cedar's JSON: `{"templateId", "newId", "values"}`."""
        out = []
        for template_id, spec in templates:
            for _ in range(self.rng.choices([0, 1, 2], weights=[1, 5, 3])[0]):
                values = {
                    slot: self.world.uid(self.rng, self.rng.choice(types))
                    for slot, types in spec.slots
                }
                out.append(
                    {"templateId": template_id, "newId": f"link{len(out)}", "values": values}
                )
        return out

    def mutate(self, specs: list[PolicySpec]) -> list[PolicySpec]:
        """A second policy set for the analyses: often equivalent, often not."""
        rng = self.rng
        out = list(specs)
        how = rng.choice(["same", "reorder", "drop", "flip", "add", "replace", "condition"])
        if how == "reorder":
            rng.shuffle(out)
        elif how == "drop" and out:
            out.pop(rng.randrange(len(out)))
        elif how == "flip" and out:
            i = rng.randrange(len(out))
            out[i] = replace(out[i], effect="forbid" if out[i].effect == "permit" else "permit")
        elif how == "add" or not out:
            out.append(self.policy())
        elif how == "replace":
            out[rng.randrange(len(out))] = self.policy()
        elif how == "condition":
            i = rng.randrange(len(out))
            out[i] = replace(out[i], conditions=out[i].conditions[:-1])
        return out
