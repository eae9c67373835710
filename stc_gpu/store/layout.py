"""Where things live inside a feature store folder (names only; no I/O).

::

    <store>/zarr.json                               root group, attrs mark an stc-gpu store
    <store>/<model_fp[:16]>/zarr.json               one group per model (attrs: describe())
    <store>/<model_fp[:16]>/<dataset_fp[:16]>/      one entry: group whose attrs are the manifest
        {kind}_{pool}        (n_layers, n_rows, units) features, chunks (1, block_rows, units)
        text_sha256          (n_rows, 32) uint8 per-row text digests
        block_done           (n_blocks,) uint8, chunks (1,): 1 once every array of the block is written
        .writer.lock         flock held by the process writing the entry
"""
from __future__ import annotations

from pathlib import Path

#: Root-group attribute that marks a folder as an stc-gpu feature store, and its format version.
STORE_MARKER = "stc_gpu_feature_store"
FORMAT_VERSION = 1
#: Key of the entry manifest in the entry group's attributes (absent until the entry is initialised).
MANIFEST_KEY = "manifest"
HASHES_ARRAY = "text_sha256"
DONE_ARRAY = "block_done"
LOCK_NAME = ".writer.lock"
INIT_LOCK_NAME = ".init.lock"
#: Characters of each fingerprint used in folder names.
PREFIX_CHARS = 16


def feature_array_name(kind: str, pool: str) -> str:
    """Array name for one (kind, pool) pair, e.g. ``hidden_mean``."""
    return f"{kind}_{pool}"


def entry_key(model_fp: str, dataset_fp: str) -> str:
    """``<model_fp[:16]>/<dataset_fp[:16]>``: the entry's folder relative to the store root."""
    return f"{model_fp[:PREFIX_CHARS]}/{dataset_fp[:PREFIX_CHARS]}"


def entry_dir(store_root: Path, model_fp: str, dataset_fp: str) -> Path:
    return Path(store_root) / entry_key(model_fp, dataset_fp)


def n_blocks(n_rows: int, block_rows: int) -> int:
    return -(-n_rows // block_rows)


def block_bounds(block: int, block_rows: int, n_rows: int) -> tuple[int, int]:
    """``(start, stop)`` rows of one block; the last block may be short."""
    start = block * block_rows
    return start, min(start + block_rows, n_rows)
