"""The `cedar-smt` command line.

Every subcommand prints results on stdout and problems on stderr. Bad input or usage exits
with 2 and one clear message (file:line:column where there is one), never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from cedar_smt.analyzer import checks
from cedar_smt.analyzer.diff import diff_policies
from cedar_smt.analyzer.invariants import prove_rule
from cedar_smt.analyzer.lint import lint_policies
from cedar_smt.analyzer.render import render_diff, render_lint, render_text
from cedar_smt.analyzer.results import InternalError, QueryResult, Verdict, overall
from cedar_smt.analyzer.runner import load_rule, select_environments
from cedar_smt.analyzer.sarif import diff_sarif, lint_sarif
from cedar_smt.core import (
    CedarError,
    Entities,
    EntityUID,
    Policy,
    PolicySet,
    Request,
    Schema,
    is_authorized,
    request_environments,
)
from cedar_smt.core import validate as core_validate
from cedar_smt.core.files import read_text
from cedar_smt.core.json_values import loads
from cedar_smt.core.parser import parse_entity_uid

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_INPUT = 2


RECURSION_LIMIT = 10_000


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def reports_bad_input(fn: F) -> F:
    """Turn every `CedarError` into one message on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CedarError as err:
            _fail(err.render())
        except RecursionError:
            _fail(
                "the input nests expressions or values too deeply for cedar-smt "
                f"(more than its limit of {sys.getrecursionlimit():,} nested calls)"
            )

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cedar-smt")
def main() -> None:
    """Prove things about Cedar policies, and authorize requests with the same semantics."""
    # reading, checking and encoding recurse once or twice per level of nesting: room for
    # the nesting Cedar itself handles; deeper input is refused by `reports_bad_input`
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))


def load_schema(path: str | None) -> Schema | None:
    return Schema.from_file(path) if path else None


def load_policies(path: str, links: str | None = None) -> PolicySet:
    policies = PolicySet.from_file(path)
    if links:
        policies.link_json(read_text(links), source=links)
    return policies


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
            _fail("give either --request or --principal/--action/--resource, not both")
        text = read_text(request_file)
        try:
            obj = loads(text, "request")
        except CedarError as err:
            raise err.located(request_file, text) from None
        return Request.from_json(obj, schema, source=request_file, text=text)
    if any(p is None for p in parts):
        _fail("give --request FILE, or all of --principal, --action and --resource")
    try:
        ctx = loads(context, "--context") if context else {}
    except CedarError as err:
        _fail(f"--context: {err.message}")
    if not isinstance(ctx, dict):
        _fail("--context must be a JSON object")
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
        _fail(f"{option}: {err.message}")


@main.command()
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


@main.command()
@click.option("--policies", "policies_path", required=True, type=click.Path(dir_okay=False))
@click.option("--schema", "schema_path", required=True, type=click.Path(dir_okay=False))
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@reports_bad_input
def validate(
    policies_path: str, schema_path: str, template_links: str | None, as_json: bool
) -> None:
    """Validate policies against a schema, in Cedar's strict mode.

    Exit 0 when valid, 1 when not, 2 on bad input.
    """
    schema = Schema.from_file(schema_path)
    policies = load_policies(policies_path, template_links)
    result = core_validate(policies, schema)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "passed": result.passed,
                    "errors": [
                        {
                            "policy": e.policy_id,
                            "id": e.annotation_id,
                            "file": e.source,
                            "line": e.loc.line if e.loc else None,
                            "column": e.loc.column if e.loc else None,
                            "message": e.message,
                        }
                        for e in result.errors
                    ],
                },
                indent=2,
            )
        )
    elif result.passed:
        count = len(policies) + len(policies.templates)
        click.echo(f"valid: {count} {'policy' if count == 1 else 'policies'} typecheck")
    else:
        for e in result.errors:
            click.echo(f"error: {e}")
        click.echo(f"invalid: {len(result.errors)} error{'' if len(result.errors) == 1 else 's'}")
    sys.exit(0 if result.passed else 1)


# --- analyses -------------------------------------------------------------------------

EXIT_REFUTED = 1
EXIT_UNKNOWN = 3
EXIT_INTERNAL = 4
PROGRESS_FROM = 10  # show a progress bar from this many request environments


