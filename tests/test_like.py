"""`like` matching: the linear matcher agrees with a regular expression on random patterns,
and on a pattern of many wildcards against a long string."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cedar_smt.core.ast import STAR, Pattern

ALPHABET = "ab*"


def regex_matches(p: Pattern, s: str) -> bool:
    pattern = "".join(".*" if e is STAR else re.escape(e) for e in p.elems)
    return re.fullmatch(pattern, s, re.DOTALL) is not None


elems = st.lists(st.sampled_from(["a", "b", "*", STAR, "\n"]), max_size=12)


@settings(max_examples=3000, deadline=None)
@given(elems, st.text(alphabet="ab*\n", max_size=14))
def test_the_linear_matcher_agrees_with_a_regular_expression(es: list[str | None], s: str) -> None:
    p = Pattern(tuple(es))
    assert p.matches(s) == regex_matches(p, s)


def test_many_wildcards_against_a_long_string() -> None:
    # a backtracking regular expression takes minutes on this (bench/run.py times it)
    p = Pattern((*(e for _ in range(200) for e in (STAR, "a")), "c"))
    assert not p.matches("a" * 10_000 + "b")
    assert p.matches("a" * 10_000 + "c")
    assert not p.matches("a" * 199 + "c")
