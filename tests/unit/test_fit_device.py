"""The fits run on the extraction's device by default: resolution with CUDA mocked, no CUDA code.

``torch.cuda.is_available`` and ``cuml_available`` are monkeypatched; every fit is replaced by a
recorder, so nothing here touches a GPU.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stc_gpu import pipeline
from stc_gpu.config import STCConfig
from stc_gpu.extract import configured
from stc_gpu.probe import cuml_backend
from stc_gpu.probe.path import resolve_backend
from stc_gpu.stc import probing, selection, tasks
from stc_gpu.stc.aggregate import AggSweep
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.stc.fit_options import fit_device
from stc_gpu.stc.probing import LayerProbe, ProbeSweep
from stc_gpu.stc.search import search
from stc_gpu.stc.slabs import SplitRows


class _Stop(Exception):
    """Raised by a recorder once it has what the test needs."""


@pytest.fixture
def cuda(monkeypatch):
    """``set(available)``: mock whether CUDA is there (and cuML stays absent unless told)."""
    def set_(available: bool, cuml: bool = False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        monkeypatch.setattr(cuml_backend, "cuml_available", lambda: cuml)
    return set_


# ---------------------------------------------------------------- the resolution itself


@pytest.mark.parametrize("available, config_device, extractor_device, expected", [
    (True, None, None, "cuda"),            # the GPU by default
    (True, None, "cuda:1", "cuda:1"),      # the extraction's own device
    (True, None, "cpu", "cpu"),            # extraction told to run on the CPU
    (True, "cpu", "cuda", "cpu"),          # an explicit --device cpu wins
    (False, None, None, "cpu"),
    (False, "cuda:2", None, "cuda:2"),
])
def test_fit_device(cuda, available, config_device, extractor_device, expected):
    cuda(available)
    extractor = None if extractor_device is None else types.SimpleNamespace(
        device=torch.device(extractor_device))
    assert fit_device(STCConfig(device=config_device), extractor) == expected


@pytest.mark.parametrize("device, cuml, expected", [
    ("cuda", True, "cuml"),
    ("cuda", False, "torch"),              # torch solver on the GPU
    ("cuda:1", True, "cuml"),
    ("cpu", True, "torch"),
    (None, True, "torch"),                 # numpy data, no device: where the data lives
])
def test_auto_backend_follows_the_fit_device(cuda, device, cuml, expected):
    cuda(True, cuml=cuml)
    X = np.zeros((10, 3), dtype=np.float32)
    assert resolve_backend("auto", X, device) == expected
    assert resolve_backend("sklearn", X, device) == "sklearn"  # an explicit backend is kept
    # a batched path (many problems x strengths) stays on our solver, on that device
    assert resolve_backend("auto", X, device, n_fits=30) == "torch"


def test_explicit_cpu_keeps_device_resident_data_off_the_gpu(cuda, monkeypatch):
    cuda(True, cuml=True)
    monkeypatch.setattr("stc_gpu.probe.path.is_cupy", lambda x: True)  # pretend X is cupy
    X = np.zeros((10, 3), dtype=np.float32)
    assert resolve_backend("auto", X) == "cuml"
    assert resolve_backend("auto", X, "cpu") == "torch"


# ---------------------------------------------------------------- search passes it down


def _entry():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((40, 5)).astype(np.float32)
    return types.SimpleNamespace(
        kinds=("hidden",), pools=("mean",), path="unused", n_rows=40, metadata={},
        layers=lambda kind: [0, 1], units=lambda kind: 5,
        features=lambda kind, pool, layer: feats)


def _rows():
    y = np.arange(40) % 2
    return SplitRows.from_labels(y, np.arange(0, 24), np.arange(24, 32),
                                          np.arange(32, 40))


@pytest.fixture
def recorded(monkeypatch):
    """Replace the probe and aggregation fits by recorders of the device they are given."""
    seen = {"probe": [], "aggregate": []}
    entry = _entry()

    def fake_probe(entry, kind, pool, layers, label_rows, Cs, options, *, on_fits=None):
        seen["probe"].append(options.device)
        est = types.SimpleNamespace(coef_=np.ones((1, 5)))
        return [ProbeSweep(rows=[], chosen={l: LayerProbe(kind, pool, l, Cs[0], est, 0.5)
                                            for l in layers}) for _ in label_rows]

    def fake_aggregate(entry, name, pool, layers, label_coefs, label_rows, etas, Cs, options, *,
                       on_fits=None):
        seen["aggregate"].append(options.device)
        return [AggSweep() for _ in label_rows]

    monkeypatch.setattr(tasks, "_open", lambda path: entry)
    monkeypatch.setattr(tasks, "probe_labels", fake_probe)
    monkeypatch.setattr(tasks, "aggregate_labels", fake_aggregate)
    return seen, entry


@pytest.mark.parametrize("config_device, expected", [(None, "cuda"), ("cpu", "cpu")])
def test_search_passes_the_fit_device_to_probes_and_aggregation(cuda, recorded, config_device,
                                                                 expected):
    cuda(True)
    seen, entry = recorded
    config = STCConfig(device=config_device, C_grid=[1.0], eta_grid=[0.5])
    search(entry, _rows(), config, show_progress=False)
    assert seen["probe"] == [expected] and seen["aggregate"] == [expected]


def test_search_takes_the_device_it_is_given(cuda, recorded):
    cuda(True)
    seen, entry = recorded
    search(entry, _rows(), STCConfig(C_grid=[1.0], eta_grid=[0.5]),
                    show_progress=False, device="cuda:1")
    assert seen["probe"] == ["cuda:1"] and seen["aggregate"] == ["cuda:1"]


@pytest.mark.parametrize("cuml", [False, True])
def test_probe_fits_get_the_device_and_resolve_the_backend_there(cuda, monkeypatch, cuml):
    """Down to fit_path: probe_kind_pool hands it the device, where auto resolves to our
    batched solver (all layers x strengths in one solve), cuML or not."""
    cuda(True, cuml=cuml)
    calls = []

    def fake_fit_path(X, y, alphas, *, backend="auto", device=None, **options):
        calls.append((device, resolve_backend(backend, X, device, n_fits=len(X) * len(alphas))))
        raise _Stop

    monkeypatch.setattr(probing, "fit_path", fake_fit_path)
    monkeypatch.setattr(tasks, "_open", lambda path: _entry())
    with pytest.raises(_Stop):
        search(_entry(), _rows(), STCConfig(C_grid=[1.0]), show_progress=False)
    assert calls == [("cuda", "torch")]


# ---------------------------------------------------------------- callers of fit_task


@pytest.fixture
def search_device(monkeypatch):
    """Record the ``device`` that reaches :func:`search`, then stop."""
    seen = []

    def fake_search(entry, rows, config, *, device=None, **options):
        seen.append(device)
        raise _Stop

    monkeypatch.setattr(selection, "search", fake_search)
    return seen


def test_classifier_fit_on_texts_uses_the_extraction_device(cuda, search_device, monkeypatch):
    cuda(True)
    extractor = types.SimpleNamespace(device=torch.device("cuda:1"), describe=lambda: {})
    monkeypatch.setattr(configured, "extract", lambda config, **kw: (_entry(), None, extractor))
    with pytest.raises(_Stop):
        STCClassifier().fit(["some text"] * 40, np.arange(40) % 2)
    assert search_device == ["cuda:1"]


@pytest.mark.parametrize("config_device, expected", [(None, "cuda"), ("cpu", "cpu")])
def test_classifier_fit_on_an_entry(cuda, search_device, config_device, expected):
    cuda(True)
    with pytest.raises(_Stop):
        STCClassifier(device=config_device).fit(_entry(), np.arange(40) % 2)
    assert search_device == [expected]


def test_run_task_fits_on_the_extraction_device(cuda, monkeypatch):
    cuda(True)
    seen = []

    def fake_fit_task(entry, y, config, *, device=None, **options):
        seen.append(device)
        raise _Stop

    monkeypatch.setattr(pipeline, "fit_task", fake_fit_task)
    extractor = types.SimpleNamespace(device=torch.device("cuda:3"))
    with pytest.raises(_Stop):
        pipeline._run_task("label", None, None, _entry(), None, extractor, {}, 1.0, "data.csv",
                           0.0, None, STCConfig(), None, False)
    assert seen == ["cuda:3"]


@pytest.mark.parametrize("available, config_device, gpu", [
    (True, None, True),       # fits on CUDA by default: the Dask workers get the GPUs
    (True, "cpu", False),
    (False, None, False),
])
def test_dask_workers_get_gpus_when_the_fits_run_on_cuda(cuda, monkeypatch, available,
                                                         config_device, gpu):
    import contextlib

    from stc_gpu import executors

    cuda(available)
    made = []

    class Recorder(contextlib.nullcontext):
        def __init__(self, n_workers, *, scheduler=None, gpu=False):
            made.append(gpu)
            super().__init__()

    monkeypatch.setattr(executors, "DaskExecutor", Recorder)
    config = STCConfig(device=config_device, workers=2)
    with executors.executor_for(config, fit_device(config)):
        pass
    assert made == [gpu]
