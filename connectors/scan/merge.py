"""Merge one column's scan result into its catalog entry, and say what changed.

The scan owns exactly the tags it suggested earlier (``source: scan, status: suggested``): it adds,
updates and withdraws those. Everything a person decided (confirmed or rejected, or a manual tag)
stays as written, and an entity a person rejected is never suggested again.
"""

from __future__ import annotations

from collections.abc import Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .catalog_io import block
from .decide import Finding
from .report import DiffEntry

CHANGE_EPSILON = 0.01
"""Confidence moves smaller than this are noise, not a change worth a diff line."""


def _is_scan_suggestion(tag: CommentedMap) -> bool:
    return bool(tag.get("source", "manual") == "scan" and tag.get("status", "confirmed") == "suggested")


def scan_findings(column: CommentedMap) -> list[Finding]:
    """The column's standing tags (all but rejected ones) for a column that was not re-analysed."""
    out = []
    for tag in column.get("pii") or ():
        if tag.get("status", "confirmed") != "rejected":
            conf = float(tag.get("confidence", 1.0))
            out.append(
                Finding(
                    entity=str(tag["entity"]),
                    confidence=conf,
                    level="pii",
                    evidence=dict(tag.get("evidence") or {}),
                )
            )
    possible = ((column.get("scan") or {}).get("possible")) or ()
    out.extend(Finding(entity=str(e), confidence=0.0, level="possible", evidence={}) for e in possible)
    return out


def merge_column(
    column: CommentedMap, findings: Sequence[Finding], *, table: str, fingerprint: str, scanned_at: str
) -> list[DiffEntry]:
    name = str(column["name"])
    tags = list(column.get("pii") or ())
    human = {str(t["entity"]) for t in tags if not _is_scan_suggestion(t)}
    old = {str(t["entity"]): float(t.get("confidence", 1.0)) for t in tags if _is_scan_suggestion(t)}
    kept = [t for t in tags if not _is_scan_suggestion(t)]
    diff: list[DiffEntry] = []
    new_entities: set[str] = set()
    for f in findings:
        if f.level != "pii" or f.entity in human:
            continue
        new_entities.add(f.entity)
        tag = CommentedMap(
            entity=f.entity, source="scan", confidence=round(f.confidence, 2), status="suggested"
        )
        evidence = CommentedMap(**{k: v for k, v in f.evidence.items()}, scanned_at=scanned_at)
        evidence.fa.set_flow_style()
        tag["evidence"] = evidence
        kept.append(tag)
        if f.entity not in old:
            diff.append(
                DiffEntry(
                    table=table, column=name, entity=f.entity, change="new", new_confidence=tag["confidence"]
                )
            )
        elif abs(old[f.entity] - tag["confidence"]) >= CHANGE_EPSILON:
            diff.append(
                DiffEntry(
                    table=table,
                    column=name,
                    entity=f.entity,
                    change="changed",
                    old_confidence=old[f.entity],
                    new_confidence=tag["confidence"],
                )
            )
        else:
            # Same suggestion: keep the stored tag so an unchanged decision does not rewrite the file.
            kept[-1] = next(t for t in tags if _is_scan_suggestion(t) and str(t["entity"]) == f.entity)
    diff.extend(
        DiffEntry(table=table, column=name, entity=e, change="withdrawn", old_confidence=c)
        for e, c in old.items()
        if e not in new_entities
    )
    if kept != tags or diff:
        block(column)
        seq = CommentedSeq(kept)
        column["pii"] = seq
        if not kept:
            del column["pii"]
    possible = sorted(f.entity for f in findings if f.level == "possible" and f.entity not in human)
    state = CommentedMap(fingerprint=fingerprint, scanned_at=scanned_at)
    if possible:
        state["possible"] = possible
    state.fa.set_flow_style()
    previous = column.get("scan")
    if (
        previous is None
        or previous.get("fingerprint") != fingerprint
        or list(previous.get("possible") or []) != possible
    ):
        block(column)
        column["scan"] = state
    return diff
