"""PII scan: classifier behaviour, sources (DuckDB, CSV, Parquet), catalog write-back and review."""

from __future__ import annotations

import json
import logging
import random
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from scan_data import EXPECTED, customers, write_duckdb

import privgate.connectors.scan as scan_pkg
from privgate.connectors.scan import review, scan
from privgate.connectors.scan.analyzer import SEPARATOR
from privgate.connectors.scan.catalog_io import CatalogDocs
from privgate.connectors.scan.hints import HintMatcher, split_words
from privgate.connectors.scan.rules import default_rules
from privgate.connectors.scan.scanner import ColumnClassifier, shared_analyzer
from privgate.engine.errors import CatalogError, ConfigError

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "demo" / "catalog"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def classifier() -> ColumnClassifier:
    rules = default_rules()
    return ColumnClassifier(rules, shared_analyzer(rules))


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA sales")
    write_duckdb(con, "sales.customers", customers())
    con.close()
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, target)
    return target


def entities(report: scan_pkg.ScanReport, level: str = "pii") -> dict[str, set[str]]:
    return {c.column: {f.entity for f in c.findings if f.level == level} for c in report.columns}


def test_public_api_is_pinned() -> None:
    assert sorted(scan_pkg.__all__) == [
        "ColumnResult",
        "DiffEntry",
        "Finding",
        "PiiRules",
        "ProgressCallback",
        "ReviewReport",
        "RichProgress",
        "ScanIssue",
        "ScanReport",
        "ScanStats",
        "Suggestion",
        "default_rules",
        "load_pii_rules",
        "review",
        "scan",
    ]


@pytest.mark.parametrize(
    ("name", "positive", "negative"),
    [
        ("status", {}, ("status",)),  # no `us` substring hint
        ("customerEmailAddress", {"EMAIL_ADDRESS": "email address"}, ()),
        ("order_id", {}, ("order id", "id", "order")),
        ("product_name", {}, ()),  # negative phrase cancels PERSON
        ("zip_code", {"LOCATION": "zip code"}, ()),  # `code` is part of the positive phrase
        ("address_id", {}, ("id",)),
        ("trust_score", {}, ("score",)),
        ("col_17", {}, ()),
    ],
)
def test_name_hints_match_whole_words(name: str, positive: dict[str, str], negative: tuple[str, ...]) -> None:
    rules = default_rules()
    hints = HintMatcher(rules.hints, rules.recognizers.recognizers).match(name)
    assert hints.positive == positive
    assert hints.negative == negative


def test_split_words_handles_camel_snake_and_digits() -> None:
    assert split_words("billingAddressLine2") == ("billing", "address", "line", "2")
    assert split_words("IPAddress") == ("ip", "address")


def test_separator_never_merges_values_across_rows(classifier: ColumnClassifier) -> None:
    analyzer = classifier.analyzer
    assert {h.entity for h in analyzer.analyze(["415 555-0132"])} == {"PHONE_NUMBER"}  # control
    assert analyzer.analyze(["415", "555-0132"]) == []
    assert "EMAIL_ADDRESS" not in {h.entity for h in analyzer.analyze(["john.smith", "@example.com"])}
    assert "\n" in SEPARATOR


def test_amounts_and_reference_numbers_are_not_phones(classifier: ColumnClassifier) -> None:
    amounts = [f"{84743525.41 + i * 1013.17:.2f}" for i in range(100)]  # 847-435-2541 at Presidio's leniency
    rng = random.Random(3)
    refs = [str(rng.randint(10**9, 10**10 - 1)) for _ in range(100)]  # about 40% are valid US numbers
    for values in (amounts, refs):
        findings, _ = classifier.classify("col_3", values, kind="text", row_count=1000, today=NOW.date())
        assert [f for f in findings if f.level == "pii"] == []


