"""`cedar-smt authorize`: decisions, exit codes, JSON output and bad-input messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main
from integration_suite import ROOT

TINYTODO = ROOT / "examples" / "tinytodo"
BASE = [
    "authorize",
    "--policies",
    str(TINYTODO / "policies.cedar"),
    "--schema",
    str(TINYTODO / "schema.cedarschema"),
    "--entities",
    str(TINYTODO / "entities.json"),
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def authorize_tinytodo(replaced: dict[str, str]) -> tuple[int, str, str]:
    """`authorize` bob reading a shared list, on TinyTODO's files but those `replaced`."""
    args = {
        "--policies": str(TINYTODO / "policies.cedar"),
        "--schema": str(TINYTODO / "schema.cedarschema"),
        "--entities": str(TINYTODO / "entities.json"),
        "--request": str(TINYTODO / "requests" / "bob-reads-shared-list.json"),
    } | replaced
    return run("authorize", *[x for pair in args.items() for x in pair])


@pytest.mark.parametrize(
    ("request_file", "code", "decision", "reason"),
    [
        ("alice-updates-her-list.json", 0, "ALLOW", "owners-full-access"),
        ("bob-reads-shared-list.json", 0, "ALLOW", "readers-and-editors-get-list"),
        ("bob-updates-shared-list.json", 1, "DENY", "none"),
        ("charlie-creates-list.json", 1, "DENY", "interns-cannot-create-lists"),
    ],
)
def test_tinytodo_requests(request_file: str, code: int, decision: str, reason: str) -> None:
    status, out, err = run(*BASE, "--request", str(TINYTODO / "requests" / request_file))
    assert status == code, err
    assert f"decision: {decision}" in out
    assert reason in out


def test_request_from_options_and_json_output() -> None:
    status, out, _ = run(
        *BASE,
        "--principal",
        'User::"charlie"',
        "--action",
        'Action::"CreateList"',
        "--resource",
        'Application::"TinyTodo"',
        "--json",
    )
    assert status == 1
    assert json.loads(out) == {"decision": "deny", "reasons": ["policy2"], "errors": []}


def test_errors_are_reported_per_policy(tmp_path: Path) -> None:
    policies = tmp_path / "p.cedar"
    policies.write_text(
        "permit(principal, action, resource) when { principal.nope };\n"
        "permit(principal, action, resource);\n"
    )
    status, out, _ = run(
        "authorize",
        "--policies",
        str(policies),
        "--entities",
        str(TINYTODO / "entities.json"),
        "--request",
        str(TINYTODO / "requests" / "bob-reads-shared-list.json"),
        "--json",
    )
    assert status == 0
    response = json.loads(out)
    assert response["reasons"] == ["policy1"]
    assert response["errors"][0]["policy"] == "policy0"
    assert "does not have the attribute `nope`" in response["errors"][0]["message"]


def test_template_links(tmp_path: Path) -> None:
    policies = tmp_path / "p.cedar"
    policies.write_text('@id("t") permit(principal == ?principal, action, resource);\n')
    links = tmp_path / "links.json"
    links.write_text(
        '[{"template_id": "t", "link_id": "bob", "args": {"?principal": "User::\\"bob\\""}}]'
    )
    status, out, _ = run(
        "authorize",
        "--policies",
        str(policies),
        "--template-links",
        str(links),
        "--entities",
        str(TINYTODO / "entities.json"),
        "--request",
        str(TINYTODO / "requests" / "bob-reads-shared-list.json"),
    )
    assert status == 0
    assert "bob" in out


@pytest.mark.parametrize(
    ("file_name", "content", "option", "message"),
    [
        (
            "bad.cedar",
            "permit(principal, action, resource)\nwhen { principal.x == 1 && };\n",
            "--policies",
            "bad.cedar:2:28: unexpected token `}`; expected an expression",
        ),
        (
            "bad.cedarschema",
            "entity User = { a: Lng };\n",
            "--schema",
            "bad.cedarschema:1:20: unknown type `Lng`",
        ),
        (
            "bad.json",
            '[{"uid": {"type": "User", "id": "alice"}, "attrs": {"joblevel": "5", "location": "x"},'
            ' "parents": []}]',
            "--entities",
            'bad.json:1:2: entity `User::"alice"`, attributes.joblevel: expected a value of type '
            "Long",
        ),
        (
            "req.json",
            '{"principal": "User::alice", "action": "Action::\\"GetList\\"",'
            ' "resource": "List::\\"0\\""}',
            "--request",
            "req.json:1:2: principal: `User::alice` is not an entity reference",
        ),
        (
            "req.json",
            '{"principal": "User::\\"bob\\"",\n "action": "Action::\\"GetList\\"",\n'
            '  "resource": "User::\\"bob\\""}',
            "--request",
            'req.json:3:3: resource type `User` is not valid for `Action::"GetList"`',
        ),
        (
            "req.json",
            '{"principal": "User::\\"bob\\"", "action": "Action::\\"GetList\\"",\n'
            ' "resource": "List::\\"0\\"", "context": {"x": 1}}',
            "--request",
            "req.json:2:29: context: attribute `x` should not exist according to the schema",
        ),
        (
            "req.json",
            '\n  {"principal": "User::\\"bob\\"", "resource": "List::\\"0\\""}',
            "--request",
            "req.json:2:3: the request has no `action`",
        ),
        (
            "req.json",
            '{"principal": "User::\\"bob\\"",\n "action": }',
            "--request",
            "req.json:2:12: request is not valid JSON",
        ),
    ],
)
def test_bad_input_exits_2_with_one_located_message(
    tmp_path: Path, file_name: str, content: str, option: str, message: str
) -> None:
    bad = tmp_path / file_name
    bad.write_text(content)
    status, out, err = authorize_tinytodo({option: str(bad)})
    assert status == 2
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"error: {tmp_path}/{message}")
    assert "Traceback" not in err


