"""SQL analysis with sqlglot: parse → qualify against the catalog → Facts.

``Analyzer(catalog, rules).analyze(sql, dialect)`` parses the request in its own dialect, qualifies
each statement against the catalog (see ``schema`` for identifier folding and the search path),
traces every catalog column to the ways it is used (``lineage``) and returns the merged ``Facts``
with the qualified trees. Modules, one job each:

    dialects   request dialect name -> sqlglot dialect (``analysis_unknown_dialect``)
    parse      text -> statements (``analysis_parse_error`` with line and column)
    kinds      statement kind, and the riskiest kind of several statements
    schema     the catalog as a sqlglot schema and name index, built once per dialect
    collect    facts read off the tree as written (functions, stars, unsupported constructs)
    qualify    the qualify steps the analyzer needs, nothing more
    lineage    column usages traced through CTEs, subqueries, set operations and ``*``
    shape      structural questions: aggregate query? group keys? join predicate? window?
    names      conventional lower-case SQL names of sqlglot function nodes
    assemble   per-statement pieces -> one ``Facts``

Several statements are analyzed one by one and their facts merged; ``statement_kind`` is then the
riskiest kind among them (``kinds.RISK_ORDER``), so a harmless first statement hides nothing.
Anything the analyzer cannot vouch for becomes an ``unsupported`` fact (never silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..catalog import Catalog
from ..facts import Facts
from ..rules import Rules
from .assemble import StatementFacts, analyze_statement, merge
from .dialects import resolve_dialect
from .parse import parse_statements
from .schema import CatalogSchemas

__all__ = ["Analysis", "Analyzer"]

#: Dialects whose schema views are built up front; others are built on first use.
PREBUILT_DIALECTS = ("postgres", "duckdb", "snowflake", "bigquery", "trino")


@dataclass(frozen=True)
class Analysis:
    """Facts plus the parsed statements; the trees are shared through the cache and never mutated."""

    facts: Facts
    trees: tuple[exp.Expression, ...]


class Analyzer:
    """Analyzes SQL against one catalog and rules pack; safe to share between threads."""

    def __init__(self, catalog: Catalog, rules: Rules) -> None:
        self.catalog = catalog
        self.rules = rules
        self._schemas = CatalogSchemas(catalog, tuple(resolve_dialect(d) for d in PREBUILT_DIALECTS))

    def analyze(self, sql: str, dialect: str, search_path: tuple[str, ...] | None = None) -> Analysis:
        """Facts about ``sql``; raises ``AnalysisError`` only for an unknown dialect or unparseable SQL.

        ``search_path``: the session's schemas for unqualified table names (see ``schema.DialectCatalog.resolve``).
        """
        sg_dialect = resolve_dialect(dialect)
        view = self._schemas.get(sg_dialect)
        statements = parse_statements(sql, sg_dialect)
        parts: list[StatementFacts] = [
            analyze_statement(stmt, sql, i, view, sg_dialect, self.rules.allowed_functions, search_path)
            for i, stmt in enumerate(statements)
        ]
        facts = merge(parts, dialect.strip().lower(), self.rules.allowed_functions)
        return Analysis(facts=facts, trees=tuple(p.tree for p in parts))
