"""Reports for reviewers: Markdown and SARIF golden fixtures, the HTML page, --summary-file,
and SARIF's stable fingerprints.

The commands run in a scratch git repository holding copies of tests/fixtures/review/ (a
change with a policy changed, one added and one removed), the lint fixture and the schema,
so that SARIF's uris are relative to it. tests/fixtures/reports/ holds what they print; the
solver's seeds are fixed, so the counterexamples are too. `CEDAR_SMT_UPDATE_GOLDEN=1`
rewrites the fixtures (read the diff before committing it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "reports"
UPDATE = os.environ.get("CEDAR_SMT_UPDATE_GOLDEN", "") not in ("", "0")

COMMANDS = {
    "diff": ["diff", "old.cedar", "new.cedar"],
    "compare": ["compare", "old.cedar", "new.cedar"],
    "lint": ["lint", "findings.cedar"],
    "implies": ["implies", "old.cedar", "new.cedar"],
}
EXIT = {"diff": 1, "compare": 1, "lint": 1, "implies": 1}
SARIF_COMMANDS = ("diff", "compare", "lint")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("old.cedar", "new.cedar"):
        shutil.copy(FIXTURES / "review" / name, repo / name)
    shutil.copy(FIXTURES / "lint" / "findings.cedar", repo / "findings.cedar")
    shutil.copy(FIXTURES / "schema.cedarschema", repo / "schema.cedarschema")
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    return repo


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--schema", "schema.cedarschema"])
    return result.exit_code, result.stdout


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden fixture"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_markdown_matches_its_golden_fixture(repo: Path, name: str) -> None:
    code, out = run(*COMMANDS[name], "--format", "markdown")
    assert code == EXIT[name]
    golden(f"{name}.md", out)


def normalised(sarif: dict[str, Any]) -> dict[str, Any]:
    """The log with what depends on the machine (the repository's place) or the release."""
    run0 = sarif["runs"][0]
    assert run0["originalUriBaseIds"]["SRCROOT"]["uri"] == Path.cwd().as_uri() + "/"
    run0["originalUriBaseIds"]["SRCROOT"]["uri"] = "file:///REPOSITORY/"
    assert run0["tool"]["driver"]["version"]
    run0["tool"]["driver"]["version"] = "VERSION"
    return sarif


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", SARIF_COMMANDS)
def test_sarif_matches_its_golden_fixture(repo: Path, name: str) -> None:
    code, out = run(*COMMANDS[name], "--sarif")
    assert code == EXIT[name]
    sarif = normalised(json.loads(out))
    for result in sarif["runs"][0]["results"]:
        assert len(result["locations"]) == 1  # one result per finding location
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "SRCROOT" and (repo / artifact["uri"]).is_file()
    golden(f"{name}.sarif.json", json.dumps(sarif, indent=2) + "\n")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_removed_policy_is_shown_in_the_new_file_where_it_was(repo: Path) -> None:
    """`senior-write` was between `readers-read` and `owner-writes` in old.cedar: its newly
    denied class is shown in new.cedar, at `owner-writes`, with the removal explained."""
    run0 = json.loads(run(*COMMANDS["diff"], "--sarif")[1])["runs"][0]
    shown = [r for r in run0["results"] if "senior-write" in r["message"]["text"]]
    assert shown
    new_lines = (repo / "new.cedar").read_text().splitlines()
    for r in shown:
        physical = r["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "new.cedar"
        line = physical["region"]["startLine"]
        assert new_lines[line - 1] == '@id("owner-writes")'
        assert r["message"]["text"].endswith(
            "; shown where the removed permit `senior-write` (old.cedar:6) was: just before this"
        )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", SARIF_COMMANDS)
def test_fingerprints_are_stable_across_runs_and_moves(repo: Path, name: str) -> None:
    """The same findings have the same fingerprints when run again, and when the policies
    move down the file (a comment added at the top)."""

    def results() -> list[tuple[str, str, int]]:
        out = json.loads(run(*COMMANDS[name], "--sarif")[1])["runs"][0]["results"]
        return [
            (
                r["ruleId"],
                r["partialFingerprints"]["cedarSmtFinding/v1"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for r in out
        ]

    first = results()
    assert first == results()
    fingerprints = [f for _, f, _ in first]
    assert len(set(fingerprints)) == len(fingerprints)  # each finding its own
    for path in ("new.cedar", "findings.cedar"):
        (repo / path).write_text("// moved\n// down\n" + (repo / path).read_text())
    moved = results()
    assert sorted((r, f) for r, f, _ in moved) == sorted((r, f) for r, f, _ in first)
    lines = {f: line for _, f, line in first}
    assert all(line == lines[f] + 2 for _, f, line in moved)


def test_summary_file_appends_the_markdown_report(repo: Path) -> None:
    summary = repo / "summary.md"
    summary.write_text("# CI summary\n\n")
    code, text = run(*COMMANDS["diff"], "--summary-file", str(summary))
    assert code == 1 and text.splitlines()[-1].startswith("diff: ")  # stdout stays text
    code, _ = run(*COMMANDS["lint"], "--json", "--summary-file", str(summary))
    assert code == 1
    diff_md = run(*COMMANDS["diff"], "--format", "markdown")[1]
    lint_md = run(*COMMANDS["lint"], "--format", "markdown")[1]
    assert summary.read_text() == "# CI summary\n\n" + diff_md + "\n" + lint_md + "\n"


def test_a_summary_file_that_cannot_be_written_is_refused_first(repo: Path) -> None:
    result = CliRunner().invoke(
        main,
        [*COMMANDS["diff"], "--schema", "schema.cedarschema", "--summary-file", "no/such/dir.md"],
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: cannot append to the summary file `no/such/dir.md`")


class _Page(HTMLParser):
    """What a browser would show of the page: texts, tags seen, and outside references."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.outside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.outside += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _markdown_words(markdown: str) -> set[str]:
    """The words of the Markdown's text, without its markup."""
    plain = re.sub(r"<[^>]+>|[`*#|]", " ", markdown)
    return {w for w in plain.split() if w not in ("-", "---", "text")} - {
        "---|" * n for n in range(5)
    }


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_html_is_one_page_with_the_markdowns_content(repo: Path, name: str) -> None:
    code, html = run(*COMMANDS[name], "--format", "html")
    assert code == EXIT[name]
    page = _Page()
    page.feed(html)
    assert html.startswith("<!DOCTYPE html>") and page.outside == []
    assert "script" not in page.tags and "link" not in page.tags
    markdown = run(*COMMANDS[name], "--format", "markdown")[1]
    assert page.tags.count("details") == markdown.count("<details>")
    assert page.tags.count("tr") == sum(
        1 for line in markdown.splitlines() if line.startswith("| ")
    )
    shown = set(" ".join(page.text).split())
    assert _markdown_words(markdown) - shown == set()
