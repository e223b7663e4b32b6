"""The example's federation on one machine: one in-process node per domain over its own data.

Each domain's node holds its generated clinic rows (``demo_data``) in its own DuckDB, runs the
domain's feature query there, and trains the numpy logistic regression locally (``logreg``). Kept
apart from ``runner`` so the benchmark can build the very same federation with and without
governance: ``mods`` decides what guards each node (``governed_mod`` in a governed run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, MetricRecord
from flwr.clientapp.mod import fixedclipping_mod
from flwr.clientapp.typing import Mod

from privgate.engine.catalog import Catalog
from privgate.engine.errors import ConfigError
from privgate.engine.training import TrainingJob

from . import demo_data, logreg
from .grid import LocalGrid
from .secagg_client import secagg_mods

BASELINE_EPOCHS = 2000  # full-batch gradient steps, when the job trains full-batch
BASELINE_SGD_EPOCHS = 20  # passes over the pooled data, when the job trains with mini-batch SGD

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


@dataclass
class Federation:
    job: TrainingJob
    grid: LocalGrid
    nodes: dict[int, str]  # node id → domain (the identity each node was started with)
    test: np.ndarray  # every domain's held-out rows, pooled; label last
    pooled: np.ndarray  # every domain's training rows, pooled; label last (the central baseline's data)

    @property
    def n_features(self) -> int:
        return int(self.test.shape[1]) - 1

    def initial_arrays(self) -> ArrayRecord:
        return ArrayRecord([np.zeros(self.n_features + 1)])

    def evaluate(self, rnd: int, arrays: ArrayRecord) -> MetricRecord:
        """Central evaluation of the global model on the pooled held-out rows."""
        w = arrays.to_numpy_ndarrays()[0]
        return MetricRecord({"accuracy": logreg.accuracy(w, self.test[:, :-1], self.test[:, -1])})

    def central_baseline(self) -> float:
        """The same model trained centrally on the pooled data to convergence, no DP: held-out accuracy."""
        model = self.job.model
        w = logreg.train(np.zeros(self.n_features + 1), self.pooled[:, :-1], self.pooled[:, -1],
                         lr=model.learning_rate,
                         epochs=BASELINE_EPOCHS if model.batch_size is None else BASELINE_SGD_EPOCHS,
                         batch_size=model.batch_size, rng=np.random.default_rng(self.job.seed))
        return logreg.accuracy(w, self.test[:, :-1], self.test[:, -1])


def build_federation(job: TrainingJob, catalog: Catalog, mods: Callable[[str], Sequence[Mod]]) -> Federation:
    """One ``LocalGrid`` node per domain of ``job``, guarded by ``mods(domain)``."""
    data = _domain_data(catalog, job, job.seed)
    grid = LocalGrid()
    nodes: dict[int, str] = {}
    for i, (name, (load, _, _)) in enumerate(data.items()):
        guards = list(mods(name))
        client_clipping = job.dp is not None and job.dp.clipping == "client"
        if job.secure_aggregation:  # SecAgg+ rounds: Flower's legacy mods (see secagg_client)
            guards.extend(secagg_mods(client_clipping=client_clipping))
        elif client_clipping:
            guards.append(fixedclipping_mod)  # pairs with DifferentialPrivacyClientSideFixedClipping
        app = logreg.client_app(load, lr=job.model.learning_rate, epochs=job.model.local_epochs,
                                batch_size=job.model.batch_size, seed=job.seed * 1000 + i, mods=guards)
        nodes[grid.add_node(app, {"domain": name})] = name
    return Federation(job=job, grid=grid, nodes=nodes, test=np.vstack([t for _, t, _ in data.values()]),
                      pooled=np.vstack([p for _, _, p in data.values()]))


def _domain_data(catalog: Catalog, job: TrainingJob, seed: int) -> dict[str, tuple[Loader, np.ndarray, np.ndarray]]:
    """Per domain: a loader over the domain's own feature query's rows, its held-out and training rows (scaled)."""
    out: dict[str, tuple[Loader, np.ndarray, np.ndarray]] = {}
    bounds = {(q, c.name): c.bounds for q, _, t in catalog.iter_tables() for c in t.columns}
    for spec in job.domains:
        clinic = spec.name.removeprefix("clinic_")
        if clinic not in demo_data.SHIFTS:
            raise ConfigError(f"the example has generated data for clinic_{{{','.join(demo_data.SHIFTS)}}} only; "
                              f"got domain {spec.name}", code="config_fl_no_data")
        con, test = demo_data.clinic_database(clinic, seed)
        columns = con.execute(spec.feature_sql()).fetchnumpy()
        names = list(columns)
        rows = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
        if job.model.label not in names:
            raise ConfigError(f"domain {spec.name}: the feature query has no label column {job.model.label!r}",
                              code="config_training_job")
        table = f"clinic_{clinic}.patients"
        feats = [n for n in names if n != job.model.label]
        declared = [bounds.get((table, n)) for n in feats]
        lo = [float(b.lower) if b is not None else 0.0 for b in declared]
        hi = [float(b.upper) if b is not None else 1.0 for b in declared]
        li = names.index(job.model.label)
        x = logreg.scale(np.delete(rows, li, axis=1), lo, hi)
        y = rows[:, li]
        xt = logreg.scale(np.column_stack([np.asarray(test[n], dtype=float) for n in feats]), lo, hi)
        yt = np.asarray(test[job.model.label], dtype=float)
        out[spec.name] = (_loader(x, y), np.hstack([xt, yt[:, None]]), np.hstack([x, y[:, None]]))
    return out


def _loader(x: np.ndarray, y: np.ndarray) -> Loader:
    return lambda: (x, y)


