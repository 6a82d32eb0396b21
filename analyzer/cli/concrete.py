"""`authorize`, `validate` and `translate`: concrete Cedar from the command line."""

from __future__ import annotations

import json
import sys

import click

from cedar_smt.analyzer.cli.common import (
    fail,
    load_policies,
    load_schema,
    reports_bad_input,
    required_schema,
)
from cedar_smt.core import (
    CedarError,
    Entities,
    EntityUID,
    PolicySet,
    Request,
    Schema,
    is_authorized,
)
from cedar_smt.core import validate as core_validate
from cedar_smt.core.files import read_text
from cedar_smt.core.json_text import loads
from cedar_smt.core.parser import parse_entity_uid
from cedar_smt.core.validator import ValidationError


def _request(
    request_file: str | None,
    principal: str | None,
    action: str | None,
    resource: str | None,
    context: str | None,
    schema: Schema | None,
) -> Request:
    parts = (principal, action, resource)
    if request_file is not None:
        if any(p is not None for p in (*parts, context)):
            fail("give either --request or --principal/--action/--resource, not both")
        text = read_text(request_file)
        try:
            obj = loads(text, "request")
        except CedarError as err:
            raise err.located(request_file, text) from None
        return Request.from_json(obj, schema, source=request_file, text=text)
    if any(p is None for p in parts):
        fail("give --request FILE, or all of --principal, --action and --resource")
    try:
        ctx = loads(context, "--context") if context else {}
    except CedarError as err:
        fail(f"--context: {err.message}")
    if not isinstance(ctx, dict):
        fail("--context must be a JSON object")
    return Request.build(
        _uid("--principal", principal),
        _uid("--action", action),
        _uid("--resource", resource),
        ctx,
        schema,
    )


def _uid(option: str, text: str | None) -> EntityUID:
    try:
        return parse_entity_uid(text or "")
    except CedarError as err:
        fail(f"{option}: {err.message}")


@click.command()
@click.option("--policies", "policies_path", required=True, type=click.Path(dir_okay=False))
@click.option("--entities", "entities_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--schema", "schema_path", type=click.Path(dir_okay=False), help="Cedar or JSON schema."
)
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@click.option("--request", "request_path", type=click.Path(dir_okay=False), help="Request JSON.")
@click.option("--principal", help='e.g. User::"alice"')
@click.option("--action", help='e.g. Action::"GetList"')
@click.option("--resource", help='e.g. List::"0"')
@click.option("--context", help="Context as a JSON object.")
@click.option("--json", "as_json", is_flag=True, help="Print the response as JSON.")
@reports_bad_input
def authorize(
    policies_path: str,
    entities_path: str,
    schema_path: str | None,
    template_links: str | None,
    request_path: str | None,
    principal: str | None,
    action: str | None,
    resource: str | None,
    context: str | None,
    as_json: bool,
) -> None:
    """Authorize one request. Exit 0 on allow, 1 on deny, 2 on bad input."""
    schema = load_schema(schema_path)
    policies = load_policies(policies_path, template_links)
    entities = Entities.from_file(entities_path, schema)
    request = _request(request_path, principal, action, resource, context, schema)
    response = is_authorized(request, policies, entities)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "decision": response.decision,
                    "reasons": sorted(response.reasons),
                    "errors": [
                        {"policy": pid, "message": msg}
                        for pid, msg in sorted(response.errors.items())
                    ],
                },
                indent=2,
            )
        )
    else:
        click.echo(f"decision: {response.decision.upper()}")
        click.echo(f"reasons:  {_policy_list(response.reasons, policies)}")
        if response.errors:
            click.echo("errors:")
            for pid, msg in sorted(response.errors.items()):
                click.echo(f"  {_describe(pid, policies)}: {msg}")
        else:
            click.echo("errors:   none")
    sys.exit(0 if response.allowed else 1)


def _describe(policy_id: str, policies: PolicySet) -> str:
    """`@id` (policy id, file:line), or policy id (file:line) when there is no `@id`."""
    p = policies[policy_id]
    if p.display_name == p.id:
        return f"{p.id} ({p.location})"
    return f"`{p.display_name}` ({p.id}, {p.location})"


