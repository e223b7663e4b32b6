"""Fail closed: anything the rewriter cannot apply exactly raises RewriteError with a stable code."""

from __future__ import annotations

import pytest
from rewrite_support import MASK_KEY, analysis, catalog, parse_obligations

from privgate.engine.analysis import Analysis
from privgate.engine.catalog import Catalog
from privgate.engine.decision import Obligation
from privgate.engine.errors import RewriteError
from privgate.engine.rewrite import Rewriter, Rewritten

HASH = "mask sales.customers.email hash"


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    return Rewriter(catalog(), mask_key=MASK_KEY)


def _code(rewriter: Rewriter, sql: str, obligations: str | tuple[Obligation, ...],
          dialect: str = "postgres") -> str:
    obs = parse_obligations(obligations) if isinstance(obligations, str) else obligations
    with pytest.raises(RewriteError) as info:
        rewriter.apply(analysis(sql, dialect), obs, dialect)
    assert info.value.message  # actionable text, not just a code
    return info.value.code


@pytest.mark.parametrize(("params", "code"), [
    ({"kind": "encrypt", "params": {}}, "rewrite_unknown_obligation"),
    ({"kind": "mask", "params": {"table": "sales.customers", "column": "email"}},
     "rewrite_invalid_obligation"),
    ({"kind": "mask", "params": {"table": "sales.customers", "column": "email", "method": "rot13"}},
     "rewrite_invalid_obligation"),
    ({"kind": "mask", "params": {"table": "sales.nope", "column": "email", "method": "hash"}},
     "rewrite_unknown_table"),
    ({"kind": "mask", "params": {"table": "sales.customers", "column": "nope", "method": "hash"}},
     "rewrite_unknown_column"),
    ({"kind": "row_filter", "params": {"table": "sales.customers", "column": "nope", "purpose": "x"}},
     "rewrite_unknown_column"),
    ({"kind": "row_filter", "params": {"table": "sales.customers", "column": 3}},
     "rewrite_invalid_obligation"),
    ({"kind": "row_limit", "params": {"limit": -1}}, "rewrite_invalid_obligation"),
    ({"kind": "row_limit", "params": {"limit": 2.5}}, "rewrite_invalid_obligation"),
    ({"kind": "row_limit", "params": {"limit": True}}, "rewrite_invalid_obligation"),
    ({"kind": "row_limit", "params": {"limit": "10"}}, "rewrite_invalid_obligation"),
])
def test_invalid_obligations(rewriter: Rewriter, params: dict[str, object], code: str) -> None:
    ob = Obligation.model_validate(params)
    assert _code(rewriter, "SELECT email FROM sales.customers", (ob,)) == code


def test_integral_float_limit_is_accepted(rewriter: Rewriter) -> None:
    ob = Obligation(kind="row_limit", params={"limit": 10.0})  # JSON numbers may arrive as floats
    assert rewriter.apply(analysis("SELECT 1"), (ob,), "postgres").sql == "SELECT 1 LIMIT 10"


@pytest.mark.parametrize(("sql", "code"), [
    ("INSERT INTO sales.orders SELECT * FROM sales.orders", "rewrite_unsupported_statement"),
    ("DELETE FROM sales.customers", "rewrite_unsupported_statement"),
    ("CREATE TABLE x AS SELECT email FROM sales.customers", "rewrite_unsupported_statement"),
    ("SELECT email INTO leaked FROM sales.customers", "rewrite_unsupported_statement"),
    ("WITH d AS (DELETE FROM sales.customers RETURNING email) SELECT email FROM d",
     "rewrite_unsupported_statement"),
    ("SELECT c.a FROM sales.customers AS c(a, b)", "rewrite_unsupported_construct"),
    ("SELECT %(privgate_hash_ipad)s FROM sales.customers", "rewrite_reserved_name"),
])
def test_unsupported_statements(rewriter: Rewriter, sql: str, code: str) -> None:
    assert _code(rewriter, sql, HASH) == code


def test_multiple_statements(rewriter: Rewriter) -> None:
    a = analysis("SELECT email FROM sales.customers")
    two = Analysis(facts=a.facts, trees=(a.trees[0], a.trees[0]))
    with pytest.raises(RewriteError) as info:
        rewriter.apply(two, parse_obligations(HASH), "postgres")
    assert info.value.code == "rewrite_multiple_statements"


