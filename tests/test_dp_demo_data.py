"""The demo warehouse generator: matches the catalog exactly, is seeded, and is heavy-tailed."""

from __future__ import annotations

import hashlib

from privgate.connectors.demo_data import generate


def test_tables_and_columns_match_the_catalog_exactly(demo_catalog, duck):
    for qname, _domain, table in demo_catalog.iter_tables():
        schema, name = qname.split(".")
        _, rows = duck.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND "
            "table_name = ? ORDER BY ordinal_position", [schema, name])
        assert [r[0] for r in rows] == [c.name for c in table.columns], qname
        count = duck.execute(f"SELECT COUNT(*) FROM {qname}")[1][0][0]
        assert count > 0, qname


def test_values_stay_in_declared_domains(demo_catalog, duck):
    for qname, _domain, table in demo_catalog.iter_tables():
        for col in table.columns:
            if col.public_keys is not None:
                _, rows = duck.execute(f"SELECT DISTINCT {col.name} FROM {qname}")
                assert {r[0] for r in rows} <= set(col.public_keys), f"{qname}.{col.name}"
    _, rows = duck.execute("SELECT COUNT(*), COUNT(DISTINCT customer_id) FROM sales.customers")
    assert rows[0][0] == rows[0][1]  # one_row_per_unit holds


def test_orders_are_heavy_tailed_and_keys_long_tailed(duck):
    _, rows = duck.execute("SELECT MEDIAN(n), MAX(n) FROM (SELECT customer_id, COUNT(*) AS n FROM sales.orders "
                           "GROUP BY customer_id) t")
    median, top = rows[0]
    assert top >= 40 * median
    _, rows = duck.execute("SELECT MIN(n), MAX(n) FROM (SELECT city, COUNT(*) AS n FROM sales.customers "
                           "GROUP BY city) t")
    assert rows[0][1] >= 50 * rows[0][0]


def test_same_seed_same_data_other_seed_other_data():
    def digest(seed: int) -> str:
        return hashlib.sha256(repr(generate(customers=300, seed=seed)).encode()).hexdigest()

    assert digest(3) == digest(3) != digest(4)


def test_pii_is_synthetic(duck):
    _, rows = duck.execute("SELECT ssn, phone, email FROM sales.customers LIMIT 50")
    assert all(r[0].startswith("9") and "-555-" in r[1] and r[2].endswith("@example.com") for r in rows)
    _, rows = duck.execute("SELECT card_number FROM sales.orders LIMIT 50")
    for (card,) in rows:
        digits = [int(d) for d in card]
        total = sum(d if i % 2 == 0 else (2 * d - 9 if 2 * d > 9 else 2 * d) for i, d in enumerate(reversed(digits)))
        assert card.startswith("4000") and total % 10 == 0
