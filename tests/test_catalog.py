from __future__ import annotations

from pathlib import Path

import pytest

from privgate.connectors.catalog_yaml import load_catalog
from privgate.engine.errors import CatalogError


def test_demo_catalog_loads(demo_catalog):
    names = [q for q, _, _ in demo_catalog.iter_tables()]
    assert "sales.customers" in names and "products.products" in names
    customers = next(t for q, _, t in demo_catalog.iter_tables() if q == "sales.customers")
    assert customers.column("EMAIL").entities() == ("EMAIL_ADDRESS",)
    assert customers.privacy_unit is not None and customers.privacy_unit.namespace == "customer"


def test_revision_changes_with_content(tmp_path: Path, demo_catalog):
    (tmp_path / "a.yaml").write_text("domain: a\nowner: o\ntables:\n  - name: t\n    columns: [{name: x}]\n")
    first = load_catalog(tmp_path).revision
    assert first == load_catalog(tmp_path).revision
    (tmp_path / "a.yaml").write_text("domain: a\nowner: o\ntables:\n  - name: t\n    columns: [{name: y}]\n")
    assert load_catalog(tmp_path).revision != first != demo_catalog.revision


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("domain: a\nowner: o\ntables:\n  - name: t\n    colums: []\n", "tables[0].colums: unknown key"),
        ("domain: a\nowner: o\ntables:\n  - name: t\n    columns: [{name: x}]\n"
         "    privacy_unit: {column: nope, namespace: c}\n", "privacy_unit column 'nope'"),
        ("domain: a\nowner: o\ntables:\n  - name: t\n    columns:\n      - {name: x, pii: [{entity: email}]}\n",
         "tables[0].columns[0].pii[0].entity"),
        ("domain: a\nowner: o\ntables:\n  - name: t\n    columns: [{name: x, bounds: {lower: 5, upper: 1}}]\n",
         "lower bound 5 is above upper bound 1"),
        ("domain: a\nowner: o\ntables: [\n", "line 4"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_invalid_files_name_file_path_and_reason(tmp_path: Path, body: str, expected: str):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert str(f) in str(err.value)
    assert expected in str(err.value)


def test_duplicate_table_across_files_is_rejected(tmp_path: Path):
    for name in ("one", "two"):
        (tmp_path / f"{name}.yaml").write_text(
            f"domain: {name}\nschema: shared\nowner: o\ntables:\n  - name: t\n    columns: [{{name: x}}]\n")
    with pytest.raises(CatalogError, match=r"tables declared twice: shared\.t"):
        load_catalog(tmp_path)


def test_missing_folder_has_its_own_code(tmp_path: Path):
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path / "nowhere")
    assert err.value.code == "catalog_not_found"


def test_rejected_tags_do_not_count(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(
        "domain: a\nowner: o\ntables:\n  - name: t\n    columns:\n"
        "      - {name: x, pii: [{entity: PERSON, status: rejected}, {entity: LOCATION, status: suggested}]}\n")
    col = load_catalog(tmp_path).domains[0].tables[0].columns[0]
    assert col.entities() == ("LOCATION",)
    assert col.entities(include_suggested=False) == ()


def test_write_then_load_round_trips(tmp_path: Path, demo_catalog):
    from privgate.connectors.catalog_yaml import write_catalog

    written = write_catalog(demo_catalog, tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{d.name}.yaml" for d in demo_catalog.domains)
    assert load_catalog(tmp_path) == demo_catalog
    assert not list(tmp_path.glob(".*.tmp"))