def test_free_text_finds_names_and_emails(classifier: ColumnClassifier) -> None:
    texts = []
    for i in range(60):
        if i % 3 == 0:
            texts.append(
                f"Customer Mary Johnson called about order {i}, please write to mjohnson{i}@example.org soon"
            )
        else:
            texts.append(f"The parcel number {i} arrived late and the box was damaged during the delivery")
    findings, _ = classifier.classify("body", texts, kind="text", row_count=60, today=NOW.date())
    assert {f.entity for f in findings if f.level == "pii"} == {"PERSON", "EMAIL_ADDRESS"}
    assert all(f.evidence["free_text"] for f in findings)


def test_birth_dates_without_a_name_hint(classifier: ColumnClassifier) -> None:
    births = [date(1950 + i % 50, 1 + i % 12, 1 + i % 28).isoformat() for i in range(80)]
    recent = [date(2025, 1 + i % 12, 1 + i % 28).isoformat() for i in range(80)]
    found, _ = classifier.classify("c1", births, kind="date", row_count=80, today=NOW.date())
    assert [(f.entity, f.level) for f in found] == [("DATE_OF_BIRTH", "pii")]
    assert classifier.classify("c2", recent, kind="date", row_count=80, today=NOW.date())[0] == []


def test_early_stop_when_the_decision_is_stable(classifier: ColumnClassifier) -> None:
    emails = [f"user{i}@example.com" for i in range(200)]
    findings, analysed = classifier.classify("email", emails, kind="text", row_count=200, today=NOW.date())
    assert findings[0].entity == "EMAIL_ADDRESS"
    assert analysed < 200


def test_scan_duckdb_tags_pii_columns(warehouse: Path) -> None:
    report = scan(str(warehouse), now=NOW)
    assert report.ok, report.errors
    got = entities(report)
    for column, expected in EXPECTED.items():
        assert got[column] == expected, column
    email = next(c for c in report.columns if c.column == "email")
    ev = email.findings[0].evidence
    assert (
        ev["recognizers"] == ["OfflineEmailRecognizer"] and ev["hit_ratio"] == 1.0 and ev["sample_size"] > 0
    )
    assert ev["name_hint"] == "email"
    skipped = next(c for c in report.columns if c.column == "consent_marketing")
    assert skipped.status == "skipped"
    assert "sales.customers" in report.render_table()
    assert json.loads(report.to_json())["stats"]["columns"] == len(EXPECTED)


