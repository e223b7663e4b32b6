"""What pull and push did, as pydantic models the CLI prints as text or JSON (``model_dump_json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PulledTable(_Report):
    """One DataHub dataset as it landed in privgate's catalog."""

    urn: str
    table: str
    domain: str
    new_table: bool
    columns_added: tuple[str, ...] = ()
    tags_added: tuple[str, ...] = ()
    tags_removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class PullReport(_Report):
    source: str
    platform: str
    catalog_dir: str
    tables: tuple[PulledTable, ...] = ()
    written: tuple[str, ...] = ()
    catalog_revision: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.written)

    def render_text(self) -> str:
        lines = [f"pulled {len(self.tables)} dataset(s) from {self.source} (platform {self.platform})"]
        for t in self.tables:
            state = "new" if t.new_table else "updated" if (t.columns_added or t.tags_added or t.tags_removed) \
                else "unchanged"
            lines.append(f"  {t.table:<40} {state:<9} domain {t.domain}")
            lines += [f"    + column {c}" for c in t.columns_added]
            lines += [f"    + {tag}" for tag in t.tags_added]
            lines += [f"    - {tag}" for tag in t.tags_removed]
            lines += [f"    ! {n}" for n in t.notes]
        if self.written:
            lines.append(f"wrote {len(self.written)} catalog file(s) to {self.catalog_dir} ({self.catalog_revision})")
        else:
            lines.append(f"catalog {self.catalog_dir} unchanged")
        return "\n".join(lines)


class PushChange(_Report):
    """One field-level association privgate adds, refreshes or withdraws (only ever its own)."""

    dataset: str
    table: str
    field: str
    op: Literal["add", "update", "remove"]
    kind: Literal["tag", "term"]
    urn: str
    entity: str
    summary: str = ""


class PushReport(_Report):
    target: str
    dry_run: bool
    changes: tuple[PushChange, ...] = ()
    unchanged: int = 0
    kept_existing: int = 0
    proposals: int = 0
    written: bool = False
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def render_text(self) -> str:
        sign = {"add": "+", "update": "~", "remove": "-"}
        lines = [f"{'dry run: ' if self.dry_run else ''}push to {self.target}"]
        for c in self.changes:
            lines.append(f"{sign[c.op]} {c.table}.{c.field}  {c.kind} {c.urn}  ({c.summary or c.entity})")
        if self.dry_run:
            outcome = f"{self.proposals} proposal(s) would be sent"
        elif self.written:
            outcome = f"{self.proposals} proposal(s) sent"
        elif self.proposals:
            outcome = f"{self.target} already holds these {self.proposals} proposal(s); not rewritten"
        else:
            outcome = "nothing to send"
        lines.append(f"{len(self.changes)} change(s), {self.unchanged} already in DataHub, "
                     f"{self.kept_existing} left as people/ingestion set them; {outcome}")
        lines += [f"! {n}" for n in self.notes]
        return "\n".join(lines)
