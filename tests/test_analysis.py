"""Focused tests for the SQL analyzer: errors, qualification, folding, and tricky lineage."""

from __future__ import annotations

import pytest
import sqlglot
from analysis_support import default_rules, demo_analyzer, demo_catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from privgate.engine.analysis import Analysis, Analyzer
from privgate.engine.catalog import Catalog, Column, Domain, Table
from privgate.engine.errors import AnalysisError, ParseError
from privgate.engine.facts import Facts


def facts(sql: str, dialect: str = "postgres") -> Facts:
    return demo_analyzer().analyze(sql, dialect).facts


def used(f: Facts, usage: str) -> set[str]:
    return {f"{c.table}.{c.column}" for c in f.columns if usage in c.usages}


# ---- errors ------------------------------------------------------------------------------------

def test_unknown_dialect_has_a_stable_code_and_lists_the_known_ones() -> None:
    with pytest.raises(AnalysisError) as info:
        demo_analyzer().analyze("SELECT 1", "postgresql9")
    assert info.value.code == "analysis_unknown_dialect"
    assert "postgres" in info.value.message and "snowflake" in info.value.message


def test_parse_error_names_line_and_column() -> None:
    with pytest.raises(ParseError) as info:
        demo_analyzer().analyze("SELECT 1,\n  (2 FROM products.products", "postgres")
    assert info.value.code == "analysis_parse_error"
    assert "line 2" in info.value.message and "column" in info.value.message


def test_dialect_name_is_case_insensitive() -> None:
    assert facts("SELECT name FROM products.products", "DuckDB").dialect == "duckdb"


# ---- statements --------------------------------------------------------------------------------

@pytest.mark.parametrize(("sql", "kind"), [
    ("", "empty"),
    ("  ;  ", "empty"),
    ("SELECT 1; INSERT INTO sales.orders (order_id) VALUES (1)", "insert"),
    ("SELECT 1; -- hidden\nDROP TABLE sales.orders", "ddl"),
    ("BEGIN; SELECT 1; COMMIT", "transaction"),
    ("SELECT 1; DO $$ BEGIN END $$", "command"),
    ("LISTEN channel", "unknown"),
])
def test_statement_kind_of_several_statements_is_the_riskiest(sql: str, kind: str) -> None:
    assert facts(sql).statement_kind == kind


def test_trees_are_one_per_statement_and_qualified() -> None:
    analysis = demo_analyzer().analyze("SELECT email FROM customers; SELECT 1", "postgres")
    assert isinstance(analysis, Analysis)
    assert len(analysis.trees) == analysis.facts.statement_count == 2
    assert analysis.trees[0].sql("postgres") == (
        "SELECT customers.email AS email FROM sales.customers AS customers")


@pytest.mark.parametrize("dialect", ["postgres", "duckdb", "snowflake", "bigquery", "trino"])
def test_qualified_trees_generate_sql_that_parses_to_the_same_facts(dialect: str) -> None:
    sql = ("WITH t AS (SELECT customer_id, amount FROM sales.orders WHERE status = 'shipped') "
           "SELECT count(*), sum(amount) FROM t GROUP BY customer_id ORDER BY 2 DESC LIMIT 5")
    first = demo_analyzer().analyze(sql, dialect)
    regenerated = first.trees[0].sql(dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)
    again = demo_analyzer().analyze(regenerated, dialect).facts
    assert again.columns == first.facts.columns
    assert again.group_by == first.facts.group_by == ("sales.orders.customer_id",)


def test_unnamed_outputs_keep_their_client_visible_names() -> None:
    tree = demo_analyzer().analyze(
        "SELECT status, count(*), (SELECT 1) FROM sales.orders GROUP BY status ORDER BY 2 DESC",
        "postgres").trees[0]
    sql = tree.sql("postgres")
    assert "_col_" not in sql
    assert sql.endswith("ORDER BY 2 DESC")


