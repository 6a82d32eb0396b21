"""The Cedar schema syntax (`.cedarschema`), read into the declarations of core/schema_json.py.

The grammar is core/grammar/schema.lark, parsed by lark's LALR parser with the contextual
lexer; the transformer below runs inside the parser, so no parse tree is built. This module
checks what the grammar cannot say (escapes, reserved identifiers, duplicate annotations, the
entries of `appliesTo`); core/schema.py resolves names.
Twin: `read_json` in core/schema_json.py reads the JSON format into the same declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, cast

from lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.lark import PostLex

from cedar_smt.core.errors import Loc, SchemaError, show_char
from cedar_smt.core.schema_json import (
    RESERVED_IDENTS,
    ActionDecl,
    ActionRef,
    Annotations,
    AttrDecl,
    CommonDecl,
    EntityDecl,
    NamespaceDecl,
    RawType,
    RecordOf,
    RefKind,
    SetOf,
    TypeRef,
)

_GRAMMAR = Path(__file__).parent / "grammar" / "schema.lark"


def read_cedar(text: str) -> tuple[NamespaceDecl, ...]:
    """The declarations of a schema in the Cedar syntax; the empty namespace comes first."""
    parser = _parser()
    try:
        # The transformer runs inside the parser: the result is what `start` returns.
        return cast("tuple[NamespaceDecl, ...]", parser.parse(text))
    except UnexpectedInput as e:
        raise _syntax_error(e, parser) from None


@cache
def _parser() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=_WholeWords(),
        transformer=_ToDecls(),
        maybe_placeholders=False,
    )


class _WholeWords(PostLex):
    """Lex identifiers in every parser state, so a keyword only ever matches a whole word.

    Without this, where the parser takes `entity` but no identifier, the contextual lexer
    would read `entityX` as `entity` followed by `X`.
    """

    always_accept = ("IDENT",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


def _loc(tok: Token) -> Loc:
    return Loc(tok.line or 0, tok.column or 0, tok.start_pos or 0, tok.end_pos or 0)


# ---- strings ----

_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,6})\}|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


def unescape(tok: Token) -> str:
    """The text of a string literal, with Cedar's escapes (`\\n`, `\\x41`, `\\u{1F600}`...)."""
    body: str = tok.value[1:-1]
    if "\\" not in body:
        return body

    def replace(m: re.Match[str]) -> str:
        hex2, hex6, char = m.groups()
        if hex2 is not None and int(hex2, 16) <= 0x7F:
            return chr(int(hex2, 16))
        if hex6 is not None:
            code = int(hex6, 16)
            if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                return chr(code)
        if char is not None and char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        before = tok.value[: 1 + m.start()]  # from the opening quote
        newlines = before.count("\n")
        line = (tok.line or 0) + newlines
        if newlines:
            column = len(before) - before.rfind("\n")
        else:
            column = (tok.column or 0) + len(before)
        start = (tok.start_pos or 0) + len(before)
        raise SchemaError(
            f"invalid escape `{m.group()}` in string",
            loc=Loc(line, column, start, start + len(m.group())),
        )

    return _ESCAPE.sub(replace, body)


def _ident(tok: Token) -> str:
    if tok.value in RESERVED_IDENTS:
        raise SchemaError(f"`{tok.value}` is a reserved identifier", loc=_loc(tok))
    return str(tok.value)


def _name(tok: Token) -> str:
    """An identifier or a string: action names and attribute names."""
    return unescape(tok) if tok.type == "STR" else _ident(tok)


# ---- the transformer: one method per rule of the grammar ----

_Path = tuple[str, Loc]


