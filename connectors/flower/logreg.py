"""Federated logistic regression in numpy: the example's model, ClientApp and central baseline.

Features are scaled to [-1, 1] with the catalog's declared bounds (public metadata, never the data),
so every domain scales alike without sharing statistics. Each domain trains locally from the global
weights — mini-batch SGD over shuffled batches (what a real local step does), or full-batch gradient
descent when no batch size is given — and replies with its weights and ``num-examples``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import Mod

FloatArray = np.ndarray


def sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


def scale(x: FloatArray, lower: Sequence[float], upper: Sequence[float]) -> FloatArray:
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    out: FloatArray = np.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    return out


def train(w: FloatArray, x: FloatArray, y: FloatArray, *, lr: float, epochs: int, batch_size: int | None = None,
          rng: np.random.Generator | None = None) -> FloatArray:
    """Gradient descent on the logistic loss; ``w[-1]`` is the bias.

    With ``batch_size``: ``epochs`` passes of mini-batch SGD, each over a fresh permutation (``rng``);
    without: ``epochs`` full-batch steps.
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = w.astype(float).copy()
    if batch_size is None or batch_size >= len(y):
        for _ in range(epochs):
            w -= lr * xb.T @ (sigmoid(xb @ w) - y) / len(y)
        return w
    rng = rng or np.random.default_rng()
    for _ in range(epochs):
        order = rng.permutation(len(y))
        xs, ys = xb[order], y[order]
        for i in range(0, len(y), batch_size):
            xi, yi = xs[i:i + batch_size], ys[i:i + batch_size]
            w -= lr * xi.T @ (sigmoid(xi @ w) - yi) / len(yi)
    return w


def accuracy(w: FloatArray, x: FloatArray, y: FloatArray) -> float:
    xb = np.hstack([x, np.ones((len(x), 1))])
    return float(np.mean((sigmoid(xb @ w) >= 0.5) == (y >= 0.5)))


def client_app(load: Callable[[], tuple[FloatArray, FloatArray]], *, lr: float, epochs: int,
               batch_size: int | None = None, seed: int | None = None, mods: Sequence[Mod] = ()) -> ClientApp:
    """A ClientApp that trains on ``load()`` (the domain's own feature query, run on its side)."""
    app = ClientApp(mods=list(mods))
    rng = np.random.default_rng(seed)  # the node's own shuffling stream, one per node

    @app.train()
    def _train(msg: Message, context: Context) -> Message:
        x, y = load()
        w = msg.content.array_records["arrays"].to_numpy_ndarrays()[0]
        new = train(w, x, y, lr=lr, epochs=epochs, batch_size=batch_size, rng=rng)
        content = RecordDict({"arrays": ArrayRecord([new]),
                              "metrics": MetricRecord({"num-examples": len(y), "train-accuracy": accuracy(new, x, y)})})
        return Message(content, reply_to=msg)

    return app
