"""Rendering answers for people: one line per environment and readable counterexamples.

Computing answers (analyzer/runner.py) and showing them are kept apart; JSON comes from the
result records' `to_json`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cedar_smt.analyzer.assumptions import Assumption
from cedar_smt.analyzer.compare import CompareResult, Comparison
from cedar_smt.analyzer.diff import STOPPED_BY, DiffResult, PolicyChange
from cedar_smt.analyzer.links import describe_links
from cedar_smt.analyzer.lint import LintResult
from cedar_smt.analyzer.results import Counterexample, Dependence, QueryResult, Verdict
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
    for i, link in enumerate(describe_links(cx.links)):
        lines.append(f"{indent}{'links:' if i == 0 else '':<11}{link}")
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


SHOWN_IGNORED = 3  # environments named where an assumption does not apply


def render_assumptions(assumptions: Sequence[Assumption]) -> list[str]:
    """The assumptions, each with its name and place, and where it does not apply."""
    if not assumptions:
        return []
    lines = ["assumptions (every request is assumed to satisfy them):"]
    for a in assumptions:
        lines.append(f"  {a.id}  {a.condition}  ({a.where})")
        if a.ignored:
            shown = "; ".join(f"{e} ({why})" for e, why in a.ignored[:SHOWN_IGNORED])
            more = len(a.ignored) - SHOWN_IGNORED
            n = len(a.ignored)
            lines.append(
                f"      does not typecheck, so does not constrain, in {n} "
                f"environment{'s' if n != 1 else ''}: {shown}"
                + (f" (and {more} more)" if more > 0 else "")
            )
    return lines


def dependence_note(d: Dependence | None) -> str:
    """`under assumption A1`, or the like; nothing when the answer needs no assumption."""
    if d is None or d.kind == "none":
        return ""
    return d.describe()


def render_text(result: QueryResult, title: str | None = None) -> str:
    """The answer per environment, counterexamples under refuted ones, and a summary line."""
    lines = render_assumptions(result.assumptions)
    for env in result.environments:
        line = f"{_MARK[env.verdict]}  {env.env}"
        why = [env.reason] if env.reason else []
        if env.verdict is Verdict.HOLDS and dependence_note(env.dependence):
            why.append(dependence_note(env.dependence))
        if why:
            line += f"  ({'; '.join(why)})"
        lines.append(line)
        if env.counterexample is not None:
            lines.extend(render_counterexample(env.counterexample))
    counts = {v: sum(1 for e in result.environments if e.verdict is v) for v in Verdict}
    n = len(result.environments) + len(result.unfinished)
    summary = f"{title or result.query}: {result.verdict.value.upper()}"
    if result.verdict is Verdict.HOLDS:
        summary += f" in all {n} request environment{'s' if n != 1 else ''}"
        summary += _overall_dependence(result.dependence)
    else:
        stop = ""
        if result.interrupted:
            stop = f"; interrupted by {result.interrupted}, {len(result.unfinished)} not analysed"
        summary += (
            f" ({counts[Verdict.REFUTED]} refuted, {counts[Verdict.UNKNOWN]} unknown, "
            f"{counts[Verdict.HOLDS]} hold, of {n}{stop})"
        )
    lines.append(summary)
    return "\n".join(lines)


def _overall_dependence(d: Dependence | None) -> str:
    """What a `holds` over several environments needed of the assumptions."""
    if d is None:
        return ""
    if d.kind == "none":
        return ", without needing the assumptions"
    ids = ", ".join(d.on)
    plural = "s" if len(d.on) != 1 else ""
    if d.kind == "may-depend":
        return f", possibly only under assumption{plural} {ids} (the solver gave no unsat core)"
    if d.kind == "vacuous":
        return f", vacuously: no request satisfies assumption{plural} {ids}"
    return f", under assumption{plural} {ids}"


def _classes(n: int) -> str:
    return f"{n} class{'es' if n != 1 else ''}"


def incompleteness(result: DiffResult) -> str:
    """Where and why the search stopped early: `2 of 9 environments: ...`."""
    total = len(result.environments) + len(result.unfinished)
    stopped = result.incomplete
    by = {key: [e for e in stopped if e.stopped_by == key] for key in STOPPED_BY}
    why = []
    if by["class-limit"]:
        why.append(
            f"{len(by['class-limit'])} stopped at the limit of {_classes(result.max_classes)} "
            "(raise --max-classes to find more)"
        )
    if by["solver"]:
        reasons = "; ".join(sorted({e.reason or "" for e in by["solver"]}))
        why.append(f"{len(by['solver'])} where the solver gave up ({reasons})")
    if by["unsupported"]:
        why.append(f"{len(by['unsupported'])} with a construct the encoder cannot represent")
    if result.interrupted:
        cut = len(by["interrupted"]) + len(result.unfinished)
        why.append(f"{cut} not searched to the end (interrupted by {result.interrupted})")
    count = len(stopped) + len(result.unfinished)
    return f"{count} of {total} environment{'s' if total != 1 else ''}: {'; '.join(why)}"


def render_diff(result: DiffResult) -> str:
    """Policy changes, then each class of changed requests per environment, then a summary."""
    lines = []
    changed = [c for c in result.changes if c.kind != "unchanged"]
    if changed:
        lines.append("policies:")
        for c in changed:
            lines.append(f"  {c.kind:8} {_policy_change(c)}")
    else:
        lines.append("policies: no policy added, removed or changed")
    lines.extend(f"  note: {n}" for n in result.notes)
    lines.extend(render_assumptions(result.assumptions))
    for env in result.environments:
        if not env.classes and env.complete:
            note = dependence_note(env.dependence)
            lines.append(f"unchanged  {env.env}" + (f"  ({note})" if note else ""))
            continue
        if not env.complete:
            more = "; the classes below are not all of them" if env.classes else ""
            lines.append(f"INCOMPLETE {env.env}  ({env.reason}{more})")
        for cls in env.classes:
            lines.append(f"CHANGED    {env.env}: {cls.explanation}")
            lines.extend(render_counterexample(cls.witness))
    n = len(result.classes)
    if result.decisions_change:
        classes = f"{n} class{'es' if n != 1 else ''} of requests change{'' if n != 1 else 's'}"
        if result.complete:
            lines.append(f"diff: {classes} decision")
        else:
            lines.append(
                f"diff: at least {classes} decision; the search was incomplete in "
                + incompleteness(result)
            )
    elif result.complete:
        lines.append("diff: no request changes decision" + _overall_dependence(result.dependence))
    else:
        lines.append(
            "diff: UNKNOWN: no change found, but the search was incomplete in "
            + incompleteness(result)
        )
    return "\n".join(lines)


def _policy_change(c: PolicyChange) -> str:
    """`effect `name` (file:line)`; a changed policy at its new place, with what changed."""
    if c.old is None or c.new is None:
        ref = c.new or c.old
        assert ref is not None
        return f"{ref.effect} `{ref.name}` ({ref.where})"
    text = f"{c.new.effect} `{c.new.name}` ({c.new.where}"
    if c.old.effect != c.new.effect:
        text += f", was a {c.old.effect}"
    if c.matched_by == "position":
        text += f", paired by position with {c.old.where}"
    return text + ")"


def render_lint(result: LintResult) -> str:
    lines = render_assumptions(result.assumptions)
    for f in result.findings:
        p = f.policy
        where = f"{p.source}:{p.line}:{p.column}" if p.line else (p.source or p.version)
        note = dependence_note(f.dependence)
        under = f" ({note})" if note else ""
        lines.append(f"{where}: {f.code} {f.rule.name}: {p.effect} `{p.name}`: {f.message}{under}")
        if f.witness is not None:
            lines.extend(render_counterexample(f.witness))
    for u in result.undecided:
        lines.append(
            f"{u.policy.where}: could not decide {u.check} for `{u.policy.name}`: {u.reason}"
        )
    n = len(result.findings)
    stop = ""
    if result.interrupted:
        stop = (
            f"; interrupted by {result.interrupted} before {len(result.unlinted)} "
            f"polic{'ies were' if len(result.unlinted) != 1 else 'y was'} linted to the end"
        )
    lines.append(
        f"lint: {n} finding{'s' if n != 1 else ''}"
        + (f", {len(result.undecided)} undecided" if result.undecided else "")
        + stop
    )
    return "\n".join(lines)


_COMPARISON_MARK = {
    Comparison.EQUIVALENT: "equivalent     ",
    Comparison.LESS: "LESS-PERMISSIVE",
    Comparison.MORE: "MORE-PERMISSIVE",
    Comparison.INCOMPARABLE: "INCOMPARABLE   ",
    Comparison.UNKNOWN: "UNKNOWN        ",
}

DIRECTION = {
    "less-permissive": "OLD allows it, NEW denies it",
    "more-permissive": "NEW allows it, OLD denies it",
}


def comparison_summary(result: CompareResult) -> str:
    """`NEW is less permissive than OLD: ...`, in a sentence."""
    old, new = f"`{result.old_label}`", f"`{result.new_label}`"
    verdict = result.result
    if verdict is Comparison.EQUIVALENT:
        return f"{new} and {old} decide every request the same way"
    if verdict is Comparison.LESS:
        return f"{new} allows only what {old} allows, and not all of it"
    if verdict is Comparison.MORE:
        return f"{new} allows all that {old} allows, and more"
    if verdict is Comparison.INCOMPARABLE:
        return f"each of {new} and {old} allows requests the other denies"
    could = " or ".join(c.value for c in result.possible)
    return f"not every check was decided: it may be {could}"


def render_compare(result: CompareResult) -> str:
    """The comparison per environment, a counterexample each way where they differ, and the
    overall verdict."""
    lines = render_assumptions(result.assumptions)
    for env in result.environments:
        line = f"{_COMPARISON_MARK[env.result]}  {env.env}"
        why = [env.reason] if env.reason else []
        if dependence_note(env.dependence):
            why.append(dependence_note(env.dependence))
        if why:
            line += f"  ({'; '.join(why)})"
        lines.append(line)
        for d in env.differences:
            lines.append(f"    {DIRECTION[d.direction]}:")
            lines.extend(render_counterexample(d.counterexample, indent="      "))
    counts = {c: sum(1 for e in result.environments if e.result is c) for c in Comparison}
    n = len(result.environments) + len(result.unfinished)
    tally = ", ".join(f"{counts[c]} {c.value.replace('-', ' ')}" for c in Comparison if counts[c])
    stop = ""
    if result.interrupted:
        stop = f"; interrupted by {result.interrupted}, {len(result.unfinished)} not compared"
    lines.append(
        f"compare: {result.result.value.upper()}: {comparison_summary(result)} "
        f"({tally or 'nothing compared'}, of {n} request environment{'s' if n != 1 else ''}"
        f"{stop}){_overall_dependence(result.dependence)}"
    )
    return "\n".join(lines)
