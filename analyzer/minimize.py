"""Make a counterexample smaller while it still shows what it must show.

Greedy: try dropping each entity, each parent, and each element of each set-valued attribute,
keeping a deletion when the concrete check (run by the caller on the concrete authorizer) still
holds. The result is therefore still confirmed by Cedar's semantics, just with less to read.
"""

from __future__ import annotations

from collections.abc import Callable

from cedar_smt.core.entities import Entities, Entity
from cedar_smt.core.request import Request
from cedar_smt.core.values import Record, Value

Check = Callable[[Request, Entities], bool]


def _smaller_values(v: Value) -> list[Value]:
    """Values like `v` with one set element removed (searching inside records too)."""
    out: list[Value] = []
    if isinstance(v, frozenset):
        out.extend(v - {x} for x in sorted(v, key=repr))
        return out
    if isinstance(v, Record):
        for k, x in v.items():
            for smaller in _smaller_values(x):
                out.append(Record({**dict(v), k: smaller}))
    return out


def _variants(e: Entity) -> list[Entity]:
    out = [Entity(e.uid, e.attrs, e.parents - {p}, e.tags) for p in sorted(e.parents)]
    out += [
        Entity(e.uid, a, e.parents, e.tags)
        for a in _smaller_values(e.attrs)
        if isinstance(a, Record)
    ]
    return out


def minimize(
    request: Request,
    entities: Entities,
    check: Check,
    *,
    keep_entities: bool = False,
    rounds: int = 3,
) -> tuple[Request, Entities]:
    """A request and store at most as large as the given ones, for which `check` still holds.

    With `keep_entities`, no entity is dropped (only parents and set elements), for checks
    about stores that hold every entity the policies read.
    """
    current = dict(entities)
    for _ in range(rounds):
        changed = False
        for uid in sorted(current):
            if uid.type.endswith("Action"):
                continue
            without = {k: v for k, v in current.items() if k != uid}
            if not keep_entities and check(request, Entities(without.values())):
                current, changed = without, True
                continue
            for variant in _variants(current[uid]):
                trial = {**current, uid: variant}
                try:
                    store = Entities(trial.values())
                except Exception:
                    continue
                if check(request, store):
                    current, changed = trial, True
                    break
        for smaller in _smaller_values(request.context):
            trial_request = Request(request.principal, request.action, request.resource, smaller)  # type: ignore[arg-type]
            if check(trial_request, Entities(current.values())):
                request, changed = trial_request, True
                break
        if not changed:
            break
    return request, Entities(current.values())
