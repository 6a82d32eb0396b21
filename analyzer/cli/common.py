"""What every `cedar-smt` command shares: error reporting, loading inputs, common options,
exit codes, signals and the progress bar."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from cedar_smt.analyzer.assumptions import Assumption, parse_assumption, read_assumptions
from cedar_smt.analyzer.report import report_of, to_html, to_markdown
from cedar_smt.analyzer.results import InternalError, Interrupted
from cedar_smt.core import CedarError, PolicySet, Schema
from cedar_smt.core.errors import LinkError
from cedar_smt.core.files import read_text
from cedar_smt.encoder.solver import leave_signals_to_python

F = TypeVar("F", bound=Callable[..., Any])

EXIT_REFUTED = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3
EXIT_INTERNAL = 4
EXIT_SIGNALLED = 128  # plus the signal's number: 130 for SIGINT, 143 for SIGTERM
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DEBUG_VARIABLE = "CEDAR_SMT_DEBUG"  # set to 1 to see an internal error's traceback

RECURSION_LIMIT = 10_000
PROGRESS_FROM = 10  # show a progress bar from this many items, on a terminal


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


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


_worker = False  # a worker process, which its parent stops: see `as_worker`


def as_worker() -> None:
    """Mark this process a worker that its parent stops: signals keep their own effect here
    (SIGTERM ends it at once), rather than interrupting the command it runs."""
    global _worker
    _worker = True


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise `Interrupted`; a second one ends the process.

    A signal the process was started ignoring (a background job's SIGINT) stays ignored.
    """
    if _worker or threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:  # the first is being handled, and the user insists
            os._exit(EXIT_SIGNALLED + signum)
        received.append(signum)
        raise Interrupted(signum)

    previous = {}
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            previous[s] = signal.signal(s, handler)
    leave_signals_to_python()
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


class Main(click.Group):
    """A command group that turns signals and unexpected exceptions into exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        with signals_interrupt():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as err:  # commands print what they finished first
                exit_interrupted(err)
            except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
                raise
            except Exception as err:
                exit_internal(err)


def make_room_for_nesting() -> None:
    """Reading, checking and encoding recurse once or twice per level of nesting: room for
    the nesting Cedar itself handles; deeper input is refused by `reports_bad_input`."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))


def exit_interrupted(err: KeyboardInterrupt) -> NoReturn:
    """Exit 128 + the signal's number, after what was finished has been printed."""
    stop = Interrupted.of(err)
    click.echo(f"interrupted by {stop.signal_name}", err=True)
    sys.exit(EXIT_SIGNALLED + stop.signum)


