from __future__ import annotations

import privgate

PINNED = [
    "AnalysisError", "BudgetError", "Catalog", "CatalogError", "Config", "ConfigError", "Decision", "Engine",
    "Obligation", "PolicyError", "Principal", "PrivgateError", "Reason", "Request", "RewriteError",
    "__version__", "build_engine", "load_config",
]


def test_exported_names_are_pinned():
    assert sorted(privgate.__all__) == sorted(PINNED)
    for name in PINNED:
        assert hasattr(privgate, name), name


def test_no_generic_top_level_modules_installed():
    import importlib.util

    for generic in ("engine", "connectors", "policies", "rules", "api"):
        assert importlib.util.find_spec(generic) is None, f"{generic} leaked into site-packages"
