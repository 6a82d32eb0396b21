"""The distribution a user installs: built with `python -m build`, installed from the wheel
into a fresh virtual environment, and used from a directory with `core/`, `encoder/` and
`analyzer/` folders of its own, which must not be mistaken for ours. mypy checks the code in
the shape the wheel installs it."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from integration_suite import ROOT

TINYTODO = ROOT / "examples" / "tinytodo"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as `python -m build` builds them (the wheel from the
    sdist, so a file the sdist forgets breaks the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    done = run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob("cedar_smt-*.whl")
    return wheel


def test_the_build_makes_an_sdist_and_a_wheel(dist: Path) -> None:
    assert len(list(dist.glob("cedar_smt-*.tar.gz"))) == 1
    assert wheel_of(dist).name.endswith("-py3-none-any.whl")


def test_the_wheel_installs_cedar_smt_alone_at_the_top_level(dist: Path) -> None:
    with zipfile.ZipFile(wheel_of(dist)) as whl:
        names = whl.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert whl.read(top_level).decode().split() == ["cedar_smt"]
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"cedar_smt"}
    for module in ("core/parser.py", "core/grammar/schema.lark", "encoder/compiler.py"):
        assert f"cedar_smt/{module}" in names
    for package in ("cedar_smt", "cedar_smt/core", "cedar_smt/encoder", "cedar_smt/analyzer"):
        assert f"{package}/py.typed" in names


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; its `bin` folder."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    bin_dir = home / ("Scripts" if os.name == "nt" else "bin")
    done = run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel_of(dist))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return bin_dir


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A working directory whose own `core`, `encoder` and `analyzer` would break any import
    of those names."""
    for name in ("core", "encoder", "analyzer"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError('the local {name} package was imported')\n"
        )
    return tmp_path


def test_the_installed_cli_runs_on_a_bundled_example(installed: Path, scratch: Path) -> None:
    done = run(
        installed / "cedar-smt",
        "equivalent",
        TINYTODO / "policies.cedar",
        TINYTODO / "policies-v2.cedar",
        "--schema",
        TINYTODO / "schema.cedarschema",
        cwd=scratch,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == "equivalent: HOLDS in all 9 request environments"


def test_python_m_cedar_smt_prints_the_installed_version(installed: Path, scratch: Path) -> None:
    done = run(installed / "python", "-m", "cedar_smt", "--version", cwd=scratch)
    assert done.returncode == 0, done.stderr
    version = run(
        installed / "python",
        "-c",
        "import importlib.metadata as m; print(m.version('cedar-smt'))",
        cwd=scratch,
    ).stdout.strip()
    assert done.stdout.strip() == f"cedar-smt, version {version}"


FACADE = f"""
import cedar_smt

schema = cedar_smt.Schema.from_file({str(TINYTODO / "schema.cedarschema")!r})
v1 = cedar_smt.PolicySet.from_file({str(TINYTODO / "policies.cedar")!r})
v3 = cedar_smt.PolicySet.from_file({str(TINYTODO / "policies-v3.cedar")!r})
entities = cedar_smt.Entities.from_file({str(TINYTODO / "entities.json")!r}, schema)
request = cedar_smt.Request.from_json(
    {{"principal": 'User::"bob"', "action": 'Action::"GetList"', "resource": 'List::"0"'}},
    schema,
)
print(cedar_smt.is_authorized(request, v1, entities).decision)
print(cedar_smt.validate(v1, schema).passed)
print(cedar_smt.check_equivalent(v1, v3, schema).verdict.value)
print(len(cedar_smt.diff_policies(list(v1), list(v3), schema).classes) > 0)
print(len(cedar_smt.lint_policies(list(v1), schema).findings))
print(cedar_smt.__version__)
print(cedar_smt.core.__file__)
"""


def test_the_facade_from_the_installed_wheel(installed: Path, scratch: Path) -> None:
    done = run(installed / "python", "-c", FACADE, cwd=scratch)
    assert done.returncode == 0, done.stderr
    decision, valid, verdict, changed, findings, version, where = done.stdout.split()
    assert (decision, valid, verdict) == ("allow", "True", "refuted")
    assert (changed, findings) == ("True", "1")
    assert version[0].isdigit()
    assert "site-packages" in where and str(scratch) not in where and str(ROOT) not in where


def test_mypy_passes_on_the_packages_as_the_wheel_installs_them(dist: Path, tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    with zipfile.ZipFile(wheel_of(dist)) as whl:
        whl.extractall(tmp_path)
    done = run(
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        ROOT / "pyproject.toml",
        "--cache-dir",
        tmp_path / ".mypy_cache",
        "-p",
        "cedar_smt",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert done.stdout.startswith("Success: no issues found")
