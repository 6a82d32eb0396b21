"""JSON text as Cedar reads it: duplicate keys and deep nesting refused, and the line and
column of a list's items and an object's members, so that every JSON reader (values,
entities, requests, template links, schemas, policies) can place its errors.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from cedar_smt.core.errors import CedarError, Loc


class JsonValueError(CedarError):
    """A JSON value that is not a Cedar value (the caller re-raises it with its context)."""


def show(x: Any) -> str:
    text = json.dumps(x, ensure_ascii=False)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


MAX_JSON_DEPTH = 127  # Cedar's JSON reader refuses lists and objects nested deeper

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NESTING = re.compile(_STRING.pattern + r"|[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def too_deep(text: str) -> Loc | None:
    """Where JSON text first nests lists and objects deeper than Cedar reads them, if it does.

    Checked before decoding: Python's decoder fails on deep nesting with a RecursionError.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None
    # first, fast: the deepest nesting, from the brackets outside strings
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return loc_at(text, m.start())
        elif c in "]}":
            depth -= 1
    return None


def loc_at(text: str, pos: int) -> Loc:
    """The line and column of character offset `pos` of `text`."""
    line = text.count("\n", 0, pos) + 1
    return Loc(line, pos - text.rfind("\n", 0, pos), pos, pos + 1)


def item_locations(text: str) -> list[Loc]:
    """Where each element of the JSON list `text` starts (`text` is valid JSON)."""
    decoder, out = json.JSONDecoder(), list[Loc]()
    pos = skip_space(text, 0)
    if text[pos : pos + 1] != "[":
        return out
    pos = skip_space(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        out.append(loc_at(text, pos))
        pos = skip_space(text, decoder.raw_decode(text, pos)[1])
        if text[pos : pos + 1] == ",":
            pos = skip_space(text, pos + 1)
    return out


def locate_item(err: CedarError, text: str | None, index: int) -> None:
    """Give an error about element `index` of the JSON list `text` (when the text is at hand
    and the error has no place yet) the place where that element starts."""
    if text is not None and err.loc is None:
        err.loc = item_locations(text)[index]


def member_locations(text: str) -> dict[str, Loc]:
    """Where each member's key of the JSON object `text` starts, and `""`: where the object
    does (`text` is valid JSON)."""
    decoder = json.JSONDecoder()
    pos = skip_space(text, 0)
    if text[pos : pos + 1] != "{":
        return {}
    out = {"": loc_at(text, pos)}
    pos = skip_space(text, pos + 1)
    while text[pos : pos + 1] == '"':
        key, after = json.decoder.scanstring(  # type: ignore[attr-defined]
            text, pos + 1
        )
        out[key] = loc_at(text, pos)  # the last of repeated keys is the one read
        after = skip_space(text, skip_space(text, after) + 1)  # past `:`
        pos = skip_space(text, decoder.raw_decode(text, after)[1])
        if text[pos : pos + 1] == ",":
            pos = skip_space(text, pos + 1)
    return out


def skip_space(text: str, pos: int) -> int:
    """The first offset from `pos` that is not JSON whitespace."""
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def loads(text: str, what: str) -> Any:
    """Parse JSON text, rejecting duplicate object keys and deep nesting as Cedar does."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise JsonValueError(f"{what}: duplicate key `{k}` in a JSON object")
            out[k] = v
        return out

    deep = too_deep(text)
    if deep is not None:
        raise JsonValueError(
            f"{what} is nested too deeply: Cedar reads at most {MAX_JSON_DEPTH} levels of "
            "lists and objects",
            loc=deep,
        )
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise JsonValueError(
            f"{what} is not valid JSON: {err.msg}", loc=Loc(err.lineno, err.colno)
        ) from None
