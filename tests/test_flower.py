"""Flower integration: the governed run end to end, the client mod, and the authorized grid view."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict

from privgate.cli.main import main
from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.flower import LocalGrid, RoundToken, TokenSigner, governed_mod
from privgate.connectors.flower.logreg import client_app
from privgate.connectors.flower.runner import run_job
from privgate.connectors.ledger import open_ledger
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.rules_files import load_rules
from privgate.connectors.training_files import load_budgets, load_job, load_training_settings
from privgate.engine.training import GaussianRound

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federated"
KEY = b"k" * 32


def test_example_end_to_end_stops_at_budget_with_one_charge_per_round(tmp_path: Path) -> None:
    job = load_job(EXAMPLE / "job.yaml")
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", load_budgets(EXAMPLE / "budgets.yaml"))
    ids = itertools.count()
    lines: list[str] = []
    random.seed(1)
    try:
        summary = run_job(job, catalog=load_catalog(EXAMPLE / "catalog"), rules=load_rules(),
                          settings=load_training_settings(), evaluator=EmbeddedEvaluator(), ledger=ledger, key=KEY,
                          roles=(), clock=lambda: datetime.now(UTC), new_id=lambda: f"d{next(ids)}", run_id="t",
                          timer=time.perf_counter, out=lines.append)
        rho = GaussianRound(Decimal("1.5"), Decimal("1.0")).rho
        # rho 2 per clinic / 0.2222..3 per round (rounded up): eight rounds, then the budget denial stops the run
        assert summary.completed_rounds == 8 and not summary.completed_all
        assert summary.stopped[0].startswith("[budget_exhausted]")
        assert summary.charges == 8
        hist = ledger.history(status="committed")
        assert {e.cost.rho for e in hist.entries if e.kind == "charge"} == {rho}
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        assert north.committed.loss == 8 * rho
        assert summary.refusals == []
        assert summary.accuracy is not None and 0.45 < summary.accuracy <= 1.0
        assert 0.65 < summary.baseline_accuracy < 0.8
        assert any("DENY  [budget_exhausted]" in line for line in lines)
    finally:
        ledger.close()


def _train_message(content: RecordDict, node: int) -> Message:
    msg = Message(content, dst_node_id=node, message_type="train")
    return msg


def test_client_mod_refuses_ungoverned_and_foreign_rounds() -> None:
    grid = LocalGrid()
    signer = TokenSigner(KEY)
    refusals: list[str] = []
    x, y = np.zeros((4, 2)), np.array([0.0, 1.0, 0.0, 1.0])
    app = client_app(lambda: (x, y), lr=0.1, epochs=1,
                     mods=[governed_mod("clinic_north", signer, ["model_training"], refusals=refusals)])
    node = grid.add_node(app, {})
    arrays = ArrayRecord([np.zeros(3)])

    def send(token: dict[str, str | int] | None) -> Message:
        content = RecordDict({"arrays": arrays, "config": ConfigRecord({})})
        if token is not None:
            content["privgate"] = ConfigRecord(token)
        return next(iter(grid.send_and_receive([_train_message(content, node)])))

    assert send(None).has_error()  # no token: an ungoverned round
    good = RoundToken(job="j", purpose="model_training", round=1, decision_id="d", domains=("clinic_north",))
    forged = dict(signer.sign(good))
    forged["domains"] = "clinic_north,clinic_south"
    assert send(forged).has_error()  # altered after signing
    other = RoundToken(job="j", purpose="model_training", round=1, decision_id="d", domains=("clinic_south",))
    assert send(signer.sign(other)).has_error()  # not authorized for this domain
    wrong_key = TokenSigner(b"z" * 32).sign(good)
    assert send(wrong_key).has_error()
    ok = send(signer.sign(good))
    assert not ok.has_error() and "arrays" in ok.content.array_records
    assert len(refusals) == 4


def test_fl_run_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fl", "run", str(EXAMPLE / "job.yaml"), "--rounds", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "round   2: ALLOW" in out and "2 committed charge(s)" in out and "central baseline" in out


def test_check_judges_training_job_with_epsilon_forecast(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(EXAMPLE / "privgate.yaml"), "check", str(EXAMPLE)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "job.yaml" in out and "ε forecast 31.05" in out


def _governed(tmp_path: Path, *, server_key: bytes, client_key: bytes, settings: object = None,
              job_file: Path = EXAMPLE / "job.yaml"):
    from flwr.serverapp.strategy import FedAvg

    from privgate.connectors.flower import GovernedStrategy, NodeDirectory
    from privgate.engine.training import TrainingGovernor

    job = load_job(job_file)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", load_budgets(EXAMPLE / "budgets.yaml"))
    ids = itertools.count()
    gov = TrainingGovernor(job, load_catalog(EXAMPLE / "catalog"), load_rules(), settings or load_training_settings(),
                           EmbeddedEvaluator(), ledger, clock=lambda: datetime.now(UTC),
                           new_id=lambda: f"d{next(ids)}", run_id="t")
    grid = LocalGrid()
    refusals: list[str] = []
    nodes = {}
    x, y = np.zeros((4, 6)), np.array([0.0, 1.0, 0.0, 1.0])
    for d in job.domains:
        app = client_app(lambda: (x, y), lr=0.1, epochs=1,
                         mods=[governed_mod(d.name, TokenSigner(client_key), ["model_training"], refusals=refusals)])
        nodes[grid.add_node(app, {})] = d.name
    strategy = GovernedStrategy(FedAvg(fraction_train=1e-9, fraction_evaluate=0.0, min_train_nodes=3,
                                       min_available_nodes=3),
                                gov, NodeDirectory(nodes), TokenSigner(server_key))
    return strategy, grid, ledger, refusals


def test_round_refused_by_every_client_is_released_and_stops(tmp_path: Path) -> None:
    strategy, grid, ledger, refusals = _governed(tmp_path, server_key=KEY, client_key=b"x" * 32)
    try:
        strategy.start(grid, ArrayRecord([np.zeros(7)]), num_rounds=3)
        assert [r.code for r in strategy.stopped] == ["training_round_failed"]
        assert len(refusals) == 3 and "signature does not verify" in refusals[0]
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        assert north.committed.loss == 0 and north.reserved.loss == 0  # released: nothing charged
        # round 1 and round 2 (authorized and reserved while round 1 trained, never run) are both released
        charges = sorted((e.note, e.status) for e in ledger.history().entries if e.kind == "charge")
        assert [status for _, status in charges] == ["released", "released"]
        assert [note.rsplit(" ", 1)[-1] for note, _ in charges] == ["1", "2"]
    finally:
        ledger.close()


def test_authorized_grid_hides_and_refuses_unauthorized_nodes() -> None:
    from privgate.connectors.flower import AuthorizedGrid
    from privgate.engine.errors import PolicyError

    grid = LocalGrid()
    app = client_app(lambda: (np.zeros((2, 2)), np.array([0.0, 1.0])), lr=0.1, epochs=1)
    a, b = grid.add_node(app, {}), grid.add_node(app, {})
    view = AuthorizedGrid(grid, [a], {"job": "j"})
    assert list(view.get_node_ids()) == [a]
    content = RecordDict({"arrays": ArrayRecord([np.zeros(3)]), "config": ConfigRecord({})})
    with pytest.raises(PolicyError) as err:
        list(view.push_messages([Message(content, dst_node_id=b, message_type="train")]))
    assert err.value.code == "training_node_not_authorized"


def test_example_clinics_hold_tens_of_thousands_of_rows_and_train_with_minibatch_sgd() -> None:
    from privgate.connectors.flower import demo_data
    from privgate.connectors.flower.logreg import accuracy, train

    job = load_job(EXAMPLE / "job.yaml")
    assert job.model.batch_size is not None and job.model.local_epochs >= 1
    con, test = demo_data.clinic_database("south", job.seed)
    (rows,) = con.execute("SELECT count(*) FROM clinic_south.patients").fetchone() or (0,)
    assert rows >= 20_000 and len(test["age"]) == rows // 4  # 80/20 split
    # mini-batch SGD takes len/batch steps per epoch: one epoch already fits a separable problem
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(float)
    w0 = np.zeros(3)
    one_full_batch_step = train(w0, x, y, lr=0.05, epochs=1)
    one_sgd_epoch = train(w0, x, y, lr=0.05, epochs=1, batch_size=64, rng=np.random.default_rng(1))
    assert accuracy(one_sgd_epoch, x, y) > 0.97
    assert np.linalg.norm(one_sgd_epoch) > 10 * np.linalg.norm(one_full_batch_step)
