"""SARIF 2.1.0 output, so that code-scanning services show findings on the policies' lines.

Given the repository's root, every file is a `uri` relative to it, against the base id
`SRCROOT` that `originalUriBaseIds` resolves; a file outside the root keeps an absolute
`file:` uri. A result has one location: a finding that concerns several policies is one
result per policy. Each result carries `partialFingerprints` computed from what it is about
(rule, file, policy name, request environment, class of requests), never from line numbers or
witnesses, so that the same finding has the same fingerprint in every run. A diff or compare
finding about a policy the new version removed is shown in the new file, where the policy
was (after the policies that preceded it, before those that followed), and says so.

An answer that is not complete (a diff search that stopped early, a lint check left
undecided, a comparison left unknown, a run interrupted) says so in the run's invocation, as
tool notifications; an interrupted run is not an `executionSuccessful` one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cedar_smt.analyzer.compare import CompareResult
from cedar_smt.analyzer.diff import DiffResult, PolicyChange, PolicyRef
from cedar_smt.analyzer.lint import RULES, LintResult
from cedar_smt.analyzer.render import DIRECTION, dependence_note, incompleteness

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "cedar-smt"
ROOT_ID = "SRCROOT"
FINGERPRINT = "cedarSmtFinding/v1"


def tool_version() -> str:
    try:
        return version("cedar-smt")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def _artifact(path: str, root: str | None) -> dict[str, Any]:
    """`{"uri", "uriBaseId"}`, relative to `root` when the file is inside it."""
    if root is None:
        return {"uri": path}
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(os.path.abspath(root))
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": ROOT_ID}


def _place(path: str, line: int | None, column: int | None, root: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(path, root)}
    if line is not None:
        physical["region"] = {"startLine": line, "startColumn": column or 1}
    return {"physicalLocation": physical}


def _location(ref: PolicyRef, root: str | None) -> dict[str, Any]:
    return _place(ref.source or ref.version, ref.line, ref.column, root)


def _fingerprint(*parts: str) -> dict[str, str]:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return {FINGERPRINT: digest[:32]}


def _log(
    rules: list[dict[str, Any]],
    results: list[dict[str, Any]],
    notes: list[str] | None = None,
    interrupted: bool = False,
    root: str | None = None,
) -> dict[str, Any]:
    invocation = {
        "executionSuccessful": not interrupted,
        "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": text}} for text in notes or []
        ],
    }
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL,
                "version": tool_version(),
                "informationUri": "https://www.cedarpolicy.com",
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "results": results,
    }
    if root is not None:
        base = Path(os.path.abspath(root)).as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {ROOT_ID: {"uri": base}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _rules(entries: Sequence[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "id": code,
            "name": name,
            "shortDescription": {"text": text},
            "defaultConfiguration": {"level": level},
        }
        for code, name, text, level in entries
    ]


def lint_sarif(result: LintResult, root: str | None = None) -> dict[str, Any]:
    rules = _rules([(r.code, r.name, r.summary, r.level) for r in RULES.values()])
    results = []
    for f in result.findings:
        location = _location(f.policy, root)
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        note = dependence_note(f.dependence)
        under = f" ({note})" if note else ""
        item: dict[str, Any] = {
            "ruleId": f.code,
            "level": f.rule.level,
            "message": {"text": f"{f.policy.effect} `{f.policy.name}`: {f.message}{under}"},
            "locations": [location],
            "partialFingerprints": _fingerprint(f.code, uri, f.policy.name, f.message),
        }
        properties: dict[str, Any] = {}
        if f.witness is not None:
            properties["witness"] = f.witness.to_json()
        if note and f.dependence is not None:
            conditions = {a.id: a.condition for a in result.assumptions}
            properties["assumptions"] = [
                {"id": i, "condition": conditions.get(i, "")} for i in f.dependence.on
            ]
        if properties:
            item["properties"] = properties
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
    return _log(rules, results, notes, bool(result.interrupted), root)


def relocate(
    ref: PolicyRef, changes: Sequence[PolicyChange], files: Sequence[tuple[str, str]]
) -> tuple[str, int | None, int | None, str | None]:
    """Where a reviewer of the new version sees `ref`: (file, line, column, why it is there).

    A new policy is where it is; an old one that the new version kept (changed or not), at its
    new place; a removed one, in the new file its file became, where it was: at the first
    policy after it that was kept, else at the last one before it, else at the top; when its
    whole file was removed, at the top of the first new file that has policies.
    """
    if ref.version == "new":
        return ref.source or ref.version, ref.line, ref.column, None
    for c in changes:
        if c.old is not None and c.old.id == ref.id and c.new is not None:
            return c.new.source or c.new.version, c.new.line, c.new.column, None
    removed = f"the removed {ref.effect} `{ref.name}` ({ref.where})"  # in the why of each place
    new_files = [c.new.source or c.new.version for c in changes if c.new is not None]
    new_file = dict(files).get(ref.source or ref.version) or (files[-1][1] if files else "new")
    if new_file not in new_files:
        shown = next((n for _, n in files if n in new_files), new_files[0] if new_files else None)
        if shown is not None and shown != new_file:
            return shown, 1, 1, f"shown here: {removed} was in a file the new version lacks"
    kept = [
        (c.old.line, c.new)
        for c in changes
        if c.old is not None
        and c.new is not None
        and c.old.source == ref.source
        and (c.new.source or c.new.version) == new_file
        and c.old.line is not None
    ]
    line = ref.line or 0
    after = [(old_line, new) for old_line, new in kept if old_line > line]
    if after:
        new = min(after, key=lambda k: k[0])[1]
        return new_file, new.line, new.column, f"shown where {removed} was: just before this"
    before = [(old_line, new) for old_line, new in kept if old_line < line]
    if before:
        new = max(before, key=lambda k: k[0])[1]
        return new_file, new.line, new.column, f"shown where {removed} was: just after this"
    return new_file, 1, 1, f"shown where {removed} was: in this file"


DIFF_RULES = {
    "newly allowed": (
        "D001",
        "newly-allowed",
        "requests the old policies denied are now allowed",
        "warning",
    ),
    "newly denied": (
        "D002",
        "newly-denied",
        "requests the old policies allowed are now denied",
        "warning",
    ),
}


def _results_at(
    code: str,
    text: str,
    refs: Sequence[PolicyRef],
    changes: Sequence[PolicyChange],
    files: Sequence[tuple[str, str]],
    root: str | None,
    key: Sequence[str],
    properties: dict[str, Any],
) -> list[dict[str, Any]]:
    """One result per policy in `refs` (each shown in the new version), or one on the new
    file when there is none."""
    places = [relocate(r, changes, files) for r in refs]
    names = [r.name for r in refs]
    if not places:
        places, names = [(files[-1][1] if files else "new", None, None, None)], [""]
    out = []
    for (path, line, column, why), name in zip(places, names, strict=True):
        location = _place(path, line, column, root)
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        out.append(
            {
                "ruleId": code,
                "level": "warning",
                "message": {"text": text + (f"; {why}" if why else "")},
                "locations": [location],
                "partialFingerprints": _fingerprint(code, uri, name, *key),
                "properties": properties,
            }
        )
    return out


def diff_sarif(result: DiffResult, root: str | None = None) -> dict[str, Any]:
    rules = _rules(list(DIFF_RULES.values()))
    results = []
    files = result.file_pairs
    for env, cls in result.classes:
        code = DIFF_RULES[cls.transition][0]
        refs = cls.responsible or cls.new_satisfied or cls.old_satisfied
        key = [
            str(env),
            cls.transition,
            ",".join(sorted(p.name for p in cls.old_satisfied)),
            ",".join(sorted(p.name for p in cls.new_satisfied)),
        ]
        results += _results_at(
            code,
            f"{env}: {cls.explanation}",
            refs,
            result.changes,
            files,
            root,
            key,
            {"witness": cls.witness.to_json()},
        )
    notes = [] if result.complete else [f"the search was incomplete in {incompleteness(result)}"]
    return _log(rules, results, notes, bool(result.interrupted), root)


COMPARE_RULES = {
    "less-permissive": (
        "C001",
        "less-permissive",
        "the new policies deny requests the old ones allowed",
        "warning",
    ),
    "more-permissive": (
        "C002",
        "more-permissive",
        "the new policies allow requests the old ones denied",
        "warning",
    ),
}


def compare_sarif(result: CompareResult, root: str | None = None) -> dict[str, Any]:
    """A result per request a version decides differently, at the new policies deciding it
    (a forbid that now denies, a permit that now allows), or at the old permits that allowed
    it when no new policy decides it."""
    rules = _rules(list(COMPARE_RULES.values()))
    results = []
    files = result.files or ((result.old_label, result.new_label),)
    for env, d in result.differences:
        code = COMPARE_RULES[d.direction][0]
        text = f"{env}: {d.direction}: {DIRECTION[d.direction]}"
        refs: list[tuple[PolicyRef | None, str]] = []
        if d.new_policies:
            what = "allows" if d.direction == "more-permissive" else "denies"
            refs = [(r, f"{text}: {r.effect} `{r.name}` {what} it in NEW") for r in d.new_policies]
        else:
            refs = [(r, f"{text}: {r.effect} `{r.name}` allowed it in OLD") for r in d.old_policies]
        for ref, message in refs or [(None, text)]:
            results += _results_at(
                code,
                message,
                [ref] if ref is not None else [],
                result.changes,
                files,
                root,
                [str(env), d.direction],
                {"counterexample": d.counterexample.to_json()},
            )
    notes = [f"{e.env}: unknown: {e.reason}" for e in result.environments if e.reason]
    if result.interrupted:
        notes.append(
            f"interrupted by {result.interrupted}; {len(result.unfinished)} request "
            "environments not compared"
        )
    return _log(rules, results, notes, bool(result.interrupted), root)
