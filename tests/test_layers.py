"""The packages' layers: analyzer → encoder → core, and inside core a stack a reader can see.

Every import counts, at the top of a module or inside a function or an `if TYPE_CHECKING:`
block, so a circle cannot hide in a function-local import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_suite import ROOT

PACKAGES = ("core", "encoder", "analyzer")

# core/, bottom to top: a module may import its own layer and the layers below it.
CORE_LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "values",
        frozenset(
            {"errors", "files", "types", "ext", "ext.datetime", "ext.decimal", "ext.ipaddr"}
            | {"values", "json_text", "depth", "bulk"}
        ),
    ),
    ("syntax", frozenset({"ast", "extensions", "parser", "policy"})),
    ("schema", frozenset({"schema_json", "schema_cedar", "schema"})),
    (
        "data",
        frozenset(
            {"json_values", "entities", "request", "policy_set", "policy_json", "policy_text"}
        ),
    ),
    ("types", frozenset({"typechecker", "validator", "links"})),
    ("evaluation", frozenset({"evaluator", "compiled", "authorizer", "residual", "grounded"})),
)


def modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT / package).with_suffix("")
        name = ".".join(rel.parts).removesuffix("__init__").rstrip(".")
        out[name] = path
    return out


def imported(path: Path) -> Iterator[str]:
    """Every module name an import statement of the file names, fully qualified."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def project_imports(package: str, name: str, path: Path) -> set[str]:
    """The modules of `package` that module `name` imports (`""` for the package itself)."""
    prefix = f"cedar_smt.{package}"
    own = modules(package)
    out = set()
    for mod in imported(path):
        if mod == prefix or mod.startswith(prefix + "."):
            target = mod[len(prefix) + 1 :]
            if target in own and target != name:
                out.add(target)
    return out


def test_every_core_module_has_a_layer() -> None:
    placed = set().union(*(mods for _, mods in CORE_LAYERS))
    unplaced = sorted(set(modules("core")) - placed - {""})
    assert not unplaced, f"core modules with no layer in CORE_LAYERS: {unplaced}"


def test_core_imports_only_its_own_layer_and_those_below() -> None:
    level = {m: i for i, (_, mods) in enumerate(CORE_LAYERS) for m in mods}
    upward = []
    for name, path in modules("core").items():
        if name == "":
            continue
        for target in project_imports("core", name, path):
            if target and level[target] > level[name]:
                upward.append(
                    f"{name} ({CORE_LAYERS[level[name]][0]}) imports "
                    f"{target} ({CORE_LAYERS[level[target]][0]})"
                )
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package: str) -> None:
    graph = {
        name: {t for t in project_imports(package, name, path) if t}
        for name, path in modules(package).items()
        if name
    }
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            raise AssertionError(f"import circle in {package}: {' -> '.join(cycle)}")
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*stack, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core", ("z3", "cedar_smt.encoder", "cedar_smt.analyzer")),
        ("encoder", ("cedar_smt.analyzer",)),
    ],
)
def test_dependencies_run_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{name}: {mod}"
        for name, path in modules(package).items()
        for mod in imported(path)
        if any(mod == f or mod.startswith(f + ".") for f in forbidden)
    ]
    assert not bad, bad


def test_nothing_imports_the_packages_by_their_folder_names() -> None:
    """Inside the project every import says `cedar_smt.`: a bare `core` would be whatever
    `core` comes first on the user's path."""
    files = [
        p
        for folder in (*PACKAGES, "cedar_smt", "tests", "bench")
        for p in (ROOT / folder).rglob("*.py")
    ]
    bad = [
        f"{p.relative_to(ROOT)}: {mod}"
        for p in files
        for mod in imported(p)
        if mod.split(".")[0] in PACKAGES
    ]
    assert not bad, bad


def test_the_concrete_side_loads_without_z3() -> None:
    """A user who only authorizes (`cedar_smt.core`, or `cedar_smt.is_authorized`) does not
    pay for loading the solver."""
    probe = (
        "import sys, cedar_smt.core; from cedar_smt import is_authorized, PolicySet; "
        "print(sorted(m for m in sys.modules if m == 'z3' or m.startswith('cedar_smt.encoder')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
