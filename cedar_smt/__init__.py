"""cedar-smt: proofs and counterexamples for Cedar authorization policies.

The names most users need, in one place. The three packages behind them are
`cedar_smt.core` (concrete Cedar: parse, validate, authorize), `cedar_smt.encoder` (the same
semantics as Z3 terms) and `cedar_smt.analyzer` (the questions: `check_*`, diff, lint).

Each name is imported when it is first used, so that `import cedar_smt.core` does not load
Z3, and the command can take Ctrl-C while it starts (see `cedar_smt.launch`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cedar_smt.analyzer import (
        Counterexample,
        DiffResult,
        EnvResult,
        LintResult,
        QueryResult,
        Verdict,
        check_always_allows,
        check_always_allows_when,
        check_always_denies,
        check_always_matches,
        check_disjoint,
        check_equivalent,
        check_explicit_permit,
        check_forbid_overrides_permit,
        check_implies,
        check_matches_disjoint,
        check_matches_equivalent,
        check_matches_implies,
        check_never_allows,
        check_never_errors,
        check_never_matches,
        diff_policies,
        lint_policies,
    )
    from cedar_smt.core import (
        CedarError,
        Entities,
        Entity,
        EntityUID,
        Policy,
        PolicySet,
        Request,
        Response,
        Schema,
        ValidationResult,
        is_authorized,
        validate,
    )

# where each name of `__all__` lives: the concrete side first, so that its names load without Z3
_HOMES = ("cedar_smt.core", "cedar_smt.analyzer")

try:
    __version__ = version("cedar-smt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'cedar_smt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CedarError",
    "Counterexample",
    "DiffResult",
    "Entities",
    "Entity",
    "EntityUID",
    "EnvResult",
    "LintResult",
    "Policy",
    "PolicySet",
    "QueryResult",
    "Request",
    "Response",
    "Schema",
    "ValidationResult",
    "Verdict",
    "__version__",
    "check_always_allows",
    "check_always_allows_when",
    "check_always_denies",
    "check_always_matches",
    "check_disjoint",
    "check_equivalent",
    "check_explicit_permit",
    "check_forbid_overrides_permit",
    "check_implies",
    "check_matches_disjoint",
    "check_matches_equivalent",
    "check_matches_implies",
    "check_never_allows",
    "check_never_errors",
    "check_never_matches",
    "diff_policies",
    "is_authorized",
    "lint_policies",
    "validate",
]