class _ToDecls(Transformer[Token, Any]):
    def start(self, items: list[Any]) -> tuple[NamespaceDecl, ...]:
        root: list[Any] = []
        namespaces = []
        for item in items:
            if isinstance(item, NamespaceDecl):
                namespaces.append(item)
            else:
                root.extend(item)
        return (_namespace("", None, root), *namespaces)

    def namespace(self, items: list[Any]) -> NamespaceDecl:
        _annotations, (name, loc), *decls = items
        return _namespace(name, loc, [d for group in decls for d in group])

    def annotations(self, items: list[tuple[Token, str]]) -> Annotations:
        seen: dict[str, str] = {}
        for tok, value in items:
            if tok.value in seen:
                raise SchemaError(f"duplicate annotation `@{tok.value}`", loc=_loc(tok))
            seen[tok.value] = value
        return tuple(seen.items())

    def annotation(self, items: list[Token]) -> tuple[Token, str]:
        return items[0], unescape(items[1]) if len(items) > 1 else ""

    attribute_annotations = annotations
    attribute_annotation = annotation

    def entity(self, items: list[Any]) -> list[EntityDecl]:
        annotations, names, *parts = items
        clauses = dict(parts)
        return [
            EntityDecl(
                tok.value,
                member_of=clauses.get("in", ()),
                shape=clauses.get("shape"),
                tags=clauses.get("tags"),
                enum=clauses.get("enum"),
                annotations=annotations,
                at=_loc(tok),
            )
            for tok in names
        ]

    def idents(self, items: list[Token]) -> list[Token]:
        for tok in items:
            _ident(tok)
        return items

    def parents(self, items: list[tuple[TypeRef, ...]]) -> tuple[str, tuple[TypeRef, ...]]:
        return "in", items[0]

    def shape(self, items: list[RecordOf]) -> tuple[str, RecordOf]:
        return "shape", items[0]

    def tags(self, items: list[RawType]) -> tuple[str, RawType]:
        return "tags", items[0]

    def entity_enum(self, items: list[Token]) -> tuple[str, tuple[str, ...]]:
        keyword, *ids = items
        if not ids:
            raise SchemaError("`enum` must list at least one entity id", loc=_loc(keyword))
        return "enum", tuple(unescape(tok) for tok in ids)

    def entity_type_list(self, items: list[_Path]) -> tuple[TypeRef, ...]:
        return tuple(TypeRef(name, RefKind.ENTITY, loc) for name, loc in items)

    def common_type(self, items: list[Any]) -> list[CommonDecl]:
        _annotations, tok, ty = items
        return [CommonDecl(_ident(tok), ty, _loc(tok))]

    def action(self, items: list[Any]) -> list[ActionDecl]:
        annotations, names, *parts = items
        clauses = dict(part for part in parts if part is not None)
        principals, resources, context = clauses.get("appliesTo", ((), (), None))
        return [
            ActionDecl(
                _name(tok),
                member_of=clauses.get("in", ()),
                principals=principals,
                resources=resources,
                context=context,
                annotations=annotations,
                at=_loc(tok),
            )
            for tok in names
        ]

    def names(self, items: list[Token]) -> list[Token]:
        return items

    def action_parents(self, items: list[ActionRef]) -> tuple[str, tuple[ActionRef, ...]]:
        return "in", tuple(items)

    def action_ref(self, items: list[Any]) -> ActionRef:
        if len(items) == 1:
            return ActionRef(_name(items[0]), None, _loc(items[0]))
        (path, loc), tok = items
        return ActionRef(unescape(tok), path, loc)

    def applies_to(self, items: list[Any]) -> tuple[str, tuple[Any, ...]]:
        keyword, *entries = items
        found: dict[str, Any] = {}
        for tok, value in entries:
            if tok.value in found:
                raise SchemaError(f"duplicate `{tok.value}` in `appliesTo`", loc=_loc(tok))
            if tok.value != "context" and not value:
                raise SchemaError(
                    f"`{tok.value}` must list at least one entity type", loc=_loc(tok)
                )
            found[tok.value] = value
        for needed in ("principal", "resource"):
            if needed not in found:
                raise SchemaError(f"`appliesTo` needs a `{needed}` entry", loc=_loc(keyword))
        return "appliesTo", (found["principal"], found["resource"], found.get("context"))

    def applies_entry(self, items: list[Any]) -> tuple[Token, Any]:
        return items[0], items[1]

    def action_attributes(self, items: list[Any]) -> None:
        return None

    def type_ref(self, items: list[_Path]) -> TypeRef:
        name, loc = items[0]
        return TypeRef(name, RefKind.TYPE, loc)

    def set_type(self, items: list[Any]) -> SetOf:
        return SetOf(items[1])

    def record_type(self, items: list[AttrDecl]) -> RecordOf:
        # Cedar keeps the last of two attributes with one name, without complaint.
        return RecordOf(tuple({attr.name: attr for attr in items}.values()))

    def attribute(self, items: list[Any]) -> AttrDecl:
        _annotations, tok, *optional, ty = items
        return AttrDecl(_name(tok), ty, required=not optional, at=_loc(tok))

    def path(self, items: list[Any]) -> _Path:
        if len(items) == 1:
            return _ident(items[0]), _loc(items[0])
        (prefix, loc), tok = items
        return f"{prefix}::{_ident(tok)}", Loc(loc.line, loc.column, loc.start, tok.end_pos or 0)

    type_path = path


def _namespace(name: str, loc: Loc | None, decls: list[Any]) -> NamespaceDecl:
    return NamespaceDecl(
        name,
        common_types=tuple(d for d in decls if isinstance(d, CommonDecl)),
        entity_types=tuple(d for d in decls if isinstance(d, EntityDecl)),
        actions=tuple(d for d in decls if isinstance(d, ActionDecl)),
        at=loc,
    )


# ---- syntax errors ----

_TERMINAL_WORDS = {"IDENT": "an identifier", "STR": "a string", "$END": "end of input"}


def _syntax_error(e: UnexpectedInput, parser: Lark) -> SchemaError:
    """`unexpected X, expected Y or Z`, at the offending token."""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":  # lark places it on the last token: point just past that one
            found = "end of input"
            loc = Loc(tok.end_line or 1, tok.end_column or 1, tok.end_pos or 0, tok.end_pos or 0)
        else:
            found = f"`{_shorten(tok.value)}`"
            loc = Loc(e.line, e.column, tok.start_pos or 0, tok.end_pos or 0)
    elif isinstance(e, UnexpectedCharacters):
        found = f"character {show_char(e.char)}"
        pos = e.pos_in_stream or 0
        loc = Loc(e.line, e.column, pos, pos + 1)
        if e.char == "\ufeff" and pos == 0:
            return SchemaError(
                "the text starts with a byte order mark (U+FEFF), which Cedar does not read; "
                "save it as UTF-8 without one",
                loc=loc,
            )
    else:  # pragma: no cover - lark's LALR parser raises only the two above
        return SchemaError(str(e))
    # The lexer's sets of terminals are supersets (LALR merges lookaheads); ask the parser.
    expected = e.interactive_parser.accepts() if e.interactive_parser else set()  # type: ignore[no-untyped-call]
    words = sorted({_terminal_word(name, parser) for name in expected})
    if not words:
        return SchemaError(f"unexpected {found}", loc=loc)
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return SchemaError(f"unexpected {found}, expected {listed}", loc=loc)


def _terminal_word(name: str, parser: Lark) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    return f"`{parser.get_terminal(name).pattern.value}`"


def _shorten(text: str, limit: int = 40) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
