"""The questions users ask of Cedar policies, answered with proofs or confirmed counterexamples.

Each `check_*` function answers one query per request environment of the schema: holds,
refuted (with a counterexample replayed through the concrete authorizer) or unknown (with
the reason). See analyzer/checks.py; the `cedar-smt` CLI is analyzer/cli/. `render` and
`sarif` show results as the CLI prints them (text, SARIF), `report` as Markdown or HTML;
`to_json` is on the results. `compare_policies` says how two versions relate. Every analysis
takes `assumptions=`: conditions every request is assumed to satisfy (`read_assumptions`).
`who_can`, `what_can`, `access_matrix` and `access_diff` review access against an entity
store.
"""

from cedar_smt.analyzer import render, report, sarif
from cedar_smt.analyzer.access import (
    Access,
    AccessDiff,
    AccessReview,
    Grant,
    WhatCan,
    WhoCan,
    access_diff,
    access_matrix,
    what_can,
    who_can,
)
from cedar_smt.analyzer.assumptions import Assumption, parse_assumptions, read_assumptions
from cedar_smt.analyzer.checks import (
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
)
from cedar_smt.analyzer.compare import CompareResult, Comparison, compare_policies
from cedar_smt.analyzer.diff import DiffResult, diff_policies
from cedar_smt.analyzer.invariants import RuleResult, prove_rule
from cedar_smt.analyzer.lint import LintResult, lint_policies
from cedar_smt.analyzer.render import render_compare, render_diff, render_lint, render_text
from cedar_smt.analyzer.results import (
    AnalysisInputError,
    Counterexample,
    Dependence,
    EnvResult,
    InternalError,
    Interrupted,
    QueryResult,
    Verdict,
)
from cedar_smt.analyzer.sarif import compare_sarif, diff_sarif, lint_sarif

__all__ = [
    "Access",
    "AccessDiff",
    "AccessReview",
    "AnalysisInputError",
    "Assumption",
    "CompareResult",
    "Comparison",
    "Counterexample",
    "Dependence",
    "DiffResult",
    "EnvResult",
    "Grant",
    "InternalError",
    "Interrupted",
    "LintResult",
    "QueryResult",
    "RuleResult",
    "Verdict",
    "WhatCan",
    "WhoCan",
    "access_diff",
    "access_matrix",
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
    "compare_policies",
    "compare_sarif",
    "diff_policies",
    "diff_sarif",
    "lint_policies",
    "lint_sarif",
    "parse_assumptions",
    "prove_rule",
    "read_assumptions",
    "render",
    "render_compare",
    "render_diff",
    "render_lint",
    "render_text",
    "report",
    "sarif",
    "what_can",
    "who_can",
]
