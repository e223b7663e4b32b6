"""Wire connectors into an Engine from a Config: the only place that knows both sides."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.rules_files import load_rules
from privgate.engine.decision import Principal
from privgate.engine.errors import ConfigError
from privgate.engine.ledger.protocol import Ledger
from privgate.engine.ledger.service import LedgerService
from privgate.engine.ledger.view import LedgerBudgetView
from privgate.engine.pipeline import Engine
from privgate.engine.ports import BudgetView, PolicyEvaluator, StaticBudget

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
                 cache_size: int = 4096, ledger: Ledger | None = None, mask_key: bytes | None = None) -> Engine:
    """An Engine for this configuration (a ``Config``, a path to privgate.yaml, or discovery).

    With a ``ledger`` the policy sees the live remaining budget; without one, the static allowances
    of ``budget.epsilon`` (what ``privgate check`` forecasts against), or no budget at all.
    """
    cfg = config if isinstance(config, Config) else load_config(config, env)
    catalog = load_catalog(cfg.catalog)
    rules = load_rules(cfg.rules, source=cfg.source)
    budget: BudgetView | None = None
    if ledger is not None:
        budget = LedgerBudgetView(ledger)
    elif cfg.budget.epsilon:
        budget = StaticBudget(cfg.budget.epsilon)
    key = mask_key if mask_key is not None else env.get(cfg.mask_key_env, "").encode()
    return Engine(catalog, rules, build_evaluator(cfg), budget=budget, mask_key=key, cache_size=cache_size)


def principal(config: Config, name: str, extra_roles: tuple[str, ...] = ()) -> Principal:
    if not name:
        raise ConfigError("a principal is required (--principal)", code="config_no_principal")
    return Principal(id=name, roles=tuple(dict.fromkeys((*config.roles_of(name), *extra_roles))))


def open_configured_ledger(config: Config) -> LedgerService:
    """The live ledger of ``config`` (created and migrated on first use)."""
    from pydantic import ValidationError

    from privgate.connectors.ledger import open_ledger
    from privgate.connectors.yaml_io import describe_validation
    from privgate.engine.ledger.config import BudgetConfig

    try:
        budgets = BudgetConfig.model_validate(config.ledger.budgets)
    except ValidationError as exc:
        problems = describe_validation(config.source, exc, "ledger.budgets")
        raise ConfigError("invalid configuration:\n" + problems) from exc
    url = config.ledger.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return open_ledger(url, budgets)


def load_mask_key(config: Config, env: Mapping[str, str] = os.environ) -> bytes:
    """The HMAC key for hash/tokenize masks: ``$PRIVGATE_MASK_KEY``, else the key file (created on first
    use with 32 random bytes, readable by its owner only), so the embedded setup works out of the box."""
    if env.get(config.mask_key_env):
        return env[config.mask_key_env].encode()
    if config.mask_key_file is None:
        return b""
    path = config.mask_key_file
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read or create the mask key file: {exc}", code="config_mask_key") from exc
