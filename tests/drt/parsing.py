"""Check (d), parsing: our parser against Cedar's on the texts of tests/drt/mutations.py.

A text must be accepted by us exactly when `cedarpy.PolicySet.from_str` accepts it (the
cheapest call that parses a whole policy set, templates included). An accepted text must mean
the same policies on both sides: the same effects, annotations, scopes (ours written as Cedar's
JSON policy form writes them, against `cedarpy.policies_to_json_str`) and kinds of conditions,
and the same answers (decision, determining and erroring policies) to the case's requests,
read without a schema, with each template linked to the first request's principal and
resource.

cedarpy overflows its stack, killing its process, on a few hundred nested brackets, a few
thousand nested `if` or (writing its JSON form) some 20,000 chained operators: a text that
nests deeper than `SAFE_DEPTH` brackets or holds more than `SAFE_IFS` `if`s or `SAFE_CHAIN`
operators is handed to cedarpy in a child process, and a text that kills that process is
unusable. So is a text longer than `SAFE_LENGTH`: Cedar keeps a copy of the text with each
error it finds, and 50,000 bad escapes in a 100 KB text took it 9.5 GB and 20 s; the child
may use `CHILD_MEMORY` bytes of address space. Where Cedar's evaluator reports `recursion
limit reached` (its evaluator's limit is set by its stack, not by the language), answers are
not compared.
"""

from __future__ import annotations

import json
import re
import resource
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from cedar_smt.core import CedarError, Entities, PolicySet, Request, is_authorized
from cedar_smt.core.depth import room_for_depth
from cedar_smt.core.policy import (
    Policy,
    ScopeAny,
    ScopeConstraint,
    ScopeEq,
    ScopeIn,
    ScopeInSet,
    ScopeIs,
    ScopeIsIn,
)
from cedar_smt.core.values import EntityUID

from .mutations import TextCase
from .sides import Mismatch, Outcome, answer, cedar_answer, crash_text

SAFE_DEPTH = 400  # cedarpy's parser survives about 660 nested brackets
SAFE_IFS = 2_500  # and about 4,400 nested `if`
SAFE_CHAIN = 8_000  # and, writing its JSON form, 15,000 chained operators (not 20,000)
SAFE_LENGTH = 20_000  # characters
CHILD_MEMORY = 4 << 30
CHILD_SECONDS = 300
RECURSION_LIMIT = "recursion limit reached"

_NESTING = re.compile(
    r'"(?:[^"\\]|\\.)*"|//[^\n\r]*|[(\[{]|[)\]}]|\bif\b'
    r"|&&|\|\||==|!=|<=|>=|[-+*.<>]|\b(?:in|has|like|is)\b",
    re.DOTALL,
)


def nesting(text: str) -> tuple[int, int, int]:
    """The deepest nesting of brackets in the text, how many `if`s and how many operators it
    holds (strings and comments aside, roughly as Cedar reads them)."""
    depth = deepest = ifs = operators = 0
    for m in _NESTING.finditer(text):
        token = m.group()
        if token in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in ")]}":
            depth -= 1
        elif token == "if":
            ifs += 1
        elif token[0] not in '"/':
            operators += 1
    return deepest, ifs, operators


# ---- the two sides ----


def _links(policy_ids: list[str], slots: dict[str, tuple[str, ...]], case: TextCase) -> list[Any]:
    """A link of each template (in order) to the first request's principal and resource."""
    if not case.requests:
        return []
    try:
        first = Request.from_json(case.requests[0])
    except CedarError:
        return []
    values = {"?principal": first.principal.to_json(), "?resource": first.resource.to_json()}
    return [
        {"template_id": t, "new_id": f"link{i}", "values": {s: values[s] for s in slots[t]}}
        for i, t in enumerate(policy_ids)
    ]


