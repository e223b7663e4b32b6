"""``privgate.yaml``: the one configuration file, validated with errors a person can act on.

Discovery: ``--config FILE``, else ``$PRIVGATE_CONFIG``, else ``./privgate.yaml``, else built-in
defaults. Relative paths inside the file are relative to the file. Environment variables override
single keys (``PRIVGATE_CATALOG``, ``PRIVGATE_POLICY_BACKEND``, ``PRIVGATE_OPA_URL``,
``PRIVGATE_DIALECT``, ``PRIVGATE_LEDGER``, ``PRIVGATE_RELEASE_CACHE``, ``PRIVGATE_UPSTREAM``)
so CI jobs and containers need no edited copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privgate.connectors.yaml_io import describe_validation, read_yaml
from privgate.engine.errors import ConfigError

SQL_DIALECTS = ("postgres", "duckdb", "snowflake", "bigquery", "trino", "mysql", "redshift", "databricks",
                "spark", "sqlite", "tsql", "oracle", "clickhouse", "hive", "presto", "athena")


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(_Cfg):
    backend: Literal["embedded", "opa"] = "embedded"
    bundle: Path | None = Field(default=None, description="Rego bundle folder; the shipped bundle when null")
    opa_url: str = "http://127.0.0.1:8181"
    timeout_ms: int = Field(default=1000, ge=1)


class PrincipalConfig(_Cfg):
    roles: tuple[str, ...] = ()
    default_purpose: str | None = None


class BudgetConfig(_Cfg):
    """Remaining-epsilon view until a ledger is configured: a fixed allowance per principal."""

    epsilon: dict[str, Decimal] = Field(default_factory=dict, description="principal (or 'default') -> epsilon")


DEFAULT_BUDGETS: dict[str, Any] = {
    "accounts": [
        {"scope": "subject:*", "measure": "approx", "epsilon": "10", "delta": "1e-5", "window": "rolling:30"},
        {"scope": "principal:*", "measure": "approx", "epsilon": "5", "delta": "1e-6", "window": "week"},
    ],
}


class LedgerConfig(_Cfg):
    """The live privacy-budget ledger used by ``query``, ``decide`` and ``serve`` (docs/ledger.md)."""

    url: str = Field(default="sqlite:///.privgate/ledger.db",
                     description="sqlite:///relative/to/config.db, sqlite:////abs.db or postgresql://...")
    budgets: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    release_cache: Path = Field(default=Path(".privgate/releases.db"),
                                description="released DP answers, so a repeated question costs nothing")


class CheckConfig(_Cfg):
    principal: str = "ci"
    purpose: str = "analytics"


class ServeUser(_Cfg):
    """A proxy login. ``secret`` is a SCRAM-SHA-256 secret (``privgate serve --hash-password``)."""

    secret: str
    principal: str | None = Field(default=None, description="the principal it acts as; the user name when null")
    roles: tuple[str, ...] = Field(default=(), description="roles added to the principal's own")
    default_purpose: str | None = None


class ServeTls(_Cfg):
    cert: Path | None = None
    key: Path | None = None


class ServeConfig(_Cfg):
    """``privgate serve``: the PostgreSQL-protocol proxy (docs/proxy.md)."""

    listen: str = "127.0.0.1:6432"
    upstream: str | None = Field(default=None, description="postgresql:// URL; embedded PostgreSQL when null")
    users: dict[str, ServeUser] = Field(default_factory=dict)
    tls: ServeTls = ServeTls()
    allow_cleartext: bool = Field(default=False, description="password auth instead of SCRAM, only over TLS")
    max_connections: int = Field(default=1000, ge=1)
    pool_size: int = Field(default=20, ge=1)
    max_message_bytes: int = Field(default=16 << 20, ge=1024)
    idle_timeout_s: float = Field(default=0, ge=0, description="0 = never")
    statement_timeout_ms: int = Field(default=0, ge=0, description="applied upstream per session; 0 = none")
    decision_cache_ttl_s: float = Field(default=30, ge=0)
    metrics_listen: str | None = Field(default=None, description="host:port for Prometheus /metrics")


class Config(_Cfg):
    catalog: Path = Path("catalog")
    dialect: str = "postgres"
    policy: PolicyConfig = PolicyConfig()
    principals: dict[str, PrincipalConfig] = Field(default_factory=dict)
    rules: dict[str, Any] = Field(default_factory=dict, description="overrides of rules/*.yaml keys")
    budget: BudgetConfig = BudgetConfig()
    ledger: LedgerConfig = LedgerConfig()
    upstream: str = Field(default="duckdb://.privgate/demo.duckdb",
                          description="where `privgate query` runs SQL: duckdb://relative/or//abs/path.duckdb "
                                      "or postgresql://...")
    check: CheckConfig = CheckConfig()
    mask_key_env: str = "PRIVGATE_MASK_KEY"
    mask_key_file: Path | None = Field(
        default=Path(".privgate/mask.key"),
        description="used when the env var is unset: read, or created with a random key (mode 0600)")
    datahub: dict[str, Any] = Field(default_factory=dict, description="DataHub dataset naming (docs/datahub.md)")
    serve: ServeConfig = ServeConfig()
    source: str = Field(default="<defaults>", exclude=True)

    def roles_of(self, principal: str) -> tuple[str, ...]:
        p = self.principals.get(principal)
        return p.roles if p else ()


ENV_KEYS: Mapping[str, tuple[str, ...]] = {
    "PRIVGATE_CATALOG": ("catalog",),
    "PRIVGATE_DIALECT": ("dialect",),
    "PRIVGATE_POLICY_BACKEND": ("policy", "backend"),
    "PRIVGATE_OPA_URL": ("policy", "opa_url"),
    "PRIVGATE_LEDGER": ("ledger", "url"),
    "PRIVGATE_RELEASE_CACHE": ("ledger", "release_cache"),
    "PRIVGATE_UPSTREAM": ("upstream",),
}


def find_config(explicit: str | Path | None, env: Mapping[str, str] = os.environ) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found", code="config_not_found")
        return path
    if env.get("PRIVGATE_CONFIG"):
        return find_config(env["PRIVGATE_CONFIG"], {})
    local = Path("privgate.yaml")
    return local if local.is_file() else None


def load_config(explicit: str | Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    path = find_config(explicit, env)
    raw: dict[str, Any] = {}
    if path is not None:
        loaded = read_yaml(path, ConfigError) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = loaded
    for var, keys in ENV_KEYS.items():
        if env.get(var):
            node = raw
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = env[var]
    base = path.parent if path else Path()
    try:
        cfg = Config.model_validate({**raw, "source": str(path or "<defaults>")})
    except ValidationError as exc:
        raise ConfigError("invalid configuration:\n" + describe_validation(path or "<defaults>", exc)) from exc
    if cfg.dialect not in SQL_DIALECTS:
        raise ConfigError(f"{cfg.source}: dialect: unknown SQL dialect {cfg.dialect!r}; "
                          f"use one of {', '.join(SQL_DIALECTS)}")
    updates: dict[str, Any] = {
        "catalog": _resolve(base, cfg.catalog), "upstream": _resolve_url(base, cfg.upstream),
        "ledger": cfg.ledger.model_copy(update={"url": _resolve_url(base, cfg.ledger.url),
                                                "release_cache": _resolve(base, cfg.ledger.release_cache)}),
        "mask_key_file": _resolve(base, cfg.mask_key_file) if cfg.mask_key_file else None,
    }
    if cfg.serve.tls.cert is not None and cfg.serve.tls.key is not None:
        updates["serve"] = cfg.serve.model_copy(update={"tls": ServeTls(cert=_resolve(base, cfg.serve.tls.cert),
                                                                        key=_resolve(base, cfg.serve.tls.key))})
    if cfg.policy.bundle is not None:
        updates["policy"] = cfg.policy.model_copy(update={"bundle": _resolve(base, cfg.policy.bundle)})
    return cfg.model_copy(update=updates)


def _resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p


def _resolve_url(base: Path, url: str) -> str:
    """Relative file URLs are relative to the config file, like other paths: ``sqlite:///rel.db``
    (SQLAlchemy style; ``sqlite:////abs.db``) and ``duckdb://rel.duckdb`` (``duckdb:///abs.duckdb``)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(_resolve(base, Path(url.removeprefix("sqlite:///"))).resolve())
    if url.startswith("duckdb://") and not url.startswith("duckdb:///") and url != "duckdb://:memory:":
        return "duckdb://" + str(_resolve(base, Path(url.removeprefix("duckdb://"))).resolve())
    return url
