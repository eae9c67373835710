"""Writing an entry: create its arrays once, then write whole row blocks on a background thread.

Blocks are written whole (chunk-aligned: sub-chunk writes are several times slower). A block's done
marker is written only after every chunk of the block is written and synced to disk (the files and
their folders), and is synced in turn, so neither a killed run nor a power loss can leave a block
marked done over a missing chunk; a rerun rewrites exactly the blocks not done, ending byte-identical.
"""
from __future__ import annotations

import queue
import shutil
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Mapping

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

import stc_gpu
from stc_gpu.store import durable, layout
from stc_gpu.store.feature_store import StoreEntry
from stc_gpu.store.fingerprint import model_fingerprint

#: Compressor choices: name -> Zarr codecs. fp16 activations compress only ~10-20%, so the
#: default favours write speed.
COMPRESSORS = {"none": None, "zstd": (ZstdCodec(level=1),)}
#: Every chunk is stored, even one equal to the fill value: a missing chunk then always means damage.
_ARRAY_CONFIG = {"write_empty_chunks": True}


@dataclass(frozen=True)
class EntryLayout:
    """Shape of an entry's feature arrays, as an extractor produces them."""

    kinds: tuple[str, ...]
    pools: tuple[str, ...]
    layers: dict[str, list[int]]  # captured layer indices per kind
    units: dict[str, int]         # width per kind
    dtype: str

    @classmethod
    def of(cls, extractor) -> "EntryLayout":
        return cls(tuple(extractor.kinds), tuple(extractor.pools),
                   {k: [int(i) for i in extractor.layers[k]] for k in extractor.kinds},
                   {k: int(extractor.units[k]) for k in extractor.kinds}, str(extractor.out_dtype))

    def as_manifest(self) -> dict:
        return {"kinds": list(self.kinds), "pools": list(self.pools), "layers": self.layers,
                "units": self.units, "dtype": self.dtype}

    def arrays(self):
        """``(kind, pool, array name)`` for every feature array."""
        return [(k, p, layout.feature_array_name(k, p)) for k in self.kinds for p in self.pools]


def _ensure_group(path: Path, attributes: dict) -> zarr.Group:
    if (path / "zarr.json").exists():
        return zarr.open_group(path, mode="r+")
    return zarr.create_group(path, attributes=attributes, overwrite=False)


def _clear_array(path: Path) -> None:
    """Remove an array's metadata and chunks, keeping other files of its folder (the locks)."""
    (path / "zarr.json").unlink(missing_ok=True)
    shutil.rmtree(path / "c", ignore_errors=True)


def _write_blocks(array: zarr.Array, block_rows: int, values) -> None:
    """Fill ``array`` (rows first) one block of rows at a time; ``values(start, stop)`` gives the
    rows ``start:stop``."""
    array = array.with_config(_ARRAY_CONFIG)
    for start in range(0, array.shape[0], block_rows):
        stop = min(start + block_rows, array.shape[0])
        array[start:stop] = values(start, stop)


def prepare_entry(store_root: Path, description: dict, digests: np.ndarray, dataset_fp: str,
                  spec: EntryLayout, *, block_rows: int, text_column: str, source: str,
                  compressor: str = "none") -> StoreEntry:
    """Open the entry for (model, texts), creating it if needed. Call as the entry's writer job
    (:func:`stc_gpu.store.lock.claim_entry`).

    An existing entry keeps its own ``block_rows`` (a new one uses at most ``n_rows``); one whose layout differs from ``spec`` is a
    ValueError (its model description does not tell the two extractions apart).

    Parameters
    ----------
    digests : per-row text digests, shape ``(n_rows, 32)`` uint8.
    """
    model_fp = model_fingerprint(description)
    path = layout.entry_dir(store_root, model_fp, dataset_fp)
    try:
        entry = StoreEntry.open(path)
    except ValueError:
        entry = None
    if entry is not None:
        check_entry_matches(entry, model_fp, dataset_fp, spec)
        return entry
    if compressor not in COMPRESSORS:
        raise ValueError(f"compressor must be one of {sorted(COMPRESSORS)}, not {compressor!r}")
    n_rows = len(digests)
    block_rows = min(block_rows, n_rows)  # chunks are stored whole: no 4096-row chunk for 10 rows
    _ensure_group(path.parent, {"model_fingerprint": model_fp, "model": description})
    group = _ensure_group(path, {})
    for kind, _, name in spec.arrays():
        group.create_array(name, shape=(len(spec.layers[kind]), n_rows, spec.units[kind]),
                           chunks=(1, block_rows, spec.units[kind]), dtype=spec.dtype,
                           fill_value=0, compressors=COMPRESSORS[compressor],
                           dimension_names=layout.feature_dims(kind), overwrite=True)
    for kind in spec.kinds:
        layers = np.asarray(spec.layers[kind], dtype=np.int64)
        group.create_array(layout.layer_dim(kind), shape=layers.shape, dtype="int64",
                           fill_value=-1, dimension_names=(layout.layer_dim(kind),),
                           overwrite=True)[:] = layers
    rows = group.create_array(layout.ROW_DIM, shape=(n_rows,), chunks=(block_rows,),
                              dtype="int64", fill_value=-1, dimension_names=(layout.ROW_DIM,),
                              overwrite=True)
    _write_blocks(rows, block_rows, partial(np.arange, dtype=np.int64))
    hashes = group.create_array(layout.HASHES_ARRAY, shape=digests.shape, dtype="uint8",
                                chunks=(block_rows, digests.shape[1]), fill_value=0,
                                dimension_names=layout.HASHES_DIMS, overwrite=True)
    _write_blocks(hashes, block_rows, lambda start, stop: digests[start:stop])
    _clear_array(path / layout.DONE_ARRAY)  # not overwrite=True: that would delete held locks
    group.create_array(layout.DONE_ARRAY, shape=(layout.n_blocks(n_rows, block_rows),),
                       chunks=(1,), dtype="uint8", fill_value=0,
                       dimension_names=layout.DONE_DIMS)
    durable.sync_tree(path)
    manifest = {"format_version": layout.FORMAT_VERSION, "model_fingerprint": model_fp,
                "dataset_fingerprint": dataset_fp, "model": description, "n_rows": n_rows,
                "block_rows": block_rows, **spec.as_manifest(), "compressor": compressor,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "code_version": stc_gpu.__version__,
                "text_column": text_column, "source": source}
    group.attrs.update({layout.MANIFEST_KEY: manifest})  # written last: marks the entry initialised
    durable.sync([Path(store_root) / "zarr.json", path.parent / "zarr.json", path / "zarr.json"],
                 store_root)
    return StoreEntry(path, manifest)