def test_no_sampled_value_leaks_into_outputs_logs_or_catalog(
    warehouse: Path, catalog: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    outputs = report.to_json() + report.render_table(width=400) + caplog.text
    outputs += "".join(p.read_text() for p in catalog.glob("*.yaml"))
    data = customers()
    leaked = {
        str(v)
        for col in (
            "full_name",
            "email",
            "phone",
            "ssn",
            "street_address",
            "card_number",
            "ip_address",
            "order_ref",
        )
        for v in data[col]
        if str(v) in outputs
    }
    assert leaked == set()


def test_catalog_write_back_rescan_and_review(warehouse: Path, catalog: Path) -> None:
    first = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    changes = {(d.column, d.entity, d.change) for d in first.diff}
    assert ("card_number", "CREDIT_CARD", "new") in changes
    assert ("city", "LOCATION", "changed") in changes  # was suggested at 0.7 by hand-written demo data
    assert {"sales.yaml"} <= {Path(p).name for p in first.written}
    catalog_model = CatalogDocs(catalog).catalog()
    customers_table = next(t for q, _, t in catalog_model.iter_tables() if q == "sales.customers")
    assert customers_table.column("full_name").pii[0].source == "manual"  # type: ignore[union-attr]
    assert customers_table.column("ip_address").entities() == ("IP_ADDRESS",)  # type: ignore[union-attr]

    # second run: nothing changed, nothing analysed, nothing written
    second = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    assert second.stats.analyzed == 0 and second.stats.unchanged == second.stats.columns - 1
    assert second.diff == () and second.written == ()
    assert entities(second)["ip_address"] == {"IP_ADDRESS"}

    pending = review(catalog)
    ids = {s.id for s in pending.pending}
    assert "sales.customers.card_number:CREDIT_CARD" in ids
    done = review(
        catalog, confirm=["sales.customers.card_number:CREDIT_CARD"], reject=["sales.customers.ip_address"]
    )
    assert dict(done.decided) == {
        "sales.customers.card_number:CREDIT_CARD": "confirmed",
        "sales.customers.ip_address:IP_ADDRESS": "rejected",
    }
    with pytest.raises(CatalogError) as err:
        review(catalog, confirm=["sales.customers.nope:PERSON"])
    assert err.value.code == "catalog_suggestion_not_found"

    # the data changes: card numbers become amounts, IPs stay IPs; human decisions survive
    con = duckdb.connect(str(warehouse))
    con.execute(
        "UPDATE sales.customers SET card_number = CAST(customer_id * 3 AS VARCHAR), "
        "ip_address = ip_address || '' , city = 'Hamburg'"
    )
    con.close()
    third = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    assert {c.column for c in third.columns if c.status == "analyzed"} == {"card_number", "city"}
    doc = yaml.safe_load((catalog / "sales.yaml").read_text())
    cols = {c["name"]: c for c in doc["tables"][0]["columns"]}
    assert cols["card_number"]["pii"] == [{**cols["card_number"]["pii"][0], "status": "confirmed"}]
    assert [t["status"] for t in cols["ip_address"]["pii"]] == ["rejected"]
    assert not any(
        d.column == "card_number" for d in third.diff
    )  # a confirmed tag is not the scan's to withdraw
    assert "# The sales data product" in (catalog / "sales.yaml").read_text()  # comments survive


def test_rejected_entity_is_not_suggested_again(warehouse: Path, catalog: Path) -> None:
    scan(str(warehouse), catalog_dir=catalog, now=NOW)
    review(catalog, reject=["sales.customers.city:LOCATION"])
    con = duckdb.connect(str(warehouse))
    con.execute("UPDATE sales.customers SET city = 'Lyon'")  # forces re-analysis
    con.close()
    again = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    assert not any(d.column == "city" for d in again.diff)
    doc = yaml.safe_load((catalog / "sales.yaml").read_text())
    city = next(c for c in doc["tables"][0]["columns"] if c["name"] == "city")
    assert [(t["entity"], t["status"]) for t in city["pii"]] == [("LOCATION", "rejected")]


def test_withdrawn_suggestion_when_data_no_longer_matches(warehouse: Path, catalog: Path) -> None:
    scan(str(warehouse), catalog_dir=catalog, now=NOW)
    con = duckdb.connect(str(warehouse))
    con.execute("UPDATE sales.customers SET ip_address = 'n/a-' || CAST(customer_id % 3 AS VARCHAR)")
    con.close()
    again = scan(str(warehouse), catalog_dir=catalog, now=NOW)
    assert [(d.column, d.entity, d.change) for d in again.diff] == [("ip_address", "IP_ADDRESS", "withdrawn")]


def test_csv_and_parquet_files_with_bad_and_empty_tables(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    con = duckdb.connect()
    write_duckdb(con, "people", customers(80))
    con.execute(f"COPY people TO '{folder / 'people.csv'}' (HEADER)")
    con.execute(f"COPY people TO '{folder / 'people_pq.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM people WHERE false) TO '{folder / 'empty.csv'}' (HEADER)")
    con.close()
    (folder / "broken.parquet").write_bytes(b"this is not parquet")
    report = scan(str(folder), now=NOW)
    assert {(e.table, e.code) for e in report.errors} == {
        ("broken", "scan_table_unreadable"),
        ("empty", "scan_empty_table"),
    }
    for table in ("people", "people_pq"):
        got = {
            c.column: {f.entity for f in c.findings if f.level == "pii"}
            for c in report.columns
            if c.table == table
        }
        assert got["email"] == {"EMAIL_ADDRESS"} and got["ssn"] == {"US_SSN"}, table
        assert got["amount"] == set() and got["status"] == set()
    single = scan(str(folder / "people.csv"), tables=["people", "missing"], now=NOW)
    assert [e.code for e in single.errors] == ["scan_table_not_found"]
    assert {c.table for c in single.columns} == {"people"}


def test_unsupported_types_are_reported_and_the_table_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "odd.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE t AS SELECT 'a' || i || '@example.com' AS email, [i, i] AS pair, "
        "'\\x00'::BLOB AS raw FROM range(30) r(i)"
    )
    con.close()
    report = scan(str(path), now=NOW)
    assert {(e.column, e.code) for e in report.errors} == {
        ("pair", "scan_unsupported_type"),
        ("raw", "scan_unsupported_type"),
    }
    assert entities(report)["email"] == {"EMAIL_ADDRESS"}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/nonexistent/warehouse.duckdb", "scan_source_unreachable"),
        ("mysql://somewhere/db", "scan_source_unsupported"),
        ("/nonexistent/folder.csv", "scan_source_unreachable"),
    ],
)
def test_bad_sources_become_clear_errors(url: str, code: str) -> None:
    report = scan(url, now=NOW)
    assert [e.code for e in report.errors] == [code]
    assert report.columns == ()


