"""DataHub sync through DataHub's metadata file format: pull from a file, push patch proposals to a file.

The files are written and read by DataHub's own ``write_metadata_file`` / ``read_metadata_file`` and
checked with DataHub's CLI (``datahub check metadata-file``) from the installed package; the push
file's patches are then applied the way GMS applies them (the stand-in's ``apply_patch``) to show what
ingesting the file would do to DataHub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from datahub_helpers import catalog_files, edit_catalog, scan_tag
from datahub_standin import apply_patch, example_records

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.datahub import DataHubError, DataHubFile, DatasetNaming, pull, push

NAMING = DatasetNaming(database="shop")
CUSTOMERS = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.sales.customers,PROD)"
DATAHUB_CLI = Path(sys.executable).with_name("datahub")


@pytest.fixture
def export(tmp_path) -> Path:
    from datahub.ingestion.sink.file import write_metadata_file

    path = tmp_path / "datahub-export.json"
    write_metadata_file(path, example_records())
    return path


def check_metadata_file(path: Path) -> str:
    """DataHub's own validator, the installed CLI entry point, in a subprocess."""
    env = {**os.environ, "DATAHUB_TELEMETRY_ENABLED": "false"}
    done = subprocess.run([str(DATAHUB_CLI), "check", "metadata-file", str(path)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ingest(base: Path, proposals: Path, out: Path) -> None:
    """What a DataHub ingestion of ``proposals`` would leave, as a new export (GMS patch semantics)."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.ingestion.sink.file import write_metadata_file
    from datahub.ingestion.source.file import read_metadata_file

    state: dict[tuple[str, str], object] = {}
    for rec in read_metadata_file(base):
        state[(rec.entityUrn, rec.aspect.get_aspect_name())] = rec.aspect
    for rec in read_metadata_file(proposals):
        assert rec.changeType == "PATCH"
        key = (rec.entityUrn, rec.aspectName)
        state[key] = apply_patch(rec.aspectName, state.get(key), json.loads(rec.aspect.value))
    write_metadata_file(out, [MetadataChangeProposalWrapper(entityUrn=u, aspect=a) for (u, _), a in state.items()])


def test_pull_from_file_then_push_to_file_round_trip(export, tmp_path):
    cat = tmp_path / "catalog"
    assert "MCEs found - all valid" in check_metadata_file(export)
    pull(DataHubFile(path=export), cat, naming=NAMING)
    email = next(t for _, _, t in load_catalog(cat).iter_tables() if t.name == "customers").column("email")
    assert [(t.entity, t.status) for t in email.pii] == [("EMAIL_ADDRESS", "confirmed")]

    edit_catalog(cat, {("sales.customers", "email"): [scan_tag("EMAIL_ADDRESS", 0.99)],
                       ("support.tickets", "body"): [scan_tag("PERSON", 0.9, samples=["Jane Roe"])]})
    out = tmp_path / "proposals.json"
    report = push(cat, DataHubFile(path=out, base=export), naming=NAMING)
    assert report.written and report.proposals == 2
    check_metadata_file(out)

    from datahub.ingestion.source.file import read_metadata_file

    records = list(read_metadata_file(out))
    assert {r.entityUrn for r in records} == {CUSTOMERS, CUSTOMERS.replace("sales.customers", "support.tickets")}
    assert all(r.validate() and r.changeType == "PATCH" and r.aspectName == "editableSchemaMetadata"
               for r in records)
    assert "Jane" not in out.read_text()

    # ingesting the file keeps the person's tags and adds ours; a re-export then needs no more proposals
    after = tmp_path / "after-ingest.json"
    ingest(export, out, after)
    check_metadata_file(after)
    state = {(r.entityUrn, r.aspect.get_aspect_name()): r.aspect for r in read_metadata_file(after)}
    email_info = next(i for i in state[(CUSTOMERS, "editableSchemaMetadata")].editableSchemaFieldInfo
                      if i.fieldPath == "email")
    assert {t.tag for t in email_info.globalTags.tags} == {"urn:li:tag:pii-email", "urn:li:tag:gold"}
    assert email_info.description == "Customer's contact e-mail"
    assert [t.urn for t in email_info.glossaryTerms.terms] == ["urn:li:glossaryTerm:PII.Email"]

    again = push(cat, DataHubFile(path=tmp_path / "second.json", base=after), naming=NAMING)
    assert again.changes == () and again.proposals == 0 and not (tmp_path / "second.json").exists()
    files = catalog_files(cat)
    assert not pull(DataHubFile(path=after), cat, naming=NAMING).changed, "our own tags came back as new"
    assert catalog_files(cat) == files


def test_repeated_push_to_the_same_file_leaves_it_untouched(export, tmp_path):
    cat = tmp_path / "catalog"
    pull(DataHubFile(path=export), cat, naming=NAMING)
    from privgate.engine.catalog import PiiTag

    edit_catalog(cat, {("sales.orders", "customer_id"): [scan_tag("PERSON", 0.8)]})
    catalog_yaml = cat / "sales.yaml"
    manual = "- name: amount\n    pii: [{entity: US_BANK_NUMBER}]"  # a person's tag in privgate's YAML: no scan time
    catalog_yaml.write_text(catalog_yaml.read_text().replace("- name: amount", manual))
    orders = next(t for q, _, t in load_catalog(cat).iter_tables() if q == "sales.orders")
    assert orders.column("amount").pii == (PiiTag(entity="US_BANK_NUMBER"),)
    out = tmp_path / "proposals.json"
    # a manual tag has no scan time: its attribution time is the push time, which must not count as a change
    first = push(cat, DataHubFile(path=out), naming=NAMING)
    assert first.written and first.notes  # no --base: says that everything is proposed
    stamp = out.stat().st_mtime_ns
    content = out.read_text()
    assert "urn:li:tag:pii-bank-account" in content
    second = push(cat, DataHubFile(path=out), naming=NAMING)
    assert not second.written and out.stat().st_mtime_ns == stamp and out.read_text() == content


def test_dry_run_to_file_writes_nothing(export, tmp_path):
    cat = tmp_path / "catalog"
    pull(DataHubFile(path=export), cat, naming=NAMING)
    edit_catalog(cat, {("support.tickets", "body"): [scan_tag("PERSON")]})
    report = push(cat, DataHubFile(path=tmp_path / "out.json", base=export), dry_run=True, naming=NAMING)
    assert report.proposals == 1 and not (tmp_path / "out.json").exists()
    assert "+ support.tickets.body  term urn:li:glossaryTerm:PII.PersonName" in report.render_text()


def test_invalid_files_are_rejected_before_anything_is_written(tmp_path):
    cat = tmp_path / "catalog"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"entityType": "dataset", "entityUrn": "urn:li:dataset:x", "changeType": "UPSERT"}]')
    env = {**os.environ, "DATAHUB_TELEMETRY_ENABLED": "false"}
    checked = subprocess.run([str(DATAHUB_CLI), "check", "metadata-file", str(bad)], capture_output=True, text=True,
                             env=env, timeout=60, check=False)
    assert checked.returncode != 0, "DataHub's own validator rejects it too"
    for path, code in ((bad, "datahub_file_invalid"), (tmp_path / "missing.json", "datahub_file_invalid")):
        with pytest.raises(DataHubError) as err:
            pull(DataHubFile(path=path), cat)
        assert err.value.code == code
    not_json = tmp_path / "notjson.json"
    not_json.write_text("{nope")
    with pytest.raises(DataHubError) as err:
        pull(DataHubFile(path=not_json), cat)
    assert err.value.code == "datahub_file_invalid"
    assert not cat.exists()


def test_unknown_platform_and_unmapped_names(export, tmp_path):
    with pytest.raises(DataHubError) as err:
        pull(DataHubFile(path=export), tmp_path / "c", platform="snowflake")
    assert err.value.code == "datahub_unknown_platform"
    with pytest.raises(DataHubError) as err:
        pull(DataHubFile(path=export), tmp_path / "c",
             naming=DatasetNaming(name_pattern=r"^(?P<schema>[^.]+)\.(?P<table>[^.]+)$"))
    assert err.value.code == "datahub_dataset_unmapped" and "shop.sales.customers" in err.value.message
    assert not (tmp_path / "c").exists()
    # a pattern that fits the layout (database.schema.table) maps them
    report = pull(DataHubFile(path=export), tmp_path / "c",
                  naming=DatasetNaming(name_pattern=r"^shop\.(?P<schema>[^.]+)\.(?P<table>[^.]+)$"))
    assert len(report.tables) == 3
