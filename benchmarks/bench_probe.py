"""Benchmark: the probe sweeps of the fit engine, batched torch solver vs scikit-learn.

Problem sets, each a group of layers sharing labels (what the pipeline fits in one call):

* **binary, synthetic**: one GPT-2-small-sized layer group, 12 layers x 3,072 FFN units x 20,000
  rows, 5 alphas (fractions of alpha_max: sparse probes); synthetic activations (shared latent
  factors -> correlated, GELU-shaped units, a few huge-variance units), labels from the latents;
* **multiclass, synthetic**: K = 3, 8 and 20 classes from the same generator, 6 layers x 1,536
  units x 3,000 rows (20 Newsgroups' shape with all-MiniLM-L6-v2's FFN), alphas likewise;
* **the demo store** (the pipeline's real shapes): 3,000 RT snippets through all-MiniLM-L6-v2,
  the pipeline's own split (1,920 training rows) and one sweep per (kind, pool), e.g. ffn/max
  (6 layers x 1,536 units) and hidden/mean (7 x 384), over the paper's C grid
  {0.1, 0.2, 1, 10, 100} converted with :func:`stc_gpu.probe.alpha_from_sklearn_C`.

For every set, side by side: the torch backend fits all layers x alphas in one batched
``fit_path`` call, at the pipeline's own settings (``max_iter=30, tol=1e-4``, validation rows
scored at every step) and at converged settings (``max_iter=100, tol=1e-6``); liblinear (binary)
and saga (binary, and multinomial for K > 2) fit the same standardised problems one (layer, alpha)
at a time. sklearn can be timed on the first ``--sklearn-layers`` / ``--saga-layers`` layers only;
its per-layer time is then extrapolated to all layers (the rows say so). When ``fit_path`` takes
``multiclass=``, K > 2 is fitted both ``"multinomial"`` (against saga) and ``"ovr"`` (against
liblinear, one binary fit per class). Objectives are our convention
(:mod:`stc_gpu.probe.objective`), evaluated in float64 on the same standardised rows, for the
final iterate (``result.coef``, not the validation checkpoint ``best_coef``); the objective gap is
ours minus sklearn's (negative: ours is lower).

    python benchmarks/bench_probe.py --quick
    python benchmarks/bench_probe.py --device cuda          # on a GPU machine (cuML beside it)
    python benchmarks/bench_probe.py --sets demo --store /tmp/demo_store
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stc_gpu.config import STCConfig
from stc_gpu.probe import alpha_from_sklearn_C, fit_path, l1_objective
from stc_gpu.probe.cuml_backend import cuml_available
from stc_gpu.probe.standardize import fit_scaler
from stc_gpu.vocabulary import DEFAULT_C_GRID

DEFAULT_FRACTIONS = (0.5, 0.3, 0.2, 0.1, 0.05)
_PIPELINE = STCConfig()
#: (label, max_iter, tol, score the validation rows, patience): the pipeline's settings (its
#: defaults, with validation early stopping) and converged ones.
SETTINGS = (("pipeline", _PIPELINE.max_iter, _PIPELINE.tol, True, _PIPELINE.patience),
            ("converged", 100, 1e-6, False, None))
SETS = ("binary", "multiclass", "demo")
#: Where a ready demo store may be (read only) and where one is built when none is found.
DEMO_STORES = ("/tmp/demo_store", "/tmp/bench_store")
BUILD_STORE = "/tmp/bench_store"
DEMO_TEXTS = 3000

FULL = dict(binary=(12, 3072, 20_000), multiclass=(6, 1536, 3000), classes=(3, 8, 20),
            demo_sweeps=None)  # None: every (kind, pool) in the store
QUICK = dict(binary=(2, 512, 2000), multiclass=(1, 64, 600), classes=(3, 20),
             demo_sweeps=("hidden/mean",))


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


# -- the demo store -------------------------------------------------------------------------
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


# -- fitting and scoring --------------------------------------------------------------------
def _standardized(X_layer: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (X_layer.astype(np.float64) - mean) / scale


def supports_multiclass() -> bool:
    """Whether ``fit_path`` takes ``multiclass=`` ("ovr" | "multinomial")."""
    return "multiclass" in inspect.signature(fit_path).parameters


def _objectives(Z_of, y, coef, intercept, alphas, layers, ovr=False):
    """(layers, A) objectives; ``ovr``: the sum of the K binary (class k vs rest) objectives."""
    objective = np.zeros((layers, len(alphas)))
    for layer in range(layers):
        Z = Z_of(layer)
        for a, alpha in enumerate(alphas):
            W, b = coef[layer, a], intercept[layer, a]
            if ovr:
                objective[layer, a] = sum(
                    l1_objective(Z, (y == k).astype(np.int64), W[k:k + 1], b[k:k + 1], alpha)
                    for k in range(W.shape[0]))
            else:  # binary, or one softmax
                objective[layer, a] = l1_objective(Z, y, W, b, alpha, multiclass="multinomial")
    return objective


def run_sklearn(solver, X, y, alphas, layers, mean, scale, max_iter, tol, ovr=False):
    """Per-(layer, alpha) fits: seconds per layer, objectives and nnz (layers, A).

    ``ovr``: one binary fit per class (class k vs rest), objectives and times summed.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from stc_gpu.probe.objective import sklearn_C_from_alpha
    from stc_gpu.probe.sklearn_backend import INTERCEPT_SCALING, _l1_kwargs

    K = int(y.max()) + 1
    targets = [(y == k).astype(np.int64) for k in range(K)] if ovr else [y]
    objective = np.zeros((layers, len(alphas)))
    nnz = np.zeros((layers, len(alphas)), dtype=int)
    seconds = 0.0
    for layer in range(layers):
        Z = _standardized(X[layer], mean[layer], scale[layer])
        for a, alpha in enumerate(alphas):
            for target in targets:
                model = LogisticRegression(
                    C=sklearn_C_from_alpha(alpha, len(y)), solver=solver, tol=tol,
                    max_iter=max_iter, intercept_scaling=INTERCEPT_SCALING, **_l1_kwargs(),
                )
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(Z, target)
                seconds += time.perf_counter() - start
                objective[layer, a] += l1_objective(Z, target, model.coef_, model.intercept_,
                                                    alpha, multiclass="multinomial")
                nnz[layer, a] += int((model.coef_ != 0).sum())
    return seconds / max(layers, 1), objective, nnz


