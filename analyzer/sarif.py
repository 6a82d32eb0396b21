"""SARIF 2.1.0 output, so that code-scanning services show findings on the policies' lines.

An answer that is not complete (a diff search that stopped early, a lint check left
undecided, a run interrupted) says so in the run's invocation, as tool notifications; an
interrupted run is not an `executionSuccessful` one.
"""

from __future__ import annotations

from typing import Any

from cedar_smt.analyzer.diff import DiffResult, PolicyRef
from cedar_smt.analyzer.lint import RULES, LintResult
from cedar_smt.analyzer.render import incompleteness

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "cedar-smt"


def _location(ref: PolicyRef) -> dict[str, Any]:
    region: dict[str, Any] = {}
    if ref.line is not None:
        region = {"startLine": ref.line, "startColumn": ref.column or 1}
    physical: dict[str, Any] = {"artifactLocation": {"uri": ref.source or ref.version}}
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def _log(
    rules: list[dict[str, Any]],
    results: list[dict[str, Any]],
    notes: list[str] | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    invocation = {
        "executionSuccessful": not interrupted,
        "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": text}} for text in notes or []
        ],
    }
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "informationUri": "https://www.cedarpolicy.com",
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def lint_sarif(result: LintResult) -> dict[str, Any]:
    rules = [
        {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "defaultConfiguration": {"level": r.level},
        }
        for r in RULES.values()
    ]
    results = []
    for f in result.findings:
        item: dict[str, Any] = {
            "ruleId": f.code,
            "level": f.rule.level,
            "message": {"text": f"{f.policy.effect} `{f.policy.name}`: {f.message}"},
            "locations": [_location(f.policy)],
        }
        if f.witness is not None:
            item["properties"] = {"witness": f.witness.to_json()}
        results.append(item)
    notes = [
        f"{u.policy.where}: could not decide {u.check} for `{u.policy.name}`: {u.reason}"
        for u in result.undecided
    ]
    if result.interrupted:
        notes.append(
            f"interrupted by {result.interrupted} before {len(result.unlinted)} policies were "
            "linted to the end"
        )
    return _log(rules, results, notes, bool(result.interrupted))


DIFF_RULES = {
    "newly allowed": ("D001", "newly-allowed", "requests the old policies denied are now allowed"),
    "newly denied": ("D002", "newly-denied", "requests the old policies allowed are now denied"),
}


def diff_sarif(result: DiffResult) -> dict[str, Any]:
    rules = [
        {
            "id": code,
            "name": name,
            "shortDescription": {"text": text},
            "defaultConfiguration": {"level": "warning"},
        }
        for code, name, text in DIFF_RULES.values()
    ]
    results = []
    for env, cls in result.classes:
        code = DIFF_RULES[cls.transition][0]
        places = cls.responsible or cls.new_satisfied or cls.old_satisfied
        results.append(
            {
                "ruleId": code,
                "level": "warning",
                "message": {"text": f"{env}: {cls.explanation}"},
                "locations": [_location(r) for r in places]
                or [{"physicalLocation": {"artifactLocation": {"uri": result.new_label}}}],
                "properties": {"witness": cls.witness.to_json()},
            }
        )
    notes = [] if result.complete else [f"the search was incomplete in {incompleteness(result)}"]
    return _log(rules, results, notes, bool(result.interrupted))