def exit_internal(err: Exception) -> NoReturn:
    """An exception nobody expected: one line saying so, where to report it, and exit 4."""
    if isinstance(err, InternalError):
        what = str(err)
    else:
        frames = traceback.extract_tb(err.__traceback__)
        where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        what = f"{type(err).__name__}: {err}{where}"
    debug = os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    if debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    click.echo(f"internal error: {what}", err=True)
    hint = "" if debug else f"; {DEBUG_VARIABLE}=1 shows the traceback"
    click.echo(
        f"this is a bug in cedar-smt: please report it {_report_to()}, with the command "
        f"and its input files{hint}",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


def _report_to() -> str:
    """Where bugs go: the package's issue tracker when its metadata names one."""
    try:
        urls = importlib.metadata.metadata("cedar-smt").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("issues", "bug tracker", "tracker"):
            return f"at {url.strip()}"
    return "to its maintainers"


def load_schema(path: str | None) -> Schema | None:
    return Schema.from_file(path) if path else None


def load_policies(path: str, links: str | None = None, *, note_templates: bool = True) -> PolicySet:
    """The policies of `path`, with the templates `links` links (it may serve several files);
    a note when the file has templates and no links are given (`note_templates`: unless they
    are analysed for every link)."""
    policies = PolicySet.from_file(path)
    if links:
        try:
            policies.link_json(read_text(links), source=links)
        except LinkError as err:
            raise LinkError(
                f"{err.message} in `{path}` (--template-links is applied to each policy file)",
                source=err.source,
                loc=err.loc,
                text=err.text,
            ) from None
    elif (
        policies.templates
        and note_templates
        and not any(p.template_id in policies.templates for p in policies)  # JSON has links
    ):
        count = len(policies.templates)
        note(
            f"`{path}` holds {count} template{'s' if count != 1 else ''}, analysed only when "
            "linked (--template-links) or for every link (--any-link)"
        )
    return policies


def with_progress(
    count: int, label: str, work: Callable[[Callable[[Any], None] | None], Any]
) -> Any:
    """Run `work(on_done)`, with a progress bar on stderr when it is a terminal and there are
    many items. `work` calls `on_done` once per item of the `count`; the bar moves by a
    thousandth at a time (a matrix of millions of requests would otherwise spend its time
    drawing), and shows the last items done when the work ends."""
    if count < PROGRESS_FROM or not _on_terminal():
        return work(None)
    step = max(1, count // 1000)
    pending = 0

    def done(_: Any) -> None:
        nonlocal pending
        pending += 1
        if pending >= step:
            bar.update(pending)
            pending = 0

    with click.progressbar(length=count, label=label, file=sys.stderr) as bar:
        result = work(done)
        bar.update(pending)
        return result


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A timeout must be a finite, positive number of seconds."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"`{value}` is not a finite number of seconds greater than 0")
    return value


def timeout_option(help: str) -> Callable[[F], F]:
    return click.option("--timeout", type=float, callback=_seconds, metavar="SECONDS", help=help)


SCHEMA_VARIABLE = "CEDAR_SMT_SCHEMA"  # the schema, when --schema is not given

required_schema = click.option(
    "--schema",
    "schema_path",
    required=True,
    envvar=SCHEMA_VARIABLE,
    type=click.Path(dir_okay=False),
    help=f"Cedar or JSON schema (default: ${SCHEMA_VARIABLE}).",
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


jobs_option = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parallel processes (at most one per request environment and per CPU).",
)


ASSUME_HELP = (
    "A Cedar condition over principal, action, resource and context that every request is "
    "assumed to satisfy (repeatable)."
)
ASSUME_FILE_HELP = "A file of such conditions, each ended by `;`, with // comments (repeatable)."


def assumption_options(fn: F) -> F:
    """--assume and --assume-file: domain assumptions (analyzer/assumptions.py)."""
    fn = click.option(
        "--assume-file",
        "assume_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help=ASSUME_FILE_HELP,
    )(fn)
    return click.option("--assume", "assume", multiple=True, metavar="CONDITION", help=ASSUME_HELP)(
        fn
    )


def load_assumptions(assume: tuple[str, ...], assume_files: tuple[str, ...]) -> list[Assumption]:
    """The --assume conditions, then those of each --assume-file, in the order given."""
    found = [parse_assumption(text, "--assume") for text in assume]
    for path in assume_files:
        found.extend(read_assumptions(path))
    return found


def analysis_options(fn: F) -> F:
    """The options every analysis takes."""
    decorators = [
        required_schema,
        environment_filters,
        assumption_options,
        timeout_option("Seconds per environment."),
        jobs_option,
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
        report_options,
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
        any_link_option,
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


any_link_option = click.option(
    "--any-link",
    is_flag=True,
    help="Analyse each template for every link: it holds only if it holds whatever entities "
    "the slots are linked to.",
)


REPORT_FORMATS = ("text", "json", "markdown", "html")


def output_options(fn: F) -> F:
    """--json, --sarif, --format and --summary-file, for commands that write SARIF too."""
    return _report_options(fn, sarif=True)


def report_options(fn: F) -> F:
    """--format and --summary-file, for the analyses (their --json is in analysis_options)."""
    return _report_options(fn, sarif=False)


def _report_options(fn: F, sarif: bool) -> F:
    formats = REPORT_FORMATS[:2] + (("sarif",) if sarif else ()) + REPORT_FORMATS[2:]
    fn = click.option(
        "--summary-file",
        type=click.Path(dir_okay=False),
        help="Also append the Markdown report to this file (such as $GITHUB_STEP_SUMMARY).",
    )(fn)
    fn = click.option(
        "--format",
        "output_format",
        type=click.Choice(formats),
        help="What to print: "
        + ", ".join(formats)
        + " (Markdown for a pull-request comment; HTML as one self-contained page).",
    )(fn)
    if sarif:
        fn = click.option("--sarif", "as_sarif", is_flag=True, help="Print SARIF 2.1.0.")(fn)
        fn = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)
    return fn


def chosen_format(output_format: str | None, as_json: bool = False, as_sarif: bool = False) -> str:
    """The one format asked for by --format, --json or --sarif (text when none is)."""
    asked = [f for f, on in (("json", as_json), ("sarif", as_sarif)) if on]
    if output_format is not None:
        asked.append(output_format)
    if len(set(asked)) > 1:
        fail("give one of --json, --sarif and --format")
    return asked[0] if asked else "text"


def check_summary_file(path: str | None) -> None:
    """Refuse a summary file that cannot be appended to, before any work is done."""
    if path is None:
        return
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as err:
        fail(f"cannot append to the summary file `{path}`: {err.strerror or err}")


def emit(
    result: Any,
    output_format: str,
    summary_file: str | None,
    text: Callable[[], str],
    sarif: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Print the result in the format asked for; append its Markdown report to the summary
    file, if one is given."""
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    elif output_format == "sarif":
        assert sarif is not None
        click.echo(json.dumps(sarif(), indent=2))
    elif output_format == "markdown":
        click.echo(to_markdown(report_of(result)), nl=False)
    elif output_format == "html":
        click.echo(to_html(report_of(result)), nl=False)
    else:
        click.echo(text())
    if summary_file is not None:
        try:
            with open(summary_file, "a", encoding="utf-8") as out:
                out.write(to_markdown(report_of(result)) + "\n")
        except OSError as err:
            fail(f"cannot append to the summary file `{summary_file}`: {err.strerror or err}")
