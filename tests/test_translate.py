"""`cedar-smt translate`, and Cedar's JSON policy format wherever a policy file is read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cedar_smt.analyzer.cli import main
from integration_suite import ROOT

cedarpy = pytest.importorskip("cedarpy")

TINYTODO = ROOT / "examples" / "tinytodo"
SCHEMA = str(TINYTODO / "schema.cedarschema")
sys.path.insert(0, str(ROOT / "bench"))
import stores  # noqa: E402


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tinytodo_json(tmp_path: Path) -> Path:
    code, out, err = run("translate", TINYTODO / "policies.cedar", "--to", "json")
    assert (code, err) == (0, "")
    path = tmp_path / "policies.json"
    path.write_text(out)
    return path


def test_translate_to_json_writes_what_cedar_writes(tinytodo_json: Path) -> None:
    text = (TINYTODO / "policies.cedar").read_text()
    assert json.loads(tinytodo_json.read_text()) == json.loads(cedarpy.policies_to_json_str(text))


def test_translate_back_to_cedar_reads_as_the_same_policies(tinytodo_json: Path) -> None:
    code, out, err = run("translate", tinytodo_json, "--to", "cedar")
    assert (code, err) == (0, "")
    assert json.loads(cedarpy.policies_to_json_str(out)) == json.loads(tinytodo_json.read_text())


def test_analyses_read_json_policies_and_see_no_change(tinytodo_json: Path) -> None:
    text = TINYTODO / "policies.cedar"
    code, out, _ = run("diff", text, tinytodo_json, "--schema", SCHEMA)
    assert code == 0 and out.splitlines()[-1] == "diff: no request changes decision"
    code, out, _ = run("equivalent", tinytodo_json, text, "--schema", SCHEMA)
    assert code == 0 and "HOLDS" in out.splitlines()[-1]
    code, out, _ = run("validate", "--policies", tinytodo_json, "--schema", SCHEMA)
    assert code == 0


def test_authorize_answers_alike_from_either_format(tinytodo_json: Path) -> None:
    answers = []
    for policies in (TINYTODO / "policies.cedar", tinytodo_json):
        for request in sorted((TINYTODO / "requests").glob("*.json")):
            code, out, _ = run(
                "authorize",
                "--policies",
                policies,
                "--schema",
                SCHEMA,
                "--entities",
                TINYTODO / "entities.json",
                "--request",
                request,
                "--json",
            )
            answers.append((request.name, code, json.loads(out)["decision"]))
    half = len(answers) // 2
    assert answers[:half] == answers[half:] and {c for _, c, _ in answers} == {0, 1}


def test_template_links_go_to_json_and_come_back_beside_the_text(tmp_path: Path) -> None:
    store = tmp_path / "store"
    stores.write(stores.generate(60, seed=3), store)
    schema = store / "schema.cedarschema"
    links = store / "links.json"
    code, out, err = run(
        "translate", store / "policies.cedar", "--template-links", links, "--to", "json"
    )
    assert (code, err) == (0, "")
    as_json = tmp_path / "store.json"
    as_json.write_text(out)
    assert len(json.loads(out)["templateLinks"]) == len(json.loads(links.read_text()))
    # the JSON holds the links itself: it is analysed without --template-links
    code, _, _ = run("translate", as_json, "--to", "cedar")
    assert code == 2
    code, text, err = run("translate", as_json, "--to", "cedar", "--links-out", tmp_path / "l.json")
    assert (code, err) == (0, "")
    (tmp_path / "back.cedar").write_text(text)
    code, out, _ = run(
        "equivalent",
        tmp_path / "back.cedar",
        store / "policies.cedar",
        "--schema",
        schema,
        "--template-links",
        tmp_path / "l.json",
    )
    assert code == 0, out


def test_a_json_policy_file_with_a_mistake_is_placed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{\n  "staticPolicies": {\n    "p": {"effect": "allow"}\n  },\n'
        '  "templates": {}, "templateLinks": []\n}\n'
    )
    code, out, err = run("validate", "--policies", bad, "--schema", SCHEMA)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}:3:")
    assert "Traceback" not in err


def test_json_links_to_cedar_needs_a_place_for_the_links(tmp_path: Path) -> None:
    ps = {
        "staticPolicies": {},
        "templates": {
            "t": {
                "effect": "permit",
                "principal": {"op": "==", "slot": "?principal"},
                "action": {"op": "All"},
                "resource": {"op": "All"},
                "conditions": [],
            }
        },
        "templateLinks": [
            {
                "templateId": "t",
                "newId": "l",
                "values": {"?principal": {"__entity": {"type": "User", "id": "a"}}},
            }
        ],
    }
    path = tmp_path / "links.json"
    path.write_text(json.dumps(ps))
    code, _, err = run("translate", path, "--to", "cedar")
    assert code == 2 and "1 template link" in err and "--links-out" in err
    code, _, err = run("translate", path, "--to", "json", "--links-out", tmp_path / "x")
    assert code == 2 and "--links-out goes with --to cedar" in err
