"""Where things live inside a feature store folder (names only; no I/O).

::

    <store>/zarr.json                               root group, attrs mark an stc-gpu store
    <store>/<model_fp[:16]>/zarr.json               one group per model (attrs: describe())
    <store>/<model_fp[:16]>/<dataset_fp[:16]>/      one entry: group whose attrs are the manifest
        {kind}_{pool}        (n_layers, n_rows, units) features, chunks (1, block_rows, units),
                             dimensions ({kind}_layer, row, {kind}_unit)
        {kind}_layer         (n_layers,) int64 coordinate: the captured layer indices
        row                  (n_rows,) int64 coordinate: 0..n_rows-1
        text_sha256          (n_rows, 32) uint8 per-row text digests, dimensions (row, digest_byte)
        block_done           (n_blocks,) uint8, chunks (1,), dimension (block): 1 once every chunk
                             of the block is written and synced to disk
        block_done/writer.lock, block_done/ranks.lock
                             the writer job's locks (:mod:`stc_gpu.store.lock`), inside an array
                             folder so that zarr never takes them for hierarchy members

Entries written before dimension names existed (no ``{kind}_layer``/``row`` arrays, lock files
``.writer.lock*``/``.init.lock`` in the entry folder) hold the same bytes and read the same.
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
ROW_DIM = "row"
#: Dimension names of the per-row digests and of the done markers.
HASHES_DIMS = (ROW_DIM, "digest_byte")
DONE_DIMS = ("block",)
#: Characters of each fingerprint used in folder names.
PREFIX_CHARS = 16


def feature_array_name(kind: str, pool: str) -> str:
    """Array name for one (kind, pool) pair, e.g. ``hidden_mean``."""
    return f"{kind}_{pool}"


def layer_dim(kind: str) -> str:
    """Name of the layer dimension (and coordinate array) of ``kind``, e.g. ``hidden_layer``."""
    return f"{kind}_layer"


def feature_dims(kind: str) -> tuple[str, str, str]:
    """Dimension names of the feature arrays of ``kind``: ``({kind}_layer, row, {kind}_unit)``."""
    return layer_dim(kind), ROW_DIM, f"{kind}_unit"


def feature_chunk(entry: Path, kind: str, pool: str, position: int, block: int) -> Path:
    """The chunk file of layer ``position`` (in array order) and row block ``block``."""
    return Path(entry) / feature_array_name(kind, pool) / "c" / str(position) / str(block) / "0"


def done_chunk(entry: Path, block: int) -> Path:
    """The done-marker file of ``block``."""
    return Path(entry) / DONE_ARRAY / "c" / str(block)


def job_lock_path(entry: Path) -> Path:
    return Path(entry) / DONE_ARRAY / "writer.lock"


def ranks_lock_path(entry: Path) -> Path:
    return Path(entry) / DONE_ARRAY / "ranks.lock"


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
