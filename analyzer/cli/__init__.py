"""The `cedar-smt` command line.

Every subcommand prints results on stdout and problems on stderr. Bad input or usage exits
with 2 and one clear message (file:line:column where there is one), never a traceback; an
exception nobody expected is an internal error, exit 4, and SIGINT or SIGTERM stop the run
within a second, print what was finished and exit 130 or 143 (`common`).
The commands live beside this module: `concrete` (authorize, validate,
translate), `queries` (the
analyses), `review` (diff, compare, lint), `access` (who-can, what-can, access-matrix: access
review against an entity store), `batch` (a fleet of stores, run by `fleet`); `common` holds
what they share.
"""

from __future__ import annotations

import click

from cedar_smt.analyzer.cli import access, batch, concrete, queries, review
from cedar_smt.analyzer.cli.common import Main, make_room_for_nesting


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cedar-smt")
def main() -> None:
    """Prove things about Cedar policies, and authorize requests with the same semantics.

    \b
    Exit codes: 0 holds / allow / valid / no change, 1 refuted / deny / invalid / findings,
    2 bad input or usage, 3 unknown (the answer is incomplete), 4 internal error (a bug;
    CEDAR_SMT_DEBUG=1 shows its traceback), 130 interrupted by SIGINT, 143 by SIGTERM.
    """
    make_room_for_nesting()


for _command in (
    concrete.authorize,
    concrete.validate,
    concrete.translate,
    *queries.COMMANDS,
    queries.prove_invariants,
    review.diff,
    review.compare,
    review.lint,
    *access.COMMANDS,
    batch.batch,
):
    main.add_command(_command)

__all__ = ["main"]
