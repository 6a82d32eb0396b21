"""The README's Python examples run as written."""

from __future__ import annotations

import os
import re

import pytest

from integration_suite import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(block: str) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)


def test_readme_shows_the_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "python -m pip install -e '.[test]' && python -m pytest -n auto" in text
    assert "python -m pip install -e . && cedar-smt equivalent" in text


def test_readme_validation_transcript_is_what_the_cli_prints(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cedar_smt.analyzer.cli import main

    text = (ROOT / "README.md").read_text()
    session = re.search(
        r"\$ cat p\.cedar\n(.*?)\$ (cedar-smt validate [^\n]*)\n(.*?)```", text, re.S
    )
    assert session is not None
    policies, command, printed = session.groups()
    (tmp_path / "p.cedar").write_text(policies)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, command.split()[1:])
    assert (result.exit_code, result.output) == (1, printed)
