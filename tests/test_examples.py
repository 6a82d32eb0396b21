"""The realistic policy sets: Cedar's examples and our own, against cedarpy and their labels.

Every ALLOW/DENY request in ../shared/cedar-examples must get the decision its folder names,
and our whole response (decision, reasons, erroring policies) must equal cedarpy's.
Entities are read with the schema exactly when cedarpy accepts them with it (two of the
examples ship entities that do not conform to their own schema).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cedar_smt.core import CedarError, Entities, PolicySet, Request, Schema, is_authorized, validate
from integration_suite import EXAMPLES, ROOT

cedarpy = pytest.importorskip("cedarpy")


def example_dirs() -> list[Path]:
    dirs = [p.parent for p in sorted(EXAMPLES.rglob("policies.cedar"))]
    return [*dirs, ROOT / "examples" / "tinytodo"]


def request_files(d: Path) -> list[Path]:
    labelled = sorted(d.glob("ALLOW/*.json")) + sorted(d.glob("DENY/*.json"))
    return labelled or sorted((d / "requests").glob("*.json"))


def cedarpy_policies(d: Path) -> object:
    ps = cedarpy.PolicySet.from_str((d / "policies.cedar").read_text())
    links = d / "linked"
    if links.exists():
        for link in json.loads(links.read_text()):
            ps = ps.with_linked(link["template_id"], link["link_id"], link["args"])
    return ps


def schema_file(d: Path) -> Path:
    return next(p for p in (d / "policies.cedarschema", d / "schema.cedarschema") if p.exists())


@pytest.mark.parametrize("d", example_dirs(), ids=lambda d: d.name)
def test_example_agrees_with_cedar(d: Path) -> None:
    schema_text = schema_file(d).read_text()
    entities_json = json.loads((d / "entities.json").read_text())
    schema = Schema.from_str(schema_text)
    policies = PolicySet.from_str((d / "policies.cedar").read_text())
    if (d / "linked").exists():
        policies.link_json((d / "linked").read_text())
    probe = cedarpy.is_authorized(
        json.loads(request_files(d)[0].read_text()), "", entities_json, schema_text
    )
    cedar_accepts_entities = "failed to parse entities" not in " ".join(probe.diagnostics.errors)
    try:
        entities = Entities.from_json(entities_json, schema)
        we_accept_entities = True
    except CedarError:
        entities = Entities.from_json(entities_json)
        we_accept_entities = False
    assert we_accept_entities == cedar_accepts_entities
    oracle_schema = schema_text if cedar_accepts_entities else None
    oracle_policies = cedarpy_policies(d)
    for path in request_files(d):
        spec = json.loads(path.read_text())
        request = Request.from_json(spec, schema if cedar_accepts_entities else None)
        ours = is_authorized(request, policies, entities)
        theirs = cedarpy.is_authorized(spec, oracle_policies, entities_json, oracle_schema)
        assert ours.decision == theirs.decision.value.lower(), path
        assert ours.reasons == set(theirs.diagnostics.reasons), path
        assert len(ours.errors) == len(theirs.diagnostics.errors), path
        if path.parent.name in ("ALLOW", "DENY"):
            assert ours.decision == path.parent.name.lower(), path


@pytest.mark.parametrize("d", example_dirs(), ids=lambda d: d.name)
def test_example_validation_agrees_with_cedar(d: Path) -> None:
    schema_text = schema_file(d).read_text()
    policies_text = (d / "policies.cedar").read_text()
    ours = validate(PolicySet.from_str(policies_text), Schema.from_str(schema_text))
    assert ours.passed == cedarpy.validate_policies(policies_text, schema_text).validation_passed
