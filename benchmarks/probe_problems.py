"""The problem sets of :mod:`benchmarks.bench_probe`: groups of layers sharing labels.

Synthetic ones (:func:`synthetic_problem`: correlated, GELU-shaped units with a few
huge-variance ones, labels from shared latents) and the demo store's (:func:`demo_problems`: the
pipeline's own split of an entry's rows, one problem per (kind, pool)).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stc_gpu.probe import alpha_from_sklearn_C
from stc_gpu.probe.standardize import fit_scaler
from stc_gpu.vocabulary import DEFAULT_C_GRID

#: Fractions of alpha_max a synthetic problem's alphas are by default (sparse probes).
DEFAULT_FRACTIONS = (0.5, 0.3, 0.2, 0.1, 0.05)
#: Where a ready demo store may be (read only) and where one is built when none is found.
DEMO_STORES = ("/tmp/demo_store", "/tmp/bench_store")
BUILD_STORE = "/tmp/bench_store"
DEMO_TEXTS = 3000


@dataclass
class Problem:
    """P problems sharing labels: X (P, n, d) float32 training rows, y (n,) class indices,
    validation rows (the pipeline scores them at every step), alphas (our convention)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    alphas: list
    alpha_note: str

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1

    @property
    def shape(self) -> str:
        P, n, d = self.X.shape
        return f"{P} x {d} x {n}"


def make_layers(layers: int, units: int, rows: int, seed: int = 0, n_classes: int = 2):
    """X (layers, rows, units) float32 and y (rows,): GELU(latents @ loadings + noise).

    Binary labels threshold a noisy linear score of 6 latents; ``n_classes > 2`` labels are the
    argmax of ``n_classes`` noisy linear scores of the same latents.
    """
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((rows, 48)).astype(np.float32)
    if n_classes == 2:
        y = (factors[:, :6] @ rng.standard_normal(6) + rng.standard_normal(rows) > 0)
    else:
        scores = factors[:, :6] @ rng.standard_normal((6, n_classes))
        y = np.argmax(scores + rng.standard_normal((rows, n_classes)), axis=1)
    y = y.astype(np.int64)
    X = np.empty((layers, rows, units), dtype=np.float32)
    for layer in range(layers):
        loadings = rng.standard_normal((48, units)).astype(np.float32) / np.sqrt(48)
        pre = factors @ loadings + rng.standard_normal((rows, units), dtype=np.float32)
        X[layer] = torch.nn.functional.gelu(torch.from_numpy(pre)).numpy()
        X[layer, :, :4] *= 300.0  # a few huge-variance units
    return X, y


def alpha_max(X: np.ndarray, y: np.ndarray) -> float:
    """Largest alpha with a non-zero weight in any layer (standardised, intercept-only start).

    Binary: ``max |(y - mean y) @ Z| / n``; multiclass (multinomial): the same over the one-hot
    residuals of every class.
    """
    mean, scale = fit_scaler(torch.from_numpy(X))
    K = int(y.max()) + 1
    onehot = (y[:, None] == np.arange(K)).astype(np.float64)
    residual = (onehot - onehot.mean(0)) / len(y)
    if K == 2:
        residual = residual[:, 1:]
    top = 0.0
    for layer in range(X.shape[0]):
        # centring cancels: every residual column sums to 0
        grad = residual.T @ X[layer] / scale[layer].numpy()
        top = max(top, float(np.abs(grad).max()))
    return top


