"""The release cache: asking the same question again returns the answer already released.

Fresh noise for a repeated question would let an analyst average the noise away; returning the
stored release costs nothing and says so (``DpResult.cached``). The key is (normalized SQL,
principal scope, data version): a different scope (another team) or new data is a new question.
Races between two identical first asks are safe: both are charged in the ledger.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol

from .model import DpResult


def release_key(normalized_sql: str, scope: str, data_version: str) -> str:
    """Stable key for a release; the SQL is normalized by ``planner.normalized_sql``."""
    blob = "\x1f".join((normalized_sql, scope, data_version)).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


class ReleaseCache(Protocol):
    """Where released answers live: in memory by default, a shared store in production."""

    def get(self, key: str) -> DpResult | None: ...

    def put(self, key: str, result: DpResult) -> None: ...


class InMemoryReleaseCache:
    """Reference ``ReleaseCache``: a bounded LRU guarded by a lock (one process)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._items: OrderedDict[str, DpResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> DpResult | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit.model_copy(update={"cached": True})

    def put(self, key: str, result: DpResult) -> None:
        with self._lock:
            self._items[key] = result.model_copy(update={"cached": False})
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
