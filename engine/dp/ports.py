"""The upstream seam: run the bounded SQL, return column names and rows. Adapters live in connectors/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    """A warehouse connection that can run one read-only query.

    ``dialect`` is the sqlglot dialect the SQL must be written in. ``execute`` raises
    ``UpstreamError`` (never a driver exception). ``data_version`` identifies the current contents
    of the given tables (for the release cache): it must change when their data changes.
    """

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
                ) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def data_version(self, tables: Sequence[str]) -> str: ...

    def close(self) -> None: ...