@pytest.mark.parametrize("sql", [
    "SELECT * FROM IDENTIFIER('sales.customers')",
    "SELECT * FROM TABLE('sales.customers')",
    "SELECT * FROM TABLE($$sales.customers$$)",
    "SELECT o.* FROM sales.orders AS o JOIN IDENTIFIER('customers') AS c ON TRUE",
])
def test_dynamic_table_name_naming_a_governed_table(rewriter: Rewriter, sql: str) -> None:
    assert _code(rewriter, sql, HASH, "snowflake") == "rewrite_dynamic_table_reference"


def test_dynamic_names_of_other_tables_and_plain_literals_pass(rewriter: Rewriter) -> None:
    sql = "SELECT * FROM IDENTIFIER('products.products') WHERE name = 'customers'"
    assert "IDENTIFIER('products.products')" in rewriter.apply(analysis(sql, "snowflake"),
                                                               parse_obligations(HASH), "snowflake").sql


def test_bigquery_wildcard_table(rewriter: Rewriter) -> None:
    assert _code(rewriter, "SELECT email FROM `sales.cust*`", HASH, "bigquery") == "rewrite_wildcard_table"
    ok = rewriter.apply(analysis("SELECT name FROM `products.prod*`", "bigquery"), parse_obligations(HASH),
                        "bigquery")
    assert "prod*" in ok.sql


def test_ambiguous_schema_less_name() -> None:
    base = catalog()
    crm = {"name": "crm", "owner": "crm@example.com", "tables": [
        {"name": "customers", "columns": [{"name": "customer_id", "type": "bigint"}]}]}
    cat = Catalog.model_validate({"domains": [*(d.model_dump(by_alias=True) for d in base.domains), crm]})
    rewriter = Rewriter(cat, mask_key=MASK_KEY)
    assert _code(rewriter, "SELECT email FROM customers", HASH) == "rewrite_ambiguous_table"
    masked = rewriter.apply(analysis("SELECT email FROM sales.customers"), parse_obligations(HASH),
                            "postgres")
    assert "privgate_hash_ipad" in masked.sql  # qualified names stay unambiguous
    bare = Obligation(kind="mask", params={"table": "customers", "column": "email", "method": "hash"})
    assert _code(rewriter, "SELECT email FROM sales.customers", (bare,)) == "rewrite_ambiguous_table"


@pytest.mark.parametrize("key", [b"", b"short"])
def test_keyed_masking_needs_a_real_key(key: bytes) -> None:
    rewriter = Rewriter(catalog(), mask_key=key)
    for method in ("hash", "tokenize"):
        assert _code(rewriter, "SELECT email FROM sales.customers",
                     f"mask sales.customers.email {method}") == "rewrite_mask_key_missing"
    # redact, filters and limits need no key
    out = rewriter.apply(analysis("SELECT email FROM sales.customers"),
                         parse_obligations("mask sales.customers.email redact; limit 3"), "postgres")
    assert "'[REDACTED]' AS email" in out.sql and out.params == {}


def test_keyed_masking_in_a_dialect_without_template(rewriter: Rewriter) -> None:
    assert _code(rewriter, "SELECT email FROM sales.customers", HASH, "tsql") == "rewrite_unsupported_dialect"


def test_unknown_redact_type() -> None:
    cat = Catalog.model_validate({"domains": [{"name": "s", "owner": "o", "tables": [
        {"name": "t", "columns": [{"name": "c", "type": "not a type !!"}]}]}]})
    with pytest.raises(RewriteError) as info:
        Rewriter(cat, mask_key=MASK_KEY).apply(analysis("SELECT c FROM s.t"),
                                               parse_obligations("mask s.t.c redact"), "postgres")
    assert info.value.code == "rewrite_unknown_type"


def test_generation_errors_are_translated(rewriter: Rewriter) -> None:
    # Parsed as Snowflake, generated for PostgreSQL, which has no PIVOT: raise, never drop the clause.
    sql = "SELECT * FROM sales.orders PIVOT(SUM(amount) FOR customer_id IN (1, 2))"
    with pytest.raises(RewriteError) as info:
        rewriter.apply(analysis(sql, "snowflake"), parse_obligations("limit 5"), "postgres")
    assert info.value.code == "rewrite_generation_failed"


def test_dp_obligation_passes_through(rewriter: Rewriter) -> None:
    out = rewriter.apply(analysis("SELECT COUNT(*) FROM sales.orders"), parse_obligations("dp"), "postgres")
    assert out == Rewritten(sql="SELECT COUNT(*) FROM sales.orders", params={})


def test_params_are_kept_out_of_repr(rewriter: Rewriter) -> None:
    out = rewriter.apply(analysis("SELECT email FROM sales.customers"), parse_obligations(HASH), "postgres")
    assert set(out.params) == {"privgate_hash_ipad", "privgate_hash_opad"}
    assert all(v not in repr(out) for v in out.params.values())