def run_ours(backend, X, y, alphas, device, mean, scale, *, max_iter=100, tol=1e-6,
             eval_set=None, multiclass=None, patience=None):
    """One batched path over all layers: seconds, objectives / nnz (layers, A), the result.

    Objectives are those of the final iterate (``result.coef``), re-evaluated in float64.
    """
    cuda = device is not None and device.startswith("cuda")
    data = torch.from_numpy(X).to(device) if cuda else X
    if eval_set is not None and cuda:
        eval_set = (torch.from_numpy(eval_set[0]).to(device), eval_set[1])
    if cuda:
        torch.cuda.synchronize()
    if backend == "cuml":
        import cupy as cp

        data = cp.from_dlpack(data)
    extra = {"multiclass": multiclass} if multiclass is not None else {}
    start = time.perf_counter()
    result = fit_path(data, y, alphas, backend=backend, device=device, max_iter=max_iter,
                      tol=tol, eval_set=eval_set, patience=patience if eval_set else None,
                      **extra)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del data
    objective = _objectives(lambda layer: _standardized(X[layer], mean[layer], scale[layer]), y,
                            result.coef, result.intercept, alphas, X.shape[0],
                            ovr=multiclass == "ovr")
    nnz = (result.coef != 0).sum(axis=(2, 3))
    return seconds, objective, nnz, result


def _settings_label(label: str, max_iter: int, tol: float, patience: int | None) -> str:
    extra = f", patience {patience}" if patience else ""
    return f"{label} ({max_iter}, {tol:g}{extra})"


