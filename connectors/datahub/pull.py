"""pull: DataHub datasets -> privgate catalog, merged into what privgate already knows.

What privgate keeps: tables' placement in domains, privacy units, consent, bounds, public key domains,
column types, and every PII tag privgate itself made (``scan``/``manual``). What DataHub contributes:
new tables and columns, descriptions where privgate has none, owners and domains for new domains, and
its PII tags and terms as ``source: datahub`` tags — ``confirmed`` when a person set them (editable
schema metadata), ``suggested`` when ingestion did (schema metadata, e.g. DataHub's classifier).
Tags privgate pushed earlier come back carrying privgate's attribution and are skipped. DataHub tags
are replaced wholesale on every pull, so a tag a person removed in DataHub disappears here too.

Nothing is written until every dataset was read and mapped and the merged catalog validated; the
write itself is ``write_catalog`` (staged files, then renames).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from privgate.connectors.catalog_yaml import load_catalog, write_catalog
from privgate.engine.catalog import Catalog, Column, Domain, PiiTag, Table
from privgate.engine.errors import CatalogError

from .errors import DataHubError
from .fields import column_of, field_associations
from .gms import DatasetAspects, MetadataPort
from .mapping import DataHubMapping, load_mapping
from .naming import DatasetNaming, domain_slug
from .reports import PulledTable, PullReport
from .targets import DataHubFile, DataHubServer, DataHubSource


@dataclass
class _Pulled:
    """One dataset read from DataHub, already mapped onto privgate names."""

    urn: str
    schema: str
    table: str
    description: str
    columns: list[Column]
    tags: dict[str, list[PiiTag]]  # lower-case column -> DataHub-derived tags
    domain: str | None
    owner: str
    notes: list[str] = field(default_factory=list)


def pull(source: DataHubSource, catalog_dir: Path | str, platform: str | None = None,
         dataset_filter: Sequence[str] = (), *, naming: DatasetNaming | None = None,
         mapping: DataHubMapping | None = None, environ: Mapping[str, str] | None = None) -> PullReport:
    """Read DataHub datasets of ``platform`` (default: the naming's) into the catalog at ``catalog_dir``.

    ``dataset_filter``: shell-style globs matched against DataHub's dataset name and privgate's
    ``schema.table``; a filter that matches nothing is an error rather than a silent no-op.
    """
    naming = naming or DatasetNaming()
    mapping = mapping or load_mapping()
    platform = platform or naming.platform
    naming = naming.model_copy(update={"platform": platform})
    folder = Path(catalog_dir)
    catalog = _existing_catalog(folder)

    port: MetadataPort = source.connect(environ) if isinstance(source, DataHubServer) else source.read()
    if not port.known_platform(platform):
        raise DataHubError(f"{port.label}: platform {platform!r} is not known to DataHub"
                           " (see DataHub's data platforms, e.g. postgres, snowflake, bigquery, mysql)",
                           code="datahub_unknown_platform")
    selected: list[tuple[str, str, str]] = []
    unmapped: list[str] = []
    for urn in port.dataset_urns(platform, naming.env):
        name, _ = naming.parse_urn(urn)
        parts = naming.split(name)
        if parts is None:
            if not dataset_filter or _matches(dataset_filter, name, ""):
                unmapped.append(f"{urn} (name {name!r})")
            continue
        if dataset_filter and not _matches(dataset_filter, name, f"{parts[0]}.{parts[1]}"):
            continue
        selected.append((urn, *parts))
    if unmapped:
        raise DataHubError("cannot map these DataHub datasets to privgate's schema.table (set name_pattern in "
                           "the DataHub naming config, or exclude them with --dataset-filter):\n  "
                           + "\n  ".join(unmapped), code="datahub_dataset_unmapped")
    if dataset_filter and not selected:
        raise DataHubError(f"{port.label}: no {platform} dataset matches --dataset-filter "
                           f"{' '.join(dataset_filter)}", code="datahub_dataset_not_found")

    domain_names: dict[str, str | None] = {}
    pulled = [_read(port, urn, schema, table, naming, mapping, domain_names) for urn, schema, table in selected]
    merged, tables = _merge(catalog, pulled, naming)
    written: list[str] = []
    if merged.revision != catalog.revision:
        written = [str(p) for p in write_catalog(merged, folder)]
    return PullReport(source=port.label, platform=platform, catalog_dir=str(folder), tables=tuple(tables),
                      written=tuple(written), catalog_revision=merged.revision)


def _matches(patterns: Sequence[str], name: str, qualified: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) or
               (qualified and fnmatch.fnmatchcase(qualified, p.lower())) for p in patterns)


def _existing_catalog(folder: Path) -> Catalog:
    if not folder.exists() or not any([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        return Catalog()
    return load_catalog(folder)


def _read(port: MetadataPort, urn: str, schema: str, table: str, naming: DatasetNaming,
          mapping: DataHubMapping, domain_names: dict[str, str | None]) -> _Pulled:
    aspects = port.aspects(urn)
    notes: list[str] = []
    columns: list[Column] = []
    descriptions = _editable_descriptions(aspects)
    seen: set[str] = set()
    for f in (aspects.schema.fields if aspects.schema else []):
        col = column_of(f.fieldPath)
        if col is None:
            notes.append(f"nested field {f.fieldPath} skipped (privgate columns are flat)")
            continue
        if col.lower() in seen:
            continue
        seen.add(col.lower())
        desc = descriptions.get(f.fieldPath) or f.description or ""
        columns.append(Column(name=col, type=(f.nativeDataType or "text").lower(), description=desc))
    if aspects.schema is None:
        notes.append("DataHub has no schemaMetadata for this dataset: no columns")

    tags: dict[str, list[PiiTag]] = {}
    for assoc in field_associations(aspects):
        if assoc.attribution_source == mapping.attribution_source:
            continue  # privgate's own push coming back; the catalog already holds the real thing
        entity = mapping.entity_for(assoc.urn)
        col = column_of(assoc.field_path)
        if entity is None or col is None:
            continue
        status = "confirmed" if assoc.origin == "editable" else "suggested"
        evidence: dict[str, object] = {"datahub": assoc.urn, "origin": assoc.origin}
        bucket = tags.setdefault(col.lower(), [])
        if any(t.entity == entity and t.status == status for t in bucket):
            continue  # the tag and the term of one entity make one privgate tag
        bucket.append(PiiTag(entity=entity, source="datahub", confidence=1.0, status=status, evidence=evidence))
    for urn_list, level in ((aspects.tags.tags if aspects.tags else [], "tag"),
                            (aspects.terms.terms if aspects.terms else [], "term")):
        for a in urn_list:
            u = str(getattr(a, "tag", None) or getattr(a, "urn", ""))
            if mapping.entity_for(u):
                notes.append(f"dataset-level {level} {u} not applied: privgate classifies columns")

    domain = None
    if naming.domain_from == "datahub_domain" and aspects.domains and aspects.domains.domains:
        domain_urn = aspects.domains.domains[0]
        if domain_urn not in domain_names:  # one lookup per domain, not per dataset
            domain_names[domain_urn] = port.domain_name(domain_urn)
        domain = domain_slug(domain_names[domain_urn] or domain_urn.rsplit(":", 1)[-1])
    return _Pulled(urn, schema, table, "", columns, tags, domain, _owner(aspects), notes)


def _editable_descriptions(aspects: DatasetAspects) -> dict[str, str]:
    if aspects.editable is None:
        return {}
    return {i.fieldPath: i.description for i in aspects.editable.editableSchemaFieldInfo if i.description}


def _owner(aspects: DatasetAspects) -> str:
    """The first data owner (else technical owner, else any owner) as a bare id, e.g. ``jdoe@acme.example``."""
    owners = list(aspects.ownership.owners) if aspects.ownership else []
    rank = {"DATAOWNER": 0, "TECHNICAL_OWNER": 1, "BUSINESS_OWNER": 2}
    owners.sort(key=lambda o: rank.get(str(o.type), 9))
    return owners[0].owner.split(":", 3)[-1] if owners else "unknown"


def _merge(catalog: Catalog, pulled: list[_Pulled], naming: DatasetNaming) -> tuple[Catalog, list[PulledTable]]:
    domains: dict[str, dict[str, object]] = {d.name: d.model_dump(by_alias=True) for d in catalog.domains}
    tables_by_name = {q: (d.name, t) for q, d, t in catalog.iter_tables()}
    by_schema = {d.sql_schema: d.name for d in catalog.domains}
    report: list[PulledTable] = []
    for p in pulled:
        qualified = f"{p.schema}.{p.table}"
        notes = list(p.notes)
        if qualified in tables_by_name:
            domain_name, old = tables_by_name[qualified]
            if p.domain and p.domain != domain_name:
                notes.append(f"DataHub domain {p.domain!r} differs; privgate keeps it in {domain_name!r}")
            new, added_cols, added, removed = _merge_table(old, p)
            new_table = False
        else:
            domain_name = by_schema.get(p.schema) or p.domain or p.schema
            new = Table(name=p.table, description=p.description,
                        columns=tuple(_with_tags(c, p.tags.get(c.name.lower(), [])) for c in p.columns))
            added_cols = [c.name for c in p.columns]
            added = _tag_labels(new)
            removed = []
            new_table = True
            if domain_name not in domains:
                domains[domain_name] = {"name": domain_name, "owner": p.owner,
                                        "schema": None if domain_name == p.schema else p.schema, "tables": ()}
                by_schema[p.schema] = domain_name
        dom = domains[domain_name]
        dom_schema = str(dom.get("schema") or domain_name).lower()
        if dom_schema != p.schema:
            raise DataHubError(
                f"{p.urn}: would put table {qualified} into privgate domain {domain_name!r}, whose SQL schema is "
                f"{dom_schema!r}; a privgate domain has one schema (set domain_from: schema, or move the table)",
                code="datahub_conflict")
        tables = [t for t in dom["tables"] if _name(t) != p.table]  # type: ignore[attr-defined]
        tables.append(new.model_dump(by_alias=True))
        dom["tables"] = tuple(tables)
        tables_by_name[qualified] = (domain_name, new)
        report.append(PulledTable(urn=p.urn, table=qualified, domain=domain_name, new_table=new_table,
                                  columns_added=tuple(added_cols), tags_added=tuple(added),
                                  tags_removed=tuple(removed), notes=tuple(notes)))
    try:
        merged = Catalog(domains=tuple(Domain.model_validate(d) for d in domains.values()))
    except ValidationError as exc:
        raise CatalogError(f"pulled metadata does not make a valid catalog: {exc}") from exc
    return merged, report


def _name(table: object) -> str:
    return str(table["name"] if isinstance(table, dict) else table.name).lower()  # type: ignore[attr-defined]


def _with_tags(column: Column, tags: list[PiiTag]) -> Column:
    """Replace the column's DataHub-sourced tags; an unchanged set leaves the column (and its order) alone."""
    if [t for t in column.pii if t.source == "datahub"] == tags:
        return column
    kept = [t for t in column.pii if t.source != "datahub"]
    return column.model_copy(update={"pii": tuple(kept + tags)})


def _tag_labels(table: Table, source: str = "datahub") -> list[str]:
    return [f"{c.name}: {t.entity} ({t.status})" for c in table.columns for t in c.pii if t.source == source]


def _merge_table(old: Table, p: _Pulled) -> tuple[Table, list[str], list[str], list[str]]:
    incoming = {c.name.lower(): c for c in p.columns}
    columns: list[Column] = []
    for col in old.columns:
        low = col.name.lower()
        upd = col
        if low in incoming and not col.description and incoming[low].description:
            upd = upd.model_copy(update={"description": incoming[low].description})
        columns.append(_with_tags(upd, p.tags.get(low, [])))
    known = {c.name.lower() for c in old.columns}
    added_cols = [c.name for c in p.columns if c.name.lower() not in known]
    columns += [_with_tags(c, p.tags.get(c.name.lower(), [])) for c in p.columns if c.name.lower() not in known]
    description = old.description or p.description
    new = old.model_copy(update={"columns": tuple(columns), "description": description})
    before, after = set(_tag_labels(old)), set(_tag_labels(new))
    return new, added_cols, sorted(after - before), sorted(before - after)


__all__ = ["DataHubFile", "DataHubServer", "pull"]
