"""Obligations as rewrites over sqlglot trees. (Contract; helper fills in.)"""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis import Analysis
from ..catalog import Catalog
from ..decision import Obligation


class Rewriter:
    def __init__(self, catalog: Catalog, *, mask_key: bytes) -> None:
        self.catalog = catalog
        self._mask_key = mask_key

    def apply(self, analysis: Analysis, obligations: Sequence[Obligation], dialect: str) -> str:
        raise NotImplementedError