def _policy_list(ids: frozenset[str], policies: PolicySet) -> str:
    if not ids:
        return "none"
    return "; ".join(_describe(pid, policies) for pid in sorted(ids))


@click.command()
@click.argument("files", metavar="[POLICIES]...", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--policies",
    "policies_path",
    type=click.Path(dir_okay=False),
    help="A policy file (or give the files as arguments).",
)
@required_schema
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@reports_bad_input
def validate(
    files: tuple[str, ...],
    policies_path: str | None,
    schema_path: str,
    template_links: str | None,
    as_json: bool,
) -> None:
    """Validate policies against a schema, in Cedar's strict mode.

    Each policy file (--policies, or the arguments, as a pre-commit hook passes them) is a
    policy set of its own. Exit 0 when all are valid, 1 when one is not, 2 on bad input.
    """
    paths = ([policies_path] if policies_path else []) + list(files)
    if not paths:
        fail("give the policies to validate: --policies FILE, or the files as arguments")
    schema = Schema.from_file(schema_path)
    errors: list[ValidationError] = []
    count = 0
    for path in paths:
        policies = load_policies(path, template_links)
        errors.extend(core_validate(policies, schema).errors)
        count += len(policies) + len(policies.templates)
    passed = not errors
    if as_json:
        click.echo(
            json.dumps(
                {
                    "passed": passed,
                    "errors": [
                        {
                            "policy": e.policy_id,
                            "id": e.annotation_id,
                            "file": e.source,
                            "line": e.loc.line if e.loc else None,
                            "column": e.loc.column if e.loc else None,
                            "message": e.message,
                        }
                        for e in errors
                    ],
                },
                indent=2,
            )
        )
    elif passed:
        click.echo(f"valid: {count} {'policy' if count == 1 else 'policies'} typecheck")
    else:
        for e in errors:
            click.echo(f"error: {e}")
        click.echo(f"invalid: {len(errors)} error{'' if len(errors) == 1 else 's'}")
    sys.exit(0 if passed else 1)


@click.command()
@click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "target",
    type=click.Choice(["json", "cedar"]),
    required=True,
    help="Cedar's JSON policy format, or Cedar text.",
)
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@click.option(
    "--links-out",
    type=click.Path(dir_okay=False, writable=True),
    help="With --to cedar: write the template links here (Cedar text cannot hold them).",
)
@reports_bad_input
def translate(
    policies_path: str, target: str, template_links: str | None, links_out: str | None
) -> None:
    """Write POLICIES (Cedar text or JSON) in the other format, on stdout.

    Policies, templates, annotations and template links are kept. Exit 0, or 2 on bad input.
    """
    policies = load_policies(policies_path, template_links, note_templates=False)
    if target == "json":
        if links_out:
            fail("--links-out goes with --to cedar (the JSON format holds the links)")
        click.echo(json.dumps(policies.to_json(), indent=2, ensure_ascii=False))
        return
    links = policies.to_json()["templateLinks"]
    if links and not links_out:
        fail(
            f"`{policies_path}` has {len(links)} template link{'s' if len(links) != 1 else ''}, "
            "which Cedar text cannot hold: give --links-out FILE for them, or use --to json"
        )
    static = [p for p in policies if p.template_id not in policies.templates]
    templates = list(policies.templates.values())
    click.echo(PolicySet(static, templates).to_cedar(), nl=False)
    # the text names its policies by place (static ones first), so a link names its template
    # by the `@id` when that is unique, else by the id the template gets when the text is read
    names = [t.annotation_map.get("id") for t in templates]
    new_id = {
        t.id: names[i] if names[i] and names.count(names[i]) == 1 else f"policy{len(static) + i}"
        for i, t in enumerate(templates)
    }
    links = [{**link, "templateId": new_id[link["templateId"]]} for link in links]
    if links_out:
        with open(links_out, "w", encoding="utf-8") as out:
            out.write(json.dumps(links, indent=2, ensure_ascii=False) + "\n")
