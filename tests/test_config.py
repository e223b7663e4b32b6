from __future__ import annotations

from pathlib import Path

import pytest

from privgate.config import load_config
from privgate.connectors.rules_files import load_rules
from privgate.engine.errors import ConfigError


def test_repo_config_resolves_catalog_relative_to_file(tmp_path: Path):
    cfg_file = tmp_path / "sub" / "privgate.yaml"
    cfg_file.parent.mkdir()
    cfg_file.write_text("catalog: cat\nprincipals: {ana: {roles: [analyst]}}\n")
    cfg = load_config(cfg_file, env={})
    assert cfg.catalog == tmp_path / "sub" / "cat"
    assert cfg.roles_of("ana") == ("analyst",)
    assert cfg.roles_of("nobody") == ()


def test_env_overrides_single_keys(tmp_path: Path):
    cfg_file = tmp_path / "privgate.yaml"
    cfg_file.write_text("dialect: postgres\n")
    cfg = load_config(cfg_file, env={"PRIVGATE_DIALECT": "duckdb", "PRIVGATE_POLICY_BACKEND": "opa",
                                     "PRIVGATE_OPA_URL": "http://127.0.0.1:9999"})
    assert (cfg.dialect, cfg.policy.backend, cfg.policy.opa_url) == ("duckdb", "opa", "http://127.0.0.1:9999")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("dialect: cobol\n", "unknown SQL dialect 'cobol'"),
        ("policy: {backend: magic}\n", "policy.backend"),
        ("polcy: {}\n", "polcy: unknown key (typo?)"),
        ("budget: {epsilon: {ana: lots}}\n", "budget.epsilon.ana"),
        ("[1, 2\n", "line 2"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, body: str, expected: str):
    f = tmp_path / "privgate.yaml"
    f.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_config(f, env={})
    assert expected in str(err.value)


def test_missing_explicit_config(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml", env={})
    assert err.value.code == "config_not_found"


def test_rules_defaults_and_overrides():
    rules = load_rules()
    assert "count" in rules.allowed_functions and "pg_read_file" not in rules.allowed_functions
    assert rules.entity_treatment["US_SSN"] == "deny"
    tighter = load_rules({"entity_treatment": {"EMAIL_ADDRESS": "deny"}})
    assert tighter.entity_treatment == {"EMAIL_ADDRESS": "deny"}
    with pytest.raises(ConfigError, match=r"rules\.dp"):
        load_rules({"dp": {"default_class": "missing"}})