def test_analysis_is_deterministic_and_does_not_share_mutable_state() -> None:
    sql = "SELECT c.country, count(*) FROM customers c JOIN orders o USING (customer_id) GROUP BY 1"
    one, two = demo_analyzer().analyze(sql, "postgres"), demo_analyzer().analyze(sql, "postgres")
    assert one.facts == two.facts
    assert one.trees[0] is not two.trees[0]


# ---- names, folding and the search path ----------------------------------------------------------

def test_search_path_resolves_unqualified_names_and_writes_the_schema_into_the_tree() -> None:
    analysis = demo_analyzer().analyze("SELECT name FROM products", "postgres")
    assert [t.name for t in analysis.facts.tables] == ["products.products"]
    assert "FROM products.products" in analysis.trees[0].sql("postgres")


def test_a_session_search_path_resolves_names_in_its_order_through_catalog_schemas_only() -> None:
    def domain(name: str, *tables: str) -> Domain:
        return Domain(name=name, owner="o", tables=tuple(Table(name=t, columns=(Column(name="id"),)) for t in tables))

    analyzer = Analyzer(Catalog(domains=(domain("a", "events"), domain("b", "events", "users"))), default_rules())

    def resolved(sql: str, path: tuple[str, ...] | None) -> tuple[str, ...]:
        f = analyzer.analyze(sql, "postgres", path).facts
        return tuple(t.name for t in f.tables if t.known) + tuple(f"?{t}" for t in f.unknown_tables)

    assert resolved("SELECT id FROM events", ("b", "a")) == ("b.events",)  # first in the path wins
    assert resolved("SELECT id FROM events", ("a",)) == ("a.events",)
    assert resolved("SELECT id FROM users", ("a", "b")) == ("b.users",)
    assert resolved("SELECT id FROM users", ("a",)) == ("?users",)  # not on the path: PostgreSQL would not find it
    # A schema the catalog does not describe could hold `users` upstream: nothing behind it is resolved.
    assert resolved("SELECT id FROM users", ("shadow", "b")) == ("?users",)
    assert resolved("SELECT id FROM users", ("pg_catalog", "b")) == ("b.users",)
    assert resolved("SELECT id FROM users", ("B",)) == ("?users",)  # path names are exact: "B" is not b
    assert resolved("SELECT id FROM a.events", ("shadow",)) == ("a.events",)  # qualified names are untouched
    tree = analyzer.analyze("SELECT id FROM events", "postgres", ("b",)).trees[0]
    assert "FROM b.events" in tree.sql("postgres")


def test_a_table_name_held_by_two_schemas_stays_unknown() -> None:
    def domain(name: str) -> Domain:
        return Domain(name=name, owner="o", tables=(Table(name="events", columns=(Column(name="id"),)),))

    analyzer = Analyzer(Catalog(domains=(domain("a"), domain("b"))), default_rules())
    f = analyzer.analyze("SELECT id FROM events", "postgres").facts
    assert f.unknown_tables == ("events",)
    assert analyzer.analyze("SELECT id FROM b.events", "postgres").facts.unknown_tables == ()


@pytest.mark.parametrize(("sql", "dialect", "unknown"), [
    ('SELECT "Email" FROM sales.customers', "postgres", ("Email",)),
    ('SELECT "email" FROM sales.customers', "postgres", ()),
    ("SELECT EMAIL FROM SALES.CUSTOMERS", "postgres", ()),
    ('SELECT "email" FROM sales.customers', "snowflake", ("email",)),
    ('SELECT "EMAIL" FROM sales.customers', "snowflake", ()),
    ("SELECT \u0435mail FROM sales.customers", "postgres", ("\u0435mail",)),
])
def test_identifier_folding_follows_the_dialect(sql: str, dialect: str, unknown: tuple[str, ...]) -> None:
    f = facts(sql, dialect)
    assert f.unknown_columns == unknown
    assert used(f, "projected") == (set() if unknown else {"sales.customers.email"})


# ---- lineage -----------------------------------------------------------------------------------

