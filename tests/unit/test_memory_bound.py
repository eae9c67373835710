"""Host memory bounded while extracting, and only then: glibc's mmap threshold is fixed inside
:func:`bounded_heap` (nested scopes count as one) and set back to the unbounded value on leaving
it, so the fits that follow an extraction get their large buffers from the heap again."""
from __future__ import annotations

import platform

import pytest

import stc_gpu.extract.memory as memory
from stc_gpu.extract.extractor import Extractor
from stc_gpu.models.synthetic import random_model_and_tokenizer
from tests.conftest import SAMPLE_TEXTS

BOUNDED = (memory.MMAP_THRESHOLD, memory.MMAP_THRESHOLD)
UNBOUNDED = (memory.UNBOUNDED_MMAP_THRESHOLD, 2 * memory.UNBOUNDED_MMAP_THRESHOLD)


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(memory, "_set_thresholds",
                        lambda mmap, trim: seen.append((mmap, trim)) or True)
    return seen


def test_nested_scopes_bound_once_and_unbound_when_the_last_ends(calls):
    with memory.bounded_heap():
        with memory.bounded_heap():
            assert calls == [BOUNDED]
        assert calls == [BOUNDED]
    assert calls == [BOUNDED, UNBOUNDED]
    with pytest.raises(RuntimeError):
        with memory.bounded_heap():
            raise RuntimeError("an extraction fails")
    assert calls[-1] == UNBOUNDED and memory._depth == 0


def test_an_extraction_runs_bounded_and_leaves_the_heap_unbounded(calls):
    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    extractor = Extractor(model, tokenizer, kinds=("hidden",), pools=("mean",),
                          out_dtype="float32")
    assert calls == []  # building an extractor changes nothing
    extractor.extract(SAMPLE_TEXTS)
    assert calls == [BOUNDED, UNBOUNDED]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_accepts_both_settings():
    assert memory._set_thresholds(*BOUNDED)
    assert memory._set_thresholds(*UNBOUNDED)


def test_a_store_extraction_is_bounded_from_its_first_pass(calls, monkeypatch, tmp_path):
    import stc_gpu.extract.to_store as to_store

    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    extractor = Extractor(model, tokenizer, kinds=("hidden",), pools=("mean",))
    depth = []
    scan = to_store.scan_texts
    monkeypatch.setattr(to_store, "scan_texts",
                        lambda *args, **kwargs: depth.append(memory._depth) or scan(*args, **kwargs))
    entry, _ = to_store.extract_to_store(list(SAMPLE_TEXTS), extractor, tmp_path / "store",
                                         progress=False)
    assert entry.n_rows == len(SAMPLE_TEXTS)
    assert depth == [1] and calls == [BOUNDED, UNBOUNDED]  # the block extractions nest in it
