"""Wire connectors into an Engine from a Config: the only place that knows both sides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.rules_files import load_rules
from privgate.engine.decision import Principal
from privgate.engine.errors import ConfigError
from privgate.engine.pipeline import Engine
from privgate.engine.ports import PolicyEvaluator, StaticBudget

from .config import Config, load_config


def build_evaluator(config: Config) -> PolicyEvaluator:
    """The configured backend; imported lazily so the embedded path never loads an HTTP client."""
    from privgate.connectors.policy.bundle import load_bundle

    bundle = load_bundle(config.policy.bundle)
    if config.policy.backend == "opa":
        from privgate.connectors.policy.server import OpaServerEvaluator

        return OpaServerEvaluator(config.policy.opa_url, bundle, timeout=config.policy.timeout_ms / 1000)
    from privgate.connectors.policy.embedded import EmbeddedEvaluator

    return EmbeddedEvaluator(bundle, timeout=config.policy.timeout_ms / 1000)


def build_engine(config: Config | str | Path | None = None, *, env: Mapping[str, str] = os.environ,
                 cache_size: int = 4096) -> Engine:
    """An Engine for this configuration (a ``Config``, a path to privgate.yaml, or discovery)."""
    cfg = config if isinstance(config, Config) else load_config(config, env)
    catalog = load_catalog(cfg.catalog)
    rules = load_rules(cfg.rules, source=cfg.source)
    budget = StaticBudget(cfg.budget.epsilon) if cfg.budget.epsilon else None
    key = env.get(cfg.mask_key_env, "").encode()
    return Engine(catalog, rules, build_evaluator(cfg), budget=budget, mask_key=key, cache_size=cache_size)


def principal(config: Config, name: str, extra_roles: tuple[str, ...] = ()) -> Principal:
    if not name:
        raise ConfigError("a principal is required (--principal)", code="config_no_principal")
    return Principal(id=name, roles=tuple(dict.fromkeys((*config.roles_of(name), *extra_roles))))
