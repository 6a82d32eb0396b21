"""Reports for people: a result as a short document, written as Markdown or as one HTML file.

A report is built once from a result (`report_of`: a query, a diff, a comparison, a lint),
as frozen records (a title, the verdict, sections of items, a table and collapsible
counterexamples), and then written by `to_markdown` (for a pull-request comment or a CI job
summary) or `to_html` (one self-contained file: no scripts, no outside resources), so both
say the same. Text in a report is plain except between backticks, which is code.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cedar_smt.analyzer.assumptions import Assumption
from cedar_smt.analyzer.compare import CompareResult, Comparison
from cedar_smt.analyzer.diff import DiffResult, PolicyChange
from cedar_smt.analyzer.lint import LintResult
from cedar_smt.analyzer.render import (
    DIRECTION,
    comparison_summary,
    dependence_note,
    incompleteness,
    render_counterexample,
)
from cedar_smt.analyzer.results import Counterexample, QueryResult, Verdict


@dataclass(frozen=True)
class Detail:
    """A collapsible block: a one-line summary, and preformatted text under it."""

    summary: str
    body: str


@dataclass(frozen=True)
class Section:
    heading: str
    items: tuple[str, ...] = ()
    header: tuple[str, ...] = ()  # the table's column names; no table when empty
    rows: tuple[tuple[str, ...], ...] = ()
    details: tuple[Detail, ...] = ()


@dataclass(frozen=True)
class Report:
    title: str
    verdict: str  # the answer in one line, its first word the verdict
    sections: tuple[Section, ...] = ()


Result = QueryResult | DiffResult | CompareResult | LintResult


def report_of(result: Result) -> Report:
    if isinstance(result, QueryResult):
        report = query_report(result)
    elif isinstance(result, DiffResult):
        report = diff_report(result)
    elif isinstance(result, CompareResult):
        report = compare_report(result)
    else:
        report = lint_report(result)
    if not result.assumptions:
        return report
    return replace(report, sections=(assumptions_section(result.assumptions), *report.sections))


def assumptions_section(assumptions: Sequence[Assumption]) -> Section:
    """The assumptions every request was assumed to satisfy, and where each does not apply."""
    items = []
    for a in assumptions:
        item = f"{a.id}: {_code(a.condition)} ({_code(a.where)})"
        if a.ignored:
            envs = ", ".join(_code(str(e)) for e, _ in a.ignored)
            item += f"; does not typecheck, so does not constrain, in {envs}"
        items.append(item)
    return Section("Assumptions", items=tuple(items))


def _code(text: str) -> str:
    """`text` as code, whatever backticks it holds."""
    return f"`{text.replace('`', chr(0x2018))}`"


def _counterexample(cx: Counterexample) -> str:
    return "\n".join(render_counterexample(cx, indent=""))


def _count(n: int, what: str, plural: str | None = None) -> str:
    return f"{n} {what if n == 1 else plural or what + 's'}"


def query_report(result: QueryResult) -> Report:
    rows = []
    details = []
    for e in result.environments:
        note = dependence_note(e.dependence) if e.verdict is Verdict.HOLDS else ""
        rows.append((_code(str(e.env)), e.verdict.value, e.reason or note))
        if e.counterexample is not None:
            details.append(
                Detail(f"{_code(str(e.env))}: counterexample", _counterexample(e.counterexample))
            )
    rows.extend(
        (_code(str(env)), "not analysed", f"interrupted by {result.interrupted}")
        for env in result.unfinished
    )
    n = len(result.environments) + len(result.unfinished)
    counts = {v: sum(1 for e in result.environments if e.verdict is v) for v in Verdict}
    if result.verdict is Verdict.HOLDS:
        verdict = f"HOLDS in all {_count(n, 'request environment')}"
    else:
        verdict = (
            f"{result.verdict.value.upper()}: {counts[Verdict.REFUTED]} refuted, "
            f"{counts[Verdict.UNKNOWN]} unknown, {counts[Verdict.HOLDS]} hold, of {n} request "
            "environments"
        )
    if result.description:
        verdict += f" (the query {result.description})"
    section = Section(
        "Request environments",
        header=("environment", "result", "reason"),
        rows=tuple(rows),
        details=tuple(details),
    )
    return Report(f"cedar-smt {result.query}", verdict, (section,))


def _policy_items(
    changes: tuple[PolicyChange, ...], notes: tuple[str, ...] = ()
) -> tuple[str, ...]:
    items = []
    for c in changes:
        if c.kind == "unchanged":
            continue
        ref = c.new or c.old
        assert ref is not None
        item = f"{c.kind} {ref.effect} {_code(ref.name)} ({ref.where})"
        if c.old is not None and c.new is not None and c.old.effect != c.new.effect:
            item += f", was a {c.old.effect}"
        items.append(item)
    return tuple(items or ["no policy added, removed or changed"]) + notes


def diff_report(result: DiffResult) -> Report:
    n = len(result.classes)
    classes = f"{_count(n, 'class', 'classes')} of requests change{'s' if n == 1 else ''} decision"
    if result.decisions_change:
        verdict = f"CHANGED: {classes}" if result.complete else f"CHANGED: at least {classes}"
    elif result.complete:
        verdict = "UNCHANGED: no request changes decision"
    else:
        verdict = "UNKNOWN: no change found, but the search was incomplete"
    rows = []
    details = []
    for env, cls in result.classes:
        transition, _, why = cls.explanation.partition(": ")
        rows.append((_code(str(env)), transition, why))
        details.append(
            Detail(f"{_code(str(env))}: {transition}, for example", _counterexample(cls.witness))
        )
    sections = [Section("Policies", _policy_items(result.changes, result.notes))]
    if rows:
        sections.append(
            Section(
                "Changed decisions",
                header=("environment", "change", "why"),
                rows=tuple(rows),
                details=tuple(details),
            )
        )
    if not result.complete:
        items = [f"the search was incomplete in {incompleteness(result)}"]
        items += [f"{_code(str(e.env))}: {e.reason}" for e in result.incomplete]
        sections.append(Section("Incomplete", tuple(items)))
    title = f"cedar-smt diff: {_code(result.old_label)} → {_code(result.new_label)}"
    return Report(title, verdict, tuple(sections))


def compare_report(result: CompareResult) -> Report:
    verdict = f"{result.result.value.upper()}: {comparison_summary(result)}"
    rows = []
    details = []
    for e in result.environments:
        rows.append((_code(str(e.env)), e.result.value, e.reason or ""))
        for d in e.differences:
            details.append(
                Detail(
                    f"{_code(str(e.env))}: {DIRECTION[d.direction]}",
                    _counterexample(d.counterexample),
                )
            )
    rows.extend(
        (_code(str(env)), "not compared", f"interrupted by {result.interrupted}")
        for env in result.unfinished
    )
    counts = {c: sum(1 for e in result.environments if e.result is c) for c in Comparison}
    tally = ", ".join(f"{counts[c]} {c.value}" for c in Comparison if counts[c])
    sections = (
        Section("Policies", _policy_items(result.changes)),
        Section(
            "Request environments",
            (tally,) if tally else (),
            ("environment", "result", "reason"),
            tuple(rows),
            tuple(details),
        ),
    )
    title = f"cedar-smt compare: {_code(result.old_label)} → {_code(result.new_label)}"
    return Report(title, verdict, sections)


def lint_report(result: LintResult) -> Report:
    rows = []
    details = []
    for f in result.findings:
        p = f.policy
        where = f"{p.source}:{p.line}:{p.column}" if p.line else (p.source or p.version)
        note = dependence_note(f.dependence)
        message = f"{f.message} ({note})" if note else f.message
        rows.append((where, f"{f.code} {f.rule.name}", f"{p.effect} {_code(p.name)}", message))
        if f.witness is not None:
            details.append(
                Detail(
                    f"{where}: {f.code} {_code(p.name)}, for example", _counterexample(f.witness)
                )
            )
    n = len(result.findings)
    if n:
        verdict = f"FINDINGS: {_count(n, 'finding')}"
    elif result.complete:
        verdict = "CLEAN: no findings"
    else:
        verdict = "UNKNOWN: no findings, but some checks were undecided"
    if result.undecided:
        verdict += f", {len(result.undecided)} undecided"
    sections = [
        Section(
            "Findings",
            () if rows else ("none",),
            ("place", "rule", "policy", "finding"),
            tuple(rows),
            tuple(details),
        )
    ]
    if result.undecided or result.interrupted:
        items = [
            f"{u.policy.where}: could not decide {u.check} for {_code(u.policy.name)}: {u.reason}"
            for u in result.undecided
        ]
        if result.interrupted:
            left = _count(len(result.unlinted), "policy", "policies")
            items.append(
                f"interrupted by {result.interrupted} before {left} were linted to the end"
            )
        sections.append(Section("Undecided", tuple(items)))
    return Report(f"cedar-smt lint: {_code(result.label)}", verdict, tuple(sections))


# Markdown


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown, counterexamples in `<details>` blocks."""
    first, _, rest = report.verdict.partition(":")
    lines = [f"### {report.title}", "", f"**{first}**{':' + rest if rest else ''}"]
    for s in report.sections:
        lines += ["", f"#### {s.heading}"]
        if s.items:
            lines.append("")
            lines.extend(f"- {item}" for item in s.items)
        if s.header:
            lines += ["", "| " + " | ".join(s.header) + " |", "|" + "---|" * len(s.header)]
            lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in s.rows)
        for d in s.details:
            fence = _fence(d.body)
            lines += ["", "<details>", f"<summary>{_inline_html(d.summary)}</summary>", ""]
            lines += [f"{fence}text", d.body, fence, "", "</details>"]
    return "\n".join(lines) + "\n"


# HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1f2328; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
code { background: #eff1f3; padding: 0.1em 0.3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
details { margin: 0.4em 0; }
summary { cursor: pointer; }
.verdict { font-size: 1.1em; }
""".strip()


def _inline_html(text: str) -> str:
    """Escaped text, with what is between backticks as `<code>`."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        escaped = html.escape(part, quote=False)
        out.append(f"<code>{escaped}</code>" if i % 2 and i < len(parts) - 1 else escaped)
    return "".join(out)


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page, with the same content as the Markdown."""
    first, _, rest = report.verdict.partition(":")
    body = [
        f"<h1>{_inline_html(report.title)}</h1>",
        f'<p class="verdict"><strong>{_inline_html(first)}</strong>'
        f"{':' + _inline_html(rest) if rest else ''}</p>",
    ]
    for s in report.sections:
        body.append(f"<h2>{_inline_html(s.heading)}</h2>")
        if s.items:
            body.append("<ul>")
            body.extend(f"<li>{_inline_html(item)}</li>" for item in s.items)
            body.append("</ul>")
        if s.header:
            body.append("<table>")
            body.append("<tr>" + "".join(f"<th>{_inline_html(h)}</th>" for h in s.header) + "</tr>")
            for row in s.rows:
                body.append("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>")
            body.append("</table>")
        for d in s.details:
            body.append(
                f"<details><summary>{_inline_html(d.summary)}</summary>"
                f"<pre>{html.escape(d.body, quote=False)}</pre></details>"
            )
    title = html.escape(report.title.replace("`", ""), quote=False)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


__all__ = [
    "Detail",
    "Report",
    "Section",
    "compare_report",
    "diff_report",
    "lint_report",
    "query_report",
    "report_of",
    "to_html",
    "to_markdown",
]
