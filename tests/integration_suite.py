"""Cedar's conformance suite (../shared/cedar-integration-tests), read in place.

Yields one `SuiteTest` per test file: the handwritten tests under `tests/` and every test in
`corpus-tests.tar.gz`, read straight from the tarball.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT.parent / "shared" / "cedar-integration-tests"
EXAMPLES = ROOT.parent / "shared" / "cedar-examples"
CORPUS = SUITE / "corpus-tests.tar.gz"


@dataclass(frozen=True)
class SuiteTest:
    name: str
    policies: str
    schema: str
    entities: str
    should_validate: bool
    requests: tuple[dict[str, Any], ...]


def available() -> bool:
    return SUITE.is_dir()


@cache
def _corpus_files() -> dict[str, bytes]:
    files = {}
    with tarfile.open(CORPUS) as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                files[member.name] = f.read()
    return files


def _handwritten() -> Iterator[SuiteTest]:
    for path in sorted((SUITE / "tests").rglob("*.json")):
        spec = json.loads(path.read_text())
        yield SuiteTest(
            name=str(path.relative_to(SUITE)),
            policies=(SUITE / spec["policies"]).read_text(),
            schema=(SUITE / spec["schema"]).read_text(),
            entities=(SUITE / spec["entities"]).read_text(),
            should_validate=spec["shouldValidate"],
            requests=tuple(spec["requests"]),
        )


def corpus_names() -> list[str]:
    return sorted(n[: -len(".json")] for n in _corpus_files() if _is_test(n))


def _is_test(name: str) -> bool:
    return name.endswith(".json") and not name.endswith(".entities.json")


def corpus_test(name: str) -> SuiteTest:
    files = _corpus_files()
    spec = json.loads(files[name + ".json"])
    return SuiteTest(
        name=name,
        policies=files[spec["policies"]].decode(),
        schema=files[spec["schema"]].decode(),
        entities=files[spec["entities"]].decode(),
        should_validate=spec["shouldValidate"],
        requests=tuple(spec["requests"]),
    )


def handwritten_tests() -> list[SuiteTest]:
    return list(_handwritten())


def all_tests() -> Iterator[SuiteTest]:
    yield from _handwritten()
    for name in corpus_names():
        yield corpus_test(name)