def check_entry_matches(entry: StoreEntry, model_fp: str, dataset_fp: str,
                        spec: EntryLayout) -> None:
    """Raise ValueError unless ``entry`` holds these fingerprints with this layout."""
    if (entry.model_fingerprint, entry.dataset_fingerprint) != (model_fp, dataset_fp):
        raise ValueError(f"entry folder {entry.path} belongs to other fingerprints "
                         f"({entry.model_fingerprint}, {entry.dataset_fingerprint}); "
                         f"expected ({model_fp}, {dataset_fp})")
    stored = {k: entry.metadata[k] for k in spec.as_manifest()}
    if stored != spec.as_manifest():
        raise ValueError(f"entry {entry.key} was extracted with layout {stored}, but this extractor "
                         f"produces {spec.as_manifest()} under the same describe(); "
                         "use another store or make describe() include what differs")


def remove_torn_writes(entry: StoreEntry, blocks) -> int:
    """Delete temporary files a killed writer left in the chunks of ``blocks``; return how many.

    Zarr writes each chunk to ``<chunk>.<uuid>.partial`` and renames it, so a SIGKILL can leave
    such files behind (never a torn chunk). Call only for blocks this writer holds.
    """
    torn = []
    for block in blocks:
        for kind in entry.kinds:
            for pool in entry.pools:
                chunks = entry.path / layout.feature_array_name(kind, pool) / "c"
                torn += chunks.glob(f"*/{block}/*.partial")
        torn += (entry.path / layout.DONE_ARRAY / "c").glob(f"{block}.*.partial")
    for path in torn:
        path.unlink(missing_ok=True)
    return len(torn)


class BlockWriter:
    """Writes whole row blocks of one entry on a background thread.

    At most ``max_pending`` blocks wait in the queue, so memory stays bounded while the caller
    computes the next block. Use as a context manager; errors of the thread re-raise in the caller.
    """

    def __init__(self, entry: StoreEntry, *, max_pending: int = 1) -> None:
        self.entry = entry
        self._arrays = {(k, p): zarr.open_array(entry.path / layout.feature_array_name(k, p),
                                                mode="r+").with_config(_ARRAY_CONFIG)
                        for k in entry.kinds for p in entry.pools}
        self._done = zarr.open_array(entry.path / layout.DONE_ARRAY, mode="r+")
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self.bytes_written = 0
        self.seconds_writing = 0.0
        self._thread = threading.Thread(target=self._run, name="stc-gpu-store-writer", daemon=True)
        self._thread.start()

    def submit(self, block: int, features: Mapping[tuple[str, str], np.ndarray]) -> None:
        """Queue one block; ``features[(kind, pool)]`` has shape ``(n_layers, block_len, units)``."""
        self._raise_if_failed()
        start, stop = layout.block_bounds(block, self.entry.block_rows, self.entry.n_rows)
        ready = {}
        for (kind, pool), array in self._arrays.items():
            if (kind, pool) not in features:
                raise ValueError(f"block {block}: the extractor returned no {kind}/{pool} features")
            values = np.asarray(features[(kind, pool)])
            expected = (array.shape[0], stop - start, array.shape[2])
            if values.shape != expected:
                raise ValueError(f"block {block}: {kind}/{pool} features have shape {values.shape}, "
                                 f"expected {expected}")
            ready[(kind, pool)] = values.astype(array.dtype, copy=False)
        self._queue.put((block, start, stop, ready))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain so that a blocked submit() wakes up
            block, start, stop, ready = item
            try:
                t0 = time.perf_counter()
                for key, values in ready.items():
                    self._arrays[key][:, start:stop, :] = values
                    self.bytes_written += values.nbytes
                durable.sync([layout.feature_chunk(self.entry.path, kind, pool, position, block)
                              for kind, pool in ready
                              for position in range(self._arrays[kind, pool].shape[0])],
                             self.entry.path)
                self._done[block] = 1
                durable.sync([layout.done_chunk(self.entry.path, block)], self.entry.path)
                self.seconds_writing += time.perf_counter() - t0
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = err

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing to {self.entry.path} failed: {self._error}") from self._error

    def close(self) -> None:
        """Write what is queued, stop the thread, and re-raise a write error if there was one."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_if_failed()

    def __enter__(self) -> "BlockWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.close()  # blocks already queued are complete and valid: keep them
            except RuntimeError:
                pass  # the caller's exception is the one to report
