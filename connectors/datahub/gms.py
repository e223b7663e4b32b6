"""The seam between privgate and DataHub: read dataset aspects, write proposals.

Two implementations of one small interface (``MetadataPort``), both through DataHub's SDK only:

* ``GraphPort`` talks to a GMS server with ``DataHubGraph`` (``get_urns_by_filter`` for listing,
  ``get_aspect`` per aspect, ``emit_mcp`` for writes), translating SDK errors at this seam;
* ``FileState`` reads a DataHub metadata file with ``read_metadata_file`` (MCE and MCP records, the
  format ``datahub ingest`` file sinks write), and push writes one with ``write_metadata_file``.

Everything above this module sees plain ``DatasetAspects`` and never an HTTP status or a JSON blob.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DataHubError, DataHubFileError, translate

if TYPE_CHECKING:
    from datahub.ingestion.graph.client import DataHubGraph
    from datahub.metadata.schema_classes import (
        DomainsClass,
        EditableSchemaMetadataClass,
        GlobalTagsClass,
        GlossaryTermsClass,
        MetadataChangeProposalClass,
        OwnershipClass,
        SchemaMetadataClass,
    )


@dataclass
class DatasetAspects:
    """The aspects of one dataset that sync reads; ``None`` where DataHub has none."""

    urn: str
    schema: SchemaMetadataClass | None = None
    editable: EditableSchemaMetadataClass | None = None
    tags: GlobalTagsClass | None = None
    terms: GlossaryTermsClass | None = None
    ownership: OwnershipClass | None = None
    domains: DomainsClass | None = None

    @property
    def exists(self) -> bool:
        return any(a is not None for a in (self.schema, self.editable, self.tags, self.terms, self.ownership,
                                           self.domains))


class MetadataPort(Protocol):
    """What pull and push need from DataHub; the whole seam."""

    @property
    def label(self) -> str: ...

    def known_platform(self, platform: str) -> bool: ...

    def dataset_urns(self, platform: str, env: str | None) -> list[str]: ...

    def aspects(self, urn: str) -> DatasetAspects: ...

    def domain_name(self, domain_urn: str) -> str | None: ...


def _aspect_classes() -> dict[str, Any]:
    from datahub.metadata.schema_classes import (
        DomainsClass,
        EditableSchemaMetadataClass,
        GlobalTagsClass,
        GlossaryTermsClass,
        OwnershipClass,
        SchemaMetadataClass,
    )

    return {"schema": SchemaMetadataClass, "editable": EditableSchemaMetadataClass, "tags": GlobalTagsClass,
            "terms": GlossaryTermsClass, "ownership": OwnershipClass, "domains": DomainsClass}


class GraphPort:
    """A GMS server through ``DataHubGraph``. ``connect`` checks reachability and credentials first."""

    def __init__(self, graph: DataHubGraph, server: str) -> None:
        self._graph = graph
        self._server = server

    @property
    def label(self) -> str:
        return self._server

    @classmethod
    def connect(cls, server: str, token: str | None, timeout_sec: float = 10.0, retries: int = 0) -> GraphPort:
        from datahub.ingestion.graph.client import DataHubGraph
        from datahub.ingestion.graph.config import DatahubClientConfig

        config = DatahubClientConfig(server=server, token=token, timeout_sec=timeout_sec, retry_max_times=retries,
                                     openapi_ingestion=False)
        try:
            graph = DataHubGraph(config)
            graph.test_connection()
        except Exception as exc:
            raise translate(exc, server) from exc
        return cls(graph, server)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DataHubError:
            raise
        except Exception as exc:
            err = translate(exc, self.label)
            raise DataHubError(f"{err.message} (while {what})", code=err.code) from exc

    def known_platform(self, platform: str) -> bool:
        from datahub.emitter.mce_builder import make_data_platform_urn
        from datahub.metadata.schema_classes import DataPlatformInfoClass

        info = self._call(f"looking up platform {platform!r}", self._graph.get_aspect,
                          make_data_platform_urn(platform), DataPlatformInfoClass)
        return info is not None

    def dataset_urns(self, platform: str, env: str | None) -> list[str]:
        urns = self._call("listing datasets", lambda: list(self._graph.get_urns_by_filter(
            entity_types=["dataset"], platform=platform, env=env)))
        return sorted(set(urns))

    def aspects(self, urn: str) -> DatasetAspects:
        found = DatasetAspects(urn)
        for attr, cls in _aspect_classes().items():
            value = self._call(f"reading {cls.ASPECT_NAME} of {urn}", self._graph.get_aspect, urn, cls)
            setattr(found, attr, value)
        return found

    def domain_name(self, domain_urn: str) -> str | None:
        from datahub.metadata.schema_classes import DomainPropertiesClass

        props = self._call(f"reading domain {domain_urn}", self._graph.get_aspect, domain_urn, DomainPropertiesClass)
        return props.name if props is not None else None

    def emit(self, mcps: Sequence[MetadataChangeProposalClass]) -> None:
        """Send proposals in order; each is one atomic aspect patch in GMS, so on failure say how far it got."""
        for done, mcp in enumerate(mcps):
            try:
                self._call(f"writing {mcp.aspectName} of {mcp.entityUrn}", self._graph.emit_mcp, mcp)
            except DataHubError as exc:
                raise DataHubError(f"{exc.message}; {done} of {len(mcps)} proposal(s) were applied before this "
                                   "one (push is idempotent: re-run it once the cause is fixed)",
                                   code=exc.code) from exc


@dataclass
class FileState:
    """Aspects found in a DataHub metadata file, latest record per (urn, aspect) winning."""

    path: Path
    by_urn: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_patches: int = 0

    @property
    def label(self) -> str:
        return str(self.path)

    @classmethod
    def read(cls, path: Path) -> FileState:
        from datahub.emitter.mcp import MetadataChangeProposalWrapper
        from datahub.ingestion.source.file import read_metadata_file
        from datahub.metadata.schema_classes import MetadataChangeEventClass

        if not path.is_file():
            raise DataHubFileError(f"{path}: metadata file not found")
        state = cls(path)
        try:
            records = list(read_metadata_file(path))
        except Exception as exc:  # JSON errors, avro schema errors: the file is not DataHub metadata
            raise DataHubFileError(f"{path}: not a valid DataHub metadata file: {_short(exc)}") from exc
        for record in records:
            if isinstance(record, MetadataChangeEventClass):
                snapshot = record.proposedSnapshot
                for aspect in snapshot.aspects:
                    state.by_urn.setdefault(snapshot.urn, {})[aspect.get_aspect_name()] = aspect
            elif isinstance(record, MetadataChangeProposalWrapper) and record.aspect is not None:
                if record.entityUrn is None:
                    continue
                state.by_urn.setdefault(record.entityUrn, {})[record.aspect.get_aspect_name()] = record.aspect
            else:  # PATCH proposals describe changes, not state; pull does not guess their result
                state.skipped_patches += 1
        return state

    def known_platform(self, platform: str) -> bool:
        from datahub.emitter.mce_builder import make_data_platform_urn

        needle = make_data_platform_urn(platform) + ","
        return any(urn.startswith("urn:li:dataset:(" + needle) for urn in self.by_urn) or \
            make_data_platform_urn(platform) in self.by_urn

    def dataset_urns(self, platform: str, env: str | None) -> list[str]:
        from datahub.metadata.urns import DatasetUrn

        out = []
        for urn in self.by_urn:
            if not urn.startswith("urn:li:dataset:"):
                continue
            parsed = DatasetUrn.from_string(urn)
            if parsed.get_data_platform_urn().platform_name == platform and (env is None or parsed.env == env):
                out.append(urn)
        return sorted(out)

    def aspects(self, urn: str) -> DatasetAspects:
        found = DatasetAspects(urn)
        stored = self.by_urn.get(urn, {})
        for attr, cls in _aspect_classes().items():
            setattr(found, attr, stored.get(cls.ASPECT_NAME))
        return found

    def domain_name(self, domain_urn: str) -> str | None:
        props = self.by_urn.get(domain_urn, {}).get("domainProperties")
        return str(props.name) if props is not None else None


def write_file_atomically(path: Path, records: Iterable[Any]) -> None:
    """``write_metadata_file`` into a temp file beside ``path``, then rename: never a half-written file."""
    from datahub.ingestion.sink.file import write_metadata_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_metadata_file(Path(tmp), list(records))
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataHubFileError(f"{path}: cannot write metadata file: {exc}") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
