"""Done markers are durable: chunks are synced before their block counts as done, and a done block
whose chunk went missing is reported as damaged, refused on read and rewritten by the next run."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from store_fake_extractor import FakeExtractor

from stc_gpu.cli import cli
from stc_gpu.extract.to_store import extract_to_store
from stc_gpu.store import FeatureStore, durable, layout

TEXTS = [f"text {i} " + "word " * (i % 5) for i in range(30)]


def _extract(store, extractor=None, **kwargs):
    return extract_to_store(TEXTS, extractor or FakeExtractor(), store, block_rows=8,
                            progress=False, **kwargs)


def _chunks(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and "c" in p.relative_to(store).parts}


def test_every_chunk_is_synced_before_its_done_marker_exists(tmp_path, monkeypatch):
    synced: list[Path] = []
    early: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        synced.append(path)
        parts = path.parts
        if path.is_file() and parts[-4] == "c" and parts[-5].startswith(("hidden_", "ffn_")):
            if layout.done_chunk(path.parents[4], int(parts[-2])).exists():  # a feature chunk
                early.append(path)
        real_fsync(fd)

    monkeypatch.setattr(durable.os, "fsync", fsync)
    entry, _ = _extract(tmp_path)
    assert early == []  # no block was marked done before its chunks were on disk
    files = {p for p in entry.path.rglob("*") if p.is_file() and "c" in p.relative_to(entry.path).parts}
    assert files and files <= set(synced)  # features, markers, digests, row coordinate
    folders = {p.parent for p in files}
    assert folders <= set(synced) and entry.path in synced  # so are the renames into them


def test_a_done_block_with_a_missing_chunk_is_damaged_never_zeros(tmp_path):
    reference, _ = _extract(tmp_path / "ref")
    store = tmp_path / "s"
    entry, _ = _extract(store)
    lost = layout.feature_chunk(entry.path, "ffn", "max", 1, 2)
    lost.unlink()
    assert entry.damaged_blocks() == [2] and not entry.is_complete
    assert entry.blocks_done().tolist() == [True, True, False, True]
    info = FeatureStore.open(store).entries()[0]
    assert (info.blocks_done, info.blocks_damaged, info.complete) == (3, 1, False)
    with pytest.raises(ValueError, match=r"block 2 is damaged .*rerun the extraction"):
        entry.features("ffn", "max", 1)
    with pytest.raises(ValueError, match="block 2 is damaged"):
        entry.features("ffn", "max", 1, rows=[17])
    np.testing.assert_array_equal(entry.features("ffn", "max", 1, rows=slice(0, 16)),
                                  reference.features("ffn", "max", 1, rows=slice(0, 16)))

    shown = CliRunner().invoke(cli, ["store", "info", str(store)])
    assert shown.exit_code == 0 and "damaged:" in shown.output and "blocks [2]" in shown.output
    listed = CliRunner().invoke(cli, ["store", "ls", str(store)])
    assert "3/4" in listed.output and "1 damaged blocks" in listed.output

    fx = FakeExtractor()
    entry, summary = _extract(store, fx)
    assert fx.calls == 1 and summary.blocks_written == 1 and summary.blocks_already_done == 3
    assert entry.is_complete and entry.damaged_blocks() == []
    assert _chunks(store) == _chunks(tmp_path / "ref")


def test_an_empty_chunk_counts_as_damaged(tmp_path):
    entry, _ = _extract(tmp_path)
    layout.feature_chunk(entry.path, "hidden", "mean", 0, 3).write_bytes(b"")
    assert entry.damaged_blocks() == [3]
    with pytest.raises(ValueError, match="block 3 is damaged"):
        entry.features("hidden", "mean", 0, rows=[29])


def test_all_zero_features_are_stored_not_left_to_the_fill_value(tmp_path):
    class Zeros(FakeExtractor):
        def extract(self, texts, *, progress=None):
            out = super().extract(texts)
            return type(out)({k: np.zeros_like(v) for k, v in out.features.items()},
                             out.n_tokens, out.n_slots, out.n_truncated)

    entry, _ = _extract(tmp_path, Zeros())
    assert entry.is_complete and entry.damaged_blocks() == []
    assert not entry.features("ffn", "mean", 0).any()
