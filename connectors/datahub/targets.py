"""Where DataHub metadata lives: a GMS server or a DataHub metadata file (the ``--server``/``--file`` flags)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .errors import DataHubError
from .gms import FileState, GraphPort


class DataHubServer(BaseModel):
    """A GMS endpoint; the token is read from the environment variable ``token_env`` (never a flag)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(min_length=1)
    token_env: str | None = None
    timeout_sec: float = Field(default=10.0, gt=0)

    def token(self, environ: Mapping[str, str] | None = None) -> str | None:
        if self.token_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.token_env)
        if not value:
            raise DataHubError(f"--token-env {self.token_env}: that environment variable is not set or empty",
                               code="datahub_token_missing")
        return value

    def connect(self, environ: Mapping[str, str] | None = None) -> GraphPort:
        return GraphPort.connect(self.url.rstrip("/"), self.token(environ), self.timeout_sec)


class DataHubFile(BaseModel):
    """A DataHub metadata file (JSON list of MCEs/MCPs).

    pull reads ``path``. push writes its patch proposals to ``path``; ``base`` (optional) is a current
    export of DataHub to diff against, so unchanged associations are not re-proposed and people's
    associations are recognised; without it, push proposes every classification.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: Path
    base: Path | None = None

    def read(self) -> FileState:
        return FileState.read(self.path)


DataHubSource = DataHubServer | DataHubFile
