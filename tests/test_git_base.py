"""`cedar-smt diff --git-base REV POLICIES...`: the working tree against a revision, in a real
git repository made for each test."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
REVIEW = FIXTURES / "review"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose first commit has the schema and policies/docs.cedar (old.cedar)
    and policies/extra.cedar; the working tree is then free to change."""
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    shutil.copy(FIXTURES / "schema.cedarschema", repo / "schema.cedarschema")
    shutil.copy(REVIEW / "old.cedar", repo / "policies" / "docs.cedar")
    (repo / "policies" / "extra.cedar").write_text(
        '@id("no-big-n")\nforbid (principal, action, resource) when { context.n > 5 };\n'
    )
    commit(repo, "base")
    monkeypatch.chdir(repo)
    return repo


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


DIFF = ("diff", "--git-base", "HEAD")
SCHEMA = ("--schema", "schema.cedarschema")


def test_an_unchanged_working_tree_has_no_change(repo: Path) -> None:
    code, out, _ = run(*DIFF, "policies/", *SCHEMA)
    assert (code, out.splitlines()[-1]) == (0, "diff: no request changes decision")


def test_one_file_against_the_revision(repo: Path) -> None:
    shutil.copy(REVIEW / "less.cedar", repo / "policies" / "docs.cedar")
    code, out, _ = run(*DIFF, "policies/docs.cedar", *SCHEMA, "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["old"], report["new"]) == ("HEAD:policies/docs.cedar", "policies/docs.cedar")
    (removed,) = report["policies"]
    assert removed["kind"] == "removed"
    assert (removed["old"]["name"], removed["old"]["file"]) == (
        "senior-write",
        "HEAD:policies/docs.cedar",
    )
    classes = [c for e in report["environments"] for c in e["classes"]]
    assert [c["transition"] for c in classes] == ["newly denied"]
    assert classes[0]["witness"]["decisions"] == {
        "HEAD:policies/docs.cedar": "allow",
        "policies/docs.cedar": "deny",
    }


def test_a_folder_with_files_changed_removed_and_added(repo: Path) -> None:
    """Every .cedar file under the folder on either side; a file on one side only is added
    or removed whole; a removed policy is shown in SARIF in a file the new version has."""
    shutil.copy(REVIEW / "new.cedar", repo / "policies" / "docs.cedar")
    (repo / "policies" / "extra.cedar").unlink()
    (repo / "policies" / "sub").mkdir()
    (repo / "policies" / "sub" / "admins.cedar").write_text(
        '@id("level-9-writes")\n'
        'permit (principal, action == Action::"write", resource) when { principal.level >= 9 };\n'
    )
    (repo / "policies" / "notes.txt").write_text("not a policy file")
    code, out, _ = run(*DIFF, "policies", *SCHEMA, "--json")
    assert code == 1
    report = json.loads(out)
    kinds = sorted((p["kind"], (p["new"] or p["old"])["name"]) for p in report["policies"])
    assert kinds == [
        ("added", "level-9-writes"),
        ("added", "public-read"),
        ("changed", "readers-read"),
        ("removed", "no-big-n"),
        ("removed", "senior-write"),
    ]
    files = {(p["new"] or p["old"])["file"] for p in report["policies"]}
    assert files == {
        "policies/sub/admins.cedar",
        "policies/docs.cedar",
        "HEAD:policies/docs.cedar",
        "HEAD:policies/extra.cedar",
    }
    code, out, _ = run(*DIFF, "policies", *SCHEMA, "--sarif")
    run0 = json.loads(out)["runs"][0]
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run0["results"]
    }
    assert uris <= {"policies/docs.cedar", "policies/sub/admins.cedar"}
    moved = [
        r["message"]["text"] for r in run0["results"] if "new version lacks" in r["message"]["text"]
    ]
    assert moved and all(
        "the removed forbid `no-big-n` (HEAD:policies/extra.cedar:1)" in m for m in moved
    )


def test_the_schema_is_read_at_the_revision_when_it_changed(repo: Path) -> None:
    """At the revision the schema had no `level`, so `senior-write` did not validate there:
    diff refuses the old version with that schema's error, although the policy validates
    against the working tree's schema."""
    schema = (repo / "schema.cedarschema").read_text()
    (repo / "schema.cedarschema").write_text(schema.replace("level: Long, ", ""))
    commit(repo, "a schema without level")
    (repo / "schema.cedarschema").write_text(schema)
    code, out, err = run(*DIFF, "policies/", *SCHEMA)
    assert code == 2 and out == ""
    assert "do not validate against the schema of their own version" in err
    assert "`HEAD:policies/docs.cedar`" in err and "attribute `level`" in err


def test_a_schema_change_is_noted(repo: Path) -> None:
    schema = (repo / "schema.cedarschema").read_text()
    (repo / "schema.cedarschema").write_text(
        schema.replace("email?: String", "email?: String, nick?: String")
    )
    code, out, _ = run(*DIFF, "policies/", *SCHEMA)
    assert code == 0
    assert (
        "  note: the schema changed since `HEAD`: the policies there are validated against "
        "`HEAD:schema.cedarschema`, and both versions are compared on the requests "
        "`schema.cedarschema` allows"
    ) in out.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--git-base", "no-such-rev", "policies/"),
            "error: `no-such-rev` is not a revision of the git repository at",
        ),
        (("--git-base", "HEAD", "nowhere/"), "error: `nowhere/` is neither in the working tree"),
        (("--git-base", "HEAD", "/"), "error: `/` is outside the git repository at"),
        (("only-one.cedar",), "error: diff takes two policy files, OLD and NEW"),
    ],
)
def test_bad_git_input_is_one_message(repo: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run("diff", *args, *SCHEMA)
    assert code == 2 and out == ""
    assert err.startswith(message) and len(err.splitlines()) == 1


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    shutil.copy(FIXTURES / "schema.cedarschema", tmp_path)
    code, _, err = run(*DIFF, ".", *SCHEMA)
    assert code == 2
    assert err == (
        "error: --git-base needs a git repository: the current directory is not in one\n"
    )