def _with_progress(
    count: int, label: str, work: Callable[[Callable[[Any], None] | None], Any]
) -> Any:
    """Run `work(on_done)`, with a progress bar on stderr when there are many items."""
    try:
        if count < PROGRESS_FROM:
            return work(None)
        with click.progressbar(length=count, label=label, file=sys.stderr) as bar:
            return work(lambda _: bar.update(1))
    except InternalError as err:
        click.echo(f"internal error (a bug in cedar-smt, please report it): {err}", err=True)
        sys.exit(EXIT_INTERNAL)


_required_schema = click.option(
    "--schema",
    "schema_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Cedar or JSON schema.",
)


def environment_filters(fn: F) -> F:
    """The options restricting the request environments analysed."""
    fn = click.option("--resource-type", help="Only request environments with this resource type.")(
        fn
    )
    fn = click.option(
        "--action", "action_filter", help='Only this action, e.g. Action::"view" or view.'
    )(fn)
    return click.option(
        "--principal-type", help="Only request environments with this principal type."
    )(fn)


def analysis_options(fn: F) -> F:
    """The options every analysis takes."""
    decorators = [
        _required_schema,
        environment_filters,
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds per environment.",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Parallel processes.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
        click.option(
            "--entities-exist",
            is_flag=True,
            help="Consider only requests whose referenced entities are all in the store.",
        ),
        click.option(
            "--template-links",
            type=click.Path(dir_okay=False),
            help="Cedar template-link JSON, applied to each policy file.",
        ),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


def _select(policies: PolicySet, ident: str | None, path: str) -> Policy:
    """The policy named `ident` (id or @id), or the only one in the file."""
    found = list(policies)
    if ident is not None:
        named = [p for p in found if ident in (p.id, p.annotation_map.get("id"))]
        if len(named) != 1:
            _fail(f"`{path}` has {'no' if not named else 'several'} policies named `{ident}`")
        return named[0]
    if len(found) != 1:
        names = ", ".join(p.display_name for p in found) or "none"
        _fail(f"`{path}` holds {len(found)} policies ({names}); choose one with --policy")
    return found[0]


def _analyse(
    check: Callable[..., QueryResult], *args: Any, as_json: bool, options: dict[str, Any]
) -> None:
    """Run a check with a progress bar, print its answer, and exit with its code."""
    schema = options["schema"]
    filters = {k: options[k] for k in ("principal_type", "action", "resource_type")}
    count = len(select_environments(request_environments(schema), **filters))
    kwargs = dict(filters, timeout=options["timeout"], jobs=options["jobs"])
    kwargs["entities_exist"] = options.get("entities_exist", False)
    kwargs.update(options.get("extra", {}))
    result = _with_progress(
        count, "environments", lambda on_done: check(*args, schema, on_done=on_done, **kwargs)
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render_text(result))
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
) -> dict[str, Any]:
    return {
        "links": template_links,
        "entities_exist": entities_exist,
        "schema": Schema.from_file(schema_path),
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
        "jobs": jobs,
    }


def _policy_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @main.command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
    @click.option(
        "--policy", "ident", help="The policy to check (id or @id), if the file has several."
    )
    @analysis_options
    @reports_bad_input
    def command(policies_path: str, ident: str | None, as_json: bool, **common: Any) -> None:
        options = _common(**common)
        policy = _select(load_policies(policies_path, options["links"]), ident, policies_path)
        _analyse(check, policy, as_json=as_json, options=options)


def _pair_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @main.command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
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
        a = _select(load_policies(first_path, options["links"]), ident_a, first_path)
        b = _select(load_policies(second_path, options["links"]), ident_b, second_path)
        _analyse(check, a, b, as_json=as_json, options=options)


def _set_command(
    name: str,
    check: Callable[..., QueryResult],
    summary: str,
    conditional: Callable[..., QueryResult] | None = None,
) -> None:
    query_help = "A Cedar condition over principal, action, resource and context."

    @main.command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
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
        policies = load_policies(policies_path, template_links)
        options["extra"] = {"label": policies_path}
        if query_text is not None:
            if conditional is None:
                _fail(f"`{name}` takes no --query")
            options["extra"]["query"] = query_text
            _analyse(conditional, policies, as_json=as_json, options=options)
        _analyse(check, policies, as_json=as_json, options=options)