def test_progress_callback_counts_columns(warehouse: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    scan(str(warehouse), progress=lambda t, d, n: seen.append((t, d, n)), now=NOW)
    assert seen[-1] == ("sales.customers", len(EXPECTED), len(EXPECTED))
    assert [d for _, d, _ in seen] == list(range(1, len(EXPECTED) + 1))


def test_free_text_ner_uses_a_local_spacy_model_only_for_free_text(tmp_path: Path) -> None:
    """NER wiring with a real spaCy pipeline built here (entity ruler), loaded from a folder."""
    import spacy

    from privgate.connectors.scan.analyzer import ValueAnalyzer

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": [{"LOWER": "zorblat"}, {"LOWER": "quux"}]}])  # type: ignore[attr-defined]
    model_dir = tmp_path / "model"
    nlp.to_disk(model_dir)
    analyzer = ValueAnalyzer(default_rules(), ner_model=str(model_dir))
    prose = ["the ticket was opened by zorblat quux yesterday evening"]
    assert {h.entity for h in analyzer.analyze(prose, free_text=True)} == {"PERSON"}
    assert {h.recognizer for h in analyzer.analyze(prose, free_text=True)} == {"SpacyRecognizer"}
    assert analyzer.analyze(prose, free_text=False) == []  # structured path never runs NER
    with pytest.raises(ConfigError) as err:
        ValueAnalyzer(default_rules(), ner_model="en_core_web_nonexistent")
    assert err.value.code == "config_ner_model_missing"


def test_rich_progress_bar_draws_and_confirm_all(warehouse: Path, catalog: Path) -> None:
    import io

    from rich.console import Console

    out = io.StringIO()
    with scan_pkg.RichProgress(Console(file=out, force_terminal=True, width=100)) as bar:
        scan(str(warehouse), catalog_dir=catalog, progress=bar, now=NOW)
    assert "sales.customers" in out.getvalue()
    everything = review(catalog, confirm_all=True)
    assert everything.pending == () and {s for _, s in everything.decided} == {"confirmed"}
    assert review(catalog).pending == ()


def test_long_values_are_truncated_before_analysis(classifier: ColumnClassifier) -> None:
    long_texts = [f"Please reply to ops{i}@example.com. " + "lorem ipsum dolor " * 5000 for i in range(30)]
    findings, analysed = classifier.classify(
        "blob_text", long_texts, kind="text", row_count=30, today=NOW.date()
    )
    assert {f.entity for f in findings if f.level == "pii"} == {"EMAIL_ADDRESS"}
    assert analysed == 30
