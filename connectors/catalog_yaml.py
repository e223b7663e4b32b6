"""Load a catalog folder of YAML files (one data product/domain per file) into the engine's model.

Layout: ``<dir>/*.yaml``, each a ``Domain`` (see engine/catalog.py and docs/catalog.md). Errors name
the file, the path inside it and the reason, and all files are checked before any is used, so a
broken file never yields a half-loaded catalog.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from privgate.engine.catalog import Catalog, Domain
from privgate.engine.errors import CatalogError

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


def dump_domain(domain: Domain) -> str:
    """YAML text of one domain file, in the same shape ``load_catalog`` reads (``domain:`` first)."""
    doc = domain.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    doc.pop("name", None)
    ordered = {"domain": domain.name, **doc}
    return str(yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=110))


def write_catalog(catalog: Catalog, path: Path | str) -> list[Path]:
    """Write one ``<domain>.yaml`` per domain atomically (temp file + rename), after validating all.

    Either every file is replaced or, on error, none is: files are staged first and only renamed
    once all of them were written.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for domain in catalog.domains:
            target = folder / f"{domain.name}.yaml"
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{domain.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dump_domain(domain))
            staged.append((Path(tmp), target))
        for tmp_path, target in staged:
            tmp_path.replace(target)
    except OSError as exc:
        for tmp_path, _ in staged:
            tmp_path.unlink(missing_ok=True)
        raise CatalogError(f"{folder}: cannot write catalog: {exc}", code="catalog_write_error") from exc
    return [target for _, target in staged]
