"""Scale-out of extraction under torchrun: tokens/s with 1 process against N processes.

CPU (default): all-MiniLM-L6-v2 (fp32) on the bundled RT snippets, 1 and 2 processes with one
thread each, so two processes split a 2-core machine fairly. GPU (``--device cuda``): fp16, one
process per GPU (``--nproc-per-node`` = the number of GPUs) against a single process.

Each configuration is one ``python -m torch.distributed.run --standalone`` launch into a fresh
store; the rank-0 worker writes the combined summary (all ranks) as JSON. Rates use the
extraction time of the slowest rank (reading + hashing + forward + writing); ``launch_s`` is the
whole launch, process start and model loading included.

    python -m benchmarks.bench_scaleout_extract [--quick] [--device cuda] [--json PATH]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).parents[1]
RT_SNIPPETS = REPO / "stc_gpu" / "demo" / "rt_snippets.csv.gz"
MODEL = "all-MiniLM-L6-v2"


def _write_texts(path: Path, n_texts: int) -> int:
    """The first ``n_texts`` RT snippets as a one-column CSV; returns how many were written."""
    import pandas as pd

    texts = pd.read_csv(RT_SNIPPETS)["text"].astype(str).tolist()[:n_texts]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return len(texts)


def _launch(nproc: int, data: Path, store: Path, summary: Path, device: str,
            block_rows: int) -> float:
    """One torchrun launch of the worker; returns its wall seconds."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(nproc), "-m", "benchmarks.bench_scaleout_extract",
               "--worker", "--data", str(data), "--store", str(store), "--summary", str(summary),
               "--device", device, "--block-rows", str(block_rows)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # cwd REPO: each rank imports from there
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun with {nproc} processes failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def _worker(argv: list[str]) -> None:
    """One rank: extract its blocks; rank 0 writes the summary of all ranks to ``--summary``."""
    from stc_gpu.distributed import distributed_context, extract_distributed
    from stc_gpu.extract import Extractor

    parser = argparse.ArgumentParser()
    for option in ("--data", "--store", "--summary", "--device"):
        parser.add_argument(option, required=True)
    parser.add_argument("--block-rows", type=int, required=True)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args(argv)
    with distributed_context(args.device) as ctx:
        extractor = Extractor.from_pretrained(MODEL, device=ctx.device)
        _, summary = extract_distributed(args.data, extractor, args.store, ctx,
                                         block_rows=args.block_rows, progress=False)
    if ctx.is_main:
        Path(args.summary).write_text(json.dumps({**summary.to_dict(), "world_size":
                                                  ctx.world_size, "device": str(ctx.device)}))


def _process_counts(device: str) -> list[int]:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda asked for, but CUDA is not available")
        return sorted({1, torch.cuda.device_count()})
    return [1, 2]


def run(quick: bool, device: str) -> dict:
    gpu = device.startswith("cuda")
    n_texts = (2000 if quick else 12752) if gpu else (300 if quick else 1000)
    block_rows = 512 if gpu else 32
    rows = []
    with tempfile.TemporaryDirectory(prefix="stc_scaleout_") as tmp:
        data = Path(tmp) / "rt.csv"
        n_texts = _write_texts(data, n_texts)
        for nproc in _process_counts(device):
            summary_path = Path(tmp) / f"summary{nproc}.json"
            launch_s = _launch(nproc, data, Path(tmp) / f"store{nproc}", summary_path,
                               "cuda" if gpu else "cpu", block_rows)
            summary = json.loads(summary_path.read_text())
            rows.append({"processes": nproc, "device": summary["device"] if nproc == 1
                         else f"{summary['device'].split(':')[0]} x{nproc}",
                         "texts": summary["texts"], "tokens": summary["tokens"],
                         "blocks": summary["blocks_written"],
                         "extract_s": round(summary["seconds"], 2),
                         "tokens_per_s": round(summary["tokens_per_s"], 1),
                         "launch_s": round(launch_s, 2)})
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup"] = round(row["tokens_per_s"] / base, 3) if base else 0.0
    notes = [f"{MODEL}, {'fp16' if gpu else 'fp32, OMP_NUM_THREADS=1 per process'}, "
             f"{n_texts} RT snippets, blocks of {block_rows} rows (block b on rank b mod N)",
             "extract_s: slowest rank's extraction time; launch_s: the whole torchrun launch "
             "(process start and model loading included)"]
    if gpu and len(rows) == 1:
        notes.append("one GPU on this machine: no multi-process row")
    return {"name": "scaleout_extract", "title": "Extraction under torchrun: 1 vs N processes",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict | None:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv, worker=_worker)


if __name__ == "__main__":
    main()
