"""Benchmark: the fit stage of ``stc-gpu run`` against its extraction, as results.json times it.

Runs :func:`stc_gpu.pipeline.run` (what ``stc-gpu run`` does) into a fresh store and reads the
``timings`` of its ``results.json``: ``extraction_s`` (model loading and the forward pass over
every text), ``probes_s`` (every (kind, pool, layer) probe over the C grid), ``aggregation_s``
(η rule, cross-layer aggregation per L_temp, the final classifiers) and ``fit_s`` (the whole fit
of the task: probes, aggregation, selection, test scoring and the Embedding baseline). The paper's
efficiency argument needs the fits to be nearly free next to the forward pass; the targets are
``(probes_s + aggregation_s) / extraction_s <= 0.5`` on the demo and ``<= 1.0`` on 20 Newsgroups
(20 classes, long texts).

Datasets: (a) the demo, 3,000 RT snippets (bundled); (b) 20 Newsgroups, 5,000 posts, 20 classes,
from ``--newsgroups`` (default ``$STC_BENCH_NEWSGROUPS``, else
``../shared/data/20newsgroups.csv.gz`` from the repository root; not part of the package: the
row is skipped with a note when the file is absent). On CUDA a third
row runs a GPT-2-small-sized model with random weights (12 layers, width 768, word-level
tokenizer) on the demo texts: its scores mean nothing, its ratio is the point.

A run may be given a time limit (``--row-timeout``; ``--quick`` sets one): it then runs in a child
process, and one that is stopped at the limit reports what it reached (``status``): past the
extraction, ``fits_s`` and ``ratio`` are lower bounds. ``--quick`` also reads 20 Newsgroups posts
truncated to 128 tokens.

    python -m benchmarks.bench_fit_stage [--quick] [--device cuda] [--newsgroups PATH] [--json P]
"""
from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from benchmarks.stc_inputs import QUICK_GRIDS, describe_grids
from stc_gpu.config import STCConfig
from stc_gpu.vocabulary import DEFAULT_MODEL

REPO_ROOT = Path(__file__).resolve().parent.parent
#: ``$STC_BENCH_NEWSGROUPS`` if set, else ``../shared/data/20newsgroups.csv.gz`` from the repo root.
DEFAULT_NEWSGROUPS = Path(os.environ.get("STC_BENCH_NEWSGROUPS") or
                          REPO_ROOT.parent / "shared" / "data" / "20newsgroups.csv.gz")
#: Texts per dataset, full and ``--quick``.
FULL_TEXTS = dict(demo=3000, newsgroups=5000)
QUICK_TEXTS = dict(demo=200, newsgroups=160)
#: ``--quick``: the time limit of each run (seconds) and the 20 Newsgroups truncation (tokens).
QUICK_ROW_TIMEOUT_S = 50.0
QUICK_NEWSGROUPS_MAX_LENGTH = 128
#: Target ratio (probes + aggregation) / extraction per dataset.
TARGETS = dict(demo=0.5, newsgroups=1.0)
#: The GPT-2-small-sized random model of the CUDA row (:func:`stc_gpu.models.synthetic.
#: random_config` keywords).
GPT2_SMALL = dict(n_layer=12, d_model=768, n_head=12, vocab_size=8192, max_positions=1024)


def random_gpt2(folder: Path, texts, **config) -> str:
    """A GPT-2 model with random weights (``config`` overrides :data:`GPT2_SMALL`) and a
    word-level tokenizer learnt from ``texts``, saved to ``folder``; its path."""
    from transformers import AutoModel

    from stc_gpu.models.synthetic import random_config, simple_tokenizer

    config = {**GPT2_SMALL, **config}
    AutoModel.from_config(random_config("gpt2", **config)).save_pretrained(folder)
    tokenizer = simple_tokenizer(texts, vocab_size=config["vocab_size"], decoder=True)
    tokenizer.model_max_length = config["max_positions"]
    tokenizer.save_pretrained(folder)
    return str(folder)


def _model_label(model: str) -> str:
    return Path(model).name if os.path.isdir(model) else model


