"""Training governance without Flower: spec validation, accounting, and per-round authorization."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.rules_files import load_rules
from privgate.connectors.training_files import load_budgets, load_job, load_training_settings
from privgate.engine.errors import ConfigError
from privgate.engine.ledger import BudgetConfig, memory_ledger
from privgate.engine.training import GaussianRound, TrainingGovernor, job_forecast, parse_job, round_cost
from privgate.engine.training.policy_io import TrainingPolicyInput

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federated"
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def evaluator() -> EmbeddedEvaluator:
    return EmbeddedEvaluator()


def job_doc(**changes: Any) -> dict[str, Any]:
    """The example job pinned to z = 2 (rho 0.125 per round), whatever the example file tunes."""
    doc = yaml.safe_load((EXAMPLE / "job.yaml").read_text())
    doc["dp"] = {"noise_multiplier": "2.0", "clipping_norm": "1.0", "clipping": "server", "target_delta": "1e-6"}
    doc.update(changes)
    return doc


def governor(evaluator: EmbeddedEvaluator, doc: dict[str, Any] | None = None, *, rho: str = "0.5",
             settings: Any = None, ledger: Any = "memory") -> TrainingGovernor:
    cfg = BudgetConfig.model_validate({"accounts": [
        {"scope": "subject:patient_*", "measure": "zcdp", "rho": rho, "window": "month", "report_delta": "1e-6"},
        {"scope": "principal:*", "measure": "approx", "epsilon": "1000", "window": "month"}]})
    ids = itertools.count()
    led = memory_ledger(cfg, clock=lambda: NOW) if ledger == "memory" else ledger
    return TrainingGovernor(parse_job(doc or job_doc()), load_catalog(EXAMPLE / "catalog"), load_rules(),
                            settings or load_training_settings(), evaluator, led, clock=lambda: NOW,
                            new_id=lambda: f"d{next(ids)}", run_id="run1")


# --- spec --------------------------------------------------------------------------------------------

def test_example_job_loads_and_short_form_becomes_sql() -> None:
    job = load_job(EXAMPLE / "job.yaml")
    south = next(d for d in job.domains if d.name == "clinic_south")
    assert south.feature_sql().startswith("SELECT age, bmi") and "FROM clinic_south.patients" in south.feature_sql()


@pytest.mark.parametrize(("change", "needle"), [
    ({"rounds": 0}, "rounds"),
    ({"clients_per_round": 9}, "exceeds the number of domains"),
    ({"dp": {"noise_multiplier": "-1", "clipping_norm": "1", "target_delta": "1e-6"}}, "dp.noise_multiplier"),
    ({"domains": [{"name": "a", "features": "SELECT 1", "columns": ["a.b.c"]}]}, "exactly one of"),
    ({"domains": [{"name": "a", "columns": ["x.t.a", "y.t.b"]}]}, "one table"),
    ({"surprise": 1}, "surprise"),
])
def test_spec_validation_errors_name_the_field(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_job(job_doc(**change), source="job.yaml")
    assert err.value.code == "config_training_job" and needle in err.value.message


def test_budgets_file_of_the_example_loads() -> None:
    assert load_budgets(EXAMPLE / "budgets.yaml").accounts[0].scope == "subject:patient_*"


# --- accounting ----------------------------------------------------------------------------------------

def test_round_rho_is_exact_and_group_size_scales_it() -> None:
    assert GaussianRound(Decimal(2), Decimal(1)).rho == Decimal("0.125")
    assert GaussianRound(Decimal(2), Decimal(1), group_size=3).rho == Decimal("1.125")


def test_rdp_accountant_agrees_with_zcdp_and_opendp() -> None:
    """dp-accounting (RDP) and the ledger's zCDP conversion describe the same Gaussian; OpenDP's own
    Gaussian privacy map gives the same rho for sensitivity C and scale z*C."""
    import opendp.prelude as dp

    mech = GaussianRound(Decimal("1.3"), Decimal("0.7"))
    fc = job_forecast(mech, rounds=25, target_delta=Decimal("1e-6"))
    # RDP's optimal conversion is tighter than the zCDP bound, but not by much for a pure Gaussian
    assert fc.epsilon_rdp <= fc.epsilon_zcdp
    assert fc.epsilon_rdp >= Decimal("0.85") * fc.epsilon_zcdp
    dp.enable_features("contrib")
    gauss = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float),
                               scale=float(mech.noise_multiplier * mech.clipping_norm))
    assert math.isclose(gauss.map(float(mech.clipping_norm)), float(mech.rho), rel_tol=1e-9)
    cost = round_cost(mech, rounds=25, target_delta=Decimal("1e-6"))
    assert cost.cost.rho == mech.rho and cost.cost.delta == Decimal("4e-8")


# --- authorization -------------------------------------------------------------------------------------

def test_round_allowed_with_all_domains_and_charged_once(evaluator: EmbeddedEvaluator) -> None:
    gov = governor(evaluator)
    d = gov.authorize(1)
    assert d.allowed, d.reasons
    assert d.domains == ("clinic_central", "clinic_north", "clinic_south")
    assert d.dp is not None and d.dp["noise_multiplier"] == "2.0"
    assert d.reservation is not None and d.reservation.cost.rho == Decimal("0.125")
    gov.complete(d)
    again = gov.ledger.reserve(_charge_of(gov, d), f"training:{gov.job.name}:run1:1")  # type: ignore[union-attr]
    assert again.replayed  # the same round key never charges twice
    hist = gov.ledger.history(status="committed")  # type: ignore[union-attr]
    assert sum(1 for e in hist.entries if e.kind == "charge") == 1


def _charge_of(gov: TrainingGovernor, d: Any) -> Any:
    from privgate.engine.ledger import Charge
    assert d.reservation is not None
    return Charge(decision_id=d.reservation.decision_id, scopes=gov.scopes(d.domains), cost=d.reservation.cost,
                  principal=gov.job.principal, note=d.reservation.note, mechanisms=d.reservation.mechanisms)


def test_budget_exhaustion_mid_run_stops_and_denied_round_charges_nothing(evaluator: EmbeddedEvaluator) -> None:
    gov = governor(evaluator, rho="0.3")  # 0.125 per round: two rounds fit
    outcomes = []
    for r in range(1, 5):
        d = gov.authorize(r)
        outcomes.append(d.allowed)
        if d.allowed:
            gov.complete(d)
        else:
            assert [x.code for x in d.reasons] == ["budget_exhausted"]
            assert d.reservation is None
            break
    assert outcomes == [True, True, False]
    status = {a.scope: a for a in gov.ledger.show().accounts}  # type: ignore[union-attr]
    assert status["subject:patient_north"].committed.loss == Decimal("0.25")


def test_aborted_round_is_refunded(evaluator: EmbeddedEvaluator) -> None:
    gov = governor(evaluator)
    d = gov.authorize(1)
    gov.abort(d)
    status = {a.scope: a for a in gov.ledger.show().accounts}  # type: ignore[union-attr]
    assert status["subject:patient_north"].committed.loss == 0
    assert status["subject:patient_north"].reserved.loss == 0


def test_domain_without_sharing_agreement_is_excluded(evaluator: EmbeddedEvaluator, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    for f in (EXAMPLE / "catalog").glob("*.yaml"):
        text = f.read_text()
        if f.name == "south.yaml":
            text = text.replace("purposes: [model_training]", "purposes: [care]")
        (catalog / f.name).write_text(text)
    ids = itertools.count()
    cfg = BudgetConfig.model_validate({"accounts": [{"scope": "subject:*", "measure": "zcdp", "rho": "5"}]})
    doc = job_doc(clients_per_round=2)
    gov = TrainingGovernor(parse_job(doc), load_catalog(catalog), load_rules(), load_training_settings(), evaluator,
                           memory_ledger(cfg, clock=lambda: NOW), clock=lambda: NOW, new_id=lambda: f"x{next(ids)}",
                           run_id="r")
    d = gov.authorize(1)
    assert d.allowed and d.domains == ("clinic_central", "clinic_north")
    assert [(e["domain"], e["code"]) for e in d.excluded] == [("clinic_south", "training_no_sharing_agreement")]
    assert d.reservation is not None
    assert "subject:patient_south" not in gov.scopes(d.domains)


def test_pii_feature_denies_the_job(evaluator: EmbeddedEvaluator) -> None:
    doc = job_doc()
    doc["domains"][0] = {"name": "clinic_north",
                         "features": "SELECT age, email, readmitted FROM clinic_north.patients"}
    d = governor(evaluator, doc).authorize(1)
    assert not d.allowed
    assert [r.code for r in d.reasons] == ["training_pii_feature"]
    assert "EMAIL_ADDRESS" in d.reasons[0].message


def test_missing_dp_excludes_every_domain_and_denies(evaluator: EmbeddedEvaluator) -> None:
    d = governor(evaluator, job_doc(dp=None)).authorize(1)
    assert not d.allowed
    assert [r.code for r in d.reasons] == ["training_too_few_domains"]
    assert d.reservation is None


def test_dp_parameters_out_of_bounds(evaluator: EmbeddedEvaluator) -> None:
    doc = job_doc(dp={"noise_multiplier": "0.1", "clipping_norm": "50", "target_delta": "1e-6"})
    d = governor(evaluator, doc).authorize(1)
    codes = [r.code for r in d.reasons]
    assert codes.count("training_dp_out_of_bounds") == 2  # z=0.1 also costs more than the budget holds


def test_no_ledger_fails_closed(evaluator: EmbeddedEvaluator) -> None:
    d = governor(evaluator, ledger=None).authorize(1)
    assert not d.allowed and d.reasons[0].code == "budget_no_ledger"


def test_policy_input_matches_its_schema(evaluator: EmbeddedEvaluator) -> None:
    gov = governor(evaluator)
    doc = gov.input_document("id", 3, {"epsilon": "1", "delta": "0", "rho": "0", "needed": "0", "remaining": None,
                                        "affordable": True})
    TrainingPolicyInput.model_validate(doc)


def test_forecast_for_check(evaluator: EmbeddedEvaluator) -> None:
    fc = governor(evaluator, job_doc(), ledger=None).forecast()
    assert fc.decision.allowed and fc.forecast is not None
    assert fc.forecast.rho == Decimal(5)  # 40 rounds x 0.125


def test_training_corpus_inputs_are_real_inputs() -> None:
    corpus = Path(__file__).resolve().parent / "corpus" / "policy"
    cases = [c for f in sorted(corpus.glob("training*.yaml")) for c in yaml.safe_load(f.read_text())["cases"]]
    assert len(cases) >= 8
    for case in cases:
        if case.get("note", "").startswith("malformed"):
            continue
        TrainingPolicyInput.model_validate(case["input"])


def test_training_corpus_compiled_rvm_and_interpreter_agree() -> None:
    """The regorus RVM (compiled decision rules) and the interpreter return the same documents."""
    from _support import default_data

    from privgate.connectors.policy.corpus import case_data, load_cases, run_case

    corpus = Path(__file__).resolve().parent / "corpus" / "policy"
    compiled, interpreted = EmbeddedEvaluator(compiled=True), EmbeddedEvaluator(compiled=False)
    for case in load_cases(sorted(corpus.glob("training*.yaml"))):
        got = []
        for ev in (compiled, interpreted):
            ev.load(case_data(case, default_data()))
            result = run_case(ev, case, path=case.path or "privgate/training/decision")
            assert result.passed, (case.note, result.problems)
            got.append(result.decision)
        assert got[0] == got[1], case.note


def test_reserve_is_the_authority_when_the_forecast_passes(evaluator: EmbeddedEvaluator) -> None:
    """An approx account: the forecast compares sqrt(2 rho) = 0.5 with the epsilon left, but a round
    costs its (epsilon, delta) view (~3.08), so the ledger refuses the second round atomically."""
    cfg = BudgetConfig.model_validate({"accounts": [
        {"scope": "principal:*", "measure": "approx", "epsilon": "5", "delta": "1e-4", "window": "month"}]})
    ids = itertools.count()
    gov = TrainingGovernor(parse_job(job_doc()), load_catalog(EXAMPLE / "catalog"), load_rules(),
                           load_training_settings(), evaluator, memory_ledger(cfg, clock=lambda: NOW),
                           clock=lambda: NOW, new_id=lambda: f"a{next(ids)}", run_id="r")
    first = gov.authorize(1)
    assert first.allowed
    gov.complete(first)
    second = gov.authorize(2)
    assert not second.allowed
    assert [(r.code, r.rule) for r in second.reasons] == [("budget_exhausted", "engine.training.ledger")]
    assert "principal:ml-team" in second.reasons[0].message


def test_a_round_is_never_charged_or_run_twice(evaluator: EmbeddedEvaluator) -> None:
    gov = governor(evaluator)
    first = gov.authorize(1)
    assert first.allowed
    again = gov.authorize(1)  # a retry of the same round of the same run (e.g. after a crash)
    assert not again.allowed and again.reasons[0].code == "training_round_replayed"
    gov.complete(first)
    hist = gov.ledger.history()  # type: ignore[union-attr]
    assert [e.status for e in hist.entries if e.kind == "charge"] == ["committed"]


def test_committed_training_input_schema_is_current_and_describes_the_corpus() -> None:
    import json

    import jsonschema

    root = Path(__file__).resolve().parents[1]
    committed = json.loads((root / "docs" / "training-input.schema.json").read_text())
    current = TrainingPolicyInput.model_json_schema()
    current.update({"$schema": committed["$schema"], "title": committed["title"]})
    assert committed == current, "regenerate docs/training-input.schema.json from TrainingPolicyInput"
    validator = jsonschema.Draft202012Validator(committed)
    for f in sorted((root / "tests" / "corpus" / "policy").glob("training*.yaml")):
        for case in yaml.safe_load(f.read_text())["cases"]:
            if not case["note"].startswith("malformed"):
                validator.validate(case["input"])
