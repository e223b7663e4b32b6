"""The DataHub mapping rules and dataset naming: urns parse, map both ways, and bad config fails early."""

from __future__ import annotations

import pytest

from privgate.connectors.datahub import DataHubError, DatasetNaming, load_mapping
from privgate.connectors.datahub.push import _detail
from privgate.engine.catalog import PiiTag


def test_every_policy_entity_maps_to_a_tag_and_back(default_rules):
    mapping = load_mapping()
    for entity in default_rules.entity_treatment:
        tag = mapping.tag_for(entity)
        assert tag.startswith("urn:li:tag:")
        assert mapping.entity_for(tag) == entity
        term = mapping.term_for(entity)
        if term is not None:
            assert mapping.entity_for(term) == entity


def test_examples_from_the_issue_and_datahub_classifier_terms():
    mapping = load_mapping()
    assert mapping.term_for("EMAIL_ADDRESS") == "urn:li:glossaryTerm:PII.Email"
    assert mapping.tag_for("EMAIL_ADDRESS") == "urn:li:tag:pii-email"
    assert mapping.entity_for("urn:li:glossaryTerm:Email_Address") == "EMAIL_ADDRESS"
    assert mapping.entity_for("urn:li:tag:gold") is None
    # entities without an entry use the prefix, both ways
    assert mapping.tag_for("MEDICAL_LICENSE") == "urn:li:tag:pii-medical-license"
    assert mapping.entity_for("urn:li:tag:pii-medical-license") == "MEDICAL_LICENSE"


@pytest.mark.parametrize("override, needle", [
    ({"entities": {"EMAIL_ADDRESS": {"tag": "urn:li:glossaryTerm:PII.Email"}}}, "is not a tag urn"),
    ({"entities": {"EMAIL_ADDRESS": {"term": "not-an-urn"}}}, "not a valid DataHub urn"),
    ({"entities": {"EMAIL_ADDRESS": {"tag": "urn:li:tag:x"}, "PERSON": {"tag": "urn:li:tag:x"}}}, "maps to both"),
    ({"entities": {"email": {"tag": "urn:li:tag:x"}}}, "upper-case"),
    ({"attribution_source": "urn:li:corpuser:me"}, "is not a datahubaction urn"),
    ({"colour": "blue"}, "unknown key"),
])
def test_invalid_mapping_fails_with_a_stable_code(override, needle):
    with pytest.raises(DataHubError) as err:
        load_mapping(overrides=override)
    assert err.value.code == "datahub_mapping_invalid"
    assert needle in err.value.message


def test_naming_splits_and_rebuilds_dataset_names():
    naming = DatasetNaming(database="shop")
    assert naming.split("shop.Sales.Customers") == ("sales", "customers")
    assert naming.split("sales.customers") == ("sales", "customers")
    assert naming.split("customers") is None
    urn = naming.urn("sales", "customers")
    assert urn == "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.sales.customers,PROD)"
    assert naming.parse_urn(urn)[0] == "shop.sales.customers"
    inst = DatasetNaming(platform="snowflake", platform_instance="eu", env="DEV")
    assert inst.urn("s", "t") == "urn:li:dataset:(urn:li:dataPlatform:snowflake,eu.s.t,DEV)"
    assert inst.parse_urn(inst.urn("s", "t"))[0] == "s.t"
    with pytest.raises(ValueError, match="named groups"):
        DatasetNaming(name_pattern=r"^(.*)\.(.*)$")


def test_evidence_summary_keeps_only_names_and_numbers():
    tag = PiiTag(entity="EMAIL_ADDRESS", source="scan", confidence=0.876, status="confirmed", evidence={
        "recognizers": ["EmailRecognizer", "bob@example.com is here!"], "hit_ratio": 0.9, "sample_size": 50,
        "scanned_at": "2026-11-20T09:30:00+00:00", "samples": ["bob@example.com"], "top_value": "bob@example.com"})
    detail = _detail(tag)
    assert detail == {"privgate.entity": "EMAIL_ADDRESS", "privgate.status": "confirmed", "privgate.source": "scan",
                      "privgate.confidence": "0.88", "privgate.recognizers": "EmailRecognizer",
                      "privgate.hit_ratio": "0.9", "privgate.sample_size": "50",
                      "privgate.scanned_at": "2026-11-20T09:30:00+00:00"}
    assert "bob" not in str(detail)


def test_push_terms_switch_keeps_reading_terms():
    mapping = load_mapping(overrides={"push_terms": False})
    assert mapping.term_for("EMAIL_ADDRESS") is None
    assert mapping.entity_for("urn:li:glossaryTerm:PII.Email") == "EMAIL_ADDRESS"


def test_public_names_are_pinned():
    import privgate.connectors.datahub as dh

    assert sorted(dh.__all__) == [
        "DataHubError", "DataHubFile", "DataHubMapping", "DataHubServer", "DataHubSource", "DatasetNaming",
        "PullReport", "PulledTable", "PushChange", "PushReport", "load_mapping", "pull", "push"]
    for name in dh.__all__:
        assert hasattr(dh, name)
