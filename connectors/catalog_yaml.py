"""Load a catalog folder of YAML files (one data product/domain per file) into the engine's model.

Layout: ``<dir>/*.yaml``, each a ``Domain`` (see engine/catalog.py and docs/catalog.md). Errors name
the file, the path inside it and the reason, and all files are checked before any is used, so a
broken file never yields a half-loaded catalog.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from privgate.engine.catalog import Catalog, Domain
from privgate.engine.errors import CatalogError

from .files import replace_all
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


def parse_domain(raw: object, file: Path | str) -> Domain:
    """One domain file's content (``domain:`` names it) as a ``Domain``, or an error naming file, path, reason."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{file}: <top>: expected a mapping with domain:, owner:, tables:")
    doc = dict(raw)
    if "domain" not in doc:
        raise CatalogError(f"{file}: domain: missing (every catalog file names the domain it describes)")
    doc["name"] = doc.pop("domain")
    try:
        return Domain.model_validate(doc)
    except ValidationError as exc:
        raise CatalogError(describe_validation(file, exc)) from exc


def assemble(domains: list[Domain], problems: list[str], where: Path | str) -> Catalog:
    """The catalog of ``domains``, or one error listing every problem found (files are checked together)."""
    if problems:
        raise CatalogError("invalid catalog:\n" + "\n".join(problems))
    try:
        return Catalog(domains=tuple(domains))
    except ValidationError as exc:
        raise CatalogError("invalid catalog:\n" + describe_validation(where, exc, "catalog")) from exc


def load_catalog(path: Path | str) -> Catalog:
    """Every domain file under ``path`` (or one file), validated together."""
    problems: list[str] = []
    domains: list[Domain] = []
    for file in catalog_files(Path(path)):
        try:
            domains.append(parse_domain(read_yaml(file, CatalogError), file))
        except CatalogError as exc:
            problems.append(exc.message)
    return assemble(domains, problems, path)


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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return replace_all({folder / f"{d.name}.yaml": dump_domain(d) for d in catalog.domains})
    except OSError as exc:
        raise CatalogError(f"{folder}: cannot write catalog: {exc}", code="catalog_write_error") from exc
