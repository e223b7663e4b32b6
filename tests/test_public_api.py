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


def test_every_source_folder_is_a_listed_package():
    """The package list in pyproject.toml is explicit (package-dir mapping); a folder missing from it
    would silently be left out of the wheel."""
    import tomllib

    from conftest import ROOT

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = {v: k for k, v in conf["package-dir"].items()}
    listed = set(conf["packages"])
    for top, package in mapping.items():
        for folder in [ROOT / top, *sorted((ROOT / top).rglob("*"))]:
            if folder.is_dir() and "__pycache__" not in folder.parts and (
                    any(folder.glob("*.py")) or any(folder.glob("*.rego")) or any(folder.glob("*.yaml"))):
                rel = folder.relative_to(ROOT / top)
                name = ".".join([package, *rel.parts]) if rel.parts else package
                assert name in listed, f"{folder} holds sources but {name} is not in pyproject packages"