def compare(problem: Problem, device: str, *, sklearn_layers: int = 2, saga_layers: int = 1,
            saga_max_iter: int = 200, with_cuml: bool | None = None) -> dict:
    """Fit ``problem`` with every method; the detailed record (arrays) and its summary rows."""
    X, y, alphas = problem.X, problem.y, problem.alphas
    P = X.shape[0]
    K = problem.n_classes
    mean, scale = (t.numpy() for t in fit_scaler(torch.from_numpy(X)))
    modes = [None]
    if K > 2 and supports_multiclass():
        modes = ["multinomial", "ovr"]
    methods = []
    for mode in modes:
        for label, max_iter, tol, scored, patience in SETTINGS:
            seconds, objective, nnz, result = run_ours(
                "torch", X, y, alphas, device, mean, scale, max_iter=max_iter, tol=tol,
                eval_set=(problem.X_val, problem.y_val) if scored else None, multiclass=mode,
                patience=patience)
            methods.append(dict(
                method=f"torch ({device}, batched)", mode=mode or ("multinomial" if K > 2
                                                                   else "binary"),
                settings=_settings_label(label, max_iter, tol, patience if scored else None),
                layers_timed=P, seconds_all=seconds,
                objective=objective, nnz=nnz, newton_steps=result.n_iter.tolist(),
                converged=float(np.mean(result.converged)), torch=True))
    use_cuml = device.startswith("cuda") and cuml_available() if with_cuml is None else with_cuml
    if use_cuml:
        seconds, objective, nnz, _ = run_ours("cuml", X, y, alphas, device, mean, scale)
        methods.append(dict(method="cuml (per fit)", mode="binary" if K == 2 else "multinomial",
                            settings="converged (100, 1e-06)", layers_timed=P,
                            seconds_all=seconds, objective=objective, nnz=nnz, torch=False))
    references = []
    if K == 2:
        references.append(("liblinear", sklearn_layers, 1000, False, "binary"))
    elif "ovr" in modes:
        references.append(("liblinear", sklearn_layers, 1000, True, "ovr"))
    references.append(("saga", saga_layers, saga_max_iter, False,
                       "binary" if K == 2 else "multinomial"))
    for solver, layers, max_iter, ovr, mode in references:
        layers = min(layers, P)
        if layers <= 0:
            continue
        per_layer, objective, nnz = run_sklearn(solver, X, y, alphas, layers, mean, scale,
                                                max_iter, 1e-4, ovr=ovr)
        methods.append(dict(method=f"sklearn {solver}" + (" (per class)" if ovr else ""),
                            mode=mode, settings=f"max_iter {max_iter}, tol 1e-4",
                            layers_timed=layers, seconds_all=per_layer * P,
                            objective=objective, nnz=nnz, torch=False))
    rows = _summary_rows(problem, methods)
    return dict(name=problem.name, n_classes=K, sizes=dict(zip(("layers", "rows", "units"),
                                                               X.shape)),
                alphas=list(map(float, alphas)), alpha_note=problem.alpha_note,
                results=methods, rows=rows)


def _summary_rows(problem: Problem, methods: list[dict]) -> list[dict]:
    """One row per (torch setting, reference of the same mode): time, ratio, objective gap."""
    P = problem.X.shape[0]
    rows = []
    for ours in (m for m in methods if m["torch"]):
        refs = [m for m in methods if not m["torch"] and m["mode"] == ours["mode"]]
        base = {"problem": problem.name, "K": problem.n_classes, "shape": problem.shape,
                "alphas": problem.alpha_note, "mode": ours["mode"],
                "torch": ours["settings"], "torch_s": round(ours["seconds_all"], 3),
                "converged": round(ours["converged"], 2)}
        if not refs:
            rows.append({**base, "reference": "(none timed)"})
        for ref in refs:
            k = ref["layers_timed"]
            gap = ours["objective"][:k] - ref["objective"][:k]
            rows.append({
                **base, "reference": ref["method"].replace("sklearn ", ""),
                "ref_layers": f"{k} of {P}" + (" (extrapolated)" if k < P else ""),
                "ref_s": round(ref["seconds_all"], 3),
                "ratio": round(ref["seconds_all"] / max(ours["seconds_all"], 1e-9), 3),
                "gap_max": float(f"{gap.max():.3g}"), "gap_min": float(f"{gap.min():.3g}"),
                "nnz_ours": round(float(ours["nnz"][:k].mean()), 1),
                "nnz_ref": round(float(ref["nnz"][:k].mean()), 1)})
    return rows


