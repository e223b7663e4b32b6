"""Read and write catalog YAML files for the scan, keeping every human decision and comment.

The scan edits the catalog that people also edit by hand, so it round-trips the files with
ruamel.yaml (comments, key order and flow style survive) and changes only what it owns: tags with
``source: scan`` and ``status: suggested``, and each column's ``scan`` state. A tag a person
confirmed or rejected, and any manual tag, is never touched. Files are written atomically (temp
file, then ``os.replace``) and only when their text changed; the result is validated against the
catalog model before anything is written, so a scan cannot leave an invalid catalog behind.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from privgate.engine.catalog import Catalog
from privgate.engine.errors import CatalogError

from ..catalog_yaml import assemble, parse_domain
from ..files import replace_all
from .sources import ColumnInfo, TableRef


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.width = 4096  # never re-wrap lines people wrote
    y.preserve_quotes = True
    y.brace_single_entry_mapping_in_flow_sequence = True  # keep `[{entity: PERSON}]` as people wrote it
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


class CatalogDocs:
    """The catalog folder as editable YAML documents, one domain per file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._yaml = _yaml()
        self.docs: dict[Path, CommentedMap] = {}
        self._original: dict[Path, str] = {}
        if not directory.is_dir():
            raise CatalogError(f"catalog folder {directory} does not exist", code="catalog_not_found")
        for path in sorted(directory.glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            try:
                doc = self._yaml.load(text)
            except Exception as exc:  # ruamel raises many unrelated types for bad YAML
                raise CatalogError(f"{path}: not valid YAML: {exc}", code="catalog_invalid") from exc
            self.docs[path] = doc
            self._original[path] = text
        self.catalog()

    def catalog(self) -> Catalog:
        """Validate the documents as they are now."""
        problems: list[str] = []
        domains = []
        for path, doc in self.docs.items():
            try:
                domains.append(parse_domain(_plain(doc), path))
            except CatalogError as exc:
                problems.append(exc.message)
        return assemble(domains, problems, self.directory)

    def _schema(self, doc: CommentedMap) -> str:
        return str(doc.get("schema") or doc["domain"]).lower()

    def iter_tables(self) -> Iterator[tuple[str, CommentedMap]]:
        for doc in self.docs.values():
            for table in doc.get("tables") or ():
                yield f"{self._schema(doc)}.{str(table['name']).lower()}", table

    def find_table(self, ref: TableRef) -> CommentedMap | None:
        """Match ``schema.table``; a file (no schema) or DuckDB's ``main`` matches a unique table name."""
        tables = list(self.iter_tables())
        if ref.schema:
            for qualified, table in tables:
                if qualified == ref.qualified.lower():
                    return table
        if ref.schema in (None, "main", "public"):
            named = [t for q, t in tables if q.split(".", 1)[1] == ref.name.lower()]
            if len(named) == 1:
                return named[0]
        return None

    def ensure_table(self, ref: TableRef, columns: list[ColumnInfo], default_domain: str) -> CommentedMap:
        """The table's entry, created (in its schema's domain file, or a new one) when missing."""
        table = self.find_table(ref)
        if table is None:
            domain = (ref.schema or default_domain).lower()
            doc = next((d for d in self.docs.values() if self._schema(d) == domain), None)
            if doc is None:
                path = self.directory / f"{domain}.yaml"
                doc = CommentedMap(domain=domain, owner="unassigned", tables=CommentedSeq())
                doc.yaml_set_start_comment(
                    f"Created by `privgate scan`: assign an owner for domain {domain}."
                )
                self.docs[path] = doc
                self._original[path] = ""
            if doc.get("tables") is None:
                doc["tables"] = CommentedSeq()
            table = CommentedMap(name=ref.name, columns=CommentedSeq())
            doc["tables"].append(table)
        if table.get("columns") is None:
            table["columns"] = CommentedSeq()
        for info in columns:
            self.column(table, info)
        return table

    def column(self, table: CommentedMap, info: ColumnInfo) -> CommentedMap:
        for col in table["columns"]:
            if str(col["name"]).lower() == info.name.lower():
                return col  # type: ignore[no-any-return]
        col = CommentedMap(name=info.name, type=info.type.lower())
        col.fa.set_flow_style()
        table["columns"].append(col)
        return col

    def dump(self, path: Path) -> str:
        buf = io.StringIO()
        self._yaml.dump(self.docs[path], buf)
        return buf.getvalue()

    def save(self) -> list[Path]:
        """Validate, then atomically write the files whose text changed; returns them."""
        self.catalog()
        changed = {path: text for path in self.docs if (text := self.dump(path)) != self._original.get(path)}
        written = replace_all(changed)  # all staged before any is replaced
        self._original.update(changed)
        return written


def block(node: CommentedMap) -> CommentedMap:
    """Switch a flow-style mapping (``{name: x, type: y}``) to block style before it grows."""
    node.fa.set_block_style()
    return node
