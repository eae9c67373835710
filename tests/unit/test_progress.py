"""Progress that tells the truth: the bars count fits, and advance as the solver finishes them."""
from __future__ import annotations

import types

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.executors import LocalExecutor, local
from stc_gpu.stc import tasks
from stc_gpu.stc.aggregate import aggregate
from stc_gpu.stc.probing import probe_kind_pool
from stc_gpu.stc.search import search
from stc_gpu.stc.slabs import SplitRows


def _entry(layers=3, units=6, rows=60):
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 2
    feats = {layer: (rng.standard_normal((rows, units)) + y[:, None] * (layer + 1) * 0.3
                     ).astype(np.float32) for layer in range(layers)}
    entry = types.SimpleNamespace(
        kinds=("hidden",), pools=("mean",), path="unused", n_rows=rows, metadata={},
        layers=lambda kind: list(range(layers)), units=lambda kind: units,
        features=lambda kind, pool, layer: feats[layer])
    split = SplitRows.from_labels(y, np.arange(0, 36), np.arange(36, 48), np.arange(48, 60))
    return entry, split


class _Bar:
    """Stands in for tqdm: records the total and every update."""

    instances: list = []

    def __init__(self, total=None, **kwargs):
        self.total, self.n, self.updates, self.kwargs = total, 0, [], kwargs
        _Bar.instances.append(self)

    def update(self, n=1):
        self.n += n
        self.updates.append(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_probe_and_aggregation_report_every_fit_as_it_finishes():
    entry, split = _entry()
    Cs = [0.1, 1.0, 10.0]
    done = []
    sweep = probe_kind_pool(entry, "hidden", "mean", [0, 1, 2], split, Cs, on_fits=done.append)
    assert done == [3, 3, 3]  # all three layers finish one strength at a time
    coefs = {("hidden", layer): probe.coef for layer, probe in sweep.chosen.items()}
    done.clear()
    agg = aggregate(entry, "hidden", "mean", {"hidden": [0, 1, 2]}, coefs, split, [0.5, 0.9],
                    Cs, on_fits=done.append)
    assert sum(done) == len(agg.rows) == 3 * len(Cs) * 2
    assert len(done) == 2 * len(Cs)  # per η, one report per strength


def test_local_executor_bar_counts_fits(monkeypatch):
    monkeypatch.setattr(local, "tqdm", _Bar)
    _Bar.instances.clear()

    def job(n, on_fits):
        for _ in range(n):
            on_fits(1)
        return n

    out = LocalExecutor().map(job, [dict(n=2), dict(n=3)], desc="probes", fits=[2, 4])
    assert out == [2, 3]
    bar = _Bar.instances[0]
    assert bar.total == 6 and bar.kwargs["unit"] == "fit"
    assert bar.n == 6  # a job that skipped fits still completes its share
    assert bar.updates == [1, 1, 1, 1, 1, 1]


def test_search_bars_total_the_grid(monkeypatch):
    monkeypatch.setattr(local, "tqdm", _Bar)
    _Bar.instances.clear()
    entry, split = _entry()
    monkeypatch.setattr(tasks, "_open", lambda path: entry)
    config = STCConfig(kinds=["hidden"], pools=["mean"], C_grid=[0.1, 1.0],
                       eta_grid=[0.5, 0.9], device="cpu")
    search(entry, split, config, show_progress=True)
    probes, aggregation = _Bar.instances
    assert probes.total == 3 * 2 and probes.n == probes.total
    assert aggregation.total == 3 * 2 * 2 and aggregation.n == aggregation.total


def test_an_eta_with_the_salient_sets_of_the_previous_one_reuses_its_fits(monkeypatch):
    import stc_gpu.stc.aggregate as aggregation

    entry, split = _entry()
    # one dominant neuron per layer: η 0.01 and 0.1 keep it alone, η 0.9 keeps more
    coefs = {("hidden", layer): np.array([[3.0, 1.0, 0.8, 0.5, 0.0, 0.0]]) for layer in range(3)}
    calls = []
    fit_path = aggregation.fit_path
    monkeypatch.setattr(aggregation, "fit_path",
                        lambda X, *args, **kwargs: calls.append(X.shape[1])
                        or fit_path(X, *args, **kwargs))
    done = []
    Cs = [0.1, 1.0]
    sweep = aggregate(entry, "hidden", "mean", {"hidden": [0, 1, 2]}, coefs, split,
                      [0.01, 0.1, 0.9], Cs, on_fits=done.append)
    assert calls == [3, 6]  # η 0.01 and 0.1: one neuron per layer, fitted once; 0.9: two
    assert sum(done) == len(sweep.rows) == 3 * 3 * len(Cs)
    by_eta = {eta: [(r["L_temp"], r["C"], r["n_features"], r["val_acc"], r["val_f1"])
                    for r in sweep.rows if r["eta"] == eta] for eta in (0.01, 0.1)}
    assert by_eta[0.01] == by_eta[0.1]
