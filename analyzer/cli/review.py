"""`diff`, `compare` and `lint`: reviewing a change, and policies that do nothing."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Any, NoReturn

import click

from cedar_smt.analyzer.access import AccessReview, access_diff
from cedar_smt.analyzer.cli.access import render_access_diff
from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    any_link_option,
    assumption_options,
    check_summary_file,
    chosen_format,
    emit,
    environment_filters,
    exit_interrupted,
    fail,
    jobs_option,
    load_assumptions,
    load_policies,
    output_options,
    reports_bad_input,
    required_schema,
    timeout_option,
    with_progress,
)
from cedar_smt.analyzer.cli.git import GitBase, repository_root
from cedar_smt.analyzer.compare import CompareResult, Comparison, compare_policies
from cedar_smt.analyzer.diff import MAX_CLASSES, DiffResult, PolicyRef, diff_policies
from cedar_smt.analyzer.lint import LintResult, lint_policies
from cedar_smt.analyzer.render import render_compare, render_diff, render_lint
from cedar_smt.analyzer.results import Interrupted
from cedar_smt.analyzer.runner import matching_environments, select_environments, timeout_ms
from cedar_smt.analyzer.sarif import compare_sarif, diff_sarif, lint_sarif
from cedar_smt.core import Entities, Schema, request_environments
from cedar_smt.core.policy import Policy


def _root() -> str:
    """What SARIF uris are relative to: the git repository around us, else this directory."""
    return repository_root() or os.getcwd()


def _emit(result: DiffResult | LintResult | CompareResult, fmt: str, summary: str | None) -> None:
    if isinstance(result, DiffResult):
        emit(result, fmt, summary, lambda: render_diff(result), lambda: diff_sarif(result, _root()))
    elif isinstance(result, CompareResult):
        emit(
            result,
            fmt,
            summary,
            lambda: render_compare(result),
            lambda: compare_sarif(result, _root()),
        )
    else:
        emit(result, fmt, summary, lambda: render_lint(result), lambda: lint_sarif(result, _root()))


def _policies(path: str, links: str | None, any_link: bool) -> list[Policy]:
    """The policies of `path`, and with `any_link` its templates (analysed for every link)."""
    policies = load_policies(path, links, note_templates=not any_link)
    return [*policies, *(policies.templates.values() if any_link else ())]


@click.command()
@click.argument("paths", metavar="OLD NEW | --git-base REV POLICIES...", nargs=-1, required=True)
@required_schema
@click.option(
    "--git-base",
    "git_base",
    metavar="REV",
    help="Compare POLICIES (files, or folders of .cedar files) in the working tree with the "
    "same paths at git revision REV (the schema too, if it changed since).",
)
@environment_filters
@assumption_options
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
@any_link_option
@click.option(
    "--entities",
    "entities_path",
    type=click.Path(dir_okay=False),
    help="Say the change's concrete impact on this entity store instead: every (principal, "
    "action, resource) of the store whose access (always, sometimes, never) changes, grouped "
    "by the changed policies responsible (text or --json).",
)
@output_options
@reports_bad_input
def diff(
    paths: tuple[str, ...],
    schema_path: str,
    git_base: str | None,
    entities_path: str | None,
    principal_type: str | None,
    action_filter: str | None,
    resource_type: str | None,
    assume: tuple[str, ...],
    assume_files: tuple[str, ...],
    timeout: float | None,
    max_classes: int,
    template_links: str | None,
    any_link: bool,
    as_json: bool,
    as_sarif: bool,
    output_format: str | None,
    summary_file: str | None,
) -> None:
    """Every kind of request whose decision changes from OLD to NEW, and why.

    With --git-base REV, the old version is POLICIES as they were at REV, and the new one as
    they are in the working tree: `cedar-smt diff --git-base origin/main policies/ --schema
    schema.cedarschema`.

    Exit 0 when no decision changes, 1 when some do (even if the search could not complete
    everywhere: the summary says so), 2 on bad input, 3 when no change was found but the
    search could not complete (a timeout, the --max-classes limit, an unsupported construct).
    """
    fmt = chosen_format(output_format, as_json, as_sarif)
    check_summary_file(summary_file)
    schema = Schema.from_file(schema_path)
    assumptions = load_assumptions(assume, assume_files)
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = {}
    if git_base is not None:
        versions = GitBase(git_base).versions(
            list(paths), schema_path, template_links, any_link=any_link
        )
        old, new = list(versions.old), list(versions.new)
        labels = versions.labels
        notes = versions.notes
        extra = {"files": versions.files, "old_schema": versions.old_schema}
    else:
        if len(paths) != 2:
            fail(
                f"diff takes two policy files, OLD and NEW (or --git-base REV and the policies), "
                f"not {len(paths)}"
            )
        old = _policies(paths[0], template_links, any_link)
        new = _policies(paths[1], template_links, any_link)
        labels = (paths[0], paths[1])
    if entities_path is not None:
        if any_link:
            fail("diff --entities takes linked templates only: give --template-links")
        _access_diff(
            old,
            new,
            schema,
            entities_path,
            (principal_type, action_filter, resource_type),
            timeout,
            fmt,
        )
    envs = select_environments(
        request_environments(schema), principal_type, action_filter, resource_type
    )
    options: dict[str, Any] = {
        "labels": labels,
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
        "max_classes": max_classes,
        "assumptions": assumptions,
        "any_link": any_link,
        **extra,
    }
    try:
        result = with_progress(
            len(envs),
            "environments",
            lambda on_done: diff_policies(old, new, schema, on_done=on_done, **options),
        )
    except Interrupted as err:
        if isinstance(err.partial, DiffResult):
            _emit(replace(err.partial, notes=err.partial.notes + notes), fmt, summary_file)
        exit_interrupted(err)
    result = replace(result, notes=result.notes + notes)
    _emit(result, fmt, summary_file)
    sys.exit(EXIT_REFUTED if result.decisions_change else 0 if result.complete else EXIT_UNKNOWN)


def _access_diff(
    old: list[Policy],
    new: list[Policy],
    schema: Schema,
    entities_path: str,
    filters: tuple[str | None, str | None, str | None],
    timeout: float | None,
    fmt: str,
) -> NoReturn:
    """`diff --entities`, on the triples of the environments `filters` (principal type,
    action, resource type) select: exit 0 when no access changes, 1 when some do, 3 when only
    changes from or to unknown are found."""
    if fmt not in ("text", "json"):
        fail("diff --entities writes text or --json")
    entities = Entities.from_file(entities_path, schema)
    principal_type, action, resource_type = filters
    envs = matching_environments(schema, principal_type, action, resource_type)
    actions = sorted({e.action for e in envs}, key=lambda a: (a.type, a.id))
    review = AccessReview((), schema, entities)  # to count the triples
    result = with_progress(
        review.count(actions, principal_type=principal_type, resource_type=resource_type),
        "requests",
        lambda on_done: access_diff(
            old,
            new,
            schema,
            entities,
            actions=actions,
            principal_type=principal_type,
            resource_type=resource_type,
            timeout_ms=timeout_ms(timeout),
            on_done=on_done,
        ),
    )
    click.echo(
        json.dumps(result.to_json(), indent=2) if fmt == "json" else render_access_diff(result)
    )
    changes = result.changes
    if any(c.gains is not None for c in changes):
        sys.exit(EXIT_REFUTED)
    sys.exit(EXIT_UNKNOWN if changes else 0)


@click.command()
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=False))
@required_schema
@environment_filters
@assumption_options
@timeout_option("Seconds per check and environment.")
@jobs_option
@click.option(
    "--template-links",
    type=click.Path(dir_okay=False),
    help="Cedar template-link JSON, applied to both versions.",
)
@any_link_option
@output_options
@reports_bad_input
def compare(
    old_path: str,
    new_path: str,
    schema_path: str,
    principal_type: str | None,
    action_filter: str | None,
    resource_type: str | None,
    assume: tuple[str, ...],
    assume_files: tuple[str, ...],
    timeout: float | None,
    jobs: int,
    template_links: str | None,
    any_link: bool,
    as_json: bool,
    as_sarif: bool,
    output_format: str | None,
    summary_file: str | None,
) -> None:
    """Whether NEW is equivalent to OLD, less or more permissive, or incomparable.

    Per request environment and overall: less permissive when NEW allows only what OLD
    allows (and not all of it), more permissive when NEW allows all OLD allows and more,
    incomparable when each allows something the other denies (a counterexample each way).
    Exit 0 equivalent, 1 less permissive, more permissive or incomparable, 2 on bad input,
    3 unknown (a check the solver could not decide leaves the verdict open).
    """
    fmt = chosen_format(output_format, as_json, as_sarif)
    check_summary_file(summary_file)
    schema = Schema.from_file(schema_path)
    assumptions = load_assumptions(assume, assume_files)
    old = _policies(old_path, template_links, any_link)
    new = _policies(new_path, template_links, any_link)
    envs = select_environments(
        request_environments(schema), principal_type, action_filter, resource_type
    )
    options: dict[str, Any] = {
        "labels": (old_path, new_path),
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
        "jobs": jobs,
        "assumptions": assumptions,
        "any_link": any_link,
    }
    try:
        result = with_progress(
            2 * len(envs),
            "checks",
            lambda on_done: compare_policies(old, new, schema, on_done=on_done, **options),
        )
    except Interrupted as err:
        if isinstance(err.partial, CompareResult):
            _emit(err.partial, fmt, summary_file)
        exit_interrupted(err)
    _emit(result, fmt, summary_file)
    verdict = result.result
    sys.exit(
        0
        if verdict is Comparison.EQUIVALENT
        else EXIT_UNKNOWN
        if verdict is Comparison.UNKNOWN
        else EXIT_REFUTED
    )


@click.command()
@click.argument(
    "paths", metavar="POLICIES...", nargs=-1, required=True, type=click.Path(dir_okay=False)
)
@required_schema
@assumption_options
@timeout_option("Seconds per check and environment.")
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@any_link_option
@output_options
@reports_bad_input
def lint(
    paths: tuple[str, ...],
    schema_path: str,
    assume: tuple[str, ...],
    assume_files: tuple[str, ...],
    timeout: float | None,
    template_links: str | None,
    any_link: bool,
    as_json: bool,
    as_sarif: bool,
    output_format: str | None,
    summary_file: str | None,
) -> None:
    """Policies that do nothing or can error: dead, matching everything, redundant, shadowed.

    Each file is linted as a policy set of its own (as a pre-commit hook passes them).
    Exit 0 with no findings, 1 with findings, 2 on bad input, 3 when a check is undecided.
    """
    fmt = chosen_format(output_format, as_json, as_sarif)
    check_summary_file(summary_file)
    schema = Schema.from_file(schema_path)
    assumptions = load_assumptions(assume, assume_files)
    sets = [(path, _policies(path, template_links, any_link)) for path in paths]
    label = ", ".join(paths)
    done: list[LintResult] = []

    def lint_each(on_done: Any) -> None:
        for path, policies in sets:
            done.append(
                lint_policies(
                    policies,
                    schema,
                    label=path,
                    timeout=timeout,
                    on_environment=on_done,
                    assumptions=assumptions,
                    any_link=any_link,
                )
            )

    try:
        with_progress(len(request_environments(schema)) * len(sets), "environments", lint_each)
    except Interrupted as err:
        if isinstance(err.partial, LintResult):
            done.append(err.partial)
        unlinted = tuple(PolicyRef.of(p, path) for path, ps in sets[len(done) :] for p in ps)
        partial = _merged(done, label)
        partial = replace(
            partial,
            interrupted=Interrupted.of(err).signal_name,
            unlinted=partial.unlinted + unlinted,
        )
        _emit(partial, fmt, summary_file)
        exit_interrupted(err)
    result = _merged(done, label)
    _emit(result, fmt, summary_file)
    sys.exit(EXIT_REFUTED if result.findings else EXIT_UNKNOWN if result.undecided else 0)


def _merged(results: list[LintResult], label: str) -> LintResult:
    """The findings of each file's lint, as one result."""
    if len(results) == 1:
        return results[0]
    return LintResult(
        tuple(f for r in results for f in r.findings),
        tuple(u for r in results for u in r.undecided),
        label,
        next((r.interrupted for r in results if r.interrupted), None),
        tuple(p for r in results for p in r.unlinted),
        results[0].assumptions if results else (),
    )
