"""The pre-commit hooks of .pre-commit-hooks.yaml, run by `pre-commit try-repo` on a scratch
repository: they pass on good policies, and fail, naming the file and line, on bad ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration_suite import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
PRE_COMMIT = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or shutil.which(
    "pre-commit"
)

pytestmark = pytest.mark.skipif(
    PRE_COMMIT is None or shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs pre-commit (in the test extras), git, and this repository as a git checkout",
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pre-commit's cache, shared by the tests so that the hooks' environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def try_repo(repo: Path, home: Path, *hooks: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), CEDAR_SMT_SCHEMA="schema.cedarschema")
    assert PRE_COMMIT is not None
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(ROOT), *hooks, "--all-files", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "policies-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copy(FIXTURES / "schema.cedarschema", repo / "schema.cedarschema")
    shutil.copy(FIXTURES / "review" / "less.cedar", repo / "docs.cedar")
    git(repo, "add", "-A")
    return repo


def test_both_hooks_pass_on_good_policies(repo: Path, home: Path) -> None:
    done = try_repo(repo, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cedar-smt validate" in done.stdout and "cedar-smt lint" in done.stdout
    assert "valid: 2 policies typecheck" in done.stdout
    assert "lint: 0 findings" in done.stdout


def test_validate_fails_on_a_policy_that_does_not_typecheck(repo: Path, home: Path) -> None:
    (repo / "bad.cedar").write_text(
        'permit (principal, action == Action::"read", resource)\nwhen { principal.levle > 1 };\n'
    )
    git(repo, "add", "-A")
    done = try_repo(repo, home, "cedar-smt-validate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: bad.cedar:2:8: " in done.stdout
    assert "attribute `levle` on entity type `User` not found" in done.stdout


def test_lint_fails_on_a_policy_that_does_nothing(repo: Path, home: Path) -> None:
    shutil.copy(FIXTURES / "lint" / "findings.cedar", repo / "findings.cedar")
    git(repo, "add", "-A")
    done = try_repo(repo, home, "cedar-smt-lint")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "findings.cedar:3:1: L001 dead-policy: permit `dead`" in done.stdout
    assert "docs.cedar" not in done.stdout.split("lint:")[0]  # the good file has none
