"""Early exit in memory: only the blocks a classifier reads are loaded, with identical results."""
from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import SAMPLE_TEXTS
from tests.tiny_classifier import SITES, tiny_classifier

from stc_gpu.extract import Extractor
from stc_gpu.models.adapters import adapter_for
from stc_gpu.models.synthetic import random_model_and_tokenizer
from stc_gpu.models.truncate import blocks_needed, blocks_to_run, truncate, weight_bytes


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_blocks_needed_counts_the_blocks_up_to_the_deepest_site():
    assert blocks_to_run("hidden", 0) == 0 and blocks_to_run("hidden", 3) == 3
    assert blocks_to_run("ffn", 0) == 1 and blocks_to_run("ffn", 2) == 3
    assert blocks_needed({"hidden": [0]}) == 1  # block 0 carries the hook of hidden.0
    assert blocks_needed({"hidden": [0, 2], "ffn": [1]}) == 2
    assert blocks_needed({"hidden": [1], "ffn": [2]}) == 3


@pytest.mark.parametrize("sites, padding_side", [
    ({"hidden": [0]}, "right"), ({"ffn": [0]}, "left"), ({"hidden": [0, 2], "ffn": [1]}, "left"),
    ({"hidden": [3], "ffn": [2]}, "right")])
def test_truncated_extractor_gives_identical_features(tiny, sites, padding_side):
    family, model, tokenizer = tiny
    full_model, _ = random_model_and_tokenizer(family, SAMPLE_TEXTS)
    options = dict(kinds=tuple(sites), layers=sites, device="cpu", out_dtype="float32",
                   padding_side=padding_side)
    full = Extractor(full_model, tokenizer, **options)
    cut = Extractor(model, tokenizer, truncate=True, **options)
    n_blocks = blocks_needed(sites)
    assert len(cut.adapter.blocks) == n_blocks and cut.n_layers == full.n_layers == 3
    assert cut.describe() == full.describe()  # same identity: the hashes are of the full model
    a, b = full.extract(SAMPLE_TEXTS), cut.extract(SAMPLE_TEXTS)
    for key in a.features:
        np.testing.assert_array_equal(a.features[key], b.features[key])
    smaller = n_blocks < 3 or family in ("bert", "roberta")  # the pooler goes in any case
    assert (_n_params(cut.model) < _n_params(full.model)) == smaller


def test_truncate_drops_later_blocks_pooler_and_final_norm(tiny):
    family, model, _ = tiny
    adapter = adapter_for(model)
    base = adapter.base
    dropped = sum(_n_params(block) for block in list(adapter.blocks)[1:])
    extra = {"bert": "pooler", "roberta": "pooler", "gpt2": "ln_f", "llama": "norm"}.get(family)
    if extra:
        dropped += _n_params(getattr(base, extra))
    before, before_bytes = _n_params(base), weight_bytes(base)
    cut = truncate(model, 1)
    assert cut.family == family and cut.n_layers == 1 and cut.base is base
    assert _n_params(cut.base) == before - dropped
    assert weight_bytes(cut.base) < before_bytes


def test_truncate_keeps_the_final_norm_of_a_whole_model(tiny):
    family, model, _ = tiny
    cut = truncate(model, 3)
    assert cut.n_layers == 3
    if family in ("gpt2", "llama"):
        norm = cut.base.ln_f if family == "gpt2" else cut.base.norm
        assert _n_params(norm) > 0
    if family in ("bert", "roberta"):
        assert cut.base.pooler is None


@pytest.mark.parametrize("n_blocks", [0, 4])
def test_truncate_refuses_a_block_count_outside_the_model(tiny, n_blocks):
    _, model, _ = tiny
    with pytest.raises(ValueError, match=r"n_blocks must be in 1\.\.3"):
        truncate(model, n_blocks)


def test_classifier_loads_only_its_blocks_and_predicts_as_the_full_model(tmp_path, family):
    clf, texts = tiny_classifier(tmp_path, family)
    extractor = clf.extractor()
    assert len(extractor.adapter.blocks) == blocks_needed(SITES) == 2
    full = Extractor.from_pretrained(clf.model_, kinds=tuple(SITES), pools=(clf.pool_,),
                                     layers=SITES, device="cpu")
    assert len(full.adapter.blocks) == 3
    assert weight_bytes(extractor.model) < weight_bytes(full.model)
    block = full.extract(texts)
    X = clf.features_from_pooled(
        lambda kind, layer: block.features[kind, clf.pool_][full.layers[kind].index(layer)])
    np.testing.assert_array_equal(clf.transform(texts), X)
    np.testing.assert_array_equal(clf.predict_proba(texts), clf.head_.predict_proba(X))
