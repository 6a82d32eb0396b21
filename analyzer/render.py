"""Rendering answers for people: one line per environment and readable counterexamples.

Computing answers (analyzer/runner.py) and showing them are kept apart; JSON comes from the
result records' `to_json`.
"""

from __future__ import annotations

from cedar_smt.analyzer.diff import DiffResult
from cedar_smt.analyzer.lint import LintResult
from cedar_smt.analyzer.results import Counterexample, QueryResult, Verdict
from cedar_smt.core.entities import Entity
from cedar_smt.core.values import to_cedar

_MARK = {Verdict.HOLDS: "holds  ", Verdict.REFUTED: "REFUTED", Verdict.UNKNOWN: "UNKNOWN"}


def render_entity(e: Entity) -> str:
    text = str(e.uid)
    if e.parents:
        text += " in [" + ", ".join(str(p) for p in sorted(e.parents)) + "]"
    if e.attrs:
        text += " " + to_cedar(e.attrs)
    if e.tags:
        text += " tags " + to_cedar(e.tags)
    return text


def render_counterexample(cx: Counterexample, indent: str = "    ") -> list[str]:
    r = cx.request
    lines = [
        f"{indent}request:   principal {r.principal}, action {r.action}, resource {r.resource}",
        f"{indent}           context {to_cedar(r.context)}",
    ]
    entities = [e for uid, e in sorted(cx.entities.items()) if not uid.type.endswith("Action")]
    if entities:
        lines.append(f"{indent}entities:  {render_entity(entities[0])}")
        lines.extend(f"{indent}           {render_entity(e)}" for e in entities[1:])
    else:
        lines.append(f"{indent}entities:  none (no entity the policies read exists)")
    parts = []
    for label, decision in cx.decisions.items():
        detail = cx.details.get(label) or {}
        why = ", ".join(detail.get("reasons", []))
        errors = ", ".join(detail.get("errors", {}))
        extra = "; ".join(
            x for x in (f"by {why}" if why else "", f"errors in {errors}" if errors else "") if x
        )
        parts.append(f"{label}: {decision.upper()}" + (f" ({extra})" if extra else ""))
    lines.append(f"{indent}decisions: " + "; ".join(parts))
    return lines


def render_text(result: QueryResult, title: str | None = None) -> str:
    """The answer per environment, counterexamples under refuted ones, and a summary line."""
    lines = []
    for env in result.environments:
        line = f"{_MARK[env.verdict]}  {env.env}"
        if env.reason:
            line += f"  ({env.reason})"
        lines.append(line)
        if env.counterexample is not None:
            lines.extend(render_counterexample(env.counterexample))
    counts = {v: sum(1 for e in result.environments if e.verdict is v) for v in Verdict}
    n = len(result.environments)
    summary = f"{title or result.query}: {result.verdict.value.upper()}"
    if result.verdict is Verdict.HOLDS:
        summary += f" in all {n} request environment{'s' if n != 1 else ''}"
    else:
        summary += (
            f" ({counts[Verdict.REFUTED]} refuted, {counts[Verdict.UNKNOWN]} unknown, "
            f"{counts[Verdict.HOLDS]} hold, of {n})"
        )
    lines.append(summary)
    return "\n".join(lines)


def render_diff(result: DiffResult) -> str:
    """Policy changes, then each class of changed requests per environment, then a summary."""
    lines = []
    changed = [c for c in result.changes if c.kind != "unchanged"]
    if changed:
        lines.append("policies:")
        for c in changed:
            ref = c.new if c.kind == "added" else c.old
            assert ref is not None
            where = ref.where if c.kind != "changed" or c.new is None else c.new.where
            lines.append(f"  {c.kind:8} {ref.effect} `{ref.name}` ({where})")
    else:
        lines.append("policies: no policy added, removed or changed")
    for env in result.environments:
        if not env.classes and env.complete:
            lines.append(f"unchanged  {env.env}")
            continue
        if not env.complete:
            lines.append(
                f"UNKNOWN    {env.env}  ({env.reason}; the classes below may be incomplete)"
            )
        for cls in env.classes:
            lines.append(f"CHANGED    {env.env}: {cls.explanation}")
            lines.extend(render_counterexample(cls.witness))
    n = len(result.classes)
    if result.decisions_change:
        lines.append(
            f"diff: {n} class{'es' if n != 1 else ''} of requests "
            f"change{'' if n != 1 else 's'} decision"
        )
    elif result.complete:
        lines.append("diff: no request changes decision")
    else:
        lines.append("diff: UNKNOWN (no change found, but the search was incomplete)")
    return "\n".join(lines)


def render_lint(result: LintResult) -> str:
    lines = []
    for f in result.findings:
        p = f.policy
        where = f"{p.source}:{p.line}:{p.column}" if p.line else (p.source or p.version)
        lines.append(f"{where}: {f.code} {f.rule.name}: {p.effect} `{p.name}`: {f.message}")
        if f.witness is not None:
            lines.extend(render_counterexample(f.witness))
    for u in result.undecided:
        lines.append(
            f"{u.policy.where}: could not decide {u.check} for `{u.policy.name}`: {u.reason}"
        )
    n = len(result.findings)
    lines.append(
        f"lint: {n} finding{'s' if n != 1 else ''}"
        + (f", {len(result.undecided)} undecided" if result.undecided else "")
    )
    return "\n".join(lines)
