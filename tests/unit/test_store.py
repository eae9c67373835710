"""Feature store: entries keyed by fingerprints, reuse, read API, locking, failure safety."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_fake_extractor import FakeExtractor

from stc_gpu.data.readers import scan_texts
from stc_gpu.extract.to_store import extract_to_store
from stc_gpu.store import FeatureStore, StoreLockedError, layout, model_fingerprint
from stc_gpu.store.fingerprint import text_digests
from stc_gpu.store.lock import claim_entry

TEXTS = [f"text {i} " + "word " * (i % 7) for i in range(37)]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _extract(texts, store, extractor=None, **kwargs):
    kwargs.setdefault("block_rows", 8)
    kwargs.setdefault("progress", False)
    return extract_to_store(texts, extractor or FakeExtractor(), store, **kwargs)


def test_extraction_writes_the_extractor_features(tmp_path):
    fx = FakeExtractor()
    entry, summary = _extract(TEXTS, tmp_path / "s", fx)
    assert entry.is_complete and entry.n_rows == len(TEXTS)
    assert (summary.texts, summary.blocks_written, summary.blocks_already_done) == (37, 5, 0)
    assert summary.bytes_written == sum(
        len(fx.layers[k]) * 37 * fx.units[k] * 2 for k in fx.kinds for p in fx.pools)
    ref = fx.extract(TEXTS).features
    for kind in fx.kinds:
        assert entry.layers(kind) == fx.layers[kind] and entry.units(kind) == fx.units[kind]
        for pool in fx.pools:
            for pos, layer in enumerate(fx.layers[kind]):
                got = entry.features(kind, pool, layer)
                assert got.dtype == np.float16 and got.shape == (37, fx.units[kind])
                np.testing.assert_array_equal(got, ref[(kind, pool)][pos])
    array = entry.array("ffn", "max")
    assert array.chunks == (1, 8, fx.units["ffn"]) and array.metadata.zarr_format == 3
    meta = entry.metadata
    assert meta["model"] == fx.describe() and meta["model_fingerprint"] == model_fingerprint(
        fx.describe())
    assert meta["dataset_fingerprint"] == scan_texts(TEXTS).fingerprint
    assert meta["source"] == "<list of 37 texts>" and meta["text_column"] == "text"


def test_same_texts_and_model_reuse_the_entry_without_forward_pass(tmp_path):
    _extract(TEXTS, tmp_path)
    fx = FakeExtractor()
    before = _snapshot(tmp_path)
    entry, summary = _extract(TEXTS, tmp_path, fx, block_rows=16)
    assert fx.calls == 0 and summary.reused and "no forward pass" in summary.format()
    assert entry.block_rows == 8
    assert _snapshot(tmp_path) == before


def test_small_dataset_gets_small_chunks(tmp_path):
    entry, _ = _extract(TEXTS[:3], tmp_path, block_rows=4096)
    assert entry.block_rows == 3 and entry.array("ffn", "mean").chunks == (1, 3, 12)


def test_other_model_or_dataset_adds_an_entry_beside(tmp_path):
    a, _ = _extract(TEXTS, tmp_path)
    b, _ = _extract(TEXTS, tmp_path, FakeExtractor("other-model"))
    c, _ = _extract(TEXTS[:20], tmp_path)
    store = FeatureStore.open(tmp_path)
    infos = store.entries()
    assert sorted(i.key for i in infos) == sorted(e.key for e in (a, b, c))
    assert {i.model_name for i in infos} == {"fake-model", "other-model"}
    assert all(i.complete and i.size_bytes > 0 for i in infos)
    assert a.model_fingerprint == c.model_fingerprint != b.model_fingerprint
    assert store.entry(b.model_fingerprint[:6]).key == b.key
    assert store.entry(c.dataset_fingerprint[:6]).key == c.key
    assert store.entry(f"{a.model_fingerprint[:4]}/{a.dataset_fingerprint[:4]}").key == a.key
    with pytest.raises(ValueError, match="3 entries are in"):
        store.entry()
    with pytest.raises(ValueError, match="3 entries are in"):
        store.features("hidden", "mean", 0)
    with pytest.raises(ValueError, match="2 entries match"):
        store.entry(a.model_fingerprint[:8])
    with pytest.raises(ValueError, match="no entry matches 'zzzz'"):
        store.entry("zzzz")
    assert store.find(FakeExtractor(), TEXTS[:20]).key == c.key
    assert store.find(FakeExtractor("other-model").describe(), TEXTS).key == b.key
    assert store.find(FakeExtractor("never-run"), TEXTS) is None


def test_store_convenience_and_row_selections(tmp_path):
    fx = FakeExtractor()
    _extract(TEXTS, tmp_path, fx)
    store = FeatureStore.open(tmp_path)
    full = fx.extract(TEXTS).features[("hidden", "single")][2]
    np.testing.assert_array_equal(store.features("hidden", "single", 2), full)
    mask = np.arange(37) % 3 == 0
    selections = [(slice(5, 30, 2), full[5:30:2]), (mask, full[mask]),
                  ([30, 2, 2, -1], full[[30, 2, 2, -1]]), (np.array([], int), full[:0])]
    for rows, expected in selections:
        np.testing.assert_array_equal(store.features("hidden", "single", 2, rows=rows), expected)
    with pytest.raises(IndexError):
        store.features("hidden", "single", 2, rows=[37])
    with pytest.raises(ValueError, match="layer 9 of kind 'hidden' was not captured"):
        store.features("hidden", "single", 9)
    with pytest.raises(ValueError, match="kind 'attn' is not in this entry"):
        store.features("attn", "mean", 0)
    with pytest.raises(ValueError, match="pool 'min' is not in this entry"):
        store.features("ffn", "min", 0)
    with pytest.raises(ValueError, match="as_ must be"):
        store.features("ffn", "max", 0, as_="torch")


def test_cupy_reads_or_says_cupy_is_missing(tmp_path):
    _extract(TEXTS, tmp_path)
    store = FeatureStore.open(tmp_path)
    try:
        import cupy
    except ImportError:
        with pytest.raises(RuntimeError, match="needs CuPy"):
            store.features("ffn", "max", 0, as_="cupy")
        return
    got = store.features("ffn", "max", 0, rows=[1, 2], as_="cupy")
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(got), store.features("ffn", "max", 0, rows=[1, 2]))


def test_open_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        FeatureStore.open(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="not an stc-gpu feature store"):
        FeatureStore.open(tmp_path / "plain")
    with pytest.raises(ValueError, match="not an stc-gpu feature store"):
        _extract(TEXTS, tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        FeatureStore.create(tmp_path / "file")
    FeatureStore.create(tmp_path / "new")
    with pytest.raises(ValueError, match="holds no entries"):
        FeatureStore.open(tmp_path / "new").entry()


def test_verify_texts(tmp_path):
    entry, _ = _extract(TEXTS, tmp_path)
    entry.verify_texts(TEXTS)
    changed = TEXTS[:10] + ["something else"] + TEXTS[11:]
    with pytest.raises(ValueError, match="not the ones .* 1 rows differ, first at row 10"):
        entry.verify_texts(changed)
    with pytest.raises(ValueError, match="36 rows given, the entry has 37"):
        entry.verify_texts(TEXTS[:-1])
    entry.verify_texts(text_digests(TEXTS))  # digests, as a data file's scan gives them
    path = tmp_path / "texts.csv"
    path.write_text("text\n" + "\n".join(TEXTS) + "\n")
    entry.verify_texts(scan_texts(path).digests)
    with pytest.raises(TypeError, match="the store reads no data file .*scan_texts"):
        entry.verify_texts(path)


class _ChangingTexts:
    """A sequence whose rows change after the first full read (a file edited mid-run)."""

    def __init__(self, texts):
        self.texts, self.reads = list(texts), 0

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, index):
        rows = self.texts[index]
        self.reads += len(rows)
        if self.reads > len(self.texts):
            rows = [t.upper() for t in rows]
        return rows


class _ShrinkingTexts(_ChangingTexts):
    def __getitem__(self, index):
        rows = super().__getitem__(index)
        return [t.lower() for t in rows[:16]] if self.reads > len(self.texts) else rows


def test_texts_changing_between_passes_is_an_error(tmp_path):
    fx = FakeExtractor()
    with pytest.raises(ValueError, match=r"rows 0-7 changed between the validation pass"):
        _extract(_ChangingTexts(TEXTS), tmp_path / "a", fx)
    assert fx.calls == 0
    with pytest.raises(ValueError, match=r"fewer rows than during the validation pass; "
                                         r"blocks \[2, 3, 4\]"):
        _extract(_ShrinkingTexts(TEXTS), tmp_path / "b", fx)
    assert fx.calls == 2


def test_same_describe_with_another_layout_is_an_error(tmp_path):
    _extract(TEXTS[:10], tmp_path, FakeExtractor(), block_rows=4)
    odd = FakeExtractor(units={"hidden": 8, "ffn": 4})  # same describe(), other widths
    with pytest.raises(ValueError, match="was extracted with layout"):
        _extract(TEXTS[:10], tmp_path, odd)  # complete entry
    FeatureStore.open(tmp_path).entry().path.joinpath(layout.DONE_ARRAY, "c", "1").unlink()
    with pytest.raises(ValueError, match="was extracted with layout"):
        _extract(TEXTS[:10], tmp_path, odd)  # incomplete entry
    assert odd.calls == 0


class _FailingExtractor(FakeExtractor):
    def __init__(self, fail_at_call, **kwargs):
        super().__init__(**kwargs)
        self.fail_at_call = fail_at_call

    def extract(self, texts, *, progress=None):
        if self.calls + 1 == self.fail_at_call:
            self.calls += 1
            raise RuntimeError("out of memory (simulated)")
        return super().extract(texts)


def test_failures_damage_nothing_and_resume(tmp_path):
    reference, _ = _extract(TEXTS, tmp_path / "ref")
    store = tmp_path / "s"
    _extract(TEXTS[:9], store)
    before = _snapshot(store)
    for bad in (TEXTS[:5] + [""] + TEXTS[6:], TEXTS[:5] + [None]):
        with pytest.raises(ValueError, match="row 5"):
            _extract(bad, store)
    assert _snapshot(store) == before  # bad input: nothing touched, no new folder
    with pytest.raises(RuntimeError, match="simulated"):  # block 0 is read from TEXTS[:9]'s
        _extract(TEXTS, store, _FailingExtractor(fail_at_call=2))  # entry: no call
    entry = FeatureStore.open(store).entry(reference.dataset_fingerprint[:8])
    assert entry.blocks_done().tolist() == [True, True, False, False, False]
    np.testing.assert_array_equal(entry.features("ffn", "mean", 1, rows=slice(0, 16)),
                                  reference.features("ffn", "mean", 1, rows=slice(0, 16)))
    with pytest.raises(ValueError, match=r"incomplete \(2/5 blocks written\).*block 2"):
        entry.features("ffn", "mean", 1)
    assert not [i for i in FeatureStore.open(store).entries() if i.key == entry.key][0].complete
    fx = FakeExtractor()
    _, summary = _extract(TEXTS, store, fx)
    assert fx.calls == 3 and summary.blocks_already_done == 2 and summary.texts == 37 - 16
    after = _snapshot(store)
    assert {k: v for k, v in after.items() if k in before} == before  # the other entry untouched
    ref_files = _snapshot(tmp_path / "ref")
    for name, data in ref_files.items():
        if "/c/" in name:
            assert after[name] == data, name


def test_resume_removes_temporary_files_of_killed_writes(tmp_path):
    entry, _ = _extract(TEXTS, tmp_path)
    done = zarr.open_array(entry.path / layout.DONE_ARRAY, mode="r+")
    done[3] = 0
    torn = [entry.path / "hidden_max" / "c" / "1" / "3" / "0.1234abcd.partial",
            entry.path / layout.DONE_ARRAY / "c" / "3.1234abcd.partial"]
    for path in torn:
        path.write_bytes(b"half a chunk")
    kept = entry.path / "hidden_max" / "c" / "1" / "2" / "0.1234abcd.partial"  # a done block
    kept.write_bytes(b"not ours")
    fx = FakeExtractor()
    _extract(TEXTS, tmp_path, fx)
    assert fx.calls == 1 and not any(p.exists() for p in torn) and kept.exists()


def test_wrong_feature_shapes_are_rejected_before_writing(tmp_path):
    class Short(FakeExtractor):
        def extract(self, texts, *, progress=None):
            out = super().extract(texts)
            return type(out)({k: v[:, :-1] for k, v in out.features.items()}, 1, 1, 0)

    with pytest.raises(ValueError, match=r"block 0: hidden/mean features have shape \(4, 7, 8\), "
                                         r"expected \(4, 8, 8\)"):
        _extract(TEXTS, tmp_path, Short())
    entry = FeatureStore.open(tmp_path).entry()
    assert not entry.blocks_done().any()


def test_interrupted_initialisation_is_rebuilt(tmp_path):
    reference, _ = _extract(TEXTS, tmp_path / "ref")
    entry, _ = _extract(TEXTS, tmp_path / "s")
    group = zarr.open_group(entry.path, mode="r+")
    del group.attrs[layout.MANIFEST_KEY]  # as if killed before the manifest was written
    chunk = entry.path / "ffn_max" / "c" / "0" / "1" / "0"
    chunk.write_bytes(b"garbage")
    assert FeatureStore.open(tmp_path / "s").entries() == []
    fx = FakeExtractor()
    _extract(TEXTS, tmp_path / "s", fx)
    assert fx.calls == 5
    assert chunk.read_bytes() == (reference.path / "ffn_max" / "c" / "0" / "1" / "0").read_bytes()


def test_world_size_splits_blocks_between_ranks(tmp_path):
    reference, _ = _extract(TEXTS, tmp_path / "ref")
    e0, s0 = _extract(TEXTS, tmp_path / "s", rank=0, world_size=2)
    assert e0.blocks_done().tolist() == [True, False, True, False, True] and s0.texts == 8 + 8 + 5
    np.testing.assert_array_equal(e0.features("hidden", "max", 1, rows=[0, 17, 36]),
                                  reference.features("hidden", "max", 1, rows=[0, 17, 36]))
    e1, s1 = _extract(TEXTS, tmp_path / "s", rank=1, world_size=2)
    assert e1.is_complete and s1.texts == 16
    np.testing.assert_array_equal(e1.features("hidden", "max", 1),
                                  reference.features("hidden", "max", 1))
    with pytest.raises(ValueError, match="rank must be in"):
        _extract(TEXTS, tmp_path / "s", rank=2, world_size=2)


def _entry_dir(store, texts, extractor):
    FeatureStore.create(store)
    return layout.entry_dir(store, model_fingerprint(extractor.describe()),
                            scan_texts(texts).fingerprint)


def test_second_writer_fails_naming_the_holder(tmp_path):
    entry_dir = _entry_dir(tmp_path, TEXTS, FakeExtractor())
    with claim_entry(entry_dir):
        with pytest.raises(StoreLockedError, match=r"being written by pid \d+ on .*--wait"):
            _extract(TEXTS, tmp_path)
    entry, _ = _extract(TEXTS, tmp_path)  # released: works
    assert entry.is_complete


def test_second_writer_waits_when_asked(tmp_path, capsys):
    entry_dir = _entry_dir(tmp_path, TEXTS, FakeExtractor())
    held, release = threading.Event(), threading.Event()

    def hold():
        with claim_entry(entry_dir):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    t0 = time.perf_counter()
    entry, _ = _extract(TEXTS, tmp_path, wait=True)
    holder.join()
    assert entry.is_complete and time.perf_counter() - t0 >= 0.4
    assert "waiting: " in capsys.readouterr().err


def test_summary_numbers(tmp_path):
    _, s = _extract(TEXTS, tmp_path, FakeExtractor(max_length=6))
    fx = FakeExtractor(max_length=6)
    blocks = [fx.extract(TEXTS[i:i + 8]) for i in range(0, 37, 8)]
    assert s.tokens == sum(b.n_tokens for b in blocks)
    assert s.truncated == sum(b.n_truncated for b in blocks)
    assert s.padding_ratio == pytest.approx(sum(b.n_slots for b in blocks) / s.tokens)
    assert s.seconds > 0 and s.texts_per_s > 0 and s.write_mib_per_s > 0
    text = s.format()
    assert "texts 37" in text and "MiB/s" in text and "tokens/s" in text
