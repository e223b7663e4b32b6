"""DataHub dataset urns <-> privgate ``schema.table`` names and domains.

A DataHub dataset urn is ``urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,<env>)``; for SQL
platforms ``<name>`` is ``database.schema.table`` (PostgreSQL, Snowflake) or ``schema.table`` (MySQL).
``name_pattern`` picks the schema and table out of the name with named groups, so other layouts are a
configuration change; push rebuilds the name as ``{database}.{schema}.{table}`` (or ``{schema}.{table}``
without a database) and must therefore be configured with the same database the pull saw.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from .errors import DataHubError

DEFAULT_PATTERN = r"^(?:(?P<database>[^.]+)\.)?(?P<schema>[^.]+)\.(?P<table>[^.]+)$"


class DatasetNaming(BaseModel):
    """How privgate finds its tables in DataHub; every field has a default matching DataHub's SQL sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    platform: str = "postgres"
    env: str = "PROD"
    platform_instance: str | None = None
    database: str | None = None
    name_pattern: str = DEFAULT_PATTERN
    lowercase: bool = True
    domain_from: Literal["datahub_domain", "schema"] = "datahub_domain"

    @field_validator("name_pattern")
    @classmethod
    def _groups(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if not {"schema", "table"} <= set(compiled.groupindex):
            raise ValueError("name_pattern needs the named groups (?P<schema>...) and (?P<table>...)")
        return value

    def split(self, dataset_name: str) -> tuple[str, str] | None:
        """``(schema, table)`` for a DataHub dataset name, or None when the name does not fit the pattern."""
        match = re.match(self.name_pattern, dataset_name)
        if not match:
            return None
        schema, table = match.group("schema"), match.group("table")
        if self.lowercase:
            schema, table = schema.lower(), table.lower()
        return schema, table

    def dataset_name(self, schema: str, table: str) -> str:
        return f"{self.database}.{schema}.{table}" if self.database else f"{schema}.{table}"

    def urn(self, schema: str, table: str) -> str:
        from datahub.emitter.mce_builder import make_dataset_urn_with_platform_instance

        return str(make_dataset_urn_with_platform_instance(
            self.platform, self.dataset_name(schema, table), self.platform_instance, self.env))

    def parse_urn(self, urn: str) -> tuple[str, str | None]:
        """``(dataset name, platform instance)`` of a dataset urn; instance-qualified names are stripped."""
        from datahub.metadata.urns import DatasetUrn

        try:
            parsed = DatasetUrn.from_string(urn)
        except Exception as exc:
            raise DataHubError(f"{urn!r} is not a dataset urn: {exc}", code="datahub_dataset_unmapped") from exc
        name = parsed.name
        if self.platform_instance and name.startswith(self.platform_instance + "."):
            name = name[len(self.platform_instance) + 1:]
        return name, self.platform_instance


def domain_slug(name: str) -> str:
    """A DataHub domain display name as a privgate domain (file) name: ``Customer Data`` -> ``customer_data``."""
    slug = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return slug or "datahub"
