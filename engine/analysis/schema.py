"""The catalog as sqlglot sees it: one MappingSchema and one name index per dialect, built once.

Identifier folding follows the request dialect (sqlglot's ``normalize_identifier``): in PostgreSQL,
DuckDB and Trino unquoted names fold to lower case and quoted names keep their case, in Snowflake
unquoted names fold to upper case. Catalog names are written lower case and mean the *unquoted*
spelling, so ``customers``, ``CUSTOMERS`` and ``"customers"`` all resolve in PostgreSQL while
``"Customers"`` does not — exactly as the database would resolve them.

Search path: without a session search path, an unqualified table name resolves to the catalog schema
that holds a table of that name when exactly one does (all catalog schemas are on the search path).
With one (a proxy session's ``SET search_path``), it resolves as PostgreSQL would, walking the path in
order — but only through schemas the catalog describes: a schema the catalog does not know may hold a
table of that name upstream, so the walk stops there and the name stays unresolved (unknown table, denied).
Either way the analyzer writes the schema into the tree, so the SQL that runs reads exactly the table
the policy judged. A name held by two schemas (no path) stays unresolved too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.schema import MappingSchema

from ..catalog import Catalog, Domain, Table


@dataclass(frozen=True)
class CatalogTable:
    """A catalog table with its column names folded the way one dialect folds identifiers."""

    qname: str
    domain: Domain
    table: Table
    columns: dict[str, str] = field(hash=False, compare=False)  # folded name -> catalog name (lower)


class DialectCatalog:
    """Name lookups and the sqlglot schema for one dialect."""

    def __init__(self, catalog: Catalog, dialect: Dialect) -> None:
        self.dialect = dialect
        self.tables: dict[tuple[str, str], CatalogTable] = {}
        self.by_name: dict[str, list[str]] = {}  # folded table name -> folded schemas holding it
        self.schemas: set[str] = set()  # folded schema names
        mapping: dict[str, object] = {}
        for qname, domain, table in catalog.iter_tables():
            db, name = qname.split(".", 1)
            fdb, fname = self.fold(db), self.fold(name)
            cols = {self.fold(c.name.lower()): c.name.lower() for c in table.columns}
            self.tables[(fdb, fname)] = CatalogTable(qname, domain, table, cols)
            self.by_name.setdefault(fname, []).append(fdb)
            self.schemas.add(fdb)
            tables = mapping.setdefault(db, {})
            assert isinstance(tables, dict)
            tables[name] = {c.name.lower(): _type_or_unknown(c.type, dialect) for c in table.columns}
        self.schema = MappingSchema(mapping, dialect=dialect, normalize=True)

    def fold(self, name: str) -> str:
        """How this dialect folds an unquoted identifier."""
        return self.dialect.normalize_identifier(exp.to_identifier(name)).name

    def lookup(self, table: exp.Table) -> CatalogTable | None:
        """The catalog table a (normalized, schema-qualified) table reference names, if any."""
        return self.tables.get((table.db, table.name))

    def resolve(self, name: str, search_path: tuple[str, ...] | None = None) -> str | None:
        """The schema an unqualified (folded) table name resolves to, or None (left unresolved: unknown).

        ``search_path`` holds exact schema names, as the database compares them. ``pg_catalog`` is skipped:
        it holds no catalog tables and the proxy refuses paths that would search it after another schema.
        """
        if search_path is None:
            schemas = self.by_name.get(name)
            return schemas[0] if schemas and len(schemas) == 1 else None
        for schema in search_path:
            if (schema, name) in self.tables:
                return schema
            if schema != "pg_catalog" and schema not in self.schemas:
                return None  # the catalog cannot vouch that this schema has no such table upstream
        return None


def _type_or_unknown(type_sql: str, dialect: Dialect) -> str:
    """Catalog types are free text; a type this dialect cannot parse must not break qualification."""
    try:
        exp.DataType.build(type_sql, dialect=dialect)
    except Exception:  # sqlglot raises several error types for bad type strings
        return "unknown"
    return type_sql


class CatalogSchemas:
    """Per-dialect views of one catalog, built on first use and then shared (read-only)."""

    def __init__(self, catalog: Catalog, prebuild: tuple[Dialect, ...] = ()) -> None:
        self._catalog = catalog
        self._views: dict[type[Dialect], DialectCatalog] = {}
        for dialect in prebuild:
            self.get(dialect)

    def get(self, dialect: Dialect) -> DialectCatalog:
        view = self._views.get(type(dialect))
        if view is None:  # a race builds it twice; both copies are equal and read-only
            view = DialectCatalog(self._catalog, dialect)
            self._views[type(dialect)] = view
        return view
