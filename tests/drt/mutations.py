"""Policy texts for check (d): real and generated policies, mutated byte by byte, token by
token and with Unicode, and synthetic texts that are deep, long or large.

`text_case(seed)` draws, from `random.Random(seed)` alone, a source text with requests and
entities to ask about it (a test of Cedar's integration corpus, a case of the generators, or a
synthetic text) and applies zero to three mutations. A `TextCase` is plain JSON-able data.
Each mutation is named in the case, so that the fixed-seed tests can require every kind of
mistake the parser must judge as Cedar does to come up.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from .generators import generate

WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"  # Unicode's White_Space: Cedar skips these
NEAR_SPACE = "\x1c\x1d\x1e\x1f\u180e\u200b\u200c\u200d\u2060\ufeff\x00\x7f"  # and not these
ODD_CHARACTERS = "é日ß\u0301\U0001f600\u00ad\ud7ff\ufffd\U0010ffff" + NEAR_SPACE + "\r\n\t"
KEYWORDS = ("in", "is", "has", "like", "if", "then", "else", "true", "false")
VOCABULARY = (
    *KEYWORDS,
    "permit", "forbid", "when", "unless", "principal", "action", "resource", "context",
    "Action", "User", "__cedar", "?principal", "?resource", "?action", "(", ")", "[", "]",
    "{", "}", ",", ";", ":", "::", ".", "@", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
    "+", "-", "*", "!", "0", "1", "9223372036854775807", "9223372036854775808", '""', '"a"',
    '"\\*"', '"\\u{1F600}"', "isEmpty", "contains", "ip", "decimal", "/", "#", "'", "?", "=",
    "&", "|", "$", "`", "~", "%", "^", "0x10", "1.5", "\\",
)  # fmt: skip
ACTION_TYPES = (
    "Action", "NS::Action", "Action::Action", "A::B::Action", "Team", "ActionX", "XAction",
    "Action::NS", "action", "NS::XAction",
)  # fmt: skip
ESCAPES = (
    "\\n", "\\r", "\\t", "\\\\", '\\"', "\\'", "\\0", "\\*", "\\x41", "\\x7f", "\\x80", "\\x4",
    "\\u{0}", "\\u{1F600}", "\\u{10FFFF}", "\\u{110000}", "\\u{D800}", "\\u{}", "\\u{_1}",
    "\\u{1_}", "\\u{0000000}", "\\q", "\\ ", "\\u0041", "\\",
)  # fmt: skip
BIG_NUMBERS = (
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "00000000000000000000000000001", "18446744073709551616",
)  # fmt: skip

_LEXEME = re.compile(
    r'"(?:[^"\\]|\\.)*"|//[^\n\r]*|\s+|[_a-zA-Z][_a-zA-Z0-9]*|\?[_a-zA-Z]\w*|[0-9]+'
    r"|==|!=|<=|>=|&&|\|\||::|.",
    re.DOTALL,
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ACTION_TYPE = re.compile(r"\baction\s*(?:==|in)\s*\[?\s*((?:[_a-zA-Z]\w*\s*::\s*)+)\"")
_GLUE = re.compile(
    r"(\w)(\s+)(" + "|".join(KEYWORDS) + r")\b|\b(" + "|".join(KEYWORDS) + r")(\s+)(\w)"
)
_INT = re.compile(r"(?<![\w\"])[0-9]+\b")


@dataclass(frozen=True)
class TextCase:
    seed: int
    text: str
    requests: tuple[dict[str, Any], ...] = ()
    entities: tuple[dict[str, Any], ...] = ()  # Cedar's entity JSON, read without a schema
    source: str = ""  # what the text was before mutation: a corpus test, a generated case...
    mutations: tuple[str, ...] = ()  # the mutations applied, in order

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextCase:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)


# ---- sources ----

REQUEST = {
    "principal": {"type": "User", "id": "alice"},
    "action": {"type": "Action", "id": "view"},
    "resource": {"type": "Doc", "id": "d"},
    "context": {"a": 1, "s": "x", "b": True},
}
ENTITIES = (
    {"uid": {"type": "User", "id": "alice"}, "attrs": {"a": 1}, "parents": []},
    {"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": []},
)


def _suite() -> ModuleType:
    """tests/integration_suite.py, which pytest puts on the path and `python -m tests.drt`
    does not."""
    found = sys.modules.get("integration_suite")
    if found is None:
        spec = importlib.util.spec_from_file_location("integration_suite", _SUITE)
        assert spec is not None and spec.loader is not None
        found = sys.modules["integration_suite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(found)
    return found


_SUITE = Path(__file__).resolve().parent.parent / "integration_suite.py"


@cache
def _corpus() -> tuple[str, ...]:
    suite = _suite()
    return tuple(suite.corpus_names()) if suite.available() else ()


def corpus_source(rng: random.Random) -> tuple[str, list[Any], list[Any], str] | None:
    names = _corpus()
    if not names:
        return None
    name = rng.choice(names)
    test = _suite().corpus_test(name)
    keys = ("principal", "action", "resource", "context")
    requests = [{k: r[k] for k in keys if k in r} for r in test.requests]
    return test.policies, requests, json.loads(test.entities), f"corpus {name}"


def generated_source(rng: random.Random) -> tuple[str, list[Any], list[Any], str]:
    case = generate(rng.randrange(2**62))
    text = case.policies_text if rng.random() < 0.8 else "\n".join(case.alt_policies)
    return text, list(case.requests), list(case.entities), f"generated {case.seed}"


def _policy(condition: str) -> str:
    return f'permit(principal, action == Action::"view", resource) when {{ {condition} }};'


SYNTHETIC: dict[str, Callable[[random.Random], str]] = {
    "deep parentheses": lambda r: (lambda n: "(" * n + "true" + ")" * n)(_depth(r)),
    "deep sets": lambda r: (lambda n: "[" * n + "1" + "]" * n + ".contains(1)")(_depth(r)),
    "deep records": lambda r: (lambda n: "{a: " * n + "1" + "}" * n + " has a")(_depth(r)),
    "deep if": lambda r: (lambda n: "if true then " * n + "true" + " else false" * n)(
        r.choice([10, 100, 1000, 3000, 4500, 6000])
    ),
    "chained if": lambda r: "if false then false else " * r.choice([100, 2000, 5000]) + "true",
    "deep negation": lambda r: (lambda n: "!(" * n + "false" + ")" * n)(_depth(r) // 2),
    "long chain": lambda r: _chain(r),
    "long string": lambda r: f'"{_long_string(r)}" like "*{_long_string(r)[:50]}*"',
    "big number": lambda r: (
        f"{r.choice(BIG_NUMBERS)} > 0"
        if r.random() < 0.6
        else f"{'9' * r.choice([20, 4300, 4301, 6000])} > 0"
    ),
    "many annotations": lambda r: "true",
}


def _depth(rng: random.Random) -> int:
    return rng.choice([1, 10, 100, 300, 500, 600, 640, 655, 700])


def _chain(rng: random.Random) -> str:
    n = rng.choice([10, 1000, 5_000, 10_000, 12_000])
    match rng.choice(["&&", "||", "+", "*", "-", ".", "contains", "has", "==", "in"]):
        case "&&":
            return " && ".join(["true"] * n)
        case "||":
            return " || ".join(["false"] * (n - 1) + ["true"])
        case "+" | "*" | "-" as op:
            return f" {op} ".join(["1"] * n) + " != 0"
        case ".":
            return "context" + ".a" * n + " == 1"
        case "contains":
            return "[1]" + ".contains(1)" * 1 + " && " + " && ".join(["[1].contains(1)"] * n)
        case "has":  # Cedar's JSON form of `e has a.b...` is quadratic in the path
            return "context has " + ".".join(["a"] * min(n, 1000))
        case "==":
            return " == ".join(["1"] * n)  # refused by both: `==` does not chain
        case _:
            return "principal" + " in principal" * n
    raise AssertionError


def _long_string(rng: random.Random) -> str:
    n = rng.choice([100, 10_000, 100_000])
    piece = rng.choice(["a", "\\n", "\\u{1F600}", "日", "\\*", "\\\\"])
    return piece * (n // len(piece))


def synthetic_source(
    rng: random.Random, kind: str | None = None
) -> tuple[str, list[Any], list[Any], str]:
    kind = kind or rng.choice(list(SYNTHETIC))
    text = _policy(SYNTHETIC[kind](rng))
    if kind == "many annotations":
        text = "".join(f'@a{i}("{i}")\n' for i in range(rng.choice([10, 1000]))) + text
    return text, [REQUEST], list(ENTITIES), kind


# ---- mutations ----


def _lexemes(text: str) -> list[str]:
    return _LEXEME.findall(text)


def _token_positions(lexemes: list[str]) -> list[int]:
    return [i for i, x in enumerate(lexemes) if not x.isspace() and not x.startswith("//")]


def byte_delete(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + text[i + rng.choice([1, 1, 2, 3]) :]


def byte_insert(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    ch = rng.choice("\"\\(){}[];,.:@?!&|=<>+-*/#' \n\tax_09" + rng.choice(ODD_CHARACTERS))
    return text[:i] + ch + text[i:]


def byte_duplicate(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    j = min(len(text), i + rng.choice([1, 2, 5, 20]))
    return text[:j] + text[i:j] + text[j:]


def byte_swap(rng: random.Random, text: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def token_delete(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    tokens = _token_positions(lexemes)
    if tokens:
        del lexemes[rng.choice(tokens)]
    return "".join(lexemes)


def token_duplicate(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    tokens = _token_positions(lexemes)
    if tokens:
        i = rng.choice(tokens)
        lexemes.insert(i, lexemes[i] + rng.choice([" ", ""]))
    return "".join(lexemes)


def token_swap(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    tokens = _token_positions(lexemes)
    if len(tokens) >= 2:
        k = rng.randrange(len(tokens) - 1)
        i, j = tokens[k], tokens[k + 1]
        lexemes[i], lexemes[j] = lexemes[j], lexemes[i]
    return "".join(lexemes)


def token_replace(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    tokens = _token_positions(lexemes)
    if tokens:
        lexemes[rng.choice(tokens)] = rng.choice(VOCABULARY)
    return "".join(lexemes)


def token_insert(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    i = rng.randrange(len(lexemes) + 1)
    lexemes.insert(i, rng.choice(["", " "]) + rng.choice(VOCABULARY) + rng.choice(["", " "]))
    return "".join(lexemes)


def glue_keyword(rng: random.Random, text: str) -> str:
    """`principal is User` becomes `principal isUser`, `x in y` becomes `xin y`..."""
    inside = _in_string(text)
    found = [m for m in _GLUE.finditer(text) if not inside(m.start())]
    if not found:
        return token_replace(rng, text)
    m = rng.choice(found)
    gap = 2 if m.group(2) is not None else 5
    return text[: m.start(gap)] + text[m.end(gap) :]


def unicode_space(rng: random.Random, text: str) -> str:
    """A space (between tokens, in a string or a comment) becomes another kind of space."""
    spaces = [i for i, c in enumerate(text) if c in " \n"]
    if not spaces:
        return byte_insert(rng, text)
    i = rng.choice(spaces)
    return text[:i] + rng.choice(WHITE_SPACE + NEAR_SPACE) + text[i + 1 :]


def unicode_char(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    ch = rng.choice(ODD_CHARACTERS + "\u2028\u2029\x85" + rng.choice(WHITE_SPACE))
    return text[:i] + ch + text[i:]


def control_in_string(rng: random.Random, text: str) -> str:
    """A raw control character inside a string literal (Cedar refuses a raw CR only)."""
    strings = list(_STRING.finditer(text))
    if not strings:
        return unicode_char(rng, text)
    m = rng.choice(strings)
    i = rng.randrange(m.start() + 1, m.end())
    return (
        text[:i]
        + rng.choice(["\r", "\r\n", "\n", "\t", "\x00", "\x0b", "\x85", "\u2028"])
        + text[i:]
    )


def escape_in_string(rng: random.Random, text: str) -> str:
    strings = list(_STRING.finditer(text))
    if not strings:
        return byte_insert(rng, text)
    m = rng.choice(strings)
    i = rng.randrange(m.start() + 1, m.end())
    return text[:i] + rng.choice(ESCAPES) + text[i:]


def action_type(rng: random.Random, text: str) -> str:
    """The entity type an action scope names becomes another type (only `Action` or a
    namespace's `Action` may stand there)."""
    found = list(_ACTION_TYPE.finditer(text))
    if not found:
        return text.replace("action,", f'action == {rng.choice(ACTION_TYPES)}::"a",', 1)
    m = rng.choice(found)
    return text[: m.start(1)] + rng.choice(ACTION_TYPES) + "::" + text[m.end(1) :]


def number(rng: random.Random, text: str) -> str:
    inside = _in_string(text)
    found = [m for m in _INT.finditer(text) if not inside(m.start())]
    if not found:
        return token_insert(rng, text)
    m = rng.choice(found)
    new = rng.choice([*BIG_NUMBERS, "9" * rng.choice([19, 20, 4300, 4301, 5000]), "0", "-0"])
    return text[: m.start()] + new + text[m.end() :]


def comment(rng: random.Random, text: str) -> str:
    lexemes = _lexemes(text)
    i = rng.randrange(len(lexemes) + 1)
    body = rng.choice(["a", ";", "é", "\\u{0}", "\x00", ""])
    end = rng.choice(["\n", "\r", "\r\n", "\u2028", "\x85", ""])
    lexemes.insert(i, f"// {body}{end}")
    return "".join(lexemes)


def _in_string(text: str) -> Callable[[int], bool]:
    """Whether a position of `text` is inside a string literal (found once for the text:
    asked at each of 12,000 places of a long chain, a search per place took minutes)."""
    starts, ends = [], []
    for m in _STRING.finditer(text):
        starts.append(m.start())
        ends.append(m.end())

    def inside(pos: int) -> bool:
        i = bisect_right(starts, pos) - 1
        return i >= 0 and starts[i] < pos < ends[i]

    return inside


MUTATIONS: dict[str, Callable[[random.Random, str], str]] = {
    "byte delete": byte_delete,
    "byte insert": byte_insert,
    "byte duplicate": byte_duplicate,
    "byte swap": byte_swap,
    "token delete": token_delete,
    "token duplicate": token_duplicate,
    "token swap": token_swap,
    "token replace": token_replace,
    "token insert": token_insert,
    "glued keyword": glue_keyword,
    "unicode space": unicode_space,
    "unicode character": unicode_char,
    "control character in a string": control_in_string,
    "escape in a string": escape_in_string,
    "action scope type": action_type,
    "number": number,
    "comment": comment,
}
_WEIGHTS = [6, 6, 3, 3, 5, 3, 3, 6, 5, 4, 5, 4, 3, 3, 3, 2, 2]


def text_case(seed: int) -> TextCase:
    rng = random.Random(seed)
    kind = rng.choices(["corpus", "generated", "synthetic"], [55, 37, 8])[0]
    source = corpus_source(rng) if kind == "corpus" else None
    if source is None:
        source = synthetic_source(rng) if kind == "synthetic" else generated_source(rng)
    text, requests, entities, name = source
    if len(text) > 20_000 and kind != "synthetic":  # a few corpus sets are large: one policy
        text = text[: text.find(";", 10_000) + 1] or text
    applied = []
    for _ in range(rng.choices([0, 1, 2, 3], [12, 50, 25, 13])[0] if text else 0):
        mutation = rng.choices(list(MUTATIONS), _WEIGHTS)[0]
        text = MUTATIONS[mutation](rng, text) if text else text
        applied.append(mutation)
    return TextCase(seed, text, tuple(requests), tuple(entities), name, tuple(applied))