def time_run(name: str, *, model: str, data: str | None, n_texts: int, target: float,
             device: str, grids: dict, tmp: Path, max_length: int | None = None) -> dict:
    """One ``pipeline.run`` into a fresh store under ``tmp``: the row of its timings."""
    from stc_gpu import pipeline

    config = STCConfig(model=model, data=data, max_texts=n_texts, store=str(tmp / "store"),
                       out=str(tmp / "out"), device=device, max_length=max_length, **grids)
    results = pipeline.run(config, show_progress=False)["label"]
    timings, agg, n = results["timings"], results["selection"]["agg"], results["n"]
    fits_s = timings["probes_s"] + timings["aggregation_s"]
    ratio = fits_s / timings["extraction_s"]
    return {
        "dataset": name, "model": _model_label(model), "status": "ok",
        "texts": n["train"] + n["val"] + n["test"], "classes": len(results["classes"]),
        "train": n["train"], "extraction_s": round(timings["extraction_s"], 2),
        "probes_s": round(timings["probes_s"], 2),
        "aggregation_s": round(timings["aggregation_s"], 2), "fits_s": round(fits_s, 2),
        "fit_s": round(timings["fit_s"], 2), "ratio": round(ratio, 3), "target": target,
        "meets_target": "yes" if ratio <= target else "no",
        "test_acc": round(agg["test_acc"], 4), "test_f1": round(agg["test_f1"], 4),
        "device": device}


def time_run_limited(name: str, *, timeout_s: float | None, **kwargs) -> dict:
    """:func:`time_run`, in a child process stopped after ``timeout_s`` (None: in this process).

    A stopped run's row has what it reached: past the extraction (``out/extraction.json``
    written), ``extraction_s`` is the extraction's own time (model loading excluded) and
    ``fits_s`` / ``ratio`` are lower bounds (the time from then to the limit).
    """
    if timeout_s is None:
        return time_run(name, **kwargs)
    target = importlib.import_module("benchmarks.bench_fit_stage").time_run
    start = time.time()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        job = pool.apply_async(target, (name,), kwargs)
        try:
            return job.get(timeout_s)
        except multiprocessing.TimeoutError:
            stopped = time.time()
            pool.terminate()
    row = {"dataset": name, "model": _model_label(kwargs["model"]),
           "status": f"stopped at {timeout_s:g} s (extraction)",
           "target": kwargs["target"], "meets_target": "unknown", "device": kwargs["device"]}
    extraction = Path(kwargs["tmp"]) / "out" / "extraction.json"
    if extraction.is_file():
        seconds = json.loads(extraction.read_text())["seconds"]
        fits_s = stopped - extraction.stat().st_mtime
        ratio = fits_s / seconds
        row.update(status=f"stopped at {timeout_s:g} s (fits): lower bounds",
                   texts=json.loads(extraction.read_text())["texts"],
                   extraction_s=round(seconds, 2), fits_s=round(fits_s, 2),
                   ratio=round(ratio, 3),
                   meets_target="no" if ratio > kwargs["target"] else "unknown")
    row["wall_s"] = round(stopped - start, 2)
    return row


