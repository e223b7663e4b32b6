"""Field-level tags and glossary terms of a dataset, flattened from DataHub's two schema aspects.

DataHub keeps field tags/terms in two places: ``schemaMetadata`` (written by ingestion, including
DataHub's own classifier) and ``editableSchemaMetadata`` (written by people in the UI and by API
clients such as privgate). Both pull (to read them) and push (to decide what not to touch) need the
same flat view, with where each association came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .gms import DatasetAspects

Origin = Literal["editable", "ingested"]


@dataclass(frozen=True)
class FieldAssociation:
    field_path: str
    kind: Literal["tag", "term"]
    urn: str
    origin: Origin
    attribution_source: str | None = None
    source_detail: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    context: str | None = None


def column_of(field_path: str) -> str | None:
    """privgate column for a DataHub field path (v1 or v2 syntax); None for nested fields."""
    from datahub.utilities.urns.field_paths import get_simple_field_path_from_v2_field_path

    simple = get_simple_field_path_from_v2_field_path(field_path)
    return simple if simple and "." not in simple else None


def schema_field_paths(aspects: DatasetAspects) -> dict[str, str]:
    """Lower-case column name -> DataHub's exact field path (which editable entries must repeat)."""
    out: dict[str, str] = {}
    if aspects.schema is not None:
        for f in aspects.schema.fields:
            col = column_of(f.fieldPath)
            if col is not None:
                out.setdefault(col.lower(), f.fieldPath)
    return out


def field_associations(aspects: DatasetAspects) -> list[FieldAssociation]:
    found: list[FieldAssociation] = []
    sources: list[tuple[Origin, list[object]]] = []
    if aspects.schema is not None:
        sources.append(("ingested", list(aspects.schema.fields)))
    if aspects.editable is not None:
        sources.append(("editable", list(aspects.editable.editableSchemaFieldInfo)))
    for origin, infos in sources:
        for info in infos:
            path: str = info.fieldPath  # type: ignore[attr-defined]
            tags = info.globalTags  # type: ignore[attr-defined]
            terms = info.glossaryTerms  # type: ignore[attr-defined]
            for t in (tags.tags if tags else []):
                found.append(_assoc(path, "tag", t.tag, origin, t.attribution, t.context))
            for g in (terms.terms if terms else []):
                found.append(_assoc(path, "term", g.urn, origin, g.attribution, g.context))
    return found


def _assoc(path: str, kind: Literal["tag", "term"], urn: str, origin: Origin, attribution: object,
           context: str | None) -> FieldAssociation:
    source = getattr(attribution, "source", None)
    detail = dict(getattr(attribution, "sourceDetail", None) or {})
    return FieldAssociation(path, kind, urn, origin, source, detail, context)
