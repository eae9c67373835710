"""An entry opens with plain zarr, xarray and dask: named dimensions, coordinates, no warnings."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_fake_extractor import FakeExtractor

from stc_gpu.extract.to_store import extract_to_store
from stc_gpu.store import FeatureStore, StoreEntry

TEXTS = [f"text {i} " + "word " * (i % 6) for i in range(45)]
DEMO_STORE = Path("/tmp/demo_store")


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    fx = FakeExtractor(layers={"hidden": [0, 2, 3], "ffn": [1, 2]})
    entry, _ = extract_to_store(TEXTS, fx, tmp_path_factory.mktemp("xr") / "store", block_rows=10,
                                progress=False)
    return entry


def test_plain_zarr_lists_the_store_without_warnings(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        members = dict(zarr.open_group(entry.path, mode="r").members())
        everything = dict(zarr.open_group(entry.path.parents[1], mode="r").members(max_depth=None))
    assert {"hidden_mean", "ffn_single", "text_sha256", "block_done", "hidden_layer", "ffn_layer",
            "row"} <= set(members)
    assert len(everything) == 2 + len(members)  # the model group, the entry, its arrays
    assert members["ffn_max"].metadata.dimension_names == ("ffn_layer", "row", "ffn_unit")
    assert members["text_sha256"].metadata.dimension_names == ("row", "digest_byte")


def test_xarray_opens_an_entry_with_named_dimensions(entry):
    xr = pytest.importorskip("xarray")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(entry.path, consolidated=False)
    assert dict(ds.sizes) == {"hidden_layer": 3, "ffn_layer": 2, "row": 45, "hidden_unit": 8,
                              "ffn_unit": 12, "digest_byte": 32, "block": 5}
    assert ds["hidden_mean"].dims == ("hidden_layer", "row", "hidden_unit")
    assert ds["hidden_layer"].values.tolist() == [0, 2, 3]
    assert ds["ffn_layer"].values.tolist() == [1, 2]
    assert ds["row"].values.tolist() == list(range(45))
    assert ds["hidden_max"].chunks is not None  # lazy (dask) until asked
    got = ds["ffn_mean"].sel(ffn_layer=2, row=slice(5, 30)).values
    np.testing.assert_array_equal(got, entry.features("ffn", "mean", 2, rows=slice(5, 31)))
    assert ds["block_done"].values.tolist() == [1] * 5


def test_dask_reads_a_feature_array_lazily(entry):
    da = pytest.importorskip("dask.array")
    lazy = da.from_zarr(str(entry.path / "hidden_single"))
    assert lazy.shape == (3, 45, 8) and lazy.chunks[1] == (10, 10, 10, 10, 5)
    np.testing.assert_array_equal(lazy[1].compute(), entry.features("hidden", "single", 2))


def test_an_entry_written_before_dimension_names_still_reads(entry, tmp_path):
    """Entries of the earlier layout (no coordinates, no dimension names, lock files in the
    entry folder) hold the same bytes: they open and read as before."""
    old = tmp_path / "store"
    shutil.copytree(entry.path.parents[1], old)
    old_entry = old / entry.key
    for name in ("hidden_layer", "ffn_layer", "row"):
        shutil.rmtree(old_entry / name)
    for name in (".writer.lock", ".init.lock"):
        (old_entry / name).write_text("")
    reopened = FeatureStore.open(old).entry()
    assert reopened.is_complete and reopened.damaged_blocks() == []
    np.testing.assert_array_equal(reopened.features("ffn", "max", 1),
                                  entry.features("ffn", "max", 1))


@pytest.mark.skipif(not DEMO_STORE.exists(), reason="needs the demo store of /tmp/demo_store")
def test_the_demo_store_written_by_earlier_code_opens():
    store = FeatureStore.open(DEMO_STORE)
    for info in store.entries():  # entries written by this and earlier versions
        entry = store.entry(info.key)
        assert entry.is_complete and entry.damaged_blocks() == []
        first = entry.layers("ffn")[0]
        assert entry.features("ffn", entry.pools[0], first, rows=[0, 1]).shape == (
            2, entry.units("ffn"))
        assert StoreEntry.open(entry.path).key == entry.key
