"""``scan()``: sample every column of a source, classify it, and merge the result into the catalog.

The flow per column is sample -> fingerprint -> (skip if the catalog saw the same fingerprint) ->
analyse in chunks until the decision is stable -> decide -> merge. A table that cannot be read is
recorded as an issue with a stable code and the scan moves on; only the report says what happened.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from privgate.engine.errors import ScanError

from .analyzer import ValueAnalyzer
from .catalog_io import CatalogDocs
from .decide import Finding, Observation, ValueKind, decide, is_free_text, signature
from .hints import HintMatcher, NameHints
from .merge import merge_column, scan_findings
from .report import ColumnResult, DiffEntry, ScanIssue, ScanReport, ScanStats
from .rules import PiiRules, default_rules
from .sources import ColumnInfo, Source, TableRef, _redact, open_source

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called after each column with (table, columns done, columns total)."""


_ANALYZERS: dict[tuple[str, bool], ValueAnalyzer] = {}


def shared_analyzer(rules: PiiRules, use_ner: bool = True) -> ValueAnalyzer:
    """One analyzer per rules pack and process: building Presidio's registry takes about a second."""
    key = (rules.revision, use_ner)
    if key not in _ANALYZERS:
        _ANALYZERS[key] = ValueAnalyzer(rules, use_ner=use_ner)
    return _ANALYZERS[key]


