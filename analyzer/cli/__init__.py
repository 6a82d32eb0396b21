"""The `cedar-smt` command line.

Every subcommand prints results on stdout and problems on stderr. Bad input or usage exits
with 2 and one clear message (file:line:column where there is one), never a traceback.
The commands live beside this module: `concrete` (authorize, validate, translate), `queries` (the
analyses), `review` (diff, lint); `common` holds what they share.
"""

from __future__ import annotations

import sys

import click

from cedar_smt.analyzer.cli import concrete, queries, review
from cedar_smt.analyzer.cli.common import RECURSION_LIMIT


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cedar-smt")
def main() -> None:
    """Prove things about Cedar policies, and authorize requests with the same semantics."""
    # reading, checking and encoding recurse once or twice per level of nesting: room for
    # the nesting Cedar itself handles; deeper input is refused by `reports_bad_input`
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))


for _command in (
    concrete.authorize,
    concrete.validate,
    concrete.translate,
    *queries.COMMANDS,
    queries.prove_invariants,
    review.diff,
    review.lint,
):
    main.add_command(_command)

__all__ = ["main"]
