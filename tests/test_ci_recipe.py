"""The README's CI recipe, run as written on a scratch repository: the GitHub Actions
workflow's `cedar-smt` step (with its environment, under `bash -e` as Actions runs it) and the
generic shell script, on a pull request that changes a policy, and on one that breaks one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration_suite import ROOT

yaml = pytest.importorskip("yaml")  # PyYAML comes with pre-commit, in the test extras

FIXTURES = Path(__file__).parent / "fixtures"
README = (ROOT / "README.md").read_text()

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash"
)


def block(marker: str, language: str) -> str:
    found = re.search(rf"<!-- ci:{marker} -->\n```{language}\n(.*?)```", README, re.S)
    assert found, f"the README has no `{marker}` CI recipe"
    return found.group(1)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """`main` has the schema and policies/docs.cedar (old.cedar); the checkout is a branch
    off it whose change is left to each test."""
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    shutil.copy(FIXTURES / "schema.cedarschema", repo / "schema.cedarschema")
    shutil.copy(FIXTURES / "review" / "old.cedar", repo / "policies" / "docs.cedar")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "change")
    return repo


def change(repo: Path, source: Path) -> None:
    shutil.copy(source, repo / "policies" / "docs.cedar")
    git(repo, "commit", "-q", "-am", "the change")


def environment(**extra: str) -> dict[str, str]:
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return dict(os.environ, PATH=path, **extra)


def actions_step(repo: Path) -> subprocess.CompletedProcess[str]:
    workflow = yaml.safe_load(block("actions", "yaml"))
    (job,) = workflow["jobs"].values()
    step = next(s for s in job["steps"] if s.get("name") == "cedar-smt")
    env = {k: str(v).replace("${{ github.base_ref }}", "main") for k, v in step["env"].items()}
    env["BASE"] = env["BASE"].replace("origin/", "")  # no remote in the scratch repository
    summary = repo / "step-summary.md"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=repo,
        env=environment(**env, GITHUB_STEP_SUMMARY=str(summary)),
        capture_output=True,
        text=True,
        timeout=600,
    )


def shell_script(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", block("shell", "sh")],
        cwd=repo,
        env=environment(BASE="main"),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_workflow_reports_a_change_for_review(repo: Path) -> None:
    change(repo, FIXTURES / "review" / "new.cedar")
    done = actions_step(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (repo / "cedar-smt.md").read_text()
    assert "### cedar-smt lint: `policies/docs.cedar`\n\n**CLEAN**: no findings" in summary
    assert "### cedar-smt diff: `main:policies` → `policies`" in summary
    assert "**CHANGED**: 3 classes of requests change decision" in summary
    assert (repo / "step-summary.md").read_text() == summary
    diff = json.loads((repo / "diff.sarif").read_text())["runs"][0]
    assert {r["ruleId"] for r in diff["results"]} == {"D001", "D002"}
    assert {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in diff["results"]
    } == {"policies/docs.cedar"}
    assert json.loads((repo / "lint.sarif").read_text())["runs"][0]["results"] == []


def test_the_workflow_fails_on_a_policy_that_does_not_validate(repo: Path) -> None:
    broken = repo / "broken.cedar"
    broken.write_text(
        (FIXTURES / "review" / "new.cedar").read_text().replace("context.mfa", "context.mfaa")
    )
    change(repo, broken)
    done = actions_step(repo)
    assert done.returncode == 1
    assert "error: policies/docs.cedar:5:" in done.stdout
    assert "attribute `mfaa`" in done.stdout


def test_the_shell_script_does_the_same(repo: Path) -> None:
    change(repo, FIXTURES / "review" / "new.cedar")
    done = shell_script(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (repo / "cedar-smt.md").read_text()
    assert summary.count("### cedar-smt ") == 2
    assert "**CHANGED**: 3 classes of requests change decision" in summary
    assert json.loads((repo / "diff.sarif").read_text())["runs"][0]["results"]


def test_the_shell_script_fails_on_lint_findings(repo: Path) -> None:
    change(repo, FIXTURES / "lint" / "findings.cedar")
    done = shell_script(repo)
    assert done.returncode == 1
    assert len(json.loads((repo / "lint.sarif").read_text())["runs"][0]["results"]) == 9
    assert "**FINDINGS**: 9 findings" in (repo / "cedar-smt.md").read_text()
