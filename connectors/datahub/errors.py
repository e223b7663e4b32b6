"""The DataHub connector's errors: one ``PrivgateError`` subclass, one stable code per failure.

The SDK raises ``ConfigurationError``, ``OperationalError``, ``GraphError`` and raw ``requests``
errors; ``translate`` turns them into these codes at the seam so the CLI prints one line and exits
non-zero, and nothing has been written to privgate's catalog yet (pull writes only at the very end)::

    DataHubError                      datahub_*
      datahub_unreachable             no TCP connection / timeout / not a GMS endpoint
      datahub_auth_failed             401 or 403 from GMS (token missing, expired or lacking privileges)
      datahub_token_missing           --token-env names an unset environment variable
      datahub_unknown_platform        the platform is neither known to DataHub nor present in the file
      datahub_dataset_not_found       --dataset-filter matched no DataHub dataset
      datahub_dataset_unmapped        a DataHub dataset name cannot be turned into privgate's schema.table
      datahub_dataset_unknown         push: a table privgate does not know, or DataHub has no such dataset
      datahub_conflict                pulled datasets would put one privgate domain on two SQL schemas
      datahub_file_invalid            the metadata file is missing, not JSON, or fails DataHub's schema
      datahub_mapping_invalid         rules/datahub_mapping.yaml is invalid
      datahub_request_failed          any other GMS error (message carries GMS's own)
"""

from __future__ import annotations

import re

from privgate.engine.errors import PrivgateError


class DataHubError(PrivgateError):
    code = "datahub_request_failed"


def translate(exc: Exception, server: str) -> DataHubError:
    """Map an SDK / requests exception raised while talking to ``server`` onto a stable code."""
    import requests
    from datahub.configuration.common import ConfigurationError, OperationalError

    text = str(exc)
    status = _status_of(exc)
    if status in (401, 403) or "authentication error" in text:
        return DataHubError(
            f"{server}: DataHub refused the credentials (HTTP {status or 401}); check the token in --token-env "
            "and that its user may read/edit dataset metadata",
            code="datahub_auth_failed",
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout) or (
        isinstance(exc, ConfigurationError | OperationalError) and status is None and _looks_unreachable(text)
    ):
        return DataHubError(
            f"{server}: DataHub GMS is unreachable ({_first_line(text)}); check --server "
            "(GMS is usually http://<host>:8080, or <frontend>/api/gms)",
            code="datahub_unreachable",
        )
    return DataHubError(f"{server}: DataHub request failed: {_first_line(text)}")


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK error: from a response, an error payload, or the SDK's message text."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        response = getattr(cur, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, dict) and isinstance(arg.get("status"), int):
                return int(arg["status"])
        match = re.search(r"status_code: (\d{3})", str(cur))
        if match:
            return int(match.group(1))
        cur = cur.__cause__ or cur.__context__
    return None


def _looks_unreachable(text: str) -> bool:
    markers = ("Connection refused", "Max retries exceeded", "timed out", "Failed to establish",
               "Name or service not known", "Unable to connect", "frontend service instead of the GMS")
    return any(m in text for m in markers)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "no detail"


class DataHubFileError(DataHubError):
    """A metadata file could not be read or fails DataHub's schema."""

    code = "datahub_file_invalid"


class DataHubMappingError(DataHubError):
    code = "datahub_mapping_invalid"
