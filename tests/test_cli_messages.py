"""Messages that say what happened, each shown as the user sees it.

Each case once misled: a forbid called a permit by `diff`, inputs named `first` or `policy0`,
an option that does not exist, "holds 0 policies" for a file of templates, a links file
without the file it failed on, a filter matching nothing without the values it could take,
and a query's syntax error placed in a wrapper the user never wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import integration_suite as suite
from cedar_smt.analyzer.cli import main

TINYTODO = suite.ROOT / "examples" / "tinytodo"
V1 = str(TINYTODO / "policies.cedar")
SCHEMA = str(TINYTODO / "schema.cedarschema")

TWO_NAMED_A = """\
@id("a")
permit (principal, action == Action::"GetList", resource)
when { resource.owner == principal };

@id("a")
forbid (principal, action == Action::"GetList", resource)
when { principal.joblevel < 2 };
"""

A_REORDERED_AND_CHANGED = """\
@id("a")
forbid (principal, action == Action::"GetList", resource)
when { principal.joblevel < 3 };

@id("a")
permit (principal, action == Action::"GetList", resource)
when { resource.owner == principal };
"""

INVALID = """\
@id("senior")
permit (principal, action == Action::"GetList", resource)
when { principal.joblevel > "5" && resource.nmae == "" };
"""

TEMPLATE = """\
@id("owner-template")
permit (principal == ?principal, action == Action::"GetList", resource);
"""

LINKS = json.dumps(
    [
        {
            "templateId": "owner-template",
            "newId": "alice-lists",
            "values": {"?principal": {"type": "User", "id": "alice"}},
        }
    ]
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in {
        "old.cedar": TWO_NAMED_A,
        "new.cedar": A_REORDERED_AND_CHANGED,
        "invalid.cedar": INVALID,
        "template.cedar": TEMPLATE,
        "links.json": LINKS,
    }.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "examples").symlink_to(suite.ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


S = "examples/tinytodo/schema.cedarschema"


def test_diff_with_a_duplicated_id_never_mislabels_a_policy(files: Path) -> None:
    code, out, _ = run("diff", "old.cedar", "new.cedar", "--schema", S, "--action", "GetList")
    assert code == 1
    lines = out.splitlines()
    assert lines[:3] == [
        "policies:",
        "  changed  forbid `a` (new.cedar:1, paired by position with old.cedar:5)",
        '  note: `@id("a")` names 2 of `old.cedar` and 2 of `new.cedar`: those policies are '
        "matched by identical text, then in order of appearance",
    ]
    assert lines[3] == (
        'CHANGED    User, Action::"GetList", List: newly denied: forbid `a` (changed, '
        "new.cedar:1) now applies"
    )
    report = json.loads(run("diff", "old.cedar", "new.cedar", "--schema", S, "--json")[1])
    (change,) = report["policies"]
    assert (change["kind"], change["matched_by"]) == ("changed", "position")
    assert (change["old"]["effect"], change["new"]["effect"]) == ("forbid", "forbid")
    assert (change["old"]["line"], change["new"]["line"]) == (5, 1)


def test_diff_of_a_file_with_itself_despite_a_duplicated_id(files: Path) -> None:
    code, out, _ = run("diff", "old.cedar", "old.cedar", "--schema", S)
    assert code == 0
    assert out.splitlines()[:2] == [
        "policies: no policy added, removed or changed",
        '  note: `@id("a")` names 2 of `old.cedar` and 2 of `old.cedar`: those policies are '
        "matched by identical text, then in order of appearance",
    ]


INVALID_LINES = [
    "error: the policies of `invalid.cedar` do not validate against the schema, so they cannot "
    "be analysed:",
    "  invalid.cedar:3:29: `senior` (policy0): unexpected type: expected Long but saw String",
    "  invalid.cedar:3:36: `senior` (policy0): attribute `nmae` on entity type `List` not found",
]


@pytest.mark.parametrize(
    "command",
    [
        ["equivalent", "invalid.cedar", "invalid.cedar"],
        ["always-denies", "invalid.cedar"],
        ["never-errors", "invalid.cedar"],
        ["matches-equivalent", "invalid.cedar", "invalid.cedar"],
        ["diff", "invalid.cedar", "examples/tinytodo/policies.cedar"],
        ["lint", "invalid.cedar"],
    ],
    ids=lambda c: c[0],
)
def test_inputs_that_do_not_validate_are_named_by_file_one_error_a_line(
    files: Path, command: list[str]
) -> None:
    code, out, err = run(*command, "--schema", S)
    assert (code, out) == (2, "")
    assert err.splitlines() == INVALID_LINES


@pytest.mark.parametrize(
    ("options", "option"),
    [([], "--policy-a"), (["--policy-a", "policy0"], "--policy-b")],
)
def test_matches_queries_name_their_own_options(options: list[str], option: str) -> None:
    code, _, err = run("matches-implies", V1, V1, "--schema", SCHEMA, *options)
    assert code == 2
    assert err == (
        f"error: `{V1}` holds 3 policies (`owners-full-access`, `readers-and-editors-get-list`, "
        f"`interns-cannot-create-lists`); choose one with {option}\n"
    )


def test_a_file_of_templates_needs_links(files: Path) -> None:
    code, _, err = run("never-errors", "template.cedar", "--schema", S)
    assert code == 2
    assert err == (
        "error: `template.cedar` holds only templates (`owner-template`) and no policy: link "
        "them with --template-links, or give --any-link, to analyse them\n"
    )
    code, _, _ = run(
        "never-errors", "template.cedar", "--schema", S, "--template-links", "links.json"
    )
    assert code == 0
    code, _, err = run("always-denies", "template.cedar", "--schema", S, "--action", "GetList")
    assert code == 0  # no policy: every request is denied; but the user is told why
    assert err == (
        "note: `template.cedar` holds 1 template, analysed only when linked (--template-links) "
        "or for every link (--any-link)\n"
    )


@pytest.mark.parametrize("command", ["diff", "equivalent"])
def test_links_missing_from_one_version_name_it(files: Path, command: str) -> None:
    code, _, err = run(
        command, "template.cedar", "old.cedar", "--schema", S, "--template-links", "links.json"
    )
    assert code == 2
    assert err.splitlines()[0] == (
        "error: links.json:1:2: no template named `owner-template` in `old.cedar` "
        "(--template-links is applied to each policy file)"
    )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            ["--action", "Nope"],
            "no request environment has action `Nope`; the schema's actions are `CreateList`, "
            "`CreateTask`, `DeleteList`, `DeleteTask`, `EditShare`, `GetList`, `GetLists`, "
            "`UpdateList`, `UpdateTask`",
        ),
        (
            ["--principal-type", "Robot"],
            "no request environment has principal type `Robot`; the schema's principal types "
            "are `User`",
        ),
        (
            ["--resource-type", "Doc"],
            "no request environment has resource type `Doc`; the schema's resource types are "
            "`Application`, `List`",
        ),
        (
            ["--action", "CreateList", "--resource-type", "List"],
            "no request environment has action `CreateList` and resource type `List` together; "
            'the schema\'s environments are User, Action::"CreateList", Application; User, '
            'Action::"CreateTask", List; User, Action::"DeleteList", List; User, '
            'Action::"DeleteTask", List; User, Action::"EditShare", List; User, '
            'Action::"GetList", List; User, Action::"GetLists", Application; User, '
            'Action::"UpdateList", List; User, Action::"UpdateTask", List',
        ),
    ],
)
@pytest.mark.parametrize("command", [["always-denies", V1], ["diff", V1, V1]], ids=lambda c: c[0])
def test_a_filter_matching_nothing_says_which_and_lists_the_values(
    command: list[str], filters: list[str], message: str
) -> None:
    code, _, err = run(*command, "--schema", SCHEMA, *filters)
    assert (code, err) == (2, f"error: {message}\n")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            'principal in in Team::"x"',
            "error: --query:1:14: the query is not a Cedar condition: this identifier is reserved"
            " and cannot be used: in\n"
            '  principal in in Team::"x"\n'
            "               ^\n",
        ),
        (
            "principal.joblevel ==",
            "error: --query:1:22: the query is not a Cedar condition: unexpected end of the "
            "query; expected an expression\n"
            "  principal.joblevel ==\n"
            "                       ^\n",
        ),
        (
            'principal in Team::"a" &&\n  && true',
            "error: --query:2:3: the query is not a Cedar condition: unexpected token `&&`; "
            "expected an expression\n"
            "    && true\n"
            "    ^\n",
        ),
    ],
    ids=["middle", "end", "second-line"],
)
def test_a_query_syntax_error_is_placed_in_the_query(query: str, message: str) -> None:
    code, out, err = run("never-allows", V1, "--schema", SCHEMA, "--query", query)
    assert (code, out, err) == (2, "", message)


def test_actions_are_listed_as_the_filter_takes_them() -> None:
    """By id, unless two action types share it: then in full."""
    from cedar_smt.analyzer import AnalysisInputError
    from cedar_smt.analyzer.runner import matching_environments
    from cedar_smt.core import Schema

    schema = Schema.from_str(
        "namespace N { entity V; action view appliesTo { principal: [V], resource: [V] }; }\n"
        "namespace M { entity U; action view, edit appliesTo { principal: [U, M::Admin], "
        "resource: [U] }; entity Admin; }"
    )
    with pytest.raises(AnalysisInputError) as err:
        matching_environments(schema, action="nope")
    assert str(err.value) == (
        "no request environment has action `nope`; the schema's actions are "
        '`M::Action::"view"`, `N::Action::"view"`, `edit`'
    )
