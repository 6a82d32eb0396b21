"""`who-can`, `what-can` and `access-matrix`: access review against an entity store, and the
text of `diff --entities` (analyzer/access.py computes; this module renders)."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from cedar_smt.analyzer.access import (
    Access,
    AccessDiff,
    AccessReview,
    Grant,
    WhatCan,
    WhoCan,
    access_matrix,
    what_can,
    who_can,
)
from cedar_smt.analyzer.cli.common import (
    EXIT_UNKNOWN,
    fail,
    load_policies,
    reports_bad_input,
    required_schema,
    timeout_option,
    with_progress,
)
from cedar_smt.analyzer.runner import timeout_ms
from cedar_smt.core import Entities, Schema
from cedar_smt.core.errors import CedarError
from cedar_smt.core.parser import parse_entity_uid
from cedar_smt.core.values import EntityUID, to_json


def _uid(text: str, option: str) -> EntityUID:
    try:
        return parse_entity_uid(text)
    except CedarError as err:
        fail(f"{option}: {err.message}")


def parse_action(text: str) -> EntityUID:
    """`Action::"view"`, or just `view`."""
    if "::" not in text:
        return EntityUID("Action", text)
    return _uid(text, "--action")


def _entities_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--entities",
        "entities_path",
        required=True,
        type=click.Path(dir_okay=False),
        help="The entity store (Cedar's entity JSON) principals and resources range over.",
    )(fn)


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False)),
            required_schema,
            _entities_option,
            click.option(
                "--template-links", type=click.Path(dir_okay=False), help="Template-link JSON."
            ),
            timeout_option("Seconds per solver call."),
        ]
    ):
        fn = option(fn)  # type: ignore[operator]
    return fn


def _load(
    policies_path: str, schema_path: str, entities_path: str, links: str | None
) -> tuple[Any, Schema, Entities]:
    schema = Schema.from_file(schema_path)
    return load_policies(policies_path, links), schema, Entities.from_file(entities_path, schema)


def _grant_line(g: Grant, who: str) -> str:
    line = f"  {who}"
    if g.policies:
        line += f"  [{', '.join(g.policies)}]"
    if g.condition is not None:
        line += f"\n      when {g.condition}"
    if g.witness is not None:
        line += f"\n      e.g. context {json.dumps(to_json(g.witness))}"
    if g.reason is not None:
        line += f"\n      {g.reason}"
    return line


def _grouped(grants: Iterable[Grant], name: Callable[[Grant], str]) -> str:
    by: dict[Access, list[Grant]] = {a: [] for a in Access}
    for g in grants:
        by[g.access].append(g)
    lines = []
    for access in (Access.ALWAYS, Access.SOMETIMES, Access.UNKNOWN, Access.NEVER):
        if by[access]:
            lines.append(f"{access.value} ({len(by[access])}):")
            lines.extend(_grant_line(g, name(g)) for g in by[access])
    return "\n".join(lines) if lines else "  nothing"


def render_who_can(result: WhoCan) -> str:
    head = f"who can {result.action} on {result.resource}:"
    return head + "\n" + _grouped(result.principals, lambda g: str(g.principal))


def render_what_can(result: WhatCan) -> str:
    head = f"what {result.principal} can do:"
    return head + "\n" + _grouped(result.accesses, lambda g: f"{g.action} on {g.resource}")


def render_access_diff(result: AccessDiff) -> str:
    lines = []
    for kind, ids in (("added", result.added), ("removed", result.removed)):
        if ids:
            lines.append(f"{kind}: {', '.join(ids)}")
    if result.modified:
        lines.append(f"modified: {', '.join(result.modified)}")
    if not result.groups:
        lines.append(f"no access changes ({result.triples} requests looked at)")
        return "\n".join(lines)
    counts = ", ".join(f"{n} {t}" for t, n in result.transitions.items())
    lines.append(f"{len(result.changes)} accesses change: {counts}")
    for group in result.groups:
        lines.append(f"\n{', '.join(group.policies)}: {group.summary()}")
        lines.append("  " + ", ".join(f"{n} {t}" for t, n in group.transitions.items()))
        for c in group.changes:
            lines.append(f"  {c.old.principal}, {c.old.action}, {c.old.resource}: {c.transition}")
    return "\n".join(lines)


def _exit(grants: Iterable[Grant]) -> None:
    if any(g.access is Access.UNKNOWN for g in grants):
        sys.exit(EXIT_UNKNOWN)


@click.command("who-can")
@_common
@click.option("--action", "action_text", required=True, help='e.g. Action::"view", or view')
@click.option("--resource", "resource_text", required=True, help='e.g. Document::"payroll"')
@click.option("--all", "include_never", is_flag=True, help="List the principals never allowed.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@reports_bad_input
def who_can_command(
    policies_path: str,
    schema_path: str,
    entities_path: str,
    template_links: str | None,
    timeout: float | None,
    action_text: str,
    resource_text: str,
    include_never: bool,
    as_json: bool,
) -> None:
    """Every principal of the store that may do ACTION on RESOURCE: always (whatever the
    context), sometimes (a witness context, and the condition when it is short), or never
    (with --all). Exit 0, or 3 when some answer is unknown."""
    policies, schema, entities = _load(policies_path, schema_path, entities_path, template_links)
    action, resource = parse_action(action_text), _uid(resource_text, "--resource")
    counter = AccessReview((), schema, entities)
    counter.check_action(action)
    counter.check_entity(resource, "resource")
    result: WhoCan = with_progress(
        counter.count([action], resource=resource),
        "principals",
        lambda on_done: who_can(
            policies,
            schema,
            entities,
            action,
            resource,
            include_never=include_never,
            timeout_ms=timeout_ms(timeout),
            on_done=on_done,
        ),
    )
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else render_who_can(result))
    _exit(result.principals)


@click.command("what-can")
@_common
@click.option("--principal", "principal_text", required=True, help='e.g. User::"alice"')
@click.option("--all", "include_never", is_flag=True, help="List what is never allowed.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@reports_bad_input
def what_can_command(
    policies_path: str,
    schema_path: str,
    entities_path: str,
    template_links: str | None,
    timeout: float | None,
    principal_text: str,
    include_never: bool,
    as_json: bool,
) -> None:
    """Every (action, resource) of the store PRINCIPAL may be allowed, always or sometimes.
    Exit 0, or 3 when some answer is unknown."""
    policies, schema, entities = _load(policies_path, schema_path, entities_path, template_links)
    principal = _uid(principal_text, "--principal")
    counter = AccessReview((), schema, entities)
    counter.check_entity(principal, "principal")
    result: WhatCan = with_progress(
        counter.count(principal=principal),
        "requests",
        lambda on_done: what_can(
            policies,
            schema,
            entities,
            principal,
            include_never=include_never,
            timeout_ms=timeout_ms(timeout),
            on_done=on_done,
        ),
    )
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else render_what_can(result))
    _exit(result.accesses)


CSV_COLUMNS = ("principal", "action", "resource", "access", "policies", "condition", "witness")


@click.command("access-matrix")
@_common
@click.option("--action", "actions", multiple=True, help="Only these actions (repeatable).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json", "jsonl"]),
    default="csv",
    show_default=True,
)
@click.option("--all", "include_never", is_flag=True, help="Include the never-allowed entries.")
@reports_bad_input
def access_matrix_command(
    policies_path: str,
    schema_path: str,
    entities_path: str,
    template_links: str | None,
    timeout: float | None,
    actions: tuple[str, ...],
    output_format: str,
    include_never: bool,
) -> None:
    """Every (principal, action, resource) of the store that is allowed always or sometimes
    (with --all, never too), written as it is found. csv: a header, then `principal, action,
    resource, access, policies, condition, witness, reason` (entities as Cedar text, policies
    separated by spaces, the witness context as JSON); json: one object with the entries;
    jsonl: one entry per line. Exit 0, or 3 when some answer is unknown."""
    policies, schema, entities = _load(policies_path, schema_path, entities_path, template_links)
    review = AccessReview(policies, schema, entities, timeout_ms(timeout))
    chosen = [parse_action(a) for a in actions] or None
    for a in chosen or ():
        review.check_action(a)
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    unknown = False
    counts = {a.value: 0 for a in Access}

    def write(g: Grant) -> None:
        nonlocal unknown
        unknown = unknown or g.access is Access.UNKNOWN
        counts[g.access.value] += 1
        if output_format == "csv":
            witness = "" if g.witness is None else json.dumps(to_json(g.witness))
            writer.writerow(
                [
                    str(g.principal),
                    str(g.action),
                    str(g.resource),
                    g.access.value,
                    " ".join(g.policies),
                    g.condition or "",
                    witness,
                    g.reason or "",
                ]
            )
        elif output_format == "jsonl":
            out.write(json.dumps(g.to_json()) + "\n")
        else:
            out.write(("" if first[0] else ",\n") + "    " + json.dumps(g.to_json()))
            first[0] = False

    first = [True]
    if output_format == "csv":
        writer.writerow([*CSV_COLUMNS, "reason"])
    elif output_format == "json":
        out.write('{\n  "query": "access-matrix",\n  "entries": [\n')

    def work(on_done: Callable[[Any], None] | None) -> None:
        for g in access_matrix(review, chosen, include_never=include_never, on_done=on_done):
            write(g)

    try:
        with_progress(review.count(chosen), "requests", work)
        if output_format == "json":
            out.write(f'\n  ],\n  "counts": {json.dumps(counts)}\n}}\n')
        out.flush()
    except BrokenPipeError:  # the reader stopped (`| head`): stop too, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    if unknown:
        sys.exit(EXIT_UNKNOWN)


COMMANDS = [who_can_command, what_can_command, access_matrix_command]
