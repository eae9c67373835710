"""Training cost, measured (paper Table 6): fine-tuning for one epoch vs frozen + STC, same data.

Both approaches use the same model, the same texts and the pipeline's own split: the fine-tuned
model (AdamW on all weights plus a new classification head, :func:`benchmarks.finetune.
finetune_one_epoch`, lr 2e-4) trains on the training rows and is scored on the test rows; STC
(:func:`stc_gpu.pipeline.run` into a fresh store) extracts every text, probes every layer,
aggregates and selects on the validation rows, and is scored on the same test rows. The measured
wall-time ratio stands beside the ratio the cost model predicts for that very run
(:func:`stc_gpu.cost.estimate_run_flops`, its ``speedup``).

    python -m benchmarks.bench_training_cost [--quick] [--device cuda] [--json PATH]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.finetune import finetune_one_epoch
from benchmarks.stc_inputs import (QUICK_GRIDS, describe_grids, sample_rt_snippets,
                                   write_labelled_csv)
from stc_gpu.config import STCConfig
from stc_gpu.vocabulary import DEFAULT_MODEL

#: The learning rate of the baseline: 5e-5 learned nothing in one epoch on 1,000 RT texts.
FINETUNE_LR = 2e-4


def random_stand_in(folder: Path, texts) -> str:
    """A BERT-base sized random model (12 layers, width 768) saved to ``folder``; its path."""
    from transformers import AutoModel

    from stc_gpu.models.synthetic import random_config, simple_tokenizer

    config = random_config("bert", n_layer=12, d_model=768, n_head=12, vocab_size=8192,
                           max_positions=512)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer = simple_tokenizer(texts, vocab_size=8192)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return str(folder)


def _model_or_stand_in(model: str, device: str, folder: Path, texts) -> tuple[str, str | None]:
    """``model`` if it resolves; on CUDA a random stand-in otherwise (with a note saying so)."""
    from stc_gpu.models.loading import resolve_model_path

    try:
        resolve_model_path(model)
        return model, None
    except Exception:
        if not device.startswith("cuda"):
            raise
    return (random_stand_in(folder, texts),
            f"{model} is not available here: a random-weight BERT-base sized stand-in "
            "(12 layers, width 768, word-level tokenizer) was timed instead; scores mean nothing")


def run(quick: bool, device: str, *, model: str = DEFAULT_MODEL, corpus=None,
        grids: dict | None = None) -> dict:
    """Time both approaches; ``corpus`` ``(texts, labels)`` and ``grids`` override the defaults."""
    from stc_gpu import pipeline

    texts, labels = corpus or sample_rt_snippets(600 if quick else 3000)
    grids = (QUICK_GRIDS if quick else {}) if grids is None else grids
    notes = []
    with tempfile.TemporaryDirectory(prefix="stc_training_cost_") as tmp:
        tmp = Path(tmp)
        model, stand_in = _model_or_stand_in(model, device, tmp / "stand_in", texts)
        notes += [stand_in] if stand_in else []
        config = STCConfig(model=model, data=str(write_labelled_csv(tmp / "data.csv", texts,
                                                                    labels)),
                           store=str(tmp / "store"), out=str(tmp / "out"), device=device, **grids)
        start = time.perf_counter()
        stc = pipeline.run(config, show_progress=False)["label"]
        run_s = time.perf_counter() - start
        splits = stc["splits"]
        tuned = finetune_one_epoch(
            model, [texts[i] for i in splits["train"]], [labels[i] for i in splits["train"]],
            [texts[i] for i in splits["test"]], [labels[i] for i in splits["test"]],
            device=device, lr=FINETUNE_LR)
    timings, agg = stc["timings"], stc["selection"]["agg"]
    stc_s = timings["extraction_s"] + timings["fit_s"]
    rows = [
        {"approach": "fine-tune, 1 epoch (all weights)", "wall_s": round(tuned["wall_s"], 2),
         "test_acc": round(tuned["test_acc"], 4), "test_f1": round(tuned["test_f1"], 4)},
        {"approach": "frozen + STC", "wall_s": round(stc_s, 2),
         "extract_s": round(timings["extraction_s"], 2),
         "probes_s": round(timings["probes_s"], 2),
         "aggregation_s": round(timings["aggregation_s"], 2),
         "test_acc": round(agg["test_acc"], 4), "test_f1": round(agg["test_f1"], 4)},
        {"approach": "ratio fine-tune / STC",
         "measured_ratio": round(tuned["wall_s"] / stc_s, 3),
         "predicted_ratio": round(stc["flops"]["speedup"], 3)},
    ]
    n = stc["n"]
    notes += [
        f"{model} on {len(texts)} RT snippets: train {n['train']}, validation {n['val']} "
        f"(STC's selection only), test {n['test']}, device {device}",
        f"fine-tuning: AdamW lr {FINETUNE_LR} decaying linearly, batch 32, max_length 128, "
        f"{tuned['n_params_trained']:,} weights trained; wall_s is the training epoch "
        "(model loading and test excluded)",
        "STC wall_s = extraction (model loading and the forward pass over every split) + fit "
        "(probes, aggregation, selection and test scoring); report writing and plots "
        f"({run_s - stc_s:.1f} s) excluded",
        describe_grids(grids),
        "predicted_ratio: the cost model's FLOPs speedup for this run (fits, widths and solver "
        "iterations as measured); measured_ratio: wall-time ratio",
    ]
    return {"name": "training_cost", "title": "Training cost, measured: fine-tuning vs frozen + STC",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
