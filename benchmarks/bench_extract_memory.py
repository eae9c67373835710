"""Peak memory of ``stc-gpu extract`` at two sizes: growth per million rows (target <= 100 MB).

A tiny random BERT saved to a folder, over short synthetic texts (Parquet); each (size,
variant) runs the CLI in a fresh process that reports its own peak RSS (``ru_maxrss``). Variants,
side by side: as shipped (``bounded``: :func:`stc_gpu.extract.memory.bounded_heap`) and with
glibc's dynamic mmap threshold left alone (``glibc default``). The store holds 32 bytes of digest
per row in memory, so the growth should be near zero.

    python -m benchmarks.bench_extract_memory [--quick] [--device cuda] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).parents[1]
TARGET_MB_PER_MILLION = 100.0
VARIANTS = ("bounded", "glibc default")
ROW_GROUP = 8192
_WORDS = ("the a movie film plot actors scene story it was is and of to in this that with for "
          "music ending camera script good bad great awful boring superb fine").split()


def write_texts(path: Path, n_rows: int, seed: int = 0) -> None:
    """``n_rows`` short texts (3 to 12 words) as Parquet in row groups of :data:`ROW_GROUP`, so
    that reading them holds one row group at a time at every size (pyarrow's CSV reader holds a
    read-ahead that itself grows up to ~35 MiB over the first ~100 MB of a file, measured: it
    would count as growth between two small sizes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    texts = [f"{i} " + " ".join(rng.choice(_WORDS, size=rng.integers(3, 13)))
             for i in range(n_rows)]
    pq.write_table(pa.table({"text": texts}), path, row_group_size=ROW_GROUP)


def save_model(folder: Path) -> Path:
    """A 3-layer random BERT and its word-level tokenizer, saved so ``--model folder`` loads it."""
    from stc_gpu.models.synthetic import random_model_and_tokenizer

    model, tokenizer = random_model_and_tokenizer("bert", [" ".join(_WORDS)])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _worker(argv: list[str]) -> None:
    """Run ``stc-gpu extract`` in this process, then print its peak RSS in MiB as JSON."""
    parser = argparse.ArgumentParser()
    for option in ("--data", "--model", "--store", "--device"):
        parser.add_argument(option, required=True)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args(argv)
    if args.variant == "glibc default":
        import stc_gpu.extract.memory as memory

        memory._set_thresholds = lambda mmap, trim: False
    from stc_gpu.cli import cli

    cli.main(["extract", args.data, "--model", args.model, "--store", args.store, "--device",
              args.device, "--quiet"], standalone_mode=False)
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(data: Path, model: Path, store: Path, device: str, variant: str) -> dict:
    """``{"peak_rss_mib", "wall_s"}`` of one extraction in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.bench_extract_memory", "--worker", "--data",
               str(data), "--model", str(model), "--store", str(store), "--device", device,
               "--variant", variant]
    paths = [str(REPO), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"extraction ({variant}) failed:\n{result.stderr[-3000:]}")
    peak = json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    return {"peak_rss_mib": peak, "wall_s": time.perf_counter() - started}


def run(quick: bool, device: str, *, sizes: tuple[int, int] | None = None,
        variants: tuple[str, ...] = VARIANTS) -> dict:
    small, large = sizes or ((20_000, 100_000) if quick else (100_000, 1_000_000))
    rows = []
    with tempfile.TemporaryDirectory(prefix="stc_memory_") as tmp:
        tmp = Path(tmp)
        model = save_model(tmp / "model")
        for n_rows in (small, large):
            write_texts(tmp / f"texts{n_rows}.parquet", n_rows)
        for variant in variants:
            peaks = {}
            for n_rows in (small, large):
                got = measure(tmp / f"texts{n_rows}.parquet", model,
                              tmp / f"store-{variant}-{n_rows}", device, variant)
                peaks[n_rows] = got["peak_rss_mib"]
                rows.append({"variant": variant, "rows": n_rows,
                             "peak_rss_mib": round(got["peak_rss_mib"], 1),
                             "wall_s": round(got["wall_s"], 1)})
            growth = (peaks[large] - peaks[small]) / (large - small) * 1e6
            rows[-1]["growth_mib_per_million_rows"] = round(growth, 1)
            rows[-1]["meets_target"] = "yes" if growth <= TARGET_MB_PER_MILLION else "no"
    notes = [f"tiny random BERT (3 layers, 32 wide), short texts (3-12 words) in Parquet, "
             f"device {device}, "
             "default options (every layer, kind and pool; blocks of 4096 rows)",
             f"growth: (peak at {large:,} rows - peak at {small:,}) per million rows; target "
             f"<= {TARGET_MB_PER_MILLION:.0f} MiB (the design holds 32 bytes of digest per row)",
             "peak RSS of the whole process (ru_maxrss), model loading included"]
    return {"name": "extract_memory", "title": "Peak memory of stc-gpu extract vs dataset size",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict | None:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv, worker=_worker)


if __name__ == "__main__":
    main()
