"""privgate: policy-as-code governance for privacy-first analytics.

The public Python API, for embedding in schedulers and notebooks::

    import privgate
    engine = privgate.build_engine("privgate.yaml")
    d = engine.decide(privgate.Request(principal=privgate.Principal(id="ana", roles=("analyst",)),
                                       purpose="analytics", sql="SELECT count(*) FROM sales.orders"))
    d.allowed, d.reasons, d.obligations, d.rewritten_sql

Everything exported here is pinned by ``tests/test_public_api.py``; anything else is internal.
"""

from privgate.engine import __version__
from privgate.engine.catalog import Catalog
from privgate.engine.decision import Decision, Obligation, Principal, Reason, Request
from privgate.engine.errors import (
    AnalysisError,
    BudgetError,
    CatalogError,
    ConfigError,
    PolicyError,
    PrivgateError,
    RewriteError,
)
from privgate.engine.pipeline import Engine

from .config import Config, load_config
from .wiring import build_engine

__all__ = [
    "AnalysisError",
    "BudgetError",
    "Catalog",
    "CatalogError",
    "Config",
    "ConfigError",
    "Decision",
    "Engine",
    "Obligation",
    "PolicyError",
    "Principal",
    "PrivgateError",
    "Reason",
    "Request",
    "RewriteError",
    "__version__",
    "build_engine",
    "load_config",
]
