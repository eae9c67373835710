"""Benchmark: one-vs-rest against multinomial probes on real multiclass data (20 Newsgroups).

The same store entry, split and grids for both; the whole search (probes, η rule, aggregation)
runs once per mode with ``STCConfig(multiclass=...)`` and the selected Agg. classifier is scored on
the test split. Reports validation / test accuracy and macro-F1 and the fit time of each mode.
The default mode is the faster one unless it loses more than half a point of validation macro-F1.

The data are not part of the package: ``--newsgroups`` (default
``../shared/data/20newsgroups.csv.gz`` beside the checkout) points to the CSV (text, label).

    python -m benchmarks.bench_multiclass --quick
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks import bench_main
from benchmarks.stc_inputs import QUICK_GRIDS, describe_grids

DEFAULT_NEWSGROUPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "20newsgroups.csv.gz"
FULL_TEXTS, QUICK_TEXTS = 5000, 600
#: The largest validation macro-F1 the faster mode may lose and still be the default.
MAX_F1_LOSS = 0.005


def run(quick: bool, device: str, newsgroups: Path = DEFAULT_NEWSGROUPS,
        store: str | None = None, model: str | None = None, n_texts: int | None = None) -> dict:
    """Both modes on the first ``n_texts`` rows of ``newsgroups`` (default 5,000; quick 600),
    with ``model`` (default: the package's) extracted into ``store`` (default: a temporary
    one; a store that holds the entry already is reused)."""
    import tempfile

    from stc_gpu.config import STCConfig
    from stc_gpu.data.readers import read_column
    from stc_gpu import pipeline

    result = {"name": "bench_multiclass",
              "title": "Multiclass probes: one-vs-rest vs multinomial (20 Newsgroups, MiniLM)",
              "rows": [], "notes": []}
    if not Path(newsgroups).exists():
        result["notes"].append(f"skipped: {newsgroups} not found (pass --newsgroups PATH)")
        return result
    n_texts = n_texts or (QUICK_TEXTS if quick else FULL_TEXTS)
    grids = QUICK_GRIDS if quick else {}
    with tempfile.TemporaryDirectory() as tmp:
        base = STCConfig(data=str(newsgroups), max_texts=n_texts, store=store or f"{tmp}/store",
                         out=f"{tmp}/out", device=device, **grids,
                         **({"model": model} if model else {}))
        t0 = time.perf_counter()
        entry, _, extractor = pipeline.extract(base, show_progress=False)
        extraction_s = time.perf_counter() - t0
        labels = read_column(str(newsgroups), "label")[:n_texts]
        for mode in ("ovr", "multinomial"):
            config = STCConfig(**{**base.to_dict(), "multiclass": mode})
            t0 = time.perf_counter()
            _, results, _ = pipeline.fit_task(entry, labels, config,
                                              model_identity=extractor.describe(),
                                              show_progress=False)
            agg = results["selection"]["agg"]
            result["rows"].append({
                "multiclass": mode, "texts": n_texts, "classes": len(results["classes"]),
                "fit_s": round(time.perf_counter() - t0, 1),
                "probes_s": round(results["timings"]["probes_s"], 1),
                "aggregation_s": round(results["timings"]["aggregation_s"], 1),
                "extraction_s": round(extraction_s, 1),  # ~0 when the store held the entry
                "val_acc": round(agg["val_acc"], 4), "val_f1": round(agg["val_f1"], 4),
                "test_acc": round(agg["test_acc"], 4), "test_f1": round(agg["test_f1"], 4),
                "agg": f"{agg['kind']}/{agg['pool']} eta={agg['eta']} L={agg['L_temp']} "
                       f"C={agg['C']} n={agg['n_features']}",
            })
    ovr, multinomial = result["rows"]
    faster = min(result["rows"], key=lambda r: r["fit_s"])
    other = multinomial if faster is ovr else ovr
    keeps = faster["val_f1"] >= other["val_f1"] - MAX_F1_LOSS
    result["notes"] += [
        describe_grids(grids),
        f"{faster['multiclass']} is {other['fit_s'] / max(faster['fit_s'], 1e-9):.1f}x faster; "
        f"validation macro-F1 {faster['val_f1']:.4f} vs {other['val_f1']:.4f}: "
        + (f"it qualifies as the default (loses at most {MAX_F1_LOSS:.3f})" if keeps else
           f"it loses more than {MAX_F1_LOSS:.3f}, so it does not qualify as the default"),
        "selection on validation (accuracy), test scored once per mode",
    ]
    return result


def main(argv=None) -> dict:
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--newsgroups", type=Path, default=DEFAULT_NEWSGROUPS)
    parser.add_argument("--store", default=None, help="reuse a feature store folder")
    known, rest = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    return bench_main(lambda quick, device: run(quick, device, known.newsgroups, known.store),
                      __doc__.splitlines()[0], rest)


if __name__ == "__main__":
    main()