# -- the whole benchmark ----------------------------------------------------------------------
def build_problems(sets, *, binary, multiclass, classes, demo_sweeps, alphas=None,
                   store=None, device="cpu", notes=None):
    """The problem sets named in ``sets`` (see :data:`SETS`), in that order."""
    notes = [] if notes is None else notes
    problems = []
    if "binary" in sets:
        problems.append(synthetic_problem("synthetic binary", *binary, alphas=alphas))
    if "multiclass" in sets:
        for K in classes:
            problems.append(synthetic_problem(f"synthetic K={K}", *multiclass, n_classes=K))
    if "demo" in sets:
        try:
            entry, note = demo_entry(store, device=device)
        except Exception as err:  # no model / no store: the other sets still run
            notes.append(f"demo store rows skipped: {type(err).__name__}: {err}")
        else:
            notes.append(note)
            problems += demo_problems(entry, demo_sweeps)
    return problems


def benchmark(quick: bool, device: str, *, sets=SETS, sizes: dict | None = None,
              store: str | None = None, sklearn_layers: int | None = None,
              saga_layers: int = 1, saga_max_iter: int = 200, alphas=None,
              problems: list[Problem] | None = None) -> tuple[dict, list[dict]]:
    """``(summary, records)``: the benchmarks-convention result and the detailed records."""
    sizes = {**(QUICK if quick else FULL), **(sizes or {})}
    sklearn_layers = (1 if quick else 2) if sklearn_layers is None else sklearn_layers
    notes = []
    start = time.perf_counter()
    if problems is None:
        problems = build_problems(sets, binary=sizes["binary"], multiclass=sizes["multiclass"],
                                  classes=sizes["classes"], demo_sweeps=sizes["demo_sweeps"],
                                  alphas=alphas, store=store, device=device, notes=notes)
    records = []
    for problem in problems:
        t0 = time.perf_counter()
        records.append(compare(problem, device, sklearn_layers=sklearn_layers,
                               saga_layers=saga_layers, saga_max_iter=saga_max_iter))
        print(f"{problem.name} ({problem.shape}, K={problem.n_classes}): "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    rows = [row for record in records for row in record["rows"]]
    notes += [
        f"device {device}, {torch.get_num_threads()} torch threads; shape = layers x units x "
        "training rows; multiclass mode "
        + ("multinomial and ovr (fit_path takes multiclass=)" if supports_multiclass()
           else "multinomial (this fit_path has no multiclass= keyword)"),
        "torch: every layer x alpha in one fit_path call; pipeline = its settings (max_iter 30, "
        "tol 1e-4, validation rows scored each step), converged = max_iter 100, tol 1e-6; "
        "converged: share of fits the solver reports converged",
        "sklearn fits one (layer, alpha) at a time on the same standardised rows; ref_s "
        "extrapolates its per-layer time to all layers when ref_layers says so; ratio = "
        "ref_s / torch_s",
        "gap = our objective minus sklearn's (float64, same rows, final iterate), max and min "
        "over the timed layers x alphas; ovr: the sum of the K binary objectives",
        f"wall time of the whole benchmark {time.perf_counter() - start:.0f} s",
    ]
    summary = {"name": "probe", "title": __doc__.splitlines()[0], "rows": rows, "notes": notes}
    return summary, records


def run(quick: bool, device: str, **kwargs) -> dict:
    """The benchmarks-convention result (see :func:`benchmark` for ``kwargs``)."""
    return benchmark(quick, device, **kwargs)[0]


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def main(argv=None):
    import sys

    if __package__ in (None, ""):  # run as a script: python benchmarks/bench_probe.py
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import check_result, markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=None, help="binary synthetic set (12)")
    parser.add_argument("--units", type=int, default=None, help="binary synthetic set (3,072)")
    parser.add_argument("--rows", type=int, default=None,
                        help="binary synthetic set, training rows (20,000)")
    parser.add_argument("--alphas", type=str, default=None,
                        help="comma-separated alphas of the binary synthetic set; default: "
                             f"fractions {DEFAULT_FRACTIONS} of alpha_max (sparse probes)")
    parser.add_argument("--classes", type=str, default=None,
                        help="comma-separated K of the multiclass sets (3,8,20)")
    parser.add_argument("--mc-shape", type=str, default=None,
                        help="LAYERSxUNITSxROWS of the multiclass sets (6x1536x3000)")
    parser.add_argument("--sets", type=str, default=",".join(SETS),
                        help=f"comma-separated problem sets out of {', '.join(SETS)}")
    parser.add_argument("--demo-sweeps", type=str, default=None,
                        help="comma-separated kind/pool sweeps of the demo store (default all; "
                             "quick: hidden/mean)")
    parser.add_argument("--store", type=str, default=None,
                        help=f"a feature store holding the demo entry (default: look in "
                             f"{', '.join(DEMO_STORES)}, else extract into {BUILD_STORE})")
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic sizes, demo hidden/mean only (about a minute)")
    parser.add_argument("--device", default="cpu", help="torch device for our solver")
    parser.add_argument("--sklearn-layers", type=int, default=None,
                        help="layers timed with liblinear (extrapolated per layer); 0 skips "
                             "(default 2, quick 1)")
    parser.add_argument("--saga-layers", type=int, default=1,
                        help="layers timed with saga (extrapolated per layer); 0 skips")
    parser.add_argument("--saga-max-iter", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None,
                        help="the full report (objectives per fit) here; default "
                             "benchmarks/bench_probe.json for full runs without --json "
                             "(never written by --quick unless given)")
    parser.add_argument("--json", type=Path, default=None,
                        help="a summary in the benchmarks convention (what python -m benchmarks "
                             "reads)")
    args = parser.parse_args(argv)

    base = QUICK if args.quick else FULL
    sizes = {}
    if any(v is not None for v in (args.layers, args.units, args.rows)):
        sizes["binary"] = tuple(v if v is not None else d for v, d in
                                zip((args.layers, args.units, args.rows), base["binary"]))
    if args.mc_shape:
        sizes["multiclass"] = tuple(int(v) for v in args.mc_shape.lower().split("x"))
    if args.classes is not None:
        sizes["classes"] = tuple(int(k) for k in args.classes.split(",") if k)
    if args.demo_sweeps is not None:
        sizes["demo_sweeps"] = tuple(s for s in args.demo_sweeps.split(",") if s)
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    alphas = [float(a) for a in args.alphas.split(",")] if args.alphas else None

    summary, records = benchmark(
        args.quick, args.device, sets=sets, sizes=sizes, store=args.store,
        sklearn_layers=args.sklearn_layers, saga_layers=args.saga_layers,
        saga_max_iter=args.saga_max_iter, alphas=alphas)
    check_result(summary)
    print(f"\n{summary['title']}\n\n{markdown_table(summary['rows'])}\n")
    for note in summary["notes"]:
        print(f"- {note}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    out = args.out
    if out is None and (args.json is not None or args.quick):
        return summary
    out = out or Path("benchmarks/bench_probe.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(
        quick=args.quick, device=args.device, torch_threads=torch.get_num_threads(),
        machine=platform.processor() or platform.machine(), torch=torch.__version__,
        problems=[{k: _plain(v) for k, v in record.items() if k != "rows"}
                  for record in records],
        summary=summary,
    )
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return summary


if __name__ == "__main__":
    main()
