"""What the readers say about text they cannot read: characters no one sees, bytes that are
not UTF-8, numbers longer than Python converts, a misspelt request member, a JSON schema that
is not an object. One message each, with the place, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main
from cedar_smt.core import (
    CedarError,
    Entities,
    PolicySet,
    Request,
    Schema,
)
from cedar_smt.core.files import read_text

cedarpy = pytest.importorskip("cedarpy")

BOM = "\ufeff"
STARTS_WITH_BOM = (
    "the text starts with a byte order mark (U+FEFF), which Cedar does not read; "
    "save it as UTF-8 without one"
)
SCHEMA = "entity User; action view appliesTo { principal: User, resource: User };"
REQUEST = (
    '{"principal": "User::\\"a\\"", "action": "Action::\\"view\\"", "resource": "User::\\"b\\""'
)


def message(read: object, text: str) -> str:
    with pytest.raises(CedarError) as info:
        read(text)  # type: ignore[operator]
    return str(info.value)


READERS = {
    "policies": (PolicySet.from_str, "permit(principal, action, resource);"),
    "Cedar schema": (Schema.from_str, SCHEMA),
    "JSON schema": (Schema.from_str, '{"": {"entityTypes": {}, "actions": {}}}'),
    "entities": (Entities.from_json, "[]"),
    "template links": (PolicySet().link_json, "[]"),
}


@pytest.mark.parametrize(("read", "text"), READERS.values(), ids=READERS.keys())
def test_a_byte_order_mark_is_named_as_cedar_refuses_it(read: object, text: str) -> None:
    said = message(read, BOM + text)
    assert said.startswith("1:1: ") and said.endswith(STARTS_WITH_BOM)


def test_cedar_refuses_a_byte_order_mark_everywhere() -> None:
    with pytest.raises(ValueError):
        cedarpy.PolicySet.from_str(BOM + "permit(principal, action, resource);")
    with pytest.raises(ValueError):
        cedarpy.Schema.from_str(BOM + SCHEMA)
    with pytest.raises(ValueError):
        cedarpy.Entities.from_json_str(BOM + "[]")


@pytest.mark.parametrize(
    ("read", "text", "expected"),
    [
        (
            PolicySet.from_str,
            "permit(principal, action, resource);\0",
            "1:37: unexpected character U+0000",
        ),
        (Schema.from_str, "entity A\0;", "1:9: unexpected character U+0000, expected `,`, `;`"),
        (
            Entities.from_json,
            "[\0]",
            "1:2: entities is not valid JSON: expecting value (found U+0000)",
        ),
        (
            Entities.from_json,
            '["a\0"]',
            "1:4: entities is not valid JSON: the control character U+0000 must be escaped in a "
            "string",
        ),
        (
            Schema.from_str,
            '{"": {"entityTypes": {}, "actions": {}}}\0',
            "1:41: invalid JSON: extra data (found U+0000)",
        ),
    ],
    ids=["policies", "Cedar schema", "entities", "entities string", "JSON schema"],
)
def test_an_invisible_character_is_named_by_its_code_point(
    read: object, text: str, expected: str
) -> None:
    assert message(read, text).startswith(expected)


def test_text_that_is_not_utf8_is_placed_at_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "p.cedar"
    path.write_bytes(b'permit(principal, action, resource)\nwhen { "caf\xe9" == "" };\n')
    with pytest.raises(CedarError) as info:
        read_text(str(path))
    assert str(info.value) == (
        f"{path}:2:12: not UTF-8 text: byte 0xE9 at byte offset 47 (invalid continuation byte)"
    )
    assert info.value.render().splitlines()[1:] == [
        '  when { "caf\ufffd" == "" };',
        "             ^",
    ]


BIG = "9" * 5_000
TOO_MANY_DIGITS = "has 5,000 digits, far more than a Cedar value holds"


@pytest.mark.parametrize(
    ("read", "text", "expected"),
    [
        (
            PolicySet.from_str,
            f"permit(principal, action, resource) when {{ {BIG} > 0 }};",
            "1:44: integer literal `99999999999999999999999999999999999"
            "99... (5,000 characters)` is too large",
        ),
        (
            Entities.from_json,
            f'[\n {{"uid": {{"type": "User", "id": "a"}}, "attrs": {{"n": {BIG}}}, '
            '"parents": []}]',
            f"2:54: entities: the number `{BIG[:37]}... (5,000 characters)` {TOO_MANY_DIGITS}",
        ),
        (
            lambda t: Request.from_json(json.loads(t)),
            f'{REQUEST}, "context": {{"n": {BIG}}}}}',
            "",
        ),
        (
            Schema.from_str,
            f'{{"": {{"entityTypes": {{}}, "actions": {{}}, "x": -{BIG}}}}}',
            f"1:46: the number `-{BIG[:36]}... (5,001 characters)` {TOO_MANY_DIGITS}",
        ),
    ],
    ids=["policy", "entities", "request", "JSON schema"],
)
def test_a_number_longer_than_python_converts_gets_one_located_message(
    read: object, text: str, expected: str
) -> None:
    if not expected:  # decoded by the caller: Python's own decoder refuses it
        with pytest.raises(ValueError, match="Exceeds the limit"):
            read(text)  # type: ignore[operator]
        return
    assert message(read, text) == expected


def test_the_cli_places_a_long_number_in_a_request_file_and_in_context(tmp_path: Path) -> None:
    (tmp_path / "p.cedar").write_text("permit(principal, action, resource);")
    (tmp_path / "e.json").write_text("[]")
    (tmp_path / "r.json").write_text(f'{REQUEST},\n "context": {{"n": {BIG}}}}}')
    base = ["authorize", "--policies", str(tmp_path / "p.cedar"), "--entities"]
    base += [str(tmp_path / "e.json")]
    result = CliRunner().invoke(main, [*base, "--request", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"error: {tmp_path / 'r.json'}:2:19: request: the number `")
    args = ["--principal", 'User::"a"', "--action", 'Action::"view"', "--resource", 'User::"b"']
    result = CliRunner().invoke(main, [*base, *args, "--context", f'{{"n": {BIG}}}'])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--context: the number `999" in result.output and TOO_MANY_DIGITS in result.output


def test_a_misspelt_request_member_is_refused_where_it_is() -> None:
    text = f'{REQUEST},\n "contxt": {{"a": 1}}}}'
    with pytest.raises(CedarError) as info:
        Request.from_json(json.loads(text), source="r.json", text=text)
    assert str(info.value) == (
        "r.json:2:2: unknown member `contxt` in the request (did you mean `context`?): "
        "a request has `principal`, `action`, `resource` and `context`"
    )
    # beside a `context`, other members are ignored, as Cedar's request format ignores them
    spec = json.loads(f'{REQUEST}, "context": {{}}, "description": "x"}}')
    assert len(Request.from_json(spec).context) == 0


def test_a_json_schema_that_is_not_an_object_gets_a_json_message() -> None:
    assert message(lambda t: Schema.from_str(t, "s.json"), "\n [1, 2, 3]") == (
        's.json:2:2: a JSON schema is an object of namespaces, `{"": {"entityTypes": {...}, '
        '"actions": {...}}}`, not a list'
    )
