"""Catalog sync with DataHub: ``pull`` datasets, owners, domains and tags into privgate's catalog, and
``push`` privgate's PII classifications back as field-level tags and glossary terms (issue 7).

Only through DataHub's SDK (``acryl-datahub``, the optional extra ``privgate[datahub]``): ``DataHubGraph``
for a GMS server, DataHub's metadata file format for offline runs. See docs/datahub.md.

Importing this package turns DataHub's client telemetry off unless the environment already decides
(``DATAHUB_TELEMETRY_ENABLED``): privgate never phones home on a user's behalf.
"""

from __future__ import annotations

import os

os.environ.setdefault("DATAHUB_TELEMETRY_ENABLED", "false")

from .errors import DataHubError
from .mapping import DataHubMapping, load_mapping
from .naming import DatasetNaming
from .pull import pull
from .push import push
from .reports import PulledTable, PullReport, PushChange, PushReport
from .targets import DataHubFile, DataHubServer, DataHubSource

__all__ = [
    "DataHubError", "DataHubFile", "DataHubMapping", "DataHubServer", "DataHubSource", "DatasetNaming",
    "PullReport", "PulledTable", "PushChange", "PushReport", "load_mapping", "pull", "push",
]