def run(quick: bool, device: str, *, model: str = DEFAULT_MODEL,
        newsgroups: str | Path | None = DEFAULT_NEWSGROUPS, demo_data: str | None = None,
        sizes: dict | None = None, grids: dict | None = None,
        gpt2: dict | bool | None = None, row_timeout: float | None = None) -> dict:
    """Time the fit stage of each dataset's run.

    Parameters
    ----------
    newsgroups : the 20 Newsgroups CSV (columns text, label); None or a missing file skips it.
    demo_data : a CSV standing in for the bundled demo (None: the demo itself).
    sizes : texts per dataset, ``{"demo": n, "newsgroups": n}`` (default :data:`FULL_TEXTS`,
        quick :data:`QUICK_TEXTS`).
    grids : STCConfig grid overrides (default: the paper's; quick: ``QUICK_GRIDS``).
    gpt2 : the random GPT-2 row: None runs it on CUDA only, False never, True always, a dict
        always with these :func:`random_gpt2` config overrides.
    row_timeout : seconds per run (a child process each, see :func:`time_run_limited`); None:
        no limit (quick: :data:`QUICK_ROW_TIMEOUT_S`), 0: no limit even in quick mode.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if row_timeout is None and quick:
        row_timeout = QUICK_ROW_TIMEOUT_S
    row_timeout = row_timeout or None
    max_lengths = dict(newsgroups=QUICK_NEWSGROUPS_MAX_LENGTH if quick else None)
    sizes = {**(QUICK_TEXTS if quick else FULL_TEXTS), **(sizes or {})}
    grids = (QUICK_GRIDS if quick else {}) if grids is None else grids
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {device} but CUDA is not available here")
    notes, rows = [], []
    datasets = [("RT snippets (demo)", demo_data, "demo")]
    if newsgroups is not None and Path(newsgroups).is_file():
        datasets.append(("20 Newsgroups", str(newsgroups), "newsgroups"))
    else:
        notes.append(f"20 Newsgroups skipped: no file at {newsgroups} (pass --newsgroups PATH; "
                     "the data is not part of the package)")
    with tempfile.TemporaryDirectory(prefix="stc_fit_stage_") as tmp:
        tmp = Path(tmp)
        for i, (name, data, key) in enumerate(datasets):
            start = time.perf_counter()
            rows.append(time_run_limited(
                name, timeout_s=row_timeout, model=model, data=data, n_texts=sizes[key],
                target=TARGETS[key], device=device, grids=grids, tmp=tmp / str(i),
                max_length=max_lengths.get(key)))
            print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
        run_gpt2 = device.startswith("cuda") if gpt2 is None else bool(gpt2)
        if run_gpt2:
            from stc_gpu.data.readers import read_column
            from stc_gpu.data.demo import demo_data_path

            texts = [str(t) for t in read_column(demo_data or demo_data_path(),
                                                 "text")[:sizes["demo"]]]
            folder = random_gpt2(tmp / "gpt2", texts, **(gpt2 if isinstance(gpt2, dict) else {}))
            row = time_run_limited(
                "RT snippets (demo)", timeout_s=row_timeout, model=folder, data=demo_data,
                n_texts=sizes["demo"], target=TARGETS["demo"], device=device, grids=grids,
                tmp=tmp / "gpt2_run")
            rows.append({**row, "model": "random GPT-2" + ("-small" if not isinstance(gpt2, dict)
                                                          else " (tiny)")})
            notes.append("random GPT-2 row: random weights, word-level tokenizer learnt from the "
                         "texts; its scores mean nothing, its ratio is the point")
        else:
            notes.append("random GPT-2-small row skipped: it runs on CUDA only")
    notes += [
        f"model {model}, device {device}, probe backend auto (our batched solver on the "
        "fit device); each run extracts into a fresh store",
        "extraction_s: model loading and the forward pass over every text; fits_s = probes_s + "
        "aggregation_s; ratio = fits_s / extraction_s against target; fit_s: the task's whole "
        "fit (search, test scoring, Embedding baseline), report and plots excluded",
        "test_acc / test_f1 (macro-F1): the selected Agg. classifier on the test split",
        describe_grids(grids),
    ]
    if row_timeout:
        notes.append(f"each run limited to {row_timeout:g} s (a child process); a stopped run's "
                     "status says what it reached")
    if max_lengths["newsgroups"]:
        notes.append(f"20 Newsgroups posts truncated to {max_lengths['newsgroups']} tokens")
    return {"name": "fit_stage", "title": "Fit stage of stc-gpu run vs extraction",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv, options={
        "--newsgroups": dict(type=Path, default=DEFAULT_NEWSGROUPS,
                             help="20 Newsgroups CSV (text, label); default %(default)s"),
        "--row-timeout": dict(type=float, default=None,
                              help=f"seconds per run (default none; --quick "
                                   f"{QUICK_ROW_TIMEOUT_S:g}; 0: none)")})


if __name__ == "__main__":
    main()
