"""DataHub tags and glossary terms <-> privgate PII entity types, from ``rules/datahub_mapping.yaml``.

The mapping is data, not code, so a deployment whose glossary says ``Classification.Email`` instead of
``PII.Email`` changes a YAML file. Every urn is parsed with DataHub's own urn classes when the file is
loaded, so a typo fails at startup rather than producing tags nobody can find.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from privgate.connectors.yaml_io import describe_validation, read_yaml

from .errors import DataHubError, DataHubMappingError

_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]*$")


class EntityUrns(BaseModel):
    """What one entity type is called in DataHub: the tag and term privgate writes, and aliases it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tag: str | None = None
    term: str | None = None
    also: tuple[str, ...] = ()


class DataHubMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tag_prefix: str = "urn:li:tag:pii-"
    attribution_source: str = "urn:li:dataHubAction:privgate"
    attribution_actor: str = "urn:li:corpuser:privgate"
    push_terms: bool = True
    entities: dict[str, EntityUrns] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> DataHubMapping:
        from datahub.metadata.urns import CorpUserUrn, DataHubActionUrn, GlossaryTermUrn, TagUrn, Urn

        def check(urn: str, kind: type[Urn], where: str) -> None:
            try:
                parsed = Urn.from_string(urn)
            except Exception as exc:  # the SDK raises InvalidUrnError / ValueError
                raise ValueError(f"{where}: {urn!r} is not a valid DataHub urn ({exc})") from exc
            if not isinstance(parsed, kind):
                raise ValueError(f"{where}: {urn!r} is not a {kind.__name__.removesuffix('Urn').lower()} urn")

        check(self.tag_prefix + "x", TagUrn, "tag_prefix")
        check(self.attribution_source, DataHubActionUrn, "attribution_source")
        check(self.attribution_actor, CorpUserUrn, "attribution_actor")
        owner: dict[str, str] = {}
        for entity, urns in self.entities.items():
            if not _ENTITY.match(entity):
                raise ValueError(f"entities.{entity}: entity types are upper-case, e.g. EMAIL_ADDRESS")
            if urns.tag:
                check(urns.tag, TagUrn, f"entities.{entity}.tag")
            if urns.term:
                check(urns.term, GlossaryTermUrn, f"entities.{entity}.term")
            for alias in urns.also:
                check(alias, Urn, f"entities.{entity}.also")
            for urn in (urns.tag, urns.term, *urns.also):
                if urn is None:
                    continue
                if urn in owner and owner[urn] != entity:
                    raise ValueError(f"{urn} maps to both {owner[urn]} and {entity}")
                owner[urn] = entity
        return self

    def tag_for(self, entity: str) -> str:
        urns = self.entities.get(entity)
        if urns and urns.tag:
            return urns.tag
        return self.tag_prefix + entity.lower().replace("_", "-")

    def term_for(self, entity: str) -> str | None:
        """The glossary term push writes for ``entity`` (None: tags only)."""
        urns = self.entities.get(entity)
        return urns.term if urns and self.push_terms else None

    def entity_for(self, urn: str) -> str | None:
        """The entity type a DataHub tag or term urn stands for, or None when it is not PII-related."""
        for entity, urns in self.entities.items():
            if urn in (urns.tag, urns.term) or urn in urns.also:
                return entity
        if urn.startswith(self.tag_prefix):
            guess = urn[len(self.tag_prefix):].upper().replace("-", "_")
            if _ENTITY.match(guess):
                return guess
        return None


def load_mapping(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> DataHubMapping:
    """The packaged mapping (or ``path``), with top-level keys replaced by ``overrides``."""
    if path is None:
        with resources.as_file(resources.files("privgate.rules") / "datahub_mapping.yaml") as file:
            raw = read_yaml(Path(file), DataHubMappingError)
        source: Path | str = "rules/datahub_mapping.yaml"
    else:
        raw = read_yaml(Path(path), DataHubMappingError)
        source = path
    if not isinstance(raw, dict):
        raise DataHubError(f"{source}: expected a mapping at the top level", code="datahub_mapping_invalid")
    raw.update(overrides or {})
    try:
        return DataHubMapping.model_validate(raw)
    except ValidationError as exc:
        raise DataHubError("invalid DataHub mapping:\n" + describe_validation(source, exc),
                           code="datahub_mapping_invalid") from exc
