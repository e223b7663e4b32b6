"""The scan's result: a pydantic model that renders as a terminal table or as JSON.

It carries counts, entity names, confidences and evidence only; sampled values never enter it, so
printing or logging a report cannot leak data.
"""

from __future__ import annotations

import io
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from .decide import Finding


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnResult(_M):
    table: str
    column: str
    type: str
    status: Literal["analyzed", "unchanged", "skipped"]
    findings: tuple[Finding, ...] = ()
    values_analyzed: int = 0
    note: str = ""


class ScanIssue(_M):
    """A table (or column) the scan could not read; ``code`` is a stable ``scan_*`` error code."""

    table: str
    column: str | None = None
    code: str
    message: str


class DiffEntry(_M):
    table: str
    column: str
    entity: str
    change: Literal["new", "changed", "withdrawn"]
    old_confidence: float | None = None
    new_confidence: float | None = None


class ScanStats(_M):
    tables: int = 0
    columns: int = 0
    analyzed: int = 0
    unchanged: int = 0
    skipped: int = 0
    values_analyzed: int = 0
    seconds: float = 0.0

    @property
    def columns_per_second(self) -> float:
        return self.columns / self.seconds if self.seconds else 0.0


class ScanReport(_M):
    source: str
    scanned_at: str
    sample: int
    rules_revision: str
    ner_model: str | None = None
    columns: tuple[ColumnResult, ...] = ()
    errors: tuple[ScanIssue, ...] = ()
    diff: tuple[DiffEntry, ...] = ()
    written: tuple[str, ...] = Field(default=(), description="catalog files changed by this scan")
    stats: ScanStats = Field(default_factory=ScanStats)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def render_table(self, width: int = 120) -> str:
        """The summary a person reads at the end of ``privgate scan``."""
        buf = io.StringIO()
        console = Console(file=buf, width=width, color_system=None, force_terminal=False)
        t = Table(title=f"PII scan of {self.source}", show_lines=False)
        for head in ("table", "column", "type", "status", "entities (confidence)", "hit ratio", "why"):
            t.add_column(head)
        for c in self.columns:
            ents = ", ".join(
                f"{f.entity}{'' if f.level == 'pii' else '?'} ({f.confidence:.2f})" for f in c.findings
            )
            ratio = ", ".join(f"{f.evidence.get('hit_ratio', '')}" for f in c.findings)
            why = "; ".join(_why(f) for f in c.findings) or c.note
            t.add_row(c.table, c.column, c.type, c.status, ents or "-", ratio, why)
        console.print(t)
        if self.diff:
            d = Table(title="Changes to catalog suggestions")
            for head in ("table", "column", "entity", "change", "old", "new"):
                d.add_column(head)
            for e in self.diff:
                d.add_row(
                    e.table, e.column, e.entity, e.change, _num(e.old_confidence), _num(e.new_confidence)
                )
            console.print(d)
        for err in self.errors:
            where = f"{err.table}.{err.column}" if err.column else err.table
            console.print(f"error {err.code}: {where}: {err.message}")
        s = self.stats
        console.print(
            f"{s.tables} tables, {s.columns} columns: {s.analyzed} analysed, {s.unchanged} unchanged, "
            f"{s.skipped} skipped; {s.values_analyzed} values in {s.seconds:.2f}s "
            f"({s.columns_per_second:.1f} columns/s). '?' marks a possible entity (not written)."
        )
        for path in self.written:
            console.print(f"wrote {path}")
        return buf.getvalue()


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _why(f: Finding) -> str:
    found = f.evidence.get("recognizers")
    parts = [", ".join(map(str, found)) if isinstance(found, list) else ""]
    if "name_hint" in f.evidence:
        parts.append(f"name: {f.evidence['name_hint']}")
    return " + ".join(p for p in parts if p)
