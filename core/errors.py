"""Errors: one root class for bad input, and evaluation errors as data.

`CedarError` and its subclasses are raised for input a user must fix (policies, schemas,
entities, requests, template links). Each carries the place it refers to when there is one,
and renders as ``file:line:column: message`` followed by the source line and a caret.

`EvaluationError` is not bad input: it is how a policy errors at run time (Cedar skips it),
and the authorizer turns it into data in the response.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Loc:
    """A place in a source text: 1-based line and column, and the character offsets."""

    line: int
    column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


def show_char(ch: str) -> str:
    """A character for a message: itself in backticks, or its code point (and name) when it
    would not be seen (`U+FEFF (byte order mark)`)."""
    if ch.isprintable() and not ch.isspace():
        return f"`{ch}`"
    name = "byte order mark" if ch == "\ufeff" else unicodedata.name(ch, "").lower()
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def shorten(text: str, limit: int = 40) -> str:
    """`text`, or its start and its length when it is longer than `limit`."""
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"


SHOWN_LINE = 160  # characters of a longer line shown under a message


class CedarError(Exception):
    """Bad input: the root of every error a user can cause."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        loc: Loc | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.loc = loc
        self.text = text

    def located(self, source: str | None = None, text: str | None = None) -> CedarError:
        """Fill in the file name and text when the raiser did not know them."""
        if self.source is None:
            self.source = source
        if self.text is None:
            self.text = text
        return self

    @property
    def where(self) -> str:
        parts = [p for p in (self.source, str(self.loc) if self.loc else None) if p]
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.message}" if where else self.message

    def render(self) -> str:
        """The one-line message, then the offending line with a caret under the column (a
        long line is shown around it)."""
        head = str(self)
        if self.loc is None or self.text is None:
            return head
        lines = self.text.split("\n")  # as places count lines
        if not 1 <= self.loc.line <= len(lines):
            return head
        line, column = lines[self.loc.line - 1].rstrip("\r"), self.loc.column - 1
        if len(line) > SHOWN_LINE:
            first = max(0, min(column - SHOWN_LINE // 2, len(line) - SHOWN_LINE))
            line, column = line[first : first + SHOWN_LINE], column - first
            if first > 0:
                line = "..." + line[3:]
        line = "".join(c if c.isprintable() else " " for c in line)
        return f"{head}\n  {line}\n  {' ' * column}^"


class ParseError(CedarError):
    """Policy text that is not Cedar."""


class SchemaError(CedarError):
    """A schema that cannot be read or is inconsistent."""

    json_path: str | None = None  # the member of a JSON schema it is about, if any


class EntitiesError(CedarError):
    """Entity data that cannot be read or does not conform to the schema."""


class RequestError(CedarError):
    """A request that cannot be read or does not conform to the schema."""

    part: str | None = None  # the part of the request it is about, if one


class LinkError(CedarError):
    """A template link that names an unknown template or binds the wrong slots."""


class ErrorKind(Enum):
    ENTITY_DOES_NOT_EXIST = "entity does not exist"
    ATTR_DOES_NOT_EXIST = "attribute does not exist"
    TAG_DOES_NOT_EXIST = "tag does not exist"
    TYPE_ERROR = "type error"
    ARITH_BOUNDS = "integer overflow"
    EXTENSION_ERROR = "extension error"


class EvaluationError(Exception):
    """A run-time error of one expression; the policy holding it is skipped."""

    def __init__(self, kind: ErrorKind, message: str, loc: Loc | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        return self.message


class ExtensionError(ValueError):
    """An extension constructor or method rejected its argument (e.g. a bad `ip` string)."""