def cedar_reading(case: TextCase) -> dict[str, Any]:
    """What cedarpy makes of the text: refused, or its policies and answers."""
    try:
        policies = cedarpy.PolicySet.from_str(case.text)
    except ValueError as err:
        return {"accepted": False, "message": str(err)[:500]}
    est = _json_form(case.text)
    summaries = {}
    for kind in ("staticPolicies", "templates"):
        for pid, p in est.get(kind, {}).items():
            summaries[pid] = {
                "effect": p["effect"],
                "template": kind == "templates",
                "annotations": p.get("annotations", {}),
                "principal": p["principal"],
                "action": p["action"],
                "resource": p["resource"],
                "conditions": [c["kind"] for c in p["conditions"]],
            }
    templates = sorted((p for p in summaries if summaries[p]["template"]), key=_index)
    slots = {t: _est_slots(summaries[t]) for t in templates}
    links = _links(templates, slots, case)
    if links:
        policies = policies.with_linked_batch(links)
    try:
        entities = cedarpy.Entities.from_json_str(json.dumps(list(case.entities)))
    except ValueError:
        entities = cedarpy.Entities.from_json_str("[]")
    answers, limited = [], False
    if case.requests:
        results = cedarpy.is_authorized_batch(list(case.requests), policies, entities)
        answers = [cedar_answer(r) for r in results]
        limited = any(RECURSION_LIMIT in e for r in results for e in r.diagnostics.errors)
    return {"accepted": True, "policies": summaries, "answers": answers, "limited": limited}


@room_for_depth()
def _json_form(text: str) -> Any:
    """Cedar's JSON form of the policies, decoded with room for its depth (a chain of 10,000
    operators is a JSON object 10,000 levels deep)."""
    return json.loads(cedarpy.policies_to_json_str(text))


def _est_slots(summary: dict[str, Any]) -> tuple[str, ...]:
    out = []
    for var in ("principal", "resource"):
        scope = summary[var]
        if "slot" in scope or "slot" in scope.get("in", {}):
            out.append(f"?{var}")
    return tuple(out)


def _index(policy_id: str) -> int:
    return int(policy_id.removeprefix("policy"))


def our_reading(case: TextCase) -> dict[str, Any]:
    """What we make of the text, in the form of `cedar_reading`."""
    try:
        policies = PolicySet.from_str(case.text)
    except CedarError as err:
        return {"accepted": False, "message": str(err)[:500]}
    summaries = {p.id: _summary(p) for p in [*policies.templates.values(), *policies]}
    templates = sorted(policies.templates, key=_index)
    slots = {t: policies.templates[t].slots for t in templates}
    for link in _links(templates, slots, case):
        values = {s: EntityUID(v["type"], v["id"]) for s, v in link["values"].items()}
        policies.link(link["template_id"], link["new_id"], values)
    try:
        entities = Entities.from_json(list(case.entities))
    except CedarError:
        entities = Entities([])
    answers = []
    for spec in case.requests:
        try:
            request = Request.from_json(spec)
        except CedarError as err:
            answers.append({"refused": str(err)})
            continue
        try:
            response = is_authorized(request, policies, entities)
        except CedarError as err:  # too deep for us to evaluate
            answers.append({"too deep": str(err)})
            continue
        answers.append(answer(response.decision, response.reasons, response.errors))
    return {"accepted": True, "policies": summaries, "answers": answers}


def _summary(p: Policy) -> dict[str, Any]:
    return {
        "effect": p.effect.value,
        "template": p.is_template,
        "annotations": dict(p.annotations),
        "principal": scope_json(p.principal),
        "action": scope_json(p.action),
        "resource": scope_json(p.resource),
        "conditions": [c.kind for c in p.conditions],
    }


def scope_json(c: ScopeConstraint) -> dict[str, Any]:
    """A scope constraint as Cedar's JSON policy form writes it."""

    def target(e: Any) -> dict[str, Any]:
        return {"entity": e.to_json()} if isinstance(e, EntityUID) else {"slot": e.name}

    match c:
        case ScopeAny():
            return {"op": "All"}
        case ScopeEq(entity=e):
            return {"op": "==", **target(e)}
        case ScopeIn(entity=e):
            return {"op": "in", **target(e)}
        case ScopeInSet(entities=(e,)):  # Cedar writes a list of one as the one entity
            return {"op": "in", "entity": e.to_json()}
        case ScopeInSet(entities=es):
            return {"op": "in", "entities": [e.to_json() for e in es]}
        case ScopeIs(entity_type=t):
            return {"op": "is", "entity_type": t}
        case ScopeIsIn(entity_type=t, entity=e):
            return {"op": "is", "entity_type": t, "in": target(e)}
    raise AssertionError(c)


