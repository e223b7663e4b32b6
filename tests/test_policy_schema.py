"""docs/policy-input.schema.json is generated from PolicyInput and describes real inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from privgate.connectors.policy.corpus import BASE_INPUT, load_cases

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "policy-input.schema.json"
CORPUS = ROOT / "tests" / "corpus" / "policy"


def test_committed_schema_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_schema.py"), "--check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_validated_corpus_input_matches_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(BASE_INPUT)
    cases = load_cases([CORPUS / "statements.yaml", CORPUS / "pii.yaml", CORPUS / "dp.yaml"])
    for case in cases:
        validator.validate(case.input)


def test_the_schema_rejects_what_the_policy_denies_as_input_invalid(
        validator: jsonschema.Draft202012Validator) -> None:
    broken = json.loads(json.dumps(BASE_INPUT))
    broken["request"]["principal"]["roles"] = "admin"
    assert not validator.is_valid(broken)
    del broken["budget"]
    assert not validator.is_valid(broken)
