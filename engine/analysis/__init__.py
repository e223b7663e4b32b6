"""SQL analysis with sqlglot: parse → qualify against the catalog → Facts. (Contract; helper fills in.)"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..catalog import Catalog
from ..facts import Facts
from ..rules import Rules


@dataclass(frozen=True)
class Analysis:
    """Facts plus the parsed statements; the trees are shared through the cache and never mutated."""

    facts: Facts
    trees: tuple[exp.Expression, ...]


class Analyzer:
    def __init__(self, catalog: Catalog, rules: Rules) -> None:
        self.catalog = catalog
        self.rules = rules

    def analyze(self, sql: str, dialect: str) -> Analysis:
        raise NotImplementedError
