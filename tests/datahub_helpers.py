"""Helpers shared by the DataHub sync tests: what a PII scan would write into the catalog."""

from __future__ import annotations

from pathlib import Path

from privgate.connectors.catalog_yaml import load_catalog, write_catalog
from privgate.engine.catalog import PiiTag

SCANNED_AT = "2026-11-20T09:30:00+00:00"


def scan_tag(entity: str, confidence: float = 0.97, status: str = "confirmed", **evidence: object) -> PiiTag:
    ev: dict[str, object] = {"recognizers": [f"{entity.title().replace('_', '')}Recognizer"], "hit_ratio": confidence,
                             "sample_size": 100, "scanned_at": SCANNED_AT}
    ev.update(evidence)
    return PiiTag(entity=entity, source="scan", confidence=confidence, status=status, evidence=ev)  # type: ignore[arg-type]


def edit_catalog(folder: Path, changes: dict[tuple[str, str], list[PiiTag] | None]) -> None:
    """Set (list) or clear (None) the scan tags of ``(schema.table, column)`` — what a scan/review would do."""
    catalog = load_catalog(folder)
    domains = []
    for d in catalog.domains:
        tables = []
        for t in d.tables:
            cols = []
            for c in t.columns:
                key = (f"{d.sql_schema}.{t.name}", c.name)
                if key in changes:
                    kept = tuple(p for p in c.pii if p.source != "scan")
                    c = c.model_copy(update={"pii": kept + tuple(changes[key] or ())})
                cols.append(c)
            tables.append(t.model_copy(update={"columns": tuple(cols)}))
        domains.append(d.model_copy(update={"tables": tuple(tables)}))
    write_catalog(catalog.model_copy(update={"domains": tuple(domains)}), folder)


def catalog_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))}
