"""``privgate catalog review``: list the scan's suggestions and confirm or reject them.

A confirmed tag counts as PII for policies for good; a rejected one never counts and is never
suggested again by later scans. Either way the scan stops owning the tag (see ``merge``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from privgate.engine.errors import CatalogError

from .catalog_io import CatalogDocs


def recognizers(evidence: dict[str, object]) -> str:
    found = evidence.get("recognizers")
    return ", ".join(map(str, found)) if isinstance(found, list) else ""


class Suggestion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    table: str
    column: str
    entity: str
    confidence: float
    evidence: dict[str, object]


class ReviewReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pending: tuple[Suggestion, ...]
    decided: tuple[tuple[str, Literal["confirmed", "rejected"]], ...] = ()
    written: tuple[str, ...] = ()

    def render_table(self) -> str:
        lines = [f"{sid}: {status}" for sid, status in self.decided]
        if self.pending:
            lines.append(f"{len(self.pending)} suggestion(s) waiting for review:")
            lines += [
                f"  {s.id}  confidence {s.confidence:.2f}  {recognizers(s.evidence)}" for s in self.pending
            ]
        else:
            lines.append("no suggestions waiting for review")
        return "\n".join(lines) + "\n"


def _suggestions(docs: CatalogDocs) -> list[tuple[Suggestion, dict[str, object]]]:
    out = []
    for qualified, table in docs.iter_tables():
        for col in table.get("columns") or ():
            for tag in col.get("pii") or ():
                if tag.get("source") == "scan" and tag.get("status") == "suggested":
                    sid = f"{qualified}.{str(col['name']).lower()}:{tag['entity']}"
                    out.append(
                        (
                            Suggestion(
                                id=sid,
                                table=qualified,
                                column=str(col["name"]),
                                entity=str(tag["entity"]),
                                confidence=float(tag.get("confidence", 0.0)),
                                evidence=dict(tag.get("evidence") or {}),
                            ),
                            tag,
                        )
                    )
    return out


def review(
    catalog_dir: Path | str,
    *,
    confirm: Sequence[str] = (),
    reject: Sequence[str] = (),
    confirm_all: bool = False,
) -> ReviewReport:
    """List pending suggestions; confirm or reject the given ids (``schema.table.column:ENTITY``).

    An id may omit ``:ENTITY`` to decide every suggestion on that column. Unknown ids fail before
    anything is written, so a typo never half-applies a review.
    """
    docs = CatalogDocs(Path(catalog_dir))
    found = _suggestions(docs)
    decisions: dict[str, Literal["confirmed", "rejected"]] = {}
    for ids, status in ((confirm, "confirmed"), (reject, "rejected")):
        for wanted in ids:
            low = wanted.lower()
            hits = [s.id for s, _ in found if s.id.lower() == low or s.id.lower().split(":")[0] == low]
            if not hits:
                raise CatalogError(
                    f"no pending suggestion {wanted!r}; run `privgate catalog review` to list them",
                    code="catalog_suggestion_not_found",
                )
            for h in hits:
                if decisions.get(h, status) != status:
                    raise CatalogError(f"{h} is both confirmed and rejected", code="catalog_review_conflict")
                decisions[h] = status  # type: ignore[assignment]
    if confirm_all:
        for s, _ in found:
            decisions.setdefault(s.id, "confirmed")
    for s, tag in found:
        if s.id in decisions:
            tag["status"] = decisions[s.id]
    written = docs.save() if decisions else []
    pending = tuple(s for s, _ in found if s.id not in decisions)
    return ReviewReport(
        pending=pending, decided=tuple(sorted(decisions.items())), written=tuple(str(p) for p in written)
    )
