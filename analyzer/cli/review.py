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
    exit_interrupted,
    fail,
    load_policies,
    output_options,
    reports_bad_input,
    required_schema,
    timeout_option,
    with_progress,
)
from cedar_smt.analyzer.diff import MAX_CLASSES, DiffResult, diff_policies
from cedar_smt.analyzer.lint import LintResult, lint_policies
from cedar_smt.analyzer.render import render_diff, render_lint
from cedar_smt.analyzer.results import Interrupted
from cedar_smt.analyzer.runner import select_environments
from cedar_smt.analyzer.sarif import diff_sarif, lint_sarif
from cedar_smt.core import Schema, request_environments


def _show(result: DiffResult | LintResult, as_json: bool, as_sarif: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    elif isinstance(result, DiffResult):
        click.echo(json.dumps(diff_sarif(result), indent=2) if as_sarif else render_diff(result))
    else:
        click.echo(json.dumps(lint_sarif(result), indent=2) if as_sarif else render_lint(result))


@click.command()
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=False))
@required_schema
@environment_filters
@timeout_option("Seconds per solver call.")
@click.option(
    "--max-classes",
    type=click.IntRange(min=1),
    default=MAX_CLASSES,
    show_default=True,
    help="Stop searching an environment after this many classes of changed requests; the "
    "answer then says the search was incomplete.",
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
    max_classes: int,
    template_links: str | None,
    as_json: bool,
    as_sarif: bool,
) -> None:
    """Every kind of request whose decision changes from OLD to NEW, and why.

    Exit 0 when no decision changes, 1 when some do (even if the search could not complete
    everywhere: the summary says so), 2 on bad input, 3 when no change was found but the
    search could not complete (a timeout, the --max-classes limit, an unsupported construct).
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
        "max_classes": max_classes,
    }
    try:
        result = with_progress(
            len(envs),
            "environments",
            lambda on_done: diff_policies(list(old), list(new), schema, on_done=on_done, **options),
        )
    except Interrupted as err:
        if isinstance(err.partial, DiffResult):
            _show(err.partial, as_json, as_sarif)
        exit_interrupted(err)
    _show(result, as_json, as_sarif)
    sys.exit(EXIT_REFUTED if result.decisions_change else 0 if result.complete else EXIT_UNKNOWN)


@click.command()
@click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
@required_schema
@timeout_option("Seconds per check and environment.")
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
    try:
        result = with_progress(
            len(request_environments(schema)),
            "environments",
            lambda on_done: lint_policies(
                policies, schema, label=policies_path, timeout=timeout, on_environment=on_done
            ),
        )
    except Interrupted as err:
        if isinstance(err.partial, LintResult):
            _show(err.partial, as_json, as_sarif)
        exit_interrupted(err)
    _show(result, as_json, as_sarif)
    sys.exit(EXIT_REFUTED if result.findings else EXIT_UNKNOWN if result.undecided else 0)