def _sets_command(name: str, check: Callable[..., QueryResult], summary: str) -> None:
    @main.command(name=name, help=f"{summary} Exit 0 holds, 1 refuted, 2 bad input, 3 unknown.")
    @click.argument("first_path", metavar="FIRST", type=click.Path(dir_okay=False))
    @click.argument("second_path", metavar="SECOND", type=click.Path(dir_okay=False))
    @analysis_options
    @reports_bad_input
    def command(first_path: str, second_path: str, as_json: bool, **common: Any) -> None:
        options = _common(**common)
        a = load_policies(first_path, options["links"])
        b = load_policies(second_path, options["links"])
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


@main.command(name="prove-invariants")
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
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per environment."
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Parallel processes."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@reports_bad_input
def prove_invariants(
    policies_path: str | None,
    schema_path: str | None,
    rule_spec: str | None,
    max_policies: int,
    as_json: bool,
    template_links: str | None,
    **filters: Any,
) -> None:
    """Prove Cedar's invariants: explicit permit, and forbid overrides permit.

    Both are proved of the decision rule itself (Cedar's, or --rule) for every policy set of up
    to --max-policies permits and forbids, and, given POLICIES and --schema, of those policies
    in every request environment. Exit 0 when all hold, 1 when one is refuted, 3 unknown.
    """
    rule = load_rule(rule_spec)
    rule_results = prove_rule(rule, max_policies)
    set_results: list[QueryResult] = []
    if policies_path is not None:
        if schema_path is None:
            _fail("give --schema with POLICIES")
        options = _common(
            schema_path,
            filters["principal_type"],
            filters["action_filter"],
            filters["resource_type"],
            filters["timeout"],
            filters["jobs"],
        )
        policies = load_policies(policies_path, template_links)
        kwargs = {
            k: options[k] for k in ("principal_type", "action", "resource_type", "timeout", "jobs")
        }
        for check in (checks.check_explicit_permit, checks.check_forbid_overrides_permit):
            set_results.append(
                _with_progress(
                    0,
                    "environments",
                    lambda _, check=check: check(
                        policies, options["schema"], label=policies_path, rule=rule_spec, **kwargs
                    ),
                )
            )
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
        for r in set_results:
            click.echo(f"\n{r.query} for {policies_path}:")
            click.echo(render_text(r))
    sys.exit(
        {Verdict.HOLDS: 0, Verdict.REFUTED: EXIT_REFUTED, Verdict.UNKNOWN: EXIT_UNKNOWN}[verdict]
    )


def _output_options(fn: F) -> F:
    fn = click.option("--sarif", "as_sarif", is_flag=True, help="Print SARIF 2.1.0.")(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)


@main.command()
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=False))
@_required_schema
@environment_filters
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per solver call."
)
@click.option(
    "--template-links",
    type=click.Path(dir_okay=False),
    help="Cedar template-link JSON, applied to both versions.",
)
@_output_options
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
        _fail("give --json or --sarif, not both")
    schema = Schema.from_file(schema_path)
    old = load_policies(old_path, template_links)
    new = load_policies(new_path, template_links)
    envs = select_environments(
        request_environments(schema), principal_type, action_filter, resource_type
    )
    options = {
        "labels": (old_path, new_path),
        "principal_type": principal_type,
        "action": action_filter,
        "resource_type": resource_type,
        "timeout": timeout,
    }
    result = _with_progress(
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


@main.command()
@click.argument("policies_path", metavar="POLICIES", type=click.Path(dir_okay=False))
@_required_schema
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per environment."
)
@click.option("--template-links", type=click.Path(dir_okay=False), help="Cedar template-link JSON.")
@_output_options
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
        _fail("give --json or --sarif, not both")
    schema = Schema.from_file(schema_path)
    policies = list(load_policies(policies_path, template_links))
    result = _with_progress(
        len(policies),
        "policies",
        lambda on_done: lint_policies(
            policies, schema, label=policies_path, timeout=timeout, on_policy=on_done
        ),
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    elif as_sarif:
        click.echo(json.dumps(lint_sarif(result), indent=2))
    else:
        click.echo(render_lint(result))
    sys.exit(EXIT_REFUTED if result.findings else EXIT_UNKNOWN if result.undecided else 0)
