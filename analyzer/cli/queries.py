"""The analysis commands: one query per request environment, and `prove-invariants`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from cedar_smt.analyzer import checks
from cedar_smt.analyzer.cli.common import (
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    analysis_options,
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
    reports_bad_input,
    timeout_option,
    with_progress,
)
from cedar_smt.analyzer.invariants import prove_rule
from cedar_smt.analyzer.render import render_text
from cedar_smt.analyzer.results import (
    AnalysisInputError,
    Interrupted,
    QueryResult,
    Verdict,
    overall,
)
from cedar_smt.analyzer.runner import load_rule, select_environments
from cedar_smt.core import Policy, PolicySet, Schema, request_environments

COMMANDS: list[click.Command] = []


def _select(
    policies: PolicySet, ident: str | None, path: str, option: str, any_link: bool = False
) -> Policy:
    """The policy named `ident` (id or @id), or the only one in the file (with `any_link`,
    templates count as policies)."""
    found = list(policies)
    if any_link:
        found += list(policies.templates.values())
    if not found and policies.templates:
        names = ", ".join(f"`{t.display_name}`" for t in policies.templates.values())
        fail(
            f"`{path}` holds only templates ({names}) and no policy: link them with "
            "--template-links, or give --any-link, to analyse them"
        )
    if ident is not None:
        named = [p for p in found if ident in (p.id, p.annotation_map.get("id"))]
        if len(named) != 1:
            fail(f"`{path}` has {'no' if not named else 'several'} policies named `{ident}`")
        return named[0]
    if len(found) != 1:
        names = ", ".join(f"`{p.display_name}`" for p in found)
        what = f"{len(found)} policies ({names})" if found else "no policy"
        fail(f"`{path}` holds {what}; choose one with {option}")
    return found[0]


def _show(result: QueryResult, options: dict[str, Any]) -> None:
    emit(result, options["format"], options["summary_file"], lambda: render_text(result))


def _analyse(
    check: Callable[..., QueryResult], *args: Any, as_json: bool, options: dict[str, Any]
) -> None:
    """Run a check with a progress bar, print its answer, and exit with its code."""
    options["format"] = chosen_format(options["format"], as_json)
    check_summary_file(options["summary_file"])
    schema = options["schema"]
    filters = {k: options[k] for k in ("principal_type", "action", "resource_type")}
    count = len(select_environments(request_environments(schema), **filters))
    kwargs = dict(filters, timeout=options["timeout"], jobs=options["jobs"])
    kwargs["entities_exist"] = options.get("entities_exist", False)
    kwargs["assumptions"] = options["assumptions"]
    kwargs["any_link"] = options["any_link"]
    kwargs.update(options.get("extra", {}))
    try:
        result = with_progress(
            count, "environments", lambda on_done: check(*args, schema, on_done=on_done, **kwargs)
        )
    except Interrupted as err:
        if isinstance(err.partial, QueryResult):
            _show(err.partial, options)
        exit_interrupted(err)
    _show(result, options)
    sys.exit(
        {Verdict.HOLDS: 0, Verdict.REFUTED: EXIT_REFUTED, Verdict.UNKNOWN: EXIT_UNKNOWN}[
            result.verdict
        ]
    )


def _common(
    schema_path: str,
    principal_type: str | None,
    action_filter: str | None,
    resource_type: str | None,
    timeout: float | None,
    jobs: int,
    template_links: str | None = None,
    entities_exist: bool = False,
    output_format: str | None = None,
    summary_file: str | None = None,
    assume: tuple[str, ...] = (),
    assume_files: tuple[str, ...] = (),
    any_link: bool = False,
) -> dict[str, Any]:
    return {
        "any_link": any_link,
        "assumptions": load_assumptions(assume, assume_files),
        "format": output_format,
        "summary_file": summary_file,
        "links": template_links,
        "entities_exist": entities_exist,
        "schema": Schema.from_file(schema_path),
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
        "jobs": jobs,
    }


def _command(**kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """`click.command`, also adding the command to COMMANDS."""

    def register(fn: Callable[..., Any]) -> click.Command:
        cmd: click.Command = click.command(**kwargs)(fn)
        COMMANDS.append(cmd)
        return cmd

    return register


def _policy_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @_command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
    @click.option(
        "--policy", "ident", help="The policy to check (id or @id), if the file has several."
    )
    @analysis_options
    @reports_bad_input
    def command(policies_path: str, ident: str | None, as_json: bool, **common: Any) -> None:
        options = _common(**common)
        policies = load_policies(policies_path, options["links"], note_templates=False)
        policy = _select(policies, ident, policies_path, "--policy", options["any_link"])
        _analyse(check, policy, as_json=as_json, options=options)


def _pair_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @_command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("first_path", metavar="FIRST", type=click.Path(dir_okay=False))
    @click.argument("second_path", metavar="SECOND", type=click.Path(dir_okay=False))
    @click.option("--policy-a", "ident_a", help="The policy of FIRST to compare (id or @id).")
    @click.option("--policy-b", "ident_b", help="The policy of SECOND to compare (id or @id).")
    @analysis_options
    @reports_bad_input
    def command(
        first_path: str,
        second_path: str,
        ident_a: str | None,
        ident_b: str | None,
        as_json: bool,
        **common: Any,
    ) -> None:
        options = _common(**common)
        links = options["links"]
        any_link = options["any_link"]
        a = _select(
            load_policies(first_path, links, note_templates=False),
            ident_a,
            first_path,
            "--policy-a",
            any_link,
        )
        b = _select(
            load_policies(second_path, links, note_templates=False),
            ident_b,
            second_path,
            "--policy-b",
            any_link,
        )
        _analyse(check, a, b, as_json=as_json, options=options)


def _set_command(
    name: str,
    check: Callable[..., QueryResult],
    summary: str,
    conditional: Callable[..., QueryResult] | None = None,
) -> None:
    query_help = "A Cedar condition over principal, action, resource and context."

    @_command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
    @click.option("--query", "query_text", help=query_help, hidden=conditional is None)
    @analysis_options
    @reports_bad_input
    def command(
        policies_path: str,
        template_links: str | None,
        query_text: str | None,
        as_json: bool,
        **common: Any,
    ) -> None:
        options = _common(**common)
        policies = load_policies(
            policies_path, template_links, note_templates=not options["any_link"]
        )
        options["extra"] = {"label": policies_path}
        if query_text is not None:
            if conditional is None:
                fail(f"`{name}` takes no --query")
            options["extra"]["query"] = query_text
            try:
                _analyse(conditional, policies, as_json=as_json, options=options)
            except AnalysisInputError as err:
                if err.source == "query":  # the API's name for it
                    err.source = "--query"
                raise
        _analyse(check, policies, as_json=as_json, options=options)


def _sets_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @_command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("first_path", metavar="FIRST", type=click.Path(dir_okay=False))
    @click.argument("second_path", metavar="SECOND", type=click.Path(dir_okay=False))
    @analysis_options
    @reports_bad_input
    def command(first_path: str, second_path: str, as_json: bool, **common: Any) -> None:
        options = _common(**common)
        notes = not options["any_link"]
        a = load_policies(first_path, options["links"], note_templates=notes)
        b = load_policies(second_path, options["links"], note_templates=notes)
        labels = (first_path, second_path) if first_path != second_path else ("first", "second")
        options["extra"] = {"labels": labels}
        _analyse(check, a, b, as_json=as_json, options=options)


_policy_command("never-errors", checks.check_never_errors, "Prove a policy never errors.")
_policy_command(
    "always-matches", checks.check_always_matches, "Prove a policy matches every request."
)
_policy_command("never-matches", checks.check_never_matches, "Prove a policy matches no request.")
_pair_command(
    "matches-equivalent",
    checks.check_matches_equivalent,
    "Prove two policies match exactly the same requests.",
)
_pair_command(
    "matches-implies",
    checks.check_matches_implies,
    "Prove every request matching the first policy matches the second.",
)
_pair_command(
    "matches-disjoint", checks.check_matches_disjoint, "Prove no request matches both policies."
)
_set_command(
    "always-allows",
    checks.check_always_allows,
    "Prove the policies allow every request (with --query: every request meeting it).",
    checks.check_always_allows_when,
)
_set_command("always-denies", checks.check_always_denies, "Prove the policies deny every request.")
_set_command(
    "never-allows",
    checks.check_always_denies,
    "Prove the policies allow no request (with --query: no request meeting it).",
    checks.check_never_allows,
)
_sets_command(
    "equivalent",
    checks.check_equivalent,
    "Prove two policy sets decide every request the same way.",
)
_sets_command(
    "implies",
    checks.check_implies,
    "Prove every request FIRST allows, SECOND allows too (SECOND subsumes FIRST).",
)
_sets_command("disjoint", checks.check_disjoint, "Prove no request is allowed by both policy sets.")


@click.command(name="prove-invariants")
@click.argument(
    "policies_path", metavar="[POLICIES]", required=False, type=click.Path(dir_okay=False)
)
@click.option(
    "--schema", "schema_path", type=click.Path(dir_okay=False), help="Required with POLICIES."
)
@click.option(
    "--rule", "rule_spec", help="A decision rule `file.py:function` to check instead of Cedar's."
)
@click.option(
    "--max-policies",
    type=click.IntRange(min=0, max=12),
    default=4,
    show_default=True,
    help="Prove the rule for every set of up to this many permits and forbids.",
)
@environment_filters
@assumption_options
@timeout_option("Seconds per environment.")
@jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@any_link_option
@reports_bad_input
def prove_invariants(
    policies_path: str | None,
    schema_path: str | None,
    rule_spec: str | None,
    max_policies: int,
    as_json: bool,
    template_links: str | None,
    any_link: bool,
    assume: tuple[str, ...],
    assume_files: tuple[str, ...],
    **filters: Any,
) -> None:
    """Prove Cedar's invariants: explicit permit, and forbid overrides permit.

    Both are proved of the decision rule itself (Cedar's, or --rule) for every policy set of up
    to --max-policies permits and forbids, and, given POLICIES and --schema, of those policies
    in every request environment (under --assume and --assume-file, which need POLICIES).
    Exit 0 when all hold, 1 when one is refuted, 3 unknown.
    """
    assumptions = load_assumptions(assume, assume_files)
    if assumptions and policies_path is None:
        fail("--assume and --assume-file apply to POLICIES: give POLICIES and --schema")
    rule = load_rule(rule_spec)
    rule_results = prove_rule(rule, max_policies)
    set_results: list[QueryResult] = []
    interrupted: Interrupted | None = None
    if policies_path is not None:
        if schema_path is None:
            fail("give --schema with POLICIES")
        options = _common(
            schema_path,
            filters["principal_type"],
            filters["action_filter"],
            filters["resource_type"],
            filters["timeout"],
            filters["jobs"],
        )
        policies = load_policies(policies_path, template_links, note_templates=not any_link)
        kwargs = {
            k: options[k] for k in ("principal_type", "action", "resource_type", "timeout", "jobs")
        }
        kwargs["assumptions"] = assumptions
        kwargs["any_link"] = any_link
        try:
            for check in (checks.check_explicit_permit, checks.check_forbid_overrides_permit):
                set_results.append(
                    check(
                        policies, options["schema"], label=policies_path, rule=rule_spec, **kwargs
                    )
                )
        except Interrupted as err:
            if isinstance(err.partial, QueryResult):
                set_results.append(err.partial)
            interrupted = err
    verdicts = [r.verdict for r in rule_results] + [r.verdict for r in set_results]
    verdict = overall(verdicts)
    rule_name = rule_spec or "Cedar's decision rule"
    if as_json:
        click.echo(
            json.dumps(
                {
                    "query": "prove-invariants",
                    "result": verdict.value,
                    "rule": {"name": rule_name, "invariants": [r.to_json() for r in rule_results]},
                    "policies": [r.to_json() for r in set_results],
                },
                indent=2,
            )
        )
    else:
        click.echo(f"decision rule: {rule_name}")
        for r in rule_results:
            click.echo(f"  {r.describe()}")
        for q in set_results:
            click.echo(f"\n{q.query} for {policies_path}:")
            click.echo(render_text(q))
    if interrupted is not None:
        exit_interrupted(interrupted)
    sys.exit(
        {Verdict.HOLDS: 0, Verdict.REFUTED: EXIT_REFUTED, Verdict.UNKNOWN: EXIT_UNKNOWN}[verdict]
    )
