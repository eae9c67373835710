"""Figures of the paper, drawn from result records into PNG files (no pyplot, no display needed).

- :func:`plot_layer_curve`: Figure 2, layer-wise probes vs the aggregated classifier per L_temp;
- :func:`plot_what_which_where`: Figure 3, every aggregation configuration and its feature count;
- :func:`plot_salient_histograms`: Figure 4a, per-class histograms of each layer's salient neurons.

Record fields are those of :mod:`stc_gpu.stc.records`; scores are fractions, drawn as percent.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from stc_gpu.stc.records import Record, best_per, matching, metric_key, n_layers, only_value

_POOL_MARKERS = {"mean": "o", "max": "^", "single": "s"}
_OTHER_MARKERS = ("D", "v", "P", "X", "*")
_METRIC_NAMES = {"acc": "accuracy", "f1": "macro-F1"}


def plot_layer_curve(probe_rows: Sequence[Record], agg_rows: Sequence[Record], path: str | os.PathLike,
                     *, kind: str | None = None, pool: str | None = None, eta: float | None = None,
                     metric: str = "acc", title: str | None = None) -> Path:
    """Figure 2: best probe of each layer vs the aggregated classifier at each L_temp.

    Parameters
    ----------
    probe_rows : per-layer probe records (``probe_best``; with several per layer the best counts)
    agg_rows : aggregation records; for each L_temp the best on validation is drawn
    kind, pool, eta : filters; after filtering the rows must hold one kind, one pool and one η
    metric : "acc" or "f1"; validation scores are lines, ``test_<metric>`` fields (if any) markers

    Returns the PNG path.
    """
    key = metric_key(metric)
    probes = matching(probe_rows, kind=kind, pool=pool)
    aggs = matching(agg_rows, kind=kind, pool=pool, eta=eta)
    if not probes:
        raise ValueError(f"no probe rows for kind={kind!r}, pool={pool!r}")
    if not aggs:
        raise ValueError(f"no aggregation rows for kind={kind!r}, pool={pool!r}, eta={eta!r}")
    kind, pool = only_value(probes + aggs, "kind"), only_value(probes + aggs, "pool")
    eta = only_value(aggs, "eta")

    figure = Figure(figsize=(7, 4.2))
    axes = figure.add_subplot()
    for rows, position, label, style in (
            (probes, "layer", "layer-wise LR probe", {"color": "tab:blue", "marker": "o"}),
            (aggs, "L_temp", f"aggregated, η = {eta:g}", {"color": "tab:red", "marker": "s"})):
        best = best_per(rows, (position,), f"val_{key}")
        x = np.array(sorted(group[0] for group in best))
        axes.plot(x, [100 * best[(i,)][f"val_{key}"] for i in x], label=f"{label} (validation)",
                  markersize=4, **style)
        tested = [(i, best[(i,)].get(f"test_{key}")) for i in x if best[(i,)].get(f"test_{key}") is not None]
        if tested:
            axes.scatter(*zip(*[(i, 100 * v) for i, v in tested]), facecolors="none",
                         edgecolors=style["color"], marker=style["marker"], s=60, label=f"{label} (test)")
    axes.set_xlabel("layer (L_temp for the aggregated classifier)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(f"{_METRIC_NAMES[key]} (%)")
    axes.set_title(title or f"{kind} · {pool} pooling: probes vs aggregation")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def plot_what_which_where(agg_rows: Sequence[Record], path: str | os.PathLike, kind: str, *,
                          metric: str = "acc", title: str | None = None) -> Path:
    """Figure 3: validation score of every (pool, η, L_temp) aggregation of one kind.

    Upper panel: score vs L_temp; pool as marker shape, η as marker size, colour by the number of
    aggregated layers. Lower panel: number of aggregated features (log scale). With several rows
    per configuration (e.g. one per C) the best on validation is drawn.

    Returns the PNG path.
    """
    key = metric_key(metric)
    rows = matching(agg_rows, kind=kind)
    if not rows:
        raise ValueError(f"no aggregation rows of kind {kind!r}")
    best = list(best_per(rows, ("pool", "eta", "L_temp"), f"val_{key}").values())
    if not best:
        raise ValueError(f"no aggregation row of kind {kind!r} has a val_{key} score")
    pools = sorted({row["pool"] for row in best})
    etas = sorted({float(row["eta"]) for row in best})
    markers = _pool_markers(pools)
    sizes = dict(zip(etas, np.geomspace(18, 160, len(etas)) if len(etas) > 1 else [60]))
    offsets = dict(zip(pools, np.linspace(-0.2, 0.2, len(pools)) if len(pools) > 1 else [0.0]))
    depth = [n_layers(row) for row in best]
    colours = Normalize(vmin=min(depth), vmax=max(depth) if max(depth) > min(depth) else min(depth) + 1)

    figure = Figure(figsize=(8, 6.5))
    upper, lower = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for pool in pools:
        chosen = [row for row in best if row["pool"] == pool]
        x = [row["L_temp"] + offsets[pool] for row in chosen]
        style = {"marker": markers[pool], "s": [sizes[float(row["eta"])] for row in chosen],
                 "c": [n_layers(row) for row in chosen], "cmap": "viridis", "norm": colours,
                 "edgecolors": "black", "linewidths": 0.4, "alpha": 0.85}
        points = upper.scatter(x, [100 * row[f"val_{key}"] for row in chosen], **style)
        lower.scatter(x, [row["n_features"] for row in chosen], **style)
    figure.colorbar(points, ax=[upper, lower], label="aggregated layers")
    upper.set_ylabel(f"validation {_METRIC_NAMES[key]} (%)")
    upper.set_title(title or f"what-which-where: {kind}")
    lower.set_yscale("log")
    lower.set_ylabel("features")
    lower.set_xlabel("L_temp (deepest layer aggregated)")
    lower.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (upper, lower):
        axes.grid(alpha=0.3)
    pool_handles = [Line2D([], [], linestyle="", marker=markers[p], color="grey", label=p) for p in pools]
    eta_handles = [Line2D([], [], linestyle="", marker="o", color="grey", label=f"η = {e:g}",
                          markersize=float(np.sqrt(sizes[e]))) for e in etas]
    figure.legend(handles=pool_handles + eta_handles, fontsize="small", loc="upper center",
                  bbox_to_anchor=(0.45, 0.02), ncol=min(len(pools) + len(etas), 8), frameon=False)
    return _save(figure, path)


def plot_salient_histograms(layer_features: Mapping[Any, np.ndarray], y: np.ndarray,
                            class_names: Sequence[str], path: str | os.PathLike,
                            agg_scores: Mapping[Any, float] | None = None, *,
                            neuron_ids: Mapping[Any, Sequence[int]] | None = None,
                            max_layers: int = 6, max_neurons: int = 5, bins: int = 30,
                            title: str | None = None) -> Path:
    """Figure 4a: per-class histograms of each layer's top salient neurons.

    Parameters
    ----------
    layer_features : {layer: array (n, k)}
        Values of each layer's salient neurons, columns in descending importance. With more than
        ``max_layers`` layers, evenly spaced ones are drawn; at most ``max_neurons`` columns each.
    y : int array (n,)
        Class codes 0..K-1 of the rows.
    class_names : K names
    agg_scores : {L_temp: score in [0, 1]}, optional
        Aggregated classifier score per L_temp, drawn in a top panel.
    neuron_ids : {layer: k neuron ids}, optional
        Shown in the panel titles.

    Returns the PNG path.
    """
    y = np.asarray(y)
    if not layer_features:
        raise ValueError("layer_features is empty: no salient neurons to draw")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be a 1-d array of class codes, got {y.dtype} shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= len(class_names)):
        raise ValueError(f"y holds codes outside 0..{len(class_names) - 1} ({len(class_names)} class names)")
    layers = sorted(layer_features)
    for layer in layers:
        values = np.asarray(layer_features[layer])
        if values.ndim != 2 or values.shape[0] != len(y) or values.shape[1] == 0:
            raise ValueError(f"layer {layer}: features must have shape ({len(y)}, k >= 1), "
                             f"got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"layer {layer}: features contain NaN or infinite values")
    if len(layers) > max_layers:
        layers = [layers[int(i)] for i in np.unique(np.linspace(0, len(layers) - 1, max_layers).round())]
    n_cols = min(max_neurons, max(np.shape(layer_features[layer])[1] for layer in layers))
    top = 1 if agg_scores else 0

    figure = Figure(figsize=(2.6 * n_cols + 0.6, 1.9 * (len(layers) + top) + 0.6))
    grid = figure.add_gridspec(len(layers) + top, n_cols, hspace=0.55, wspace=0.12, top=0.94)
    if agg_scores:
        _draw_scores(figure.add_subplot(grid[0, :]), agg_scores, layers)
    for row, layer in enumerate(layers):
        values = np.asarray(layer_features[layer], dtype=np.float64)
        for col in range(min(n_cols, values.shape[1])):
            axes = figure.add_subplot(grid[row + top, col])
            edges = np.histogram_bin_edges(values[:, col], bins=bins)
            for code, name in enumerate(class_names):
                axes.hist(values[y == code, col], bins=edges, density=True, alpha=0.45,
                          histtype="stepfilled", color=f"C{code}", label=str(name))
            neuron = f"neuron {neuron_ids[layer][col]}" if neuron_ids else f"salient #{col + 1}"
            axes.set_title(f"layer {layer} · {neuron}", fontsize="small")
            axes.tick_params(labelsize="x-small")
            axes.set_yticks([])
            if row == 0 and col == n_cols - 1:
                axes.legend(fontsize="x-small")
    figure.suptitle(title or "salient neurons by layer (descending importance)")
    return _save(figure, path)


def _draw_scores(axes, agg_scores: Mapping[Any, float], layers: Sequence[Any]) -> None:
    x = sorted(agg_scores)
    axes.plot(x, [100 * agg_scores[i] for i in x], marker="o", color="tab:red", markersize=4)
    shown = [i for i in x if i in set(layers)]
    axes.scatter(shown, [100 * agg_scores[i] for i in shown], s=60, facecolors="none",
                 edgecolors="black", zorder=3, label="layers drawn below")
    axes.set_ylabel("score (%)", fontsize="small")
    axes.set_title("aggregated classifier at each L_temp", fontsize="small")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    if shown:
        axes.legend(fontsize="x-small", loc="lower right")


def _pool_markers(pools: Sequence[str]) -> dict[str, str]:
    others = iter(_OTHER_MARKERS * (len(pools) // len(_OTHER_MARKERS) + 1))
    return {pool: _POOL_MARKERS.get(pool) or next(others) for pool in pools}


def _save(figure: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG; give a path ending in .png, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path