def fingerprint(column_type: str, values: Sequence[str], rules_revision: str, sample: int) -> str:
    """Changes when the sampled values, the column type, the sample size or the rules change."""
    h = hashlib.sha256(f"{column_type}\x1f{rules_revision}\x1f{sample}\x1e".encode())
    for v in sorted(values):
        h.update(v.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return "sha256:" + h.hexdigest()[:32]


class ColumnClassifier:
    """Decides one column from its name and sampled values; stops sampling once the decision is stable."""

    def __init__(self, rules: PiiRules, analyzer: ValueAnalyzer) -> None:
        self.rules = rules
        self.analyzer = analyzer
        self.hints = HintMatcher(rules.hints, rules.recognizers.recognizers)

    def classify(
        self,
        name: str,
        values: Sequence[str],
        *,
        kind: ValueKind,
        row_count: int | None,
        today: date,
        hints: NameHints | None = None,
    ) -> tuple[list[Finding], int]:
        """Findings and the number of values analysed."""
        s = self.rules.settings
        hints = hints or self.hints.match(name)
        values = [v[: s.max_value_chars] for v in values]
        obs = Observation()
        if kind == "date" or not values:
            # Dates carry no pattern entity; they are judged by name hints and the birth-date range.
            obs.add(values, [], strong_score=s.free_text.min_score)
            return decide(obs, hints, kind=kind, row_count=row_count, today=today, settings=s), obs.values
        probe = Observation()
        probe.add(values[: s.chunk_size], [], strong_score=1.0)
        free_text = is_free_text(probe, s)
        last: tuple[tuple[str, str], ...] | None = None
        stable = 0
        findings: list[Finding] = []
        for start in range(0, len(values), s.chunk_size):
            chunk = values[start : start + s.chunk_size]
            obs.add(
                chunk, self.analyzer.analyze(chunk, free_text=free_text), strong_score=s.free_text.min_score
            )
            findings = decide(obs, hints, kind=kind, row_count=row_count, today=today, settings=s)
            sig = signature(findings)
            stable = stable + 1 if sig == last else 1
            last = sig
            if obs.values >= s.min_values and stable >= s.stable_chunks:
                break
        return findings, obs.values


def scan(
    source_url: str,
    tables: Sequence[str] | None = None,
    sample: int = 100,
    catalog_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    *,
    rules: PiiRules | None = None,
    use_ner: bool = True,
    now: datetime | None = None,
    default_domain: str = "scanned",
    write: bool = True,
) -> ScanReport:
    """Scan ``source_url`` and, with ``catalog_dir``, merge suggestions into the catalog there.

    ``tables`` restricts the scan (``schema.table`` or a bare table name); ``sample`` is the number
    of distinct values read per column. ``write=False`` computes the diff without writing files.
    """
    if sample < 1:
        raise ValueError("sample must be at least 1")
    rules = rules or default_rules()
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    scanned_at = now.replace(microsecond=0).isoformat()
    base = {
        "source": _redact(source_url),
        "scanned_at": scanned_at,
        "sample": sample,
        "rules_revision": rules.revision,
    }
    try:
        source = open_source(source_url)
    except ScanError as exc:
        return ScanReport(**base, errors=(ScanIssue(table="*", code=exc.code, message=str(exc)),))
    analyzer = shared_analyzer(rules, use_ner)
    classifier = ColumnClassifier(rules, analyzer)
    docs = CatalogDocs(Path(catalog_dir)) if catalog_dir is not None else None
    results: list[ColumnResult] = []
    issues: list[ScanIssue] = []
    diff: list[DiffEntry] = []
    try:
        plan = _plan(source, tables, issues)
        total = sum(len(cols) for _, cols, _ in plan)
        done = 0
        for ref, columns, rows in plan:
            table_map = docs.ensure_table(ref, columns, default_domain) if docs is not None else None
            for info in columns:
                result, changes = _scan_column(
                    source, classifier, docs, table_map, ref, info, rows, sample, now, scanned_at, issues
                )
                results.append(result)
                diff.extend(changes)
                done += 1
                if progress:
                    progress(ref.qualified, done, total)
    finally:
        source.close()
    written = docs.save() if docs is not None and write else []
    seconds = time.perf_counter() - started
    stats = ScanStats(
        tables=len({r.table for r in results}),
        columns=len(results),
        analyzed=sum(r.status == "analyzed" for r in results),
        unchanged=sum(r.status == "unchanged" for r in results),
        skipped=sum(r.status == "skipped" for r in results),
        values_analyzed=sum(r.values_analyzed for r in results),
        seconds=round(seconds, 3),
    )
    log.info(
        "scan of %s: %d columns, %d analysed, %d issues",
        base["source"],
        stats.columns,
        stats.analyzed,
        len(issues),
    )
    return ScanReport(
        **base,
        ner_model=analyzer.ner_model,
        columns=tuple(results),
        errors=tuple(issues),
        diff=tuple(diff),
        written=tuple(str(p) for p in written),
        stats=stats,
    )


def _plan(
    source: Source, wanted: Sequence[str] | None, issues: list[ScanIssue]
) -> list[tuple[TableRef, list[ColumnInfo], int]]:
    """Tables to scan with their columns and (capped) row counts; unreadable or empty ones become issues."""
    try:
        refs = source.tables()
    except ScanError as exc:
        issues.append(ScanIssue(table="*", code=exc.code, message=str(exc)))
        return []
    if wanted:
        chosen: list[TableRef] = []
        for w in wanted:
            low = w.lower()
            match = [r for r in refs if r.qualified.lower() == low or r.name.lower() == low]
            if not match:
                issues.append(
                    ScanIssue(
                        table=w,
                        code="scan_table_not_found",
                        message=f"table {w} is not in {_redact(source.url)}",
                    )
                )
            chosen.extend(m for m in match if m not in chosen)
        refs = chosen
    plan = []
    for ref in refs:
        try:
            columns = source.columns(ref)
            rows = source.row_count(ref)
        except ScanError as exc:
            issues.append(ScanIssue(table=ref.qualified, code=exc.code, message=str(exc)))
            continue
        if rows == 0:
            issues.append(
                ScanIssue(
                    table=ref.qualified,
                    code="scan_empty_table",
                    message=f"table {ref.qualified} has no rows: nothing to classify",
                )
            )
            continue
        plan.append((ref, columns, rows))
    return plan


def _scan_column(
    source: Source,
    classifier: ColumnClassifier,
    docs: CatalogDocs | None,
    table_map: object,
    ref: TableRef,
    info: ColumnInfo,
    rows: int,
    sample: int,
    now: datetime,
    scanned_at: str,
    issues: list[ScanIssue],
) -> tuple[ColumnResult, list[DiffEntry]]:
    table = ref.qualified
    if info.kind == "unsupported":
        issues.append(
            ScanIssue(
                table=table,
                column=info.name,
                code="scan_unsupported_type",
                message=f"column type {info.type} cannot be sampled as text; not classified",
            )
        )
        return ColumnResult(
            table=table,
            column=info.name,
            type=info.type,
            status="skipped",
            note=f"unsupported type {info.type}",
        ), []
    if info.kind == "boolean":
        return ColumnResult(
            table=table, column=info.name, type=info.type, status="skipped", note="boolean: cannot hold PII"
        ), []
    try:
        values = source.sample(ref, info.name, sample)
    except ScanError as exc:
        issues.append(ScanIssue(table=table, column=info.name, code=exc.code, message=str(exc)))
        return ColumnResult(
            table=table, column=info.name, type=info.type, status="skipped", note="unreadable"
        ), []
    fp = fingerprint(info.type, values, classifier.rules.revision, sample)
    column_map = docs.column(table_map, info) if docs is not None else None  # type: ignore[arg-type]
    if column_map is not None and (column_map.get("scan") or {}).get("fingerprint") == fp:
        return ColumnResult(
            table=table,
            column=info.name,
            type=info.type,
            status="unchanged",
            findings=tuple(scan_findings(column_map)),
        ), []
    findings, analysed = classifier.classify(
        info.name, values, kind=info.kind, row_count=rows, today=now.date()
    )
    changes = []
    if column_map is not None:
        changes = merge_column(column_map, findings, table=table, fingerprint=fp, scanned_at=scanned_at)
    return ColumnResult(
        table=table,
        column=info.name,
        type=info.type,
        status="analyzed",
        findings=tuple(findings),
        values_analyzed=analysed,
    ), changes
