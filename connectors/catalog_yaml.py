"""Load a catalog folder of YAML files (one data product/domain per file) into the engine's model.

Layout: ``<dir>/*.yaml``, each a ``Domain`` (see engine/catalog.py and docs/catalog.md). Errors name
the file, the path inside it and the reason, and all files are checked before any is used, so a
broken file never yields a half-loaded catalog.
"""

from __future__ import annotations

from pathlib import Path

from privgate.engine.catalog import Catalog, Domain
from privgate.engine.errors import CatalogError
from pydantic import ValidationError

from .yaml_io import describe_validation, read_yaml


def catalog_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CatalogError(f"{path}: catalog folder not found (set catalog: in privgate.yaml or --catalog)",
                           code="catalog_not_found")
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    if not files:
        raise CatalogError(f"{path}: no *.yaml catalog files in this folder", code="catalog_empty")
    return files


def load_catalog(path: Path | str) -> Catalog:
    """Every domain file under ``path`` (or one file), validated together."""
    problems: list[str] = []
    domains: list[Domain] = []
    for file in catalog_files(Path(path)):
        raw = read_yaml(file, CatalogError)
        if not isinstance(raw, dict):
            problems.append(f"{file}: <top>: expected a mapping with domain:, owner:, tables:")
            continue
        raw = dict(raw)
        if "domain" in raw:
            raw["name"] = raw.pop("domain")
        try:
            domains.append(Domain.model_validate(raw))
        except ValidationError as exc:
            problems.append(describe_validation(file, exc))
    if problems:
        raise CatalogError("invalid catalog:\n" + "\n".join(problems))
    try:
        return Catalog(domains=tuple(domains))
    except ValidationError as exc:
        raise CatalogError("invalid catalog:\n" + describe_validation(path, exc, "catalog")) from exc
