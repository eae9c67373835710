"""Early exit (paper Table 7): test score and inference throughput using only the first layers.

The pipeline is fitted once (fresh store, validation selection). For each fraction f of the model's
L blocks, ``n_blocks = max(1, round(f L))`` blocks may run: an aggregated candidate is allowed when
its deepest site needs at most that many, i.e. ``L_temp <= n_blocks - 1`` for FFN activations (ffn.l
is inside block l) and ``L_temp <= n_blocks`` for hidden states (hidden.0 is the embedding output,
hidden.l the output of block l). Among the allowed candidates (every kind, pool, η, C), the best on
validation is scored on the test rows; its :class:`~stc_gpu.stc.classifier.STCClassifier` (which
loads and runs the model only up to its deepest site) is timed predicting raw texts, against the
full model's plain forward pass (tokenisation included in both), and so is its ONNX export
(``stc-gpu export``) served by onnxruntime on the CPU. Weight memory: the bytes of the parameters
and buffers the classifier's truncated model holds, and of the exported ``model.onnx``, against the
full model's. ``--classifier DIR`` adds a row for a saved classifier (e.g. the demo's).

    python -m benchmarks.bench_layers [--quick] [--device cuda] [--json PATH] [--classifier DIR]
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.stc_inputs import (QUICK_GRIDS, describe_grids, sample_rt_snippets,
                                   write_labelled_csv)
from stc_gpu.config import STCConfig
from stc_gpu.models.truncate import blocks_needed as blocks_needed_for
from stc_gpu.models.truncate import blocks_to_run, weight_bytes
from stc_gpu.vocabulary import DEFAULT_MODEL

FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


def blocks_needed(name: str, L_temp: int) -> int:
    """Transformer blocks that must run to read the sites of aggregation ``name`` up to ``L_temp``."""
    return blocks_to_run("hidden" if name == "hidden" else "ffn", L_temp)


def _synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _median_rates(predictors: list, texts, device: str, repeats: int) -> list[float]:
    """Texts per second of each ``predict(texts)``: the median of ``repeats`` rounds, after a
    warm-up.

    The predictors take turns within each round, so a change of machine load hits them alike.
    """
    for predict in predictors:
        predict(texts[:8])
    seconds = [[] for _ in predictors]
    for _ in range(repeats):
        for i, predict in enumerate(predictors):
            _synchronize(device)
            start = time.perf_counter()
            predict(texts)
            _synchronize(device)
            seconds[i].append(time.perf_counter() - start)
    return [len(texts) / statistics.median(s) for s in seconds]


def _full_forward(model: str, device: str, max_length: int | None, batch_size: int = 64):
    """``(forward(texts), weight bytes)``: tokenise and run the whole plain model (no hooks), in
    batches."""
    import torch

    from stc_gpu.models.loading import load_model_and_tokenizer

    net, tokenizer = load_model_and_tokenizer(model)
    net.to(device).eval()
    limit = max_length or tokenizer.model_max_length

    def forward(texts):
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                batch = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                                  max_length=limit, return_tensors="pt").to(device)
                net(**batch)

    return forward, weight_bytes(net)


class _Served:
    """A classifier's torch predictor and its ONNX export's, with their weight bytes (exports are
    shared by the rows that select the same classifier)."""

    def __init__(self, folder: Path):
        self.folder, self.exports = folder, {}

    def __call__(self, clf, cpu_clf) -> dict:
        from stc_gpu.export.runtime import MODEL, ExportedClassifier
        from stc_gpu.export.writer import export_classifier

        key = repr((clf.pool_, clf.blocks_, clf.head_.coef_.tobytes()))
        if key not in self.exports:
            out = export_classifier(cpu_clf, self.folder / f"export-{len(self.exports)}")
            self.exports[key] = ExportedClassifier(out), (out / MODEL).stat().st_size
        served, onnx_bytes = self.exports[key]
        clf.set_params(store=None)  # timed running the model, not reading these texts' features
        return {"torch": clf.predict, "onnx": served.predict, "onnx_bytes": onnx_bytes,
                "torch_bytes": weight_bytes(clf.extractor().model)}


def _saved_row(path: str) -> tuple[dict, object]:
    """The row of a saved classifier (no scores: its run has them), and the classifier."""
    from stc_gpu.stc.classifier import STCClassifier

    clf = STCClassifier.load(path, device="cpu")
    sel = clf.selection_
    return ({"layers": f"saved {Path(path).name}", "n_blocks": blocks_needed_for(clf.sites),
             "kind": sel.get("kind"), "pool": clf.pool_, "L_temp": sel.get("L_temp"),
             "blocks_run": blocks_needed_for(clf.sites), "n_features": clf.n_features}, clf)


def run(quick: bool, device: str, *, model: str = DEFAULT_MODEL, corpus=None,
        grids: dict | None = None, n_timed: int | None = None,
        classifier: str | None = None) -> dict:
    """Fit once, then score and time each depth; the keywords override the model and sizes, and
    ``classifier`` (a saved classifier's folder) adds its row."""
    from stc_gpu.metrics import score
    from stc_gpu import pipeline
    from stc_gpu.stc.search import search
    from stc_gpu.stc.selection import split_rows
    from stc_gpu.stc.aggregate import best_within
    from stc_gpu.stc.classifier import STCClassifier

    texts, labels = corpus or sample_rt_snippets(800 if quick else 4000)
    grids = (QUICK_GRIDS if quick else {}) if grids is None else grids
    timed = texts[:n_timed or (400 if quick else 1000)]
    repeats = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="stc_layers_") as tmp:
        config = STCConfig(model=model, device=device, store=str(Path(tmp) / "store"),
                           data=str(write_labelled_csv(Path(tmp) / "data.csv", texts, labels)),
                           **grids)
        cpu_config = dataclasses.replace(config, device="cpu")
        entry, _, extractor = pipeline.extract(config, show_progress=False)
        encoder, rows, _ = split_rows(labels, config)
        found = search(entry, rows, config, show_progress=False)
        identity, n_layers = extractor.describe(), extractor.n_layers
        del extractor
        full_forward, full_bytes = _full_forward(model, device, config.max_length)
        out, served, serve = [], [], _Served(Path(tmp))
        for fraction in FRACTIONS:
            n_blocks = max(1, round(fraction * n_layers))
            cand = best_within(found.agg_by_depth,
                               lambda name, L_temp: blocks_needed(name, L_temp) <= n_blocks,
                               config.metric)
            clf = STCClassifier.from_candidate(cand, encoder.classes, identity, config)
            pred = cand.estimator.predict(clf.features_from_entry(entry, rows.test))
            served.append(serve(clf, clf if device == "cpu" else STCClassifier.from_candidate(
                cand, encoder.classes, identity, cpu_config)))
            deepest = best_within(found.agg_by_depth,
                                  lambda name, L_temp: blocks_needed(name, L_temp) == n_blocks,
                                  config.metric)
            out.append({"layers": f"{fraction:.0%}", "n_blocks": n_blocks, "kind": cand.name,
                        "pool": cand.pool, "L_temp": cand.L_temp,
                        "blocks_run": blocks_needed_for(clf.sites),
                        "n_features": cand.n_features, "val_acc": round(cand.val_acc, 4),
                        "val_acc_exactly_n_blocks": round(deepest.val_acc, 4) if deepest else "",
                        "test_acc": round(score(rows.y_test, pred, "accuracy"), 4),
                        "test_f1": round(score(rows.y_test, pred, "macro_f1"), 4)})
        if classifier is not None:
            row, clf = _saved_row(classifier)
            out.append(row)
            served.append(serve(clf, clf))
        predictors = [full_forward] + [s[k] for s in served for k in ("torch", "onnx")]
        full_rate, *rates = _median_rates(predictors, timed, device, repeats)
        for row, s, torch_rate, onnx_rate in zip(out, served, rates[::2], rates[1::2]):
            row.update(texts_per_s=round(torch_rate, 1),
                       speed_vs_full_forward=round(torch_rate / full_rate, 3),
                       weight_MiB=round(s["torch_bytes"] / 2**20, 1),
                       onnx_texts_per_s=round(onnx_rate, 1),
                       onnx_vs_full_forward=round(onnx_rate / full_rate, 3),
                       onnx_MiB=round(s["onnx_bytes"] / 2**20, 1))
    notes = [f"{model} ({n_layers} blocks) on {len(texts)} RT snippets (train {len(rows.train)}, "
             f"validation {len(rows.val)}, test {len(rows.test)}), device {device}",
             "n_blocks = max(1, round(fraction * L)); allowed: ffn / hidden+ffn with L_temp <= "
             "n_blocks - 1, hidden with L_temp <= n_blocks; the best allowed on validation is "
             "tested (blocks_run: the blocks the chosen one loads and runs; "
             "val_acc_exactly_n_blocks: the best validation score of the candidates needing "
             "exactly n_blocks)",
             f"throughput: median of {repeats} rounds (the full forward, then every classifier "
             f"and its export, in turn) predicting {len(timed)} raw texts (tokenisation, hooks, "
             "pooling and head included), vs the full model's plain forward pass (batches of 64): "
             f"{full_rate:.1f} texts/s; the torch classifiers have no store (so they run the "
             "model rather than read the stored features of these texts); onnx: the `stc-gpu "
             f"export` folder served by onnxruntime on the CPU ({os.cpu_count()} cores)",
             f"weights: the full model holds {full_bytes / 2**20:.1f} MiB; weight_MiB is what the "
             "classifier's truncated model holds on the device, onnx_MiB the size of model.onnx",
             describe_grids(grids)]
    return {"name": "layers", "title": "Early exit: score and throughput with the first layers only",
            "rows": out, "notes": notes}


def main(argv: list[str] | None = None) -> dict:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv, options={
        "--classifier": {"default": None, "help": "also time this saved classifier's folder"}})


if __name__ == "__main__":
    main()
