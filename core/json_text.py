"""JSON text as Cedar reads it: duplicate keys and deep nesting refused, and the line and
column of a list's items and an object's members, so that every JSON reader (values,
entities, requests, template links, schemas, policies) can place its errors.

`decode` is the one way JSON text is read: it refuses, each with one located message, what
Python's decoder would report as an invisible character or not report at all (a byte order
mark, which Cedar does not read either; a number of more digits than Python converts, which
would escape as a `ValueError`).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from cedar_smt.core.errors import CedarError, Loc, shorten, show_char


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
    return decode(text, no_duplicates, what)


class _TooManyDigits(Exception):
    def __init__(self, literal: str) -> None:
        self.literal = literal


def _integer(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits())
        raise _TooManyDigits(literal) from None


def decode(
    text: str,
    pairs_hook: Any,
    what: str | None,
    error: type[CedarError] = JsonValueError,
) -> Any:
    """`json.loads`, every problem an `error` at its place, its message naming `what` was read
    (`entities is not valid JSON: ...`; with no `what`, `invalid JSON: ...`)."""
    invalid = f"{what} is not valid JSON: " if what else "invalid JSON: "
    about = f"{what}: " if what else ""
    if text.startswith("\ufeff"):
        raise error(
            f"{about}the text starts with a byte order mark (U+FEFF), which Cedar does not "
            "read; save it as UTF-8 without one",
            loc=Loc(1, 1, 0, 1),
        )
    try:
        return json.loads(text, object_pairs_hook=pairs_hook, parse_int=_integer)
    except json.JSONDecodeError as err:
        found = text[err.pos] if err.pos < len(text) else None
        message = err.msg[:1].lower() + err.msg[1:]
        if message == "invalid control character at" and found is not None:
            message = f"the control character {show_char(found)} must be escaped in a string"
        elif found is not None and not found.isprintable():
            message += f" (found {show_char(found)})"
        raise error(
            f"{invalid}{message}", loc=Loc(err.lineno, err.colno, err.pos, err.pos + 1)
        ) from None
    except _TooManyDigits as err:
        digits = len(err.literal.lstrip("-"))
        raise error(
            f"{about}the number `{shorten(err.literal)}` has {digits:,} digits, "
            "far more than a Cedar value holds",
            loc=_number_at(text, err.literal),
        ) from None


_NUMBER = re.compile(_STRING.pattern + r"|-?[0-9]+")


def _number_at(text: str, literal: str) -> Loc | None:
    """Where the number `literal` is written in the JSON text, outside strings."""
    for m in _NUMBER.finditer(text):
        if m.group() == literal:
            return loc_at(text, m.start())
    return None
