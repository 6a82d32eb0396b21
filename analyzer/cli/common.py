"""What every `cedar-smt` command shares: error reporting, loading inputs, common options,
exit codes and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from cedar_smt.analyzer.results import InternalError
from cedar_smt.core import CedarError, PolicySet, Schema
from cedar_smt.core.files import read_text

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_INPUT = 2


RECURSION_LIMIT = 10_000


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def reports_bad_input(fn: F) -> F:
    """Turn every `CedarError` into one message on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CedarError as err:
            fail(err.render())
        except RecursionError:
            fail(
                "the input nests expressions or values too deeply for cedar-smt "
                f"(more than its limit of {sys.getrecursionlimit():,} nested calls)"
            )

    return wrapper  # type: ignore[return-value]


def load_schema(path: str | None) -> Schema | None:
    return Schema.from_file(path) if path else None


def load_policies(path: str, links: str | None = None) -> PolicySet:
    policies = PolicySet.from_file(path)
    if links:
        policies.link_json(read_text(links), source=links)
    return policies


EXIT_REFUTED = 1
EXIT_UNKNOWN = 3
EXIT_INTERNAL = 4
PROGRESS_FROM = 10  # show a progress bar from this many request environments


def with_progress(
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


required_schema = click.option(
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
        required_schema,
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


def output_options(fn: F) -> F:
    fn = click.option("--sarif", "as_sarif", is_flag=True, help="Print SARIF 2.1.0.")(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)
