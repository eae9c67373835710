"""Rows a store already holds are found by their text digests and copied, not run again."""
from __future__ import annotations

import numpy as np
import pytest
from store_fake_extractor import FakeExtractor

from stc_gpu.extract.to_store import extract_to_store
from stc_gpu.store import FeatureStore, layout
from stc_gpu.store.fingerprint import text_digests
from stc_gpu.store.row_index import RowIndex, extraction_key
from stc_gpu.store.writer import EntryLayout

TEXTS = [f"text {i} " + "word " * (i % 5) for i in range(40)]


def _extract(texts, store, extractor, **kwargs):
    return extract_to_store(texts, extractor, store, block_rows=8, progress=False, **kwargs)


def _rows_of(entry, texts):
    """Row of each of ``texts`` in ``entry``."""
    digests = [bytes(d) for d in entry.text_digests()]
    return [digests.index(bytes(d)) for d in text_digests(texts)]


def test_a_reordered_subset_runs_only_its_new_texts(tmp_path):
    fx = FakeExtractor()
    first, _ = _extract(TEXTS[:24], tmp_path, fx)
    calls = fx.calls
    texts = TEXTS[16:][::-1]  # 16 new texts, 8 stored ones, another order
    entry, summary = _extract(texts, tmp_path, fx)
    assert (summary.texts, summary.texts_reused) == (16, 8)
    assert fx.calls - calls == 2  # the blocks holding new texts only
    fresh, _ = _extract(texts, tmp_path / "fresh", FakeExtractor())
    for kind in entry.kinds:
        for pool in entry.pools:
            np.testing.assert_array_equal(entry.array(kind, pool)[:], fresh.array(kind, pool)[:])


def test_sites_of_one_row_may_come_from_different_entries(tmp_path):
    """("mean", "max") is read from a "mean" entry and a "max" entry of the same extraction."""
    mean, _ = _extract(TEXTS[:16], tmp_path, FakeExtractor(pools=("mean",)))
    high, _ = _extract(TEXTS[8:24], tmp_path, FakeExtractor(pools=("max",)))
    both = FakeExtractor(pools=("mean", "max"))
    texts = TEXTS[8:16]
    entry, summary = _extract(texts, tmp_path, both)
    assert both.calls == 0 and summary.texts_reused == 8
    for pool, source in (("mean", mean), ("max", high)):
        np.testing.assert_array_equal(entry.array("ffn", pool)[:],
                                      source.array("ffn", pool)[:, _rows_of(source, texts)])


def test_only_the_same_extraction_and_written_blocks_count(tmp_path):
    _extract(TEXTS[:24], tmp_path, FakeExtractor(name="other-model"))
    narrow, _ = _extract(TEXTS[:24], tmp_path, FakeExtractor(units={"hidden": 6, "ffn": 6},
                                                             pools=("single",)))
    half, _ = _extract(TEXTS[:24], tmp_path, FakeExtractor(layers={"hidden": [0, 1], "ffn": [0]}))
    (half.path / layout.DONE_ARRAY / "c" / "1").unlink()  # block 1 (rows 8-15) unwritten
    fx = FakeExtractor(layers={"hidden": [1], "ffn": [0]})
    index = RowIndex.of_store(tmp_path, fx.describe(), EntryLayout.of(fx))
    assert len(index) == 1  # the other model, and the entry of other widths, are left out
    found, features = index.read(text_digests(TEXTS[:24]))
    assert found.tolist() == [True] * 8 + [False] * 8 + [True] * 8
    rows = np.flatnonzero(found)
    np.testing.assert_array_equal(features["hidden", "mean"][0],
                                  half.features("hidden", "mean", 1, rows))
    assert features["hidden", "mean"].shape == (1, 16, 8)
    assert extraction_key(fx.describe()) == extraction_key(half.metadata["model"])
    assert extraction_key(fx.describe()) != extraction_key(FakeExtractor("x").describe())
    assert narrow.units("ffn") == 6


def test_no_store_or_an_excluded_entry_gives_nothing(tmp_path):
    fx = FakeExtractor()
    spec = EntryLayout.of(fx)
    assert len(RowIndex.of_store(tmp_path / "none", fx.describe(), spec)) == 0
    entry, _ = _extract(TEXTS[:8], tmp_path, fx)
    assert len(RowIndex.beside(entry, fx.describe(), spec)) == 0
    assert len(RowIndex.of_store(tmp_path, fx.describe(), spec)) == 1


def test_a_resumed_entry_does_not_read_its_own_rows(tmp_path):
    """Duplicates inside one dataset are computed, so a resumed run ends as an uninterrupted one."""
    texts = TEXTS[:8] + TEXTS[:8]
    entry, _ = _extract(texts, tmp_path, FakeExtractor())
    (entry.path / layout.DONE_ARRAY / "c" / "1").unlink()
    fx = FakeExtractor()
    _, summary = _extract(texts, tmp_path, fx)
    assert (fx.calls, summary.texts, summary.texts_reused) == (1, 8, 0)
    assert FeatureStore.open(tmp_path).entry().is_complete


@pytest.mark.parametrize("rows", [[3, 1, 3], []])
def test_read_returns_rows_in_the_order_asked(tmp_path, rows):
    fx = FakeExtractor()
    entry, _ = _extract(TEXTS[:8], tmp_path, fx)
    index = RowIndex.of_store(tmp_path, fx.describe(), EntryLayout.of(fx))
    found, features = index.read(text_digests([TEXTS[i] for i in rows]))
    assert found.tolist() == [True] * len(rows)
    np.testing.assert_array_equal(features["ffn", "max"],
                                  entry.array("ffn", "max")[:, rows] if rows else
                                  np.zeros((3, 0, 12), "float16"))
