"""End-to-end DataHub sync through DataHub's SDK against the GMS stand-in (tests/datahub_standin.py).

pull -> (edit the catalog as a scan would) -> push, with people's tags in DataHub that must survive,
repeated pushes that must change nothing, and the failure modes with their stable codes.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from datahub_helpers import SCANNED_AT, catalog_files, edit_catalog, scan_tag
from datahub_standin import Standin, running, seed

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.datahub import DataHubError, DataHubServer, DatasetNaming, pull, push

TOKEN = "s3cret-token"
ENV = {"DH_TOKEN": TOKEN}
NAMING = DatasetNaming(database="shop")
CUSTOMERS = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.sales.customers,PROD)"
TICKETS = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.support.tickets,PROD)"


@pytest.fixture
def gms():
    with running(seed(Standin(token=TOKEN))) as state:
        yield state
    assert state.rejected == [], "the SDK sent a request GMS would reject"
    assert state.unexpected == [], "the connector called an endpoint the stand-in does not implement"


def server(state: Standin) -> DataHubServer:
    return DataHubServer(url=state.url, token_env="DH_TOKEN")


def field_info(state: Standin, urn: str, path: str):
    editable = state.get(urn, "editableSchemaMetadata")
    return next((i for i in editable.editableSchemaFieldInfo if i.fieldPath == path), None) if editable else None


def tags_of(state: Standin, urn: str, path: str) -> dict[str, object]:
    info = field_info(state, urn, path)
    return {t.tag: t for t in (info.globalTags.tags if info and info.globalTags else [])}


def terms_of(state: Standin, urn: str, path: str) -> dict[str, object]:
    info = field_info(state, urn, path)
    return {t.urn: t for t in (info.glossaryTerms.terms if info and info.glossaryTerms else [])}


def pulled_and_scanned(gms: Standin, tmp_path: Path) -> Path:
    cat = tmp_path / "catalog"
    pull(server(gms), cat, environ=ENV, naming=NAMING)
    edit_catalog(cat, {
        ("sales.customers", "email"): [scan_tag("EMAIL_ADDRESS", 0.99)],
        ("sales.customers", "city"): [scan_tag("LOCATION", 0.62, status="suggested")],
        ("support.tickets", "body"): [scan_tag("PERSON", 0.91, samples=["Jane Roe", "jane@x.example"])],
    })
    return cat


def test_pull_builds_the_catalog_from_datahub(gms, tmp_path):
    report = pull(server(gms), tmp_path / "cat", environ=ENV, naming=NAMING)
    catalog = load_catalog(tmp_path / "cat")
    assert {q for q, _, _ in catalog.iter_tables()} == {"sales.customers", "sales.orders", "support.tickets"}
    sales = next(d for d in catalog.domains if d.name == "sales")
    assert sales.owner == "ann@acme.example"
    support = next(d for d in catalog.domains if d.name == "customer_support")
    assert support.sql_schema == "support"
    customers = next(t for t in sales.tables if t.name == "customers")
    email, phone = customers.column("email"), customers.column("phone")
    assert email is not None and phone is not None
    assert email.description == "Customer's contact e-mail"
    # the person's tag counts as confirmed; the ingestion classifier's term only as a suggestion; "gold" is not PII
    assert [(t.entity, t.source, t.status) for t in email.pii] == [("EMAIL_ADDRESS", "datahub", "confirmed")]
    assert [(t.entity, t.status) for t in phone.pii] == [("PHONE_NUMBER", "suggested")]
    assert customers.column("customer_id").type == "bigint"
    assert report.changed and len(report.tables) == 3
    json.loads(report.model_dump_json())


def test_push_adds_field_tags_and_terms_with_evidence_and_keeps_peoples_tags(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    report = push(cat, server(gms), environ=ENV, naming=NAMING)

    email_tags = tags_of(gms, CUSTOMERS, "email")
    assert set(email_tags) == {"urn:li:tag:pii-email", "urn:li:tag:gold"}, "people's tags must survive"
    assert email_tags["urn:li:tag:pii-email"].attribution is None, "a person's association is never rewritten"
    term = terms_of(gms, CUSTOMERS, "email")["urn:li:glossaryTerm:PII.Email"]
    detail = term.attribution.sourceDetail
    assert term.attribution.source == "urn:li:dataHubAction:privgate"
    assert detail["privgate.recognizers"] == "EmailAddressRecognizer"
    assert detail["privgate.confidence"] == "0.99" and detail["privgate.scanned_at"] == SCANNED_AT
    assert set(tags_of(gms, TICKETS, "body")) == {"urn:li:tag:pii-person"}
    assert "Jane" not in gms.snapshot() and "jane@" not in gms.snapshot(), "raw sample values leaked"
    # a suggestion is not pushed unless asked for
    assert tags_of(gms, CUSTOMERS, "city") == {}
    assert {(c.table, c.field, c.kind, c.op) for c in report.changes} == {
        ("sales.customers", "email", "term", "add"),
        ("support.tickets", "body", "tag", "add"), ("support.tickets", "body", "term", "add")}
    assert report.kept_existing == 1  # the person's pii-email tag on email
    # the proposals are PATCHes, valid against DataHub's generated classes
    assert gms.proposals and all(p.changeType == "PATCH" and p.validate() for p in gms.proposals)


def test_second_push_changes_nothing(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    push(cat, server(gms), include_suggested=True, environ=ENV, naming=NAMING)
    before, writes = gms.snapshot(), gms.writes()
    again = push(cat, server(gms), include_suggested=True, environ=ENV, naming=NAMING)
    assert again.changes == () and again.proposals == 0
    assert gms.writes() == writes and gms.snapshot() == before
    assert again.unchanged == 5  # email term, city tag + term, body tag + term
    assert again.kept_existing == 1  # the person's pii-email tag on email
    # and pulling our own push back does not change privgate's catalog either
    files = catalog_files(cat)
    assert not pull(server(gms), cat, environ=ENV, naming=NAMING).changed
    assert catalog_files(cat) == files


def test_dry_run_prints_the_diff_and_sends_nothing(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    before = gms.snapshot()
    report = push(cat, server(gms), dry_run=True, environ=ENV, naming=NAMING)
    assert gms.writes() == 0 and gms.snapshot() == before
    text = report.render_text()
    assert text.startswith("dry run: push to ")
    assert "+ support.tickets.body  tag urn:li:tag:pii-person" in text
    assert report.proposals == 2 and "would be sent" in text  # one PATCH per dataset


def test_changed_evidence_updates_only_our_association_and_keeps_a_later_human_tag(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    push(cat, server(gms), environ=ENV, naming=NAMING)
    # meanwhile a person adds a tag to the same field in the UI (a full upsert, as the UI does)
    editable = gms.get(TICKETS, "editableSchemaMetadata")
    body = next(i for i in editable.editableSchemaFieldInfo if i.fieldPath == "body")
    from datahub.metadata.schema_classes import TagAssociationClass

    body.globalTags.tags.append(TagAssociationClass("urn:li:tag:needs-review"))
    edit_catalog(cat, {("support.tickets", "body"): [scan_tag("PERSON", 0.95)]})
    report = push(cat, server(gms), environ=ENV, naming=NAMING)
    assert {(c.kind, c.op) for c in report.changes} == {("tag", "update"), ("term", "update")}
    tags = tags_of(gms, TICKETS, "body")
    assert set(tags) == {"urn:li:tag:pii-person", "urn:li:tag:needs-review"}
    assert tags["urn:li:tag:pii-person"].attribution.sourceDetail["privgate.confidence"] == "0.95"


def test_withdrawn_classification_removes_only_privgates_own_association(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    push(cat, server(gms), environ=ENV, naming=NAMING)
    edit_catalog(cat, {("support.tickets", "body"): [scan_tag("PERSON", status="rejected")],
                       ("sales.customers", "email"): []})
    report = push(cat, server(gms), environ=ENV, naming=NAMING)
    assert {(c.table, c.kind, c.op) for c in report.changes} == {
        ("support.tickets", "tag", "remove"), ("support.tickets", "term", "remove"),
        ("sales.customers", "term", "remove")}
    assert tags_of(gms, TICKETS, "body") == {}
    # the person's tags on email stay, only privgate's term went
    assert set(tags_of(gms, CUSTOMERS, "email")) == {"urn:li:tag:pii-email", "urn:li:tag:gold"}
    assert terms_of(gms, CUSTOMERS, "email") == {}


# ---------------------------------------------------------------- failures: clear code, nothing written

def test_wrong_token_is_an_auth_failure(gms, tmp_path):
    with pytest.raises(DataHubError) as err:
        pull(server(gms), tmp_path / "cat", environ={"DH_TOKEN": "wrong"})
    assert err.value.code == "datahub_auth_failed"
    assert not (tmp_path / "cat").exists()


def test_forbidden_token_is_an_auth_failure(gms, tmp_path):
    gms.forbidden_tokens.add("reader")
    with pytest.raises(DataHubError) as err:
        pull(server(gms), tmp_path / "cat", environ={"DH_TOKEN": "reader"})
    assert err.value.code == "datahub_auth_failed"


def test_missing_token_variable(gms, tmp_path):
    with pytest.raises(DataHubError) as err:
        pull(server(gms), tmp_path / "cat", environ={})
    assert err.value.code == "datahub_token_missing" and "DH_TOKEN" in err.value.message


def test_unreachable_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(DataHubError) as err:
        pull(DataHubServer(url=f"http://127.0.0.1:{port}", timeout_sec=2), tmp_path / "cat")
    assert err.value.code == "datahub_unreachable"
    assert "--server" in err.value.message


def test_unknown_platform(gms, tmp_path):
    with pytest.raises(DataHubError) as err:
        pull(server(gms), tmp_path / "cat", platform="postgress", environ=ENV)
    assert err.value.code == "datahub_unknown_platform"


def test_dataset_filter_that_matches_nothing(gms, tmp_path):
    with pytest.raises(DataHubError) as err:
        pull(server(gms), tmp_path / "cat", dataset_filter=["shop.hr.*"], environ=ENV)
    assert err.value.code == "datahub_dataset_not_found"
    report = pull(server(gms), tmp_path / "cat", dataset_filter=["sales.cust*"], environ=ENV)
    assert [t.table for t in report.tables] == ["sales.customers"]


def test_push_of_a_table_datahub_does_not_know_writes_nothing(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    with pytest.raises(DataHubError) as err:
        push(cat, server(gms), environ=ENV, naming=DatasetNaming(database="warehouse"))
    assert err.value.code == "datahub_dataset_unknown"
    assert gms.writes() == 0, "no partial push"
    with pytest.raises(DataHubError) as err:
        push(cat, server(gms), dataset_filter=["hr.*"], environ=ENV, naming=NAMING)
    assert err.value.code == "datahub_dataset_unknown"


def test_failed_pull_leaves_the_catalog_untouched(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    files = catalog_files(cat)
    from datahub.metadata.schema_classes import DomainsClass

    # a new dataset whose DataHub domain ("Sales") already owns another SQL schema in privgate
    from datahub_standin import example_records

    extra = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.billing.invoices,PROD)"
    schema = next(r.aspect for r in example_records() if r.entityUrn.endswith("sales.orders,PROD)")
                  and r.aspect.get_aspect_name() == "schemaMetadata")
    gms.put(extra, schema)
    gms.put(extra, DomainsClass(["urn:li:domain:sales"]))
    with pytest.raises(DataHubError) as err:
        pull(server(gms), cat, environ=ENV, naming=NAMING)
    assert err.value.code == "datahub_conflict"
    assert catalog_files(cat) == files
    # mapping domains from schemas instead resolves it
    pull(server(gms), cat, environ=ENV, naming=NAMING.model_copy(update={"domain_from": "schema"}))
    assert "billing.yaml" in catalog_files(cat)


def test_a_column_datahub_does_not_have_is_reported_not_pushed(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    yaml_file = cat / "customer_support.yaml"
    yaml_file.write_text(yaml_file.read_text().replace(
        "  - name: body\n", "  - name: subject\n    pii: [{entity: PERSON}]\n  - name: body\n"))
    report = push(cat, server(gms), environ=ENV, naming=NAMING)
    assert any("support.tickets.subject: not a field" in n for n in report.notes)
    assert field_info(gms, TICKETS, "subject") is None


def test_a_rejected_write_names_how_far_push_got(gms, tmp_path):
    cat = pulled_and_scanned(gms, tmp_path)
    gms.write_limit = 1  # GMS accepts one proposal, then refuses (e.g. a policy on the second dataset)
    with pytest.raises(DataHubError) as err:
        push(cat, server(gms), environ=ENV, naming=NAMING)
    assert err.value.code == "datahub_auth_failed"
    assert "1 of 2 proposal(s) were applied" in err.value.message
    gms.write_limit = None
    again = push(cat, server(gms), environ=ENV, naming=NAMING)
    assert again.proposals == 1, "the re-run sends only what is missing"
