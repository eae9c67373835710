"""BlockWriter: writes on its own thread, bounded queue, errors surface in the caller."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from store_fake_extractor import FakeExtractor

from stc_gpu.data.readers import scan_texts
from stc_gpu.store import FeatureStore
from stc_gpu.store.writer import BlockWriter, EntryLayout, prepare_entry

TEXTS = [f"t{i}" for i in range(40)]


@pytest.fixture
def entry(tmp_path):
    fx = FakeExtractor()
    scan = scan_texts(TEXTS)
    store = FeatureStore.create(tmp_path)
    return prepare_entry(store.root, fx.describe(), scan.digests, scan.fingerprint,
                         EntryLayout.of(fx), block_rows=10, text_column="text", source="list")


def _block(b):
    return FakeExtractor().extract(TEXTS[10 * b:10 * b + 10]).features


class _GatedArray:
    """Wraps a Zarr array; each write waits for ``gate``."""

    def __init__(self, array, gate, started):
        self.array, self.gate, self.started = array, gate, started
        self.dtype, self.shape = array.dtype, array.shape

    def __setitem__(self, key, value):
        self.started.set()
        assert self.gate.wait(10)
        self.array[key] = value


def test_writes_overlap_the_caller_and_the_queue_is_bounded(entry):
    gate, started = threading.Event(), threading.Event()
    writer = BlockWriter(entry, max_pending=1)
    writer._arrays = {k: _GatedArray(a, gate, started) for k, a in writer._arrays.items()}
    writer.submit(0, _block(0))          # taken by the thread, which blocks writing it
    assert started.wait(10)
    writer.submit(1, _block(1))          # waits in the queue; the caller is free (overlap)
    third = threading.Thread(target=writer.submit, args=(2, _block(2)))
    third.start()
    third.join(0.3)
    assert third.is_alive()              # queue full: a third block cannot pile up in memory
    assert not entry.blocks_done().any()
    gate.set()
    third.join(10)
    writer.close()
    assert entry.blocks_done().tolist() == [True, True, True, False]
    np.testing.assert_array_equal(entry.features("ffn", "max", 1, rows=slice(0, 30)),
                                  np.concatenate([_block(b)[("ffn", "max")][1] for b in range(3)]))


def test_write_errors_reach_the_caller_and_leave_the_block_undone(entry):
    class Broken:
        dtype, shape = np.dtype("float16"), None

        def __setitem__(self, key, value):
            raise OSError("disk full (simulated)")

    writer = BlockWriter(entry)
    key = next(iter(writer._arrays))
    broken = Broken()
    broken.shape = writer._arrays[key].shape
    writer._arrays[key] = broken
    writer.submit(0, _block(0))
    with pytest.raises(RuntimeError, match="disk full"):
        writer.close()
    assert not entry.blocks_done().any()
    with pytest.raises(RuntimeError, match="disk full"):
        writer.submit(1, _block(1))


def test_missing_features_are_rejected(entry):
    with BlockWriter(entry) as writer:
        features = dict(_block(0))
        del features[("hidden", "single")]
        with pytest.raises(ValueError, match="no hidden/single features"):
            writer.submit(0, features)
    assert not entry.blocks_done().any()
