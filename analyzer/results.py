"""Answers to verification queries: frozen records, three-valued.

An answer is `holds`, `refuted` (with a counterexample Cedar confirms) or `unknown` (with the
reason: a timeout, a construct the encoder cannot represent). Unknown is never folded into
holds: a query holds overall only when it holds in every request environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cedar_smt.core.entities import Entities
from cedar_smt.core.request import Request
from cedar_smt.core.typechecker import RequestEnv


class Verdict(Enum):
    HOLDS = "holds"
    REFUTED = "refuted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Counterexample:
    """A request and the entities it needs, with what each side decided on it."""

    request: Request
    entities: Entities
    decisions: dict[str, str] = field(default_factory=dict)  # label -> "allow"/"deny"/outcome
    details: dict[str, Any] = field(default_factory=dict)  # label -> reasons and errors

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "entities": self.entities.to_json(),
            "decisions": dict(self.decisions),
        }


@dataclass(frozen=True)
class EnvResult:
    env: RequestEnv
    verdict: Verdict
    reason: str | None = None
    counterexample: Counterexample | None = None
    encode_seconds: float = 0.0
    solve_seconds: float = 0.0
    confirm_seconds: float = 0.0  # decoding, replaying and shrinking the counterexample

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principal_type": self.env.principal,
            "action": str(self.env.action),
            "resource_type": self.env.resource,
            "result": self.verdict.value,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample.to_json()
        return out


def overall(verdicts: list[Verdict]) -> Verdict:
    """Refuted if any environment is; else unknown if any is; else holds."""
    if Verdict.REFUTED in verdicts:
        return Verdict.REFUTED
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.HOLDS


@dataclass(frozen=True)
class QueryResult:
    query: str
    environments: tuple[EnvResult, ...] = ()
    description: str = ""

    @property
    def verdict(self) -> Verdict:
        return overall([e.verdict for e in self.environments])

    @property
    def holds(self) -> bool:
        return self.verdict is Verdict.HOLDS

    @property
    def counterexamples(self) -> list[Counterexample]:
        return [e.counterexample for e in self.environments if e.counterexample is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "result": self.verdict.value,
            "environments": [e.to_json() for e in self.environments],
        }


class InternalError(Exception):
    """The tool contradicted itself (a counterexample Cedar does not confirm): a bug."""
