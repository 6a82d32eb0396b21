"""Templates analysed for every link (`--any-link`): the operands that hold them, and the
concrete links a counterexample's slot values make.

Each template is linked once, symbolically (core/links.py, encoder/env.py `SymEnv.slot`). A
counterexample gives each slot an entity; linking the templates with them (core's linking)
gives concrete policy sets, which replay the counterexample like any other. A template whose
slots the counterexample's environment never read cannot apply there: any link of it does, and
it gets one (`unused_value`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from cedar_smt.core.ast import Lit
from cedar_smt.core.links import LinkSpace, link_id, unused_value
from cedar_smt.core.policy import Condition, Policy
from cedar_smt.core.policy_json import TemplateLink
from cedar_smt.core.schema import Schema
from cedar_smt.core.values import EntityUID
from cedar_smt.encoder.decoder import Counterexample as Decoded


@dataclass(frozen=True)
class Linked:
    """Operands' policies with their templates linked, and the links that did it."""

    policies: tuple[tuple[Policy, ...], ...]  # per operand
    links: tuple[TemplateLink, ...]


def absent_link(linked: Policy) -> Policy:
    """A linked policy standing for no link of its template: it applies to no request (a
    `when { false }` is added), and keeps its place and id among the set's policies."""
    never = Condition("when", Lit(False))
    return replace(linked, conditions=(*linked.conditions, never))


def link_templates(
    operands: Sequence[Sequence[Policy]],
    cx: Decoded,
    space: LinkSpace,
    schema: Schema,
    keep_ids: bool = False,
) -> Linked:
    """Each operand with every template linked as the decoded counterexample's slot values
    say (a slot they do not give gets `unused_value`). Templates of one key get the same link
    id and values on every side (`keep_ids`: each linked policy keeps its template's id, for
    reports that name policies by the versions' ids; the links still say the new ids). The
    templates of the keys it has no link of stand for none (`absent_link`), and no link of
    them is listed."""
    values = {(key, slot): uid for key, slot, uid in cx.slots}
    absent = set(cx.absent)
    taken = {p.id for ps in operands for p in ps}
    ids: dict[str, str] = {}
    chosen: dict[str, dict[str, EntityUID]] = {}
    template_ids: dict[str, set[str]] = {}
    out: list[tuple[Policy, ...]] = []
    for ps in operands:
        linked: list[Policy] = []
        for p in ps:
            if not p.is_template:
                linked.append(p)
                continue
            key = space.key(p)
            if key not in ids:
                ids[key] = link_id(key, taken)
                taken.add(ids[key])
            slots = chosen.setdefault(key, {})
            for slot in p.slots:
                if slot not in slots:
                    given = values.get((key, slot))
                    if given is None:
                        given = unused_value(space.slot_types(key, slot) or (), schema)
                    if given is None:  # a schema without entity types has no requests either
                        raise AssertionError(f"no value for slot {slot} of `{key}`")
                    slots[slot] = given
            template_ids.setdefault(key, set()).add(p.id)
            new_id = p.id if keep_ids else ids[key]
            made = p.link(new_id, {s: slots[s] for s in p.slots})
            linked.append(absent_link(made) if key in absent else made)
        out.append(tuple(linked))
    links = []
    for key, slots in chosen.items():
        if key in absent:
            continue
        named = template_ids[key]
        template_id = next(iter(named)) if len(named) == 1 else key
        links.append(TemplateLink(template_id, ids[key], tuple(sorted(slots.items()))))
    return Linked(tuple(out), tuple(links))


def describe_links(links: Iterable[TemplateLink]) -> list[str]:
    """`policy0 as share-folder/link: ?principal = User::"alice", ?resource = Folder::"f"`,
    one per link."""
    return [
        f"{link.template_id} as {link.new_id}: "
        + ", ".join(f"{slot} = {uid}" for slot, uid in link.values)
        for link in links
    ]


def relink(policies: Sequence[Policy], links: Sequence[TemplateLink]) -> tuple[Policy, ...]:
    """The policies with their templates linked by a counterexample's `links` (which name a
    template by its id, or by its `@id`), each keeping its template's id; a template they do
    not link stands for no link of it (`absent_link`)."""
    by_name = {link.template_id: link for link in links}
    out = []
    for p in policies:
        if p.is_template:
            link = by_name.get(p.id) or by_name.get(p.display_name)
            if link is None:
                values = {s: EntityUID("Unlinked", "no link") for s in p.slots}
                p = absent_link(p.link(p.id, values))
            else:
                p = p.link(p.id, dict(link.values))
        out.append(p)
    return tuple(out)