def test_column_renamed_through_ctes_and_a_union_is_traced_to_its_source() -> None:
    f = facts("""
        WITH a AS (SELECT ssn AS x FROM sales.customers),
             b AS (SELECT x AS y FROM a UNION ALL SELECT name FROM products.products)
        SELECT upper(y) AS shout FROM b""")
    assert used(f, "projected") == {"sales.customers.ssn", "products.products.name"}
    ssn = next(c for c in f.columns if c.column == "ssn")
    assert ssn.transforms == ("upper",)


def test_aggregate_of_an_inner_aggregate_records_both_functions() -> None:
    f = facts("SELECT max(t) FROM (SELECT sum(amount) AS t FROM sales.orders GROUP BY status) s")
    amount = next(c for c in f.columns if c.column == "amount")
    assert amount.usages == ("aggregated",)
    assert amount.aggregates == ("max", "sum")


def test_values_only_used_inside_a_subquery_never_count_as_projected() -> None:
    f = facts("SELECT count(*) FROM (SELECT email, ssn FROM sales.customers WHERE phone IS NULL) t")
    assert used(f, "projected") == set()
    assert used(f, "filtered") == {"sales.customers.phone"}
    assert f.is_aggregate_query


def test_case_condition_feeds_grouping_further_out() -> None:
    f = facts("""
        SELECT bucket, count(*) FROM (
          SELECT CASE WHEN ssn LIKE '9%' THEN 'x' ELSE 'y' END AS bucket FROM sales.customers
        ) t GROUP BY bucket""")
    assert used(f, "projected") == set()
    assert used(f, "filtered") == used(f, "grouped") == {"sales.customers.ssn"}
    assert f.group_by == ("sales.customers.ssn",)


def test_window_function_kinds() -> None:
    f = facts("""
        SELECT lead(phone) OVER (PARTITION BY country ORDER BY signup_date) AS next_phone,
               count(email) OVER () AS n
        FROM sales.customers""")
    by_name = {c.column: c for c in f.columns}
    assert by_name["phone"].usages == ("projected",) and by_name["phone"].transforms == ("lead",)
    assert by_name["email"].usages == ("aggregated",) and by_name["email"].aggregates == ("count",)
    assert used(f, "windowed") == {"sales.customers.country", "sales.customers.signup_date"}
    assert f.window_functions == ("count", "lead")
    assert f.aggregates == ()  # window aggregates are not grouping aggregates
    assert not f.is_aggregate_query


def test_join_facts_name_tables_behind_derived_tables() -> None:
    f = facts("""
        SELECT t.country, count(*) FROM (SELECT customer_id, country FROM sales.customers) t
        LEFT JOIN sales.orders o ON o.customer_id = t.customer_id AND o.amount > 10
        GROUP BY t.country""")
    (join,) = f.joins
    assert (join.kind, join.left_tables) == ("left", ("sales.customers",))
    assert join.right_tables == ("sales.orders",)
    assert join.on_columns == ("sales.customers.customer_id", "sales.orders.customer_id")
    assert used(f, "filtered") == {"sales.orders.amount"}


def test_wrapper_query_over_an_aggregate_is_an_aggregate_query() -> None:
    f = facts('SELECT * FROM (SELECT status, count(*) AS n FROM sales.orders GROUP BY status) AS "vt" '
              "LIMIT 100")
    assert f.is_aggregate_query and f.group_by == ("sales.orders.status",) and f.limit == 100


def test_non_aggregate_output_next_to_an_aggregate_is_not_an_aggregate_query() -> None:
    assert not facts("SELECT order_id, sum(amount) OVER () FROM sales.orders").is_aggregate_query
    scalar = facts("SELECT order_id, (SELECT count(*) FROM sales.orders) FROM sales.orders")
    assert not scalar.is_aggregate_query


def test_functions_use_conventional_names() -> None:
    f = facts("""SELECT strpos(name, 'a'), position('b' IN name), approx_count_distinct(product_id),
                        bool_and(price > 1), lower(name) FROM products.products GROUP BY name""", "duckdb")
    assert {"strpos", "approx_distinct", "bool_and", "lower"} <= set(f.functions)
    assert f.disallowed_functions == ()