# ---- cedarpy in a child process, for deep texts ----

_TESTS = Path(__file__).resolve().parent.parent
_CHILD = (
    f"import sys; sys.path.insert(0, {str(_TESTS)!r}); "
    "from drt.parsing import child_main; child_main()"
)


def child_main() -> None:
    """In the child: for each case read on stdin (a JSON line), cedarpy's reading on stdout."""
    for line in sys.stdin:
        case = TextCase.from_json(json.loads(line))
        sys.stdout.write(json.dumps(cedar_reading(case)) + "\n")
        sys.stdout.flush()


class _Child:
    """One child process, kept for the next text until a text kills it."""

    process: subprocess.Popen[str] | None = None

    def read(self, case: TextCase) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                preexec_fn=_limit_memory,
            )
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(case.to_json()) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            process.wait()
            return {"crashed": f"cedarpy's process ended with {process.returncode}"}
        ready, _, _ = select.select([process.stdout], [], [], CHILD_SECONDS)
        line = process.stdout.readline() if ready else ""
        if not line:
            if not ready:
                process.kill()
            process.wait()
            return {"crashed": f"cedarpy's process ended with {process.returncode}"}
        return json.loads(line)  # type: ignore[no-any-return]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


_child = _Child()


def cedar_reading_isolated(case: TextCase) -> dict[str, Any]:
    return _child.read(case)


# ---- the check ----


def check_parsing(case: TextCase) -> Outcome:
    counts: Counter[str] = Counter()
    source = source_kind(case.source)
    counts[f"source: {source}"] += 1
    deepest, ifs, operators = nesting(case.text)
    isolated = deepest > SAFE_DEPTH or ifs > SAFE_IFS or operators > SAFE_CHAIN
    isolated |= len(case.text) > SAFE_LENGTH
    started = time.monotonic()
    try:
        ours = our_reading(case)
    except Exception as err:
        return Outcome("parsing", (Mismatch("crash", f"we crash: {crash_text(err)}"),))
    ours_seconds = time.monotonic() - started
    cedar = cedar_reading_isolated(case) if isolated else cedar_reading(case)
    counts["cedarpy in a child process"] += isolated
    if "crashed" in cedar:
        counts["cedarpy crashed"] += 1
        return Outcome("parsing", skipped=f"cedarpy crashed: {cedar['crashed']}", counts=counts)
    verdict = {True: "accepted", False: "refused"}[ours["accepted"]]
    if ours["accepted"] != cedar["accepted"]:
        who = "we accept, cedar refuses" if ours["accepted"] else "we refuse, cedar accepts"
        why = cedar.get("message") or ours.get("message")
        text = f"{who}: {why} (in {_shown(case.text)})"
        return Outcome("parsing", (Mismatch("acceptance", text, ours, cedar),), counts=counts)
    for name in {*case.mutations, source}:
        counts[f"{name}: {verdict} by both"] += 1
    counts[f"{verdict} by both"] += 1
    if not ours["accepted"]:
        counts[f"refusal: {refusal_kind(cedar['message'])}"] += 1
        return Outcome("parsing", counts=counts)
    if ours_seconds > 10 * max(1.0, len(case.text) / 100_000):
        text = f"we took {ours_seconds:.1f} s on {len(case.text):,} characters"
        return Outcome("parsing", (Mismatch("slow", text),), counts=counts)
    mismatches = _compare_meaning(ours, cedar, counts)
    return Outcome("parsing", tuple(mismatches), counts=counts)


