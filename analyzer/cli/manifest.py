"""A fleet of policy stores and the checks to run on each: read from a JSON manifest or a
folder of stores (`cedar-smt batch`; the run itself is in cli/fleet.py)."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cedar_smt.core import CedarError
from cedar_smt.core.errors import Loc

# check name -> (the command that answers it, the store's files it takes as arguments)
ANALYSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "always-allows": ("always-allows", ("policies",)),
    "always-denies": ("always-denies", ("policies",)),
    "never-allows": ("never-allows", ("policies",)),
    "never-errors": ("never-errors", ("policies",)),
    "always-matches": ("always-matches", ("policies",)),
    "never-matches": ("never-matches", ("policies",)),
    "matches-equivalent": ("matches-equivalent", ("policies", "policies")),
    "matches-implies": ("matches-implies", ("policies", "policies")),
    "matches-disjoint": ("matches-disjoint", ("policies", "policies")),
    "equivalent": ("equivalent", ("previous", "policies")),
    "implies": ("implies", ("previous", "policies")),
    "disjoint": ("disjoint", ("previous", "policies")),
    "prove-invariants": ("prove-invariants", ("policies",)),
    "lint": ("lint", ("policies",)),
    "diff-previous": ("diff", ("previous", "policies")),
    "impact-previous": ("diff", ("previous", "policies")),
    "compare": ("compare", ("previous", "policies")),
}
# the store's files a check is given as options: `impact-previous` is the diff of `previous`
# and `policies` over the store's own entities (`diff --entities`: whose access changes)
STORE_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "impact-previous": (("--entities", "entities"),),
}
# batch gives these itself
SUPPLIED = ("--schema", "--template-links", "--entities", "--json", "--sarif")

Check = tuple[str, ...]


class FleetError(CedarError):
    """A manifest, folder of stores or check that `batch` cannot take."""


@dataclass(frozen=True)
class Store:
    """One policy store; paths are relative to the fleet's folder (or absolute)."""

    name: str
    policies: str
    schema: str
    template_links: str | None = None
    entities: str | None = None  # read by `impact-previous`
    previous: str | None = None  # the version `diff-previous` and the set comparisons start from


@dataclass(frozen=True)
class Fleet:
    base: str  # the folder the stores' paths are relative to
    stores: tuple[Store, ...]
    checks: tuple[Check, ...]

    @property
    def items(self) -> list[tuple[Store, Check]]:
        return [(s, c) for s in self.stores for c in self.checks]


def parse_check(text: str) -> Check:
    """A check written as its command line, `never-allows --query '...'`."""
    try:
        return tuple(shlex.split(text))
    except ValueError as err:
        raise FleetError(f"the check `{text}` is not a command line: {err}") from None


def validate_check(check: Check) -> Check:
    if not check or check[0] not in ANALYSES:
        name = check[0] if check else ""
        raise FleetError(
            f"`{name}` is not a check batch runs; the checks are " + ", ".join(ANALYSES)
        )
    for arg in check[1:]:
        if arg.split("=", 1)[0] in SUPPLIED:
            raise FleetError(
                f"the check `{shlex.join(check)}` gives `{arg.split('=', 1)[0]}`, which batch "
                "gives each store itself"
            )
    return check


def read_manifest(path: str, checks: Iterable[Check] = ()) -> Fleet:
    """The fleet a JSON manifest describes: `{"stores": [{"name", "policies", "schema",
    "template_links"?, "entities"?, "previous"?}], "checks": [["lint"], ...]}`; `checks`,
    when given, replace the manifest's."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FleetError(
            f"the manifest is not JSON: {err.msg}",
            source=path,
            loc=Loc(err.lineno, err.colno),
            text=text,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("stores"), list):
        raise FleetError(f'the manifest `{path}` must be an object with a list of "stores"')
    stores = tuple(_store(entry, i, path) for i, entry in enumerate(data["stores"]))
    given = tuple(checks)
    if not given:
        raw = data.get("checks")
        if not isinstance(raw, list) or not all(
            isinstance(c, list) and all(isinstance(a, str) for a in c) for c in raw
        ):
            raise FleetError(
                f'the manifest `{path}` must have "checks", a list of command lines as lists '
                'of strings, such as [["lint"], ["never-allows", "--query", "..."]]'
            )
        given = tuple(tuple(c) for c in raw)
    return _fleet(str(Path(path).parent), stores, given, path)


STORE_KEYS = ("name", "policies", "schema", "template_links", "entities", "previous")


def _store(entry: Any, index: int, path: str) -> Store:
    where = f"store {index + 1} of `{path}`"
    if not isinstance(entry, dict):
        raise FleetError(f"{where} is not an object")
    unknown = sorted(set(entry) - set(STORE_KEYS))
    if unknown:
        raise FleetError(f"{where} has unknown keys {', '.join(map(repr, unknown))}")
    for key in STORE_KEYS:
        required = key in ("name", "policies", "schema")
        if (required and key not in entry) or (key in entry and not isinstance(entry[key], str)):
            raise FleetError(f'{where} needs "{key}", a string')
    return Store(**entry)


def read_folder(path: str, checks: Iterable[Check]) -> Fleet:
    """A folder of stores, one folder each holding `policies.cedar`, `schema.cedarschema` or
    `schema.json`, and optionally `links.json`, `entities.json` and `previous.cedar`."""
    stores = []
    for sub in sorted(p for p in Path(path).iterdir() if p.is_dir()):
        if not (sub / "policies.cedar").is_file():
            continue
        schema = "schema.cedarschema" if (sub / "schema.cedarschema").is_file() else "schema.json"

        def optional(name: str, sub: Path = sub) -> str | None:
            return f"{sub.name}/{name}" if (sub / name).is_file() else None

        stores.append(
            Store(
                sub.name,
                f"{sub.name}/policies.cedar",
                f"{sub.name}/{schema}",
                optional("links.json"),
                optional("entities.json"),
                optional("previous.cedar"),
            )
        )
    if not stores:
        raise FleetError(f"`{path}` has no folder holding a `policies.cedar`")
    return _fleet(path, tuple(stores), tuple(checks), path)


def _fleet(base: str, stores: tuple[Store, ...], checks: tuple[Check, ...], path: str) -> Fleet:
    if not checks:
        raise FleetError("no checks to run: give them with --check")
    names = [s.name for s in stores]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise FleetError(f"`{path}` names several stores {', '.join(map(repr, twice))}")
    return Fleet(os.path.abspath(base), stores, tuple(validate_check(c) for c in checks))