def test_every_sqlglot_function_name_from_the_allow_list_is_lower_case() -> None:
    assert all(name == name.lower() for name in default_rules().allowed_functions)


# ---- property: lineage through arbitrary wrapping -------------------------------------------------

CUSTOMER_COLUMNS = next(t.columns for q, _, t in demo_catalog().iter_tables() if q == "sales.customers")
CUSTOMER_COLUMN_NAMES = [c.name for c in CUSTOMER_COLUMNS]


@st.composite
def wrapped_query(draw: st.DrawFn) -> tuple[str, set[str]]:
    """A selection of customer columns wrapped in CTEs, derived tables and stars, in any order."""
    chosen = draw(st.lists(st.sampled_from(CUSTOMER_COLUMN_NAMES), min_size=1, max_size=4, unique=True))
    sql = f"SELECT {', '.join(chosen)} FROM sales.customers WHERE country = 'US'"
    for level in range(draw(st.integers(min_value=0, max_value=4))):
        style = draw(st.sampled_from(["cte", "derived", "star", "union"]))
        if style == "cte":
            sql = f"WITH w{level} AS ({sql}) SELECT * FROM w{level}"
        elif style == "derived":
            sql = f"SELECT d{level}.* FROM ({sql}) AS d{level}"
        elif style == "star":
            sql = f"SELECT * FROM ({sql}) s{level} WHERE 1 = 1"
        else:
            sql = f"SELECT * FROM ({sql}) u{level} UNION ALL SELECT * FROM ({sql}) v{level}"
    return sql, {f"sales.customers.{c}" for c in chosen}


@settings(max_examples=60, deadline=None)
@given(wrapped_query())
def test_projected_columns_survive_any_wrapping(case: tuple[str, set[str]]) -> None:
    sql, expected = case
    f = facts(sql)
    assert used(f, "projected") == expected
    assert used(f, "filtered") == {"sales.customers.country"}
    assert f.unknown_columns == () and f.unsupported == ()


def test_recursive_cte_is_traced_through_its_base_case_and_still_flagged() -> None:
    f = facts("""
        WITH RECURSIVE r AS (
          SELECT customer_id, email FROM sales.customers
          UNION ALL SELECT r.customer_id + 1, r.email FROM r WHERE r.customer_id < 3)
        SELECT email FROM r""")
    assert used(f, "projected") == {"sales.customers.email"}
    assert f.unknown_columns == ()
    assert [u.construct for u in f.unsupported] == ["recursive_cte"]


def test_order_by_position_on_a_parenthesized_query() -> None:
    f = facts("(SELECT customer_id, ssn FROM sales.customers) ORDER BY 2 LIMIT 1")
    assert used(f, "ordered") == {"sales.customers.ssn"}
    assert f.limit == 1


SQL_TOKENS = ["SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT 1", "JOIN", "ON", "LATERAL", "(", ")",
              ",", "*", "email", "c.ssn", "sales.customers c", "orders o", "o.customer_id = c.customer_id",
              "count(*)", "max(", "OVER (PARTITION BY country)", "WITH t AS", "UNION ALL", "CASE WHEN",
              "THEN", "END", ";", "--c\n", "/*x*/", "$$a$$", "::text", "IN", "EXISTS", "DO", "pg_sleep(1)",
              "x ->"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(SQL_TOKENS), min_size=1, max_size=16),
       st.sampled_from(["postgres", "duckdb", "snowflake", "bigquery", "trino"]))
def test_any_token_soup_yields_facts_or_an_analysis_error(tokens: list[str], dialect: str) -> None:
    try:
        result = demo_analyzer().analyze(" ".join(tokens), dialect)
    except AnalysisError as exc:
        assert exc.code == "analysis_parse_error"
    else:
        assert len(result.trees) == result.facts.statement_count