DEEP_ENTITIES = (
    '[{"uid": {"type": "User", "id": "a"}, "attrs": {"x": '
    + "[" * 5000
    + "]" * 5000
    + '}, "parents": []}]'
)
DEEP_SCHEMA = (
    '{"": {"entityTypes": {"User": {"shape": {"type": "Record", "attributes": {"a": '
    + '{"type": "Set", "element": ' * 5000
    + '{"type": "Long"}'
    + "}" * 5000
    + '}}}}, "actions": {}}}'
)


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--entities", DEEP_ENTITIES, "1:178: entities is nested too deeply"),
        ("--schema", DEEP_SCHEMA, "1:3347: invalid JSON: nested too deeply"),
    ],
    ids=["entities", "schema"],
)
def test_json_nested_deeper_than_cedar_reads_exits_2_with_one_located_message(
    tmp_path: Path, option: str, content: str, message: str
) -> None:
    # Cedar refuses JSON nested 128 levels deep; Python's decoder would fail with a
    # RecursionError somewhat deeper
    bad = tmp_path / "deep.json"
    bad.write_text(content)
    status, out, err = authorize_tinytodo({option: str(bad)})
    assert status == 2 and out == ""
    assert err.splitlines()[0].startswith(f"error: {bad}:{message}")
    assert "Traceback" not in err


def test_policies_nested_as_deeply_as_cedar_reads_them_are_authorized(tmp_path: Path) -> None:
    depth = 1000  # Cedar's own parser handles this; 20000 is refused above
    deep = tmp_path / "deep.cedar"
    deep.write_text(
        'permit(principal, action, resource) when { principal == User::"bob" && ('
        + "if true then " * depth
        + "true"
        + " else false" * depth
        + ") };"
    )
    status, out, err = authorize_tinytodo({"--policies": str(deep)})
    assert (status, err) == (0, "")
    assert "ALLOW" in out
    deeper = 20000
    deep.write_text(
        "permit(principal, action, resource) when { "
        + "if true then " * deeper
        + "true"
        + " else false" * deeper
        + " };"
    )
    status, out, err = authorize_tinytodo({"--policies": str(deep)})
    assert status == 2 and out == ""
    first, line, caret = err.splitlines()
    assert first == (
        f"error: {deep}:1:130044: the expression nests too deeply: cedar-smt reads at most "
        "10,000 levels of parentheses, brackets, braces and `if`"
    )
    assert len(line) < 200 and line[caret.index("^")] == "i"  # the line shown around the place


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--principal", 'User::"bob"'], "give --request FILE, or all of --principal"),
        (
            ["--principal", "bob", "--action", 'Action::"GetList"', "--resource", 'List::"0"'],
            "--principal:",
        ),
        (
            [
                "--principal",
                'User::"bob"',
                "--action",
                'Action::"GetList"',
                "--resource",
                'List::"0"',
                "--context",
                "[1]",
            ],
            "--context must be a JSON object",
        ),
        (
            ["--principal", 'User::"bob"', "--action", 'Action::"Fly"', "--resource", 'List::"0"'],
            'request\'s action `Action::"Fly"` is not declared in the schema',
        ),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    status, _, err = run(*BASE, *args)
    assert status == 2
    assert message in err


def test_missing_file_exits_2() -> None:
    status, _, err = run("authorize", "--policies", "nope.cedar", "--entities", "nope.json")
    assert status == 2
    assert "cannot read `nope.cedar`" in err


def test_validate_valid_policies() -> None:
    status, out, _ = run(
        "validate",
        "--policies",
        str(TINYTODO / "policies.cedar"),
        "--schema",
        str(TINYTODO / "schema.cedarschema"),
    )
    assert (status, out) == (0, "valid: 3 policies typecheck\n")


def test_validate_reports_each_error_with_place_and_id(tmp_path: Path) -> None:
    policies = tmp_path / "p.cedar"
    policies.write_text(
        '@id("bad-level")\npermit(principal, action, resource)\n'
        'when { principal.joblevel > "x" };\n'
        "permit(principal, action, resource is List) when { resource.nope };\n"
    )
    args = [
        "validate",
        "--policies",
        str(policies),
        "--schema",
        str(TINYTODO / "schema.cedarschema"),
    ]
    status, out, _ = run(*args)
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"error: {policies}:3:29: `bad-level` (policy0): "
        "unexpected type: expected Long but saw String"
    )
    assert lines[1] == (
        f"error: {policies}:4:52: policy1: attribute `nope` on entity type `List` not found"
    )
    assert lines[2] == "invalid: 2 errors"
    status, out, _ = run(*args, "--json")
    assert status == 1
    report = json.loads(out)
    assert report["passed"] is False
    assert report["errors"][0] == {
        "policy": "policy0",
        "id": "bad-level",
        "file": str(policies),
        "line": 3,
        "column": 29,
        "message": "unexpected type: expected Long but saw String",
    }


def test_validate_bad_schema_exits_2(tmp_path: Path) -> None:
    schema = tmp_path / "s.cedarschema"
    schema.write_text("entity User in [Nope];")
    status, _, err = run(
        "validate", "--policies", str(TINYTODO / "policies.cedar"), "--schema", str(schema)
    )
    assert status == 2
    assert err.startswith(f"error: {schema}:1:")
