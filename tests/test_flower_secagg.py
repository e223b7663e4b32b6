"""Governed rounds through Flower's SecAgg+: the obligation is honoured, charges stay one per round,
a node that cannot speak SecAgg+ fails its round (charge released), and server clipping is refused."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from flwr.app import ArrayRecord
from flwr.serverapp.strategy import FedAvg

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.flower import GovernedStrategy, LocalGrid, NodeDirectory, TokenSigner, governed_mod
from privgate.connectors.flower.federation import Federation, build_federation
from privgate.connectors.flower.logreg import client_app
from privgate.connectors.flower.secagg import secagg_fit
from privgate.connectors.flower.secagg_client import secagg_mods
from privgate.connectors.ledger import open_ledger
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.rules_files import load_rules
from privgate.connectors.training_files import load_budgets, load_job, load_training_settings
from privgate.engine.errors import PolicyError
from privgate.engine.ledger import LedgerService
from privgate.engine.training import TrainingGovernor, TrainingJob, TrainingSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federated"
KEY = b"k" * 32
ROUNDS = 3


def _job(tmp_path: Path, *, secagg: bool, dp: str | None = "client") -> TrainingJob:
    doc = yaml.safe_load((EXAMPLE / "job.yaml").read_text())
    doc["secure_aggregation"] = secagg
    doc["rounds"] = ROUNDS
    if dp is None:
        doc["dp"] = None
    else:
        doc["dp"]["clipping"] = dp
    path = tmp_path / f"job-{secagg}-{dp}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_job(path)


def _settings(*, secagg_required: bool, dp_required: bool = True) -> TrainingSettings:
    base = load_training_settings()
    default = base.default_domain.model_copy(update={"require_dp": dp_required})
    north = default.model_copy(update={"require_secure_aggregation": True})
    domains = {"clinic_north": north} if secagg_required else {}
    return base.model_copy(update={"default_domain": default, "domains": domains})


def _strategy(tmp_path: Path, job: TrainingJob, settings: TrainingSettings, nodes: dict[int, str],
              name: str) -> tuple[GovernedStrategy, LedgerService]:
    ledger = open_ledger(f"sqlite:///{tmp_path / f'{name}.db'}", load_budgets(EXAMPLE / "budgets.yaml"))
    ids = itertools.count()
    gov = TrainingGovernor(job, load_catalog(EXAMPLE / "catalog"), load_rules(), settings, EmbeddedEvaluator(), ledger,
                           clock=lambda: datetime.now(UTC), new_id=lambda: f"{name}{next(ids)}", run_id=name)
    inner = FedAvg(fraction_train=1e-9, fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)
    return GovernedStrategy(inner, gov, NodeDirectory(nodes), TokenSigner(KEY)), ledger


def _federation(job: TrainingJob) -> Federation:
    signer = TokenSigner(KEY)
    return build_federation(job, load_catalog(EXAMPLE / "catalog"),
                            lambda d: [governed_mod(d, signer, ["model_training"])])


def _run(tmp_path: Path, job: TrainingJob, settings: TrainingSettings,
         name: str) -> tuple[GovernedStrategy, LedgerService, np.ndarray, float]:
    fed = _federation(job)
    strategy, ledger = _strategy(tmp_path, job, settings, fed.nodes, name)
    np.random.seed(0)
    random.seed(0)
    result = strategy.start(fed.grid, fed.initial_arrays(), num_rounds=ROUNDS, evaluate_fn=fed.evaluate)
    acc = float(str(result.evaluate_metrics_serverapp[ROUNDS]["accuracy"]))
    return strategy, ledger, result.arrays.to_numpy_ndarrays()[0], acc


def _charges(ledger: LedgerService) -> list[str]:
    return [e.status for e in ledger.history(limit=1000).entries if e.kind == "charge"]


def test_secagg_round_computes_the_plain_fedavg_model_up_to_quantization(tmp_path: Path) -> None:
    # no DP noise here, so the two runs are comparable number for number: what differs is SecAgg+ alone
    plain, l1, w_plain, _ = _run(tmp_path, _job(tmp_path, secagg=False, dp=None),
                                 _settings(secagg_required=False, dp_required=False), "plain")
    sa, l2, w_sa, _ = _run(tmp_path, _job(tmp_path, secagg=True, dp=None),
                           _settings(secagg_required=True, dp_required=False), "secagg")
    try:
        assert not plain.stopped and not sa.stopped
        assert all(not any(o.kind == "secure_aggregation" for o in r.decision.decision.obligations)
                   for r in plain.reports)
        assert all(any(o.kind == "secure_aggregation" for o in r.decision.decision.obligations) for r in sa.reports)
        assert [r.completed for r in sa.reports] == [True] * ROUNDS
        assert np.abs(w_plain).max() > 0.1  # the model moved: the comparison is not of two zero vectors
        assert np.abs(w_sa - w_plain).max() < 1e-3  # SecAgg+ quantizes (2**22 levels), nothing else differs
    finally:
        l1.close()
        l2.close()


def test_secagg_dp_run_charges_once_per_round_and_trains(tmp_path: Path) -> None:
    job = _job(tmp_path, secagg=True)
    sa, ledger, _, acc_sa = _run(tmp_path, job, _settings(secagg_required=True), "secagg")
    _, l2, _, acc_plain = _run(tmp_path, _job(tmp_path, secagg=False), _settings(secagg_required=False), "plain")
    try:
        assert not sa.stopped
        assert [r.completed for r in sa.reports] == [True] * ROUNDS
        assert _charges(ledger) == ["committed"] * ROUNDS
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        per_round = sa.reports[0].decision.cost
        assert per_round is not None and per_round.cost.rho is not None
        assert north.committed.loss == per_round.cost.rho * ROUNDS and north.reserved.loss == 0
        # DP noise differs between the runs (SecAgg+'s stochastic rounding draws from numpy's global RNG),
        # so the models are compared by what they are for: both learn the task
        assert acc_sa > 0.6 and abs(acc_sa - acc_plain) < 0.1, (acc_sa, acc_plain)
    finally:
        ledger.close()
        l2.close()


@pytest.mark.parametrize("obliged", [True, False], ids=["policy-obliges", "job-declares"])
def test_node_without_secaggplus_mod_fails_the_round_and_its_charge_is_released(tmp_path: Path,
                                                                                obliged: bool) -> None:
    # job-declares: no domain demands SecAgg+, but the job says it uses it, so the round still runs SecAgg+
    job = _job(tmp_path, secagg=True)
    signer = TokenSigner(KEY)
    grid = LocalGrid()
    nodes = {}
    x, y = np.zeros((4, 5)), np.array([0.0, 1.0, 0.0, 1.0])
    for i, d in enumerate(job.domains):
        mods = [governed_mod(d.name, signer, ["model_training"])]
        if i > 0:  # the first domain's node runs without secaggplus_mod
            mods += secagg_mods(client_clipping=True)
        nodes[grid.add_node(client_app(lambda: (x, y), lr=0.1, epochs=1, mods=mods), {})] = d.name
    strategy, ledger = _strategy(tmp_path, job, _settings(secagg_required=obliged), nodes, "broken")
    try:
        strategy.start(grid, ArrayRecord([np.zeros(6)]), num_rounds=ROUNDS)
        assert obliged == any(o.kind == "secure_aggregation" for o in strategy.reports[0].decision.decision.obligations)
        assert [r.code for r in strategy.stopped] == ["training_round_failed"]
        assert [r.completed for r in strategy.reports] == [False]
        assert _charges(ledger) == ["released", "released"]  # round 1 and the prefetched round 2
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        assert north.committed.loss == 0 and north.reserved.loss == 0
    finally:
        ledger.close()


def test_secagg_with_server_side_clipping_is_denied_and_charges_nothing(tmp_path: Path) -> None:
    job = _job(tmp_path, secagg=True, dp="server")
    fed = _federation(job)
    strategy, ledger = _strategy(tmp_path, job, _settings(secagg_required=True), fed.nodes, "server")
    try:
        strategy.start(fed.grid, fed.initial_arrays(), num_rounds=2)
        assert [r.code for r in strategy.stopped] == ["training_secagg_server_clipping"]
        assert "set dp.clipping: client" in strategy.stopped[0].message
        assert _charges(ledger) == []  # denied before any reservation
    finally:
        ledger.close()


def test_secagg_fit_refuses_server_side_clipping_itself() -> None:
    # defence in depth behind the policy: the connector never runs SecAgg+ with server-side clipping
    with pytest.raises(PolicyError) as err:
        secagg_fit(LocalGrid(), 1, ArrayRecord([np.zeros(2)]), clients=2,
                   dp={"clipping": "server", "noise_multiplier": "1", "clipping_norm": "1"}, timeout=None)
    assert err.value.code == "training_secagg_server_clipping"