def _compare_meaning(
    ours: dict[str, Any], cedar: dict[str, Any], counts: Counter[str]
) -> list[Mismatch]:
    if ours["policies"] != cedar["policies"]:
        pid = next(
            (
                p
                for p in sorted({*ours["policies"], *cedar["policies"]})
                if ours["policies"].get(p) != cedar["policies"].get(p)
            ),
            "",
        )
        text = f"{pid}: ours {ours['policies'].get(pid)}, cedar {cedar['policies'].get(pid)}"
        return [Mismatch("meaning", text[:1000], ours["policies"], cedar["policies"])]
    counts["policies compared"] += len(ours["policies"])
    if cedar["limited"]:
        counts["answers not compared: cedar's recursion limit"] += 1
        return []
    from .checks import compare_answers  # checks imports this module

    out = []
    for i, (mine, theirs) in enumerate(zip(ours["answers"], cedar["answers"], strict=True)):
        if "too deep" in mine:
            out.append(Mismatch("too deep", f"request {i}: {mine['too deep']}", mine, theirs, i))
            continue
        out.extend(compare_answers(i, mine, theirs))
        counts["answers compared"] += 1
    return out


_REFUSALS = (
    ("expected an entity uid with type `Action`", "an action scope of another type"),
    ("is not a valid escape", "an invalid escape"),
    ("reserved", "a reserved identifier"),
    ("slot", "a template slot"),
    ("invalid token", "an invalid token"),
    ("unexpected token", "an unexpected token"),
    ("unexpected end of input", "the end of the input"),
)


def source_kind(source: str) -> str:
    """`corpus`, `generated`, or the kind of synthetic text."""
    return source.split(" ")[0] if source.startswith(("corpus ", "generated ")) else source


def refusal_kind(message: str) -> str:
    """What Cedar's refusal is about, roughly (for the coverage counts)."""
    return next((kind for needle, kind in _REFUSALS if needle in message), "other")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:197] + "...")


# ---- shrinking ----

_LEXEME = re.compile(r'"(?:[^"\\]|\\.)*"|\s+|\w+|.', re.DOTALL)


def shrink_text(case: TextCase, fails: Callable[[TextCase], bool], budget: int = 300) -> TextCase:
    """A smaller text (and fewer requests and entities) that still fails: whole chunks of
    lexemes dropped, from large to single ones, while the failure persists."""
    calls = 0
    deadline = time.monotonic() + 90

    def still(candidate: TextCase) -> bool:
        nonlocal calls
        calls += 1
        return fails(candidate)

    for smaller in (
        TextCase(case.seed, case.text, case.requests[:1], (), case.source, case.mutations),
        TextCase(
            case.seed, case.text, case.requests[:1], case.entities, case.source, case.mutations
        ),
    ):
        if smaller != case and still(smaller):
            case = smaller
            break
    lexemes = _LEXEME.findall(case.text)
    for start, end in reversed(_pieces(lexemes)):  # whole policies and clauses first
        if calls >= budget or time.monotonic() > deadline:
            break
        kept = lexemes[:start] + lexemes[end:]
        candidate = TextCase(
            case.seed, "".join(kept), case.requests, case.entities, case.source, case.mutations
        )
        if kept and still(candidate):
            lexemes, case = kept, candidate
    size = max(1, len(lexemes) // 2)
    while size >= 1 and calls < budget and time.monotonic() < deadline:
        i, changed = 0, False
        while i < len(lexemes) and calls < budget and time.monotonic() < deadline:
            kept = lexemes[:i] + lexemes[i + size :]
            candidate = TextCase(
                case.seed, "".join(kept), case.requests, case.entities, case.source, case.mutations
            )
            if kept and still(candidate):
                lexemes, case, changed = kept, candidate, True
            else:
                i += size
        if not changed:
            size //= 2
    return case


def _pieces(lexemes: list[str]) -> list[tuple[int, int]]:
    """The spans of lexemes that are whole policies (up to a `;` outside brackets) or whole
    bracketed groups (a `when { ... }`, an argument list), in order."""
    spans, opened, policy_start, depth = [], [], 0, 0
    for i, x in enumerate(lexemes):
        if x in "({[":
            opened.append(i)
            depth += 1
        elif x in ")}]" and opened:
            start = opened.pop()
            spans.append((start, i + 1))
            before = start - 1 if start and lexemes[start - 1].isspace() else start
            if before and lexemes[before - 1][:1].isalpha():  # `when { ... }`, `f(...)`
                spans.append((before - 1, i + 1))
            depth -= 1
        elif x == ";" and depth == 0:
            spans.append((policy_start, i + 1))
            policy_start = i + 1
    return sorted(spans)
