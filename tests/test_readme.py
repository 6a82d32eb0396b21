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
