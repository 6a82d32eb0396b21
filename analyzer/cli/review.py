"""`diff` and `lint`: reviewing a change, and policies that do nothing."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    environment_filters,
    fail,
    load_policies,
    output_options,
    reports_bad_input,
    required_schema,
    with_progress,
)
from cedar_smt.analyzer.diff import diff_policies
from cedar_smt.analyzer.lint import lint_policies
from cedar_smt.analyzer.render import render_diff, render_lint
from cedar_smt.analyzer.runner import select_environments
from cedar_smt.analyzer.sarif import diff_sarif, lint_sarif
from cedar_smt.core import Schema, request_environments


@click.command()
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=False))
@required_schema
@environment_filters
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per solver call."
)
@click.option(
    "--template-links",
    type=click.Path(dir_okay=False),
    help="Cedar template-link JSON, applied to both versions.",
)
@output_options
@reports_bad_input
def diff(
    old_path: str,
    new_path: str,
    schema_path: str,
    principal_type: str | None,
    action_filter: str | None,
    resource_type: str | None,
    timeout: float | None,
    template_links: str | None,
    as_json: bool,
    as_sarif: bool,
) -> None:
    """Every kind of request whose decision changes from OLD to NEW, and why.

    Exit 0 when no decision changes, 1 when some do, 2 on bad input, 3 when the search
    could not complete.
    """
    if as_json and as_sarif:
        fail("give --json or --sarif, not both")
    schema = Schema.from_file(schema_path)
    old = load_policies(old_path, template_links)
    new = load_policies(new_path, template_links)
    envs = select_environments(
        request_environments(schema), principal_type, action_filter, resource_type
    )
    options: dict[str, Any] = {
        "labels": (old_path, new_path),
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
    }
    result = with_progress(
        len(envs),
        "environments",
        lambda on_done: diff_policies(list(old), list(new), schema, on_done=on_done, **options),
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    elif as_sarif:
        click.echo(json.dumps(diff_sarif(result), indent=2))
    else:
        click.echo(render_diff(result))
    sys.exit(EXIT_REFUTED if result.decisions_change else 0 if result.complete else EXIT_UNKNOWN)


@click.command()
@click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
@required_schema
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per environment."
)
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@output_options
@reports_bad_input
def lint(
    policies_path: str,
    schema_path: str,
    timeout: float | None,
    template_links: str | None,
    as_json: bool,
    as_sarif: bool,
) -> None:
    """Policies that do nothing or can error: dead, matching everything, redundant, shadowed.

    Exit 0 with no findings, 1 with findings, 2 on bad input, 3 when a check is undecided.
    """
    if as_json and as_sarif:
        fail("give --json or --sarif, not both")
    schema = Schema.from_file(schema_path)
    policies = list(load_policies(policies_path, template_links))
    result = with_progress(
        len(request_environments(schema)),
        "environments",
        lambda on_done: lint_policies(
            policies, schema, label=policies_path, timeout=timeout, on_environment=on_done
        ),
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    elif as_sarif:
        click.echo(json.dumps(lint_sarif(result), indent=2))
    else:
        click.echo(render_lint(result))
    sys.exit(EXIT_REFUTED if result.findings else EXIT_UNKNOWN if result.undecided else 0)