def synthetic_problem(name, layers, units, rows, n_classes=2, alphas=None, seed=0) -> Problem:
    """``rows`` training rows and ``rows // 4`` validation rows (the pipeline's 1,920 / 480)."""
    n_val = max(rows // 4, 2 * n_classes)
    X, y = make_layers(layers, units, rows + n_val, seed=seed, n_classes=n_classes)
    X_train, X_val = X[:, :rows], X[:, rows:]
    y_train, y_val = y[:rows], y[rows:]
    if alphas is None:
        top = alpha_max(X_train, y_train)
        alphas, note = [top * f for f in DEFAULT_FRACTIONS], "alpha_max x " + ",".join(
            f"{f:g}" for f in DEFAULT_FRACTIONS)
    else:
        note = "given"
    return Problem(name, np.ascontiguousarray(X_train), y_train, np.ascontiguousarray(X_val),
                   y_val, list(alphas), note)


def find_demo_entry(stores=DEMO_STORES, n_texts: int = DEMO_TEXTS, model: str | None = None):
    """A complete store entry of the first ``n_texts`` demo texts (default model), or None.

    Opens the stores read-only (nothing is written to them).
    """
    from stc_gpu.data.readers import read_column
    from stc_gpu.vocabulary import DEFAULT_MODEL
    from stc_gpu.data.demo import demo_data_path
    from stc_gpu.store.feature_store import FeatureStore

    model = model or DEFAULT_MODEL
    texts = None
    for root in stores:
        if root is None or not Path(root).exists():
            continue
        try:
            store = FeatureStore.open(root)
            infos = store.entries()
        except (OSError, ValueError):
            continue
        for info in infos:
            if info.n_rows != n_texts or not info.complete or \
                    model.split("/")[-1] != (info.model_name or "").split("/")[-1]:
                continue
            entry = store.entry(info.key)
            if texts is None:
                texts = [str(t) for t in read_column(demo_data_path(), "text")[:n_texts]]
            try:
                entry.verify_texts(texts)
            except ValueError:
                continue
            return entry
    return None


def demo_entry(store: str | None = None, n_texts: int = DEMO_TEXTS, device: str = "cpu",
               model: str | None = None):
    """``(entry, note)``: a ready demo entry (``store``, else :data:`DEMO_STORES`), else one
    extracted now into ``store`` (default :data:`BUILD_STORE`)."""
    from stc_gpu.config import STCConfig
    from stc_gpu.vocabulary import DEFAULT_MODEL
    from stc_gpu import pipeline
    from stc_gpu.data.demo import demo_data_path
    from stc_gpu.stc.selection import split_rows

    entry = find_demo_entry((store,) if store else DEMO_STORES, n_texts, model)
    if entry is not None:
        return entry, f"demo features read from {entry.path.parent.parent}"
    target = store or BUILD_STORE
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    cfg = STCConfig(model=model or DEFAULT_MODEL, max_texts=n_texts, store=target,
                    device=device if device.startswith("cuda") else None)
    entry, _, _ = pipeline.extract(cfg, show_progress=False)
    return entry, (f"demo features extracted into {target} now "
                   f"({time.perf_counter() - start:.0f} s, not timed below)")


def demo_problems(entry, sweeps=None, n_texts: int | None = None, C_grid=DEFAULT_C_GRID):
    """One :class:`Problem` per (kind, pool) sweep (``"kind/pool"`` strings; None: all) on the
    pipeline's own split of the entry's rows and the C grid converted with the train size."""
    from stc_gpu.config import STCConfig
    from stc_gpu.data.readers import read_column
    from stc_gpu import pipeline
    from stc_gpu.data.demo import demo_data_path
    from stc_gpu.stc.selection import split_rows
    from stc_gpu.stc.slabs import read_layer

    n_texts = n_texts or entry.n_rows
    labels = read_column(demo_data_path(), "label")[:n_texts]
    _, rows, _ = split_rows(labels, STCConfig(max_texts=max(n_texts, 10)))
    if sweeps is None:
        sweeps = [f"{k}/{p}" for k in entry.kinds for p in entry.pools]
    alphas = [alpha_from_sklearn_C(C, len(rows.train)) for C in C_grid]
    problems = []
    for sweep in sweeps:
        kind, pool = sweep.split("/")
        slabs = [read_layer(entry, kind, pool, layer, rows)[:2] for layer in entry.layers(kind)]
        problems.append(Problem(
            f"demo {kind}/{pool}", np.stack([s[0] for s in slabs]), rows.y_train,
            np.stack([s[1] for s in slabs]), rows.y_val, alphas,
            "C " + ",".join(f"{C:g}" for C in C_grid)))
    return problems
