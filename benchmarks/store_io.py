"""Feature-store I/O: whole-block vs sub-chunk writes, the block writer, and slab reads.

Prints a table and writes ``store_io.json`` next to ``--out``. Sizes default to MiniLM's FFN width
(1536 units) over 16k rows; shrink them with the options on a small machine.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from stc_gpu.data.readers import scan_texts
from stc_gpu.store import FeatureStore
from stc_gpu.store.writer import COMPRESSORS, BlockWriter, EntryLayout, prepare_entry

MIB = 2 ** 20


class _Layout:
    """Just enough of an extractor for :class:`EntryLayout`: one kind, one pool."""

    def __init__(self, n_layers: int, units: int):
        self.kinds, self.pools, self.out_dtype = ("ffn",), ("mean",), "float16"
        self.layers, self.units = {"ffn": list(range(n_layers))}, {"ffn": units}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _write_rows(folder: Path, data: np.ndarray, block_rows: int, write_rows: int,
                compressor: str) -> float:
    """Seconds to write ``data`` (n_layers, n_rows, units) in pieces of ``write_rows`` rows."""
    array = zarr.create_array(folder, shape=data.shape, chunks=(1, block_rows, data.shape[2]),
                              dtype=data.dtype, fill_value=0, compressors=COMPRESSORS[compressor])

    def run():
        for start in range(0, data.shape[1], write_rows):
            array[:, start:start + write_rows, :] = data[:, start:start + write_rows, :]
    return _timed(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--units", type=int, default=1536)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--block-rows", type=int, default=4096)
    parser.add_argument("--sub-rows", type=int, default=256, help="rows per sub-chunk write")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.layers, args.rows, args.units)).astype(np.float16)
    mib = data.nbytes / MIB
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for compressor in COMPRESSORS:
            for label, rows in (("whole blocks", args.block_rows), ("sub-chunk", args.sub_rows)):
                seconds = _write_rows(tmp / f"{compressor}-{rows}", data, args.block_rows, rows,
                                      compressor)
                results.append({"case": f"write {label} ({rows} rows)", "compressor": compressor,
                                "MiB": mib, "seconds": seconds, "MiB/s": mib / seconds})

        texts = [f"row {i}" for i in range(args.rows)]
        scan = scan_texts(texts)
        entry = prepare_entry(FeatureStore.create(tmp / "store").root, {"name": "bench"},
                              scan.digests, scan.fingerprint, EntryLayout.of(
                                  _Layout(args.layers, args.units)), block_rows=args.block_rows,
                              text_column="text", source="bench")

        def write_all():
            with BlockWriter(entry) as writer:
                for b in range(entry.n_blocks):
                    s = slice(b * args.block_rows, (b + 1) * args.block_rows)
                    writer.submit(b, {("ffn", "mean"): data[:, s, :]})
        seconds = _timed(write_all)
        results.append({"case": "BlockWriter (thread)", "compressor": "none", "MiB": mib,
                        "seconds": seconds, "MiB/s": mib / seconds})
        read_mib = mib / args.layers
        seconds = _timed(lambda: entry.features("ffn", "mean", 0))
        results.append({"case": "read one layer slab", "compressor": "none", "MiB": read_mib,
                        "seconds": seconds, "MiB/s": read_mib / seconds})
        idx = np.sort(rng.choice(args.rows, args.rows // 10, replace=False))
        seconds = _timed(lambda: entry.features("ffn", "mean", 0, rows=idx))
        results.append({"case": "read 10% random rows", "compressor": "none",
                        "MiB": read_mib / 10, "seconds": seconds,
                        "MiB/s": read_mib / 10 / seconds})

    print(f"{'case':<34} {'compressor':<10} {'MiB':>8} {'s':>8} {'MiB/s':>8}")
    for r in results:
        print(f"{r['case']:<34} {r['compressor']:<10} {r['MiB']:>8.1f} {r['seconds']:>8.3f} "
              f"{r['MiB/s']:>8.1f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store_io.json").write_text(json.dumps({"args": {k: str(v) for k, v in
                                                                 vars(args).items()},
                                                        "results": results}, indent=2))


if __name__ == "__main__":
    main()
