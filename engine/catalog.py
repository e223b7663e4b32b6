"""The catalog model: data products (domains), their tables and columns, and the PII tags on them.

The catalog is what policies know about data. It is plain data (pydantic models) so that YAML files,
DataHub pulls and PII scans all produce the same thing; loading from disk lives in ``connectors/``.
Table names are matched case-insensitively and may be written ``schema.table``; the catalog's
``schema`` of a domain is the SQL schema its tables live in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TagSource = Literal["manual", "scan", "datahub"]
TagStatus = Literal["suggested", "confirmed", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiTag(_Model):
    """One PII entity type on a column, with where it came from and whether a person agreed."""

    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="Presidio-style entity type, e.g. EMAIL_ADDRESS")
    source: TagSource = "manual"
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    status: TagStatus = "confirmed"
    evidence: dict[str, object] | None = None


class ColumnScan(_Model):
    """What the last PII scan saw in a column, so an unchanged column is not analysed again.

    ``fingerprint`` hashes the column type, the sampled values and the scan rules' revision (never the
    values themselves); ``possible`` lists entities below the tagging threshold, for review.
    """

    fingerprint: str = Field(pattern=r"^sha256:[0-9a-f]+$")
    scanned_at: str
    possible: tuple[str, ...] = ()


class Bounds(_Model):
    """Declared value bounds used to clamp contributions; decimals so they are exact."""

    lower: Decimal
    upper: Decimal

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.lower > self.upper:
            raise ValueError(f"lower bound {self.lower} is above upper bound {self.upper}")
        return self


class Column(_Model):
    name: str = Field(min_length=1)
    type: str = "text"
    description: str = ""
    pii: tuple[PiiTag, ...] = ()
    bounds: Bounds | None = None
    public_keys: tuple[str | int, ...] | None = Field(
        default=None, description="Declared public key domain: GROUP BY on it needs no partition selection"
    )
    scan: ColumnScan | None = Field(default=None, description="Written by `privgate scan`")

    def entities(self, *, include_suggested: bool = True) -> tuple[str, ...]:
        """Entity types that policies must treat as PII (rejected tags never count)."""
        wanted = {"confirmed", "suggested"} if include_suggested else {"confirmed"}
        return tuple(sorted({t.entity for t in self.pii if t.status in wanted}))


class PrivacyUnit(_Model):
    """The column that identifies a person, and the namespace shared by every table keyed on them."""

    column: str
    namespace: str = Field(min_length=1, description="e.g. 'customer': the same people across domains")


class Table(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    columns: tuple[Column, ...]
    privacy_unit: PrivacyUnit | None = None
    one_row_per_unit: bool = False
    public: bool = Field(default=False, description="Public reference data: no privacy unit, no PII")
    consent: dict[str, str | None] = Field(
        default_factory=dict,
        description="purpose -> boolean column recording consent for it; null: the purpose does not rest on "
                    "consent (e.g. contract); a purpose missing from a non-empty map filters to no rows",
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Table:
        names = {c.name.lower() for c in self.columns}
        if len(names) != len(self.columns):
            raise ValueError(f"table {self.name!r} declares a column twice")
        if self.privacy_unit and self.privacy_unit.column.lower() not in names:
            raise ValueError(f"privacy_unit column {self.privacy_unit.column!r} is not a column of {self.name!r}")
        for purpose, col in self.consent.items():
            if col is not None and col.lower() not in names:
                raise ValueError(f"consent column {col!r} for purpose {purpose!r} is not a column of {self.name!r}")
        if self.public and self.privacy_unit:
            raise ValueError(f"table {self.name!r} cannot be public and carry a privacy unit")
        return self

    def column(self, name: str) -> Column | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


class SharingAgreement(_Model):
    """Permission for another domain's data to be joined with this one, for some purposes."""

    with_domain: str = Field(alias="with")
    purposes: tuple[str, ...]
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Domain(_Model):
    """A data product: owned by a team, usable for some purposes, shared under agreements."""

    name: str = Field(min_length=1)
    owner: str
    schema_: str | None = Field(default=None, alias="schema", description="SQL schema; defaults to the domain name")
    allowed_purposes: tuple[str, ...] = ()
    sharing: tuple[SharingAgreement, ...] = ()
    tables: tuple[Table, ...] = ()
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def sql_schema(self) -> str:
        return (self.schema_ or self.name).lower()


class Catalog(_Model):
    domains: tuple[Domain, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for d in self.domains:
            if d.name in seen:
                raise ValueError(f"domain {d.name!r} is declared twice")
            seen.add(d.name)
        tables = [q for q, _, _ in self.iter_tables()]
        dupes = sorted({t for t in tables if tables.count(t) > 1})
        if dupes:
            raise ValueError(f"tables declared twice: {', '.join(dupes)}")
        return self

    def iter_tables(self) -> Iterator[tuple[str, Domain, Table]]:
        """Yield ``(schema.table, domain, table)`` with lower-case qualified names."""
        for d in self.domains:
            for t in d.tables:
                yield f"{d.sql_schema}.{t.name.lower()}", d, t

    @property
    def revision(self) -> str:
        """Content hash: changes exactly when the catalog's meaning changes."""
        blob = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]
