"""The catalog as sqlglot sees it: one MappingSchema and one name index per dialect, built once.

Identifier folding follows the request dialect (sqlglot's ``normalize_identifier``): in PostgreSQL,
DuckDB and Trino unquoted names fold to lower case and quoted names keep their case, in Snowflake
unquoted names fold to upper case. Catalog names are written lower case and mean the *unquoted*
spelling, so ``customers``, ``CUSTOMERS`` and ``"customers"`` all resolve in PostgreSQL while
``"Customers"`` does not — exactly as the database would resolve them.

Search path: an unqualified table name resolves to the catalog schema that holds a table of that
name when exactly one does (all catalog schemas are on the search path). The analyzer then writes
the schema into the tree, so the SQL that runs reads exactly the table the policy judged, whatever
the session's real ``search_path`` is. A name held by two schemas stays unresolved (unknown table).
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
        mapping: dict[str, object] = {}
        for qname, domain, table in catalog.iter_tables():
            db, name = qname.split(".", 1)
            fdb, fname = self.fold(db), self.fold(name)
            cols = {self.fold(c.name.lower()): c.name.lower() for c in table.columns}
            self.tables[(fdb, fname)] = CatalogTable(qname, domain, table, cols)
            self.by_name.setdefault(fname, []).append(fdb)
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

    def search_path(self, name: str) -> str | None:
        """The one folded schema holding a table of this folded name, or None (absent or ambiguous)."""
        schemas = self.by_name.get(name)
        return schemas[0] if schemas and len(schemas) == 1 else None


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
