"""push: privgate's classifications -> field-level tags and glossary terms in DataHub, by patch only.

Every write is a JSON-patch proposal built with DataHub's ``DatasetPatchBuilder``
(``for_field(path).add_tag / add_term / remove_tag / remove_term`` on ``editableSchemaMetadata``), which
GMS merges key by key: the tags and terms people (or ingestion) put on a field are never part of
what is sent, so they cannot be dropped or overwritten. Before building patches, push reads what
DataHub has (server: ``get_aspect``; file: the optional ``base`` export) and

* skips an association that is already there with the same evidence   -> a second push sends nothing;
* skips an association somebody else added with the same urn          -> their attribution stays theirs;
* refreshes an association privgate added whose evidence changed      -> ``update``;
* withdraws an association privgate added that privgate no longer holds -> ``remove`` (only its own).

The evidence travels in the association's ``attribution`` (``MetadataAttribution``: source
``urn:li:dataHubAction:privgate``, ``sourceDetail`` with recognizers, confidence, scan time, status)
and a one-line ``context``; only whitelisted evidence keys with scalar values are copied, so raw sample
values never leave privgate.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from privgate.connectors.catalog_yaml import load_catalog
from privgate.engine.catalog import Catalog, PiiTag

from .errors import DataHubError
from .fields import field_associations, schema_field_paths
from .gms import DatasetAspects, FileState, GraphPort, write_file_atomically
from .mapping import DataHubMapping, load_mapping
from .naming import DatasetNaming
from .reports import PushChange, PushReport
from .targets import DataHubFile, DataHubServer, DataHubSource

if TYPE_CHECKING:
    from datahub.metadata.schema_classes import MetadataChangeProposalClass

_TOKEN = re.compile(r"^[A-Za-z0-9_.:\-/ ]{1,80}$")
_TIME_KEYS = ("scanned_at", "scan_time", "time")
_NUMBER_KEYS = ("hit_ratio", "sample_size")


@dataclass(frozen=True)
class _Wanted:
    """One association privgate wants on a field."""

    table: str
    column: str
    field_path: str
    kind: Literal["tag", "term"]
    urn: str
    entity: str
    detail: dict[str, str]
    context: str
    time_ms: int


def push(catalog_dir: Path | str, target: DataHubSource, include_suggested: bool = False, dry_run: bool = False,
         *, dataset_filter: Sequence[str] = (), naming: DatasetNaming | None = None,
         mapping: DataHubMapping | None = None, environ: Mapping[str, str] | None = None,
         now: Callable[[], datetime] | None = None) -> PushReport:
    """Push the classifications in ``catalog_dir`` to ``target``; ``dry_run`` computes the diff only."""
    naming = naming or DatasetNaming()
    mapping = mapping or load_mapping()
    clock = now or (lambda: datetime.now(UTC))
    catalog = load_catalog(catalog_dir)
    tables = _select(catalog, dataset_filter)

    port: GraphPort | None = None
    base: FileState | None = None
    if isinstance(target, DataHubServer):
        port = target.connect(environ)
        label = port.label
        if not port.known_platform(naming.platform):
            raise DataHubError(f"{label}: platform {naming.platform!r} is not known to DataHub",
                               code="datahub_unknown_platform")
    else:
        label = str(target.path)
        base = FileState.read(target.base) if target.base else None

    states: dict[str, DatasetAspects] = {}
    missing: list[str] = []
    for qualified in tables:
        schema, table = qualified.split(".", 1)
        urn = naming.urn(schema, table)
        if port is not None:
            states[qualified] = port.aspects(urn)
        else:
            states[qualified] = base.aspects(urn) if base else DatasetAspects(urn)
        if (port is not None or base is not None) and not states[qualified].exists:
            missing.append(f"{qualified} -> {urn}")
    if missing:
        raise DataHubError("DataHub does not know these privgate tables (check the naming config: platform, "
                           "database, env, platform_instance):\n  " + "\n  ".join(missing),
                           code="datahub_dataset_unknown")

    changes: list[PushChange] = []
    mcps: list[MetadataChangeProposalClass] = []
    notes: list[str] = []
    unchanged = kept = 0
    for qualified, aspects in states.items():
        wanted = _wanted(catalog, qualified, aspects, mapping, include_suggested, clock, notes)
        table_changes, table_mcps, u, k = _plan(qualified, aspects, wanted, mapping)
        changes += table_changes
        mcps += table_mcps
        unchanged += u
        kept += k
    invalid = [f"{m.entityUrn} {m.aspectName}" for m in mcps if not m.validate()]
    if invalid:  # never hand DataHub something its own schema rejects
        raise DataHubError("built proposals that fail DataHub's schema: " + ", ".join(invalid))

    written = False
    if isinstance(target, DataHubFile) and base is None:
        notes.append("no --base export given: every classification is proposed; GMS merges them key by key")
    if not dry_run and mcps:
        if port is not None:
            port.emit(mcps)
            written = True
        else:
            assert isinstance(target, DataHubFile)
            written = _write_if_changed(target.path, mcps)
    return PushReport(target=label, dry_run=dry_run, changes=tuple(changes), unchanged=unchanged,
                      kept_existing=kept, proposals=len(mcps), written=written, notes=tuple(notes))


def _select(catalog: Catalog, patterns: Sequence[str]) -> list[str]:
    names = [q for q, _, _ in catalog.iter_tables()]
    if not patterns:
        return names
    chosen = [q for q in names if any(fnmatch.fnmatchcase(q, p.lower()) for p in patterns)]
    if not chosen:
        raise DataHubError(f"no privgate table matches --dataset-filter {' '.join(patterns)} "
                           f"(known: {', '.join(names) or 'none'})", code="datahub_dataset_unknown")
    return chosen


def _wanted(catalog: Catalog, qualified: str, aspects: DatasetAspects, mapping: DataHubMapping,
            include_suggested: bool, clock: Callable[[], datetime], notes: list[str]) -> list[_Wanted]:
    table = next(t for q, _, t in catalog.iter_tables() if q == qualified)
    paths = schema_field_paths(aspects)
    statuses = {"confirmed", "suggested"} if include_suggested else {"confirmed"}
    out: list[_Wanted] = []
    for column in table.columns:
        if aspects.schema is not None and column.name.lower() not in paths:
            if any(t.source != "datahub" and t.status in statuses for t in column.pii):
                notes.append(f"{qualified}.{column.name}: not a field of {aspects.urn} in DataHub; not pushed")
            continue
        best: dict[str, PiiTag] = {}
        for tag in column.pii:
            if tag.source == "datahub" or tag.status not in statuses:
                continue  # DataHub's own tags are already in DataHub; rejected ones are never pushed
            held = best.get(tag.entity)
            if held is None or (tag.status, tag.confidence) > (held.status, held.confidence):
                best[tag.entity] = tag  # "confirmed" > "suggested" alphabetically, as wanted
        path = paths.get(column.name.lower(), column.name)
        for entity, tag in sorted(best.items()):
            detail = _detail(tag)
            context = _context(tag, detail)
            time_ms = _time_ms(detail.get("privgate.scanned_at")) or int(clock().timestamp() * 1000)
            out.append(_Wanted(qualified, column.name, path, "tag", mapping.tag_for(entity), entity, detail,
                               context, time_ms))
            term = mapping.term_for(entity)
            if term:
                out.append(_Wanted(qualified, column.name, path, "term", term, entity, detail, context, time_ms))
    return out


def _detail(tag: PiiTag) -> dict[str, str]:
    """The evidence summary: fixed keys, scalar values, names only — never sample values."""
    detail = {"privgate.entity": tag.entity, "privgate.status": tag.status, "privgate.source": tag.source,
              "privgate.confidence": f"{tag.confidence:.2f}"}
    ev: Mapping[str, Any] = tag.evidence or {}
    recognizers = ev.get("recognizers")
    if isinstance(recognizers, str):
        recognizers = [recognizers]
    if isinstance(recognizers, list | tuple):
        names = sorted({str(r) for r in recognizers if isinstance(r, str) and _TOKEN.match(r)})
        if names:
            detail["privgate.recognizers"] = ",".join(names)
    for key in _NUMBER_KEYS:
        value = ev.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            detail[f"privgate.{key}"] = f"{value:g}"
    for key in _TIME_KEYS:
        value = ev.get(key)
        stamp = value.isoformat() if isinstance(value, datetime) else value
        if isinstance(stamp, str) and _time_ms(stamp) is not None:
            detail["privgate.scanned_at"] = stamp
            break
    return detail


def _context(tag: PiiTag, detail: Mapping[str, str]) -> str:
    parts = [f"privgate {tag.source}: {tag.entity} {tag.status}, confidence {detail['privgate.confidence']}"]
    if "privgate.recognizers" in detail:
        parts.append(f"recognizers {detail['privgate.recognizers']}")
    if "privgate.scanned_at" in detail:
        parts.append(f"scanned {detail['privgate.scanned_at']}")
    return "; ".join(parts)


def _time_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def _plan(qualified: str, aspects: DatasetAspects, wanted: list[_Wanted], mapping: DataHubMapping,
          ) -> tuple[list[PushChange], list[MetadataChangeProposalClass], int, int]:
    from datahub.metadata.schema_classes import (
        GlossaryTermAssociationClass,
        MetadataAttributionClass,
        TagAssociationClass,
    )
    from datahub.specific.dataset import DatasetPatchBuilder

    existing = field_associations(aspects)
    ours = {(a.field_path, a.kind, a.urn): a for a in existing
            if a.origin == "editable" and a.attribution_source == mapping.attribution_source}
    # anything with the same urn on the field that privgate did not write (a person, ingestion, another tool)
    others = {(a.field_path, a.kind, a.urn) for a in existing
              if not (a.origin == "editable" and a.attribution_source == mapping.attribution_source)}
    builder = DatasetPatchBuilder(aspects.urn)
    changes: list[PushChange] = []
    unchanged = kept = 0
    wanted_keys: set[tuple[str, str, str]] = set()
    for w in wanted:
        key = (w.field_path, w.kind, w.urn)
        wanted_keys.add(key)
        if key in others:
            kept += 1
            continue
        mine = ours.get(key)
        if mine is not None and mine.source_detail == w.detail and mine.context == w.context:
            unchanged += 1
            continue
        attribution = MetadataAttributionClass(time=w.time_ms, actor=mapping.attribution_actor,
                                               source=mapping.attribution_source, sourceDetail=dict(w.detail))
        helper = builder.for_field(w.field_path, editable=True)
        if w.kind == "tag":
            helper.add_tag(TagAssociationClass(tag=w.urn, context=w.context, attribution=attribution))
        else:
            helper.add_term(GlossaryTermAssociationClass(urn=w.urn, actor=mapping.attribution_actor,
                                                         context=w.context, attribution=attribution))
        changes.append(PushChange(dataset=aspects.urn, table=qualified, field=w.field_path,
                                  op="update" if mine else "add", kind=w.kind, urn=w.urn, entity=w.entity,
                                  summary=w.context))
    for key, mine in sorted(ours.items()):
        if key in wanted_keys or key in others:
            continue  # still wanted, or a remove by urn would also take someone else's association
        path, kind, urn = key
        helper = builder.for_field(path, editable=True)
        if kind == "tag":
            helper.remove_tag(urn)
        else:
            helper.remove_term(urn)
        changes.append(PushChange(dataset=aspects.urn, table=qualified, field=path, op="remove", kind=kind,
                                  urn=urn, entity=mine.source_detail.get("privgate.entity", ""),
                                  summary="privgate no longer holds this classification"))
    return changes, builder.build() if changes else [], unchanged, kept


def _write_if_changed(path: Path, mcps: Sequence[MetadataChangeProposalClass]) -> bool:
    """Write the proposals unless ``path`` already holds the same ones (a repeated push touches nothing).

    Attribution times are ignored in the comparison: a manual tag has no scan time, so its attribution
    is stamped with the push time, which must not make an otherwise identical file "changed".
    """
    staged = path.with_name(f".{path.name}.new")
    write_file_atomically(staged, mcps)
    try:
        if path.is_file() and _normalized(path) == _normalized(staged):
            return False
        staged.replace(path)
        return True
    finally:
        staged.unlink(missing_ok=True)


def _normalized(path: Path) -> Any:
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            is_attribution = {"actor", "source", "time"} <= node.keys()
            return {k: strip(v) for k, v in node.items() if not (is_attribution and k == "time")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        if isinstance(node, str) and node.startswith("[{"):
            try:
                return strip(json.loads(node))
            except ValueError:
                return node
        return node

    try:
        return strip(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
