"""Tokenisation with truncation counts, token-budget plans and padding."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from tests.conftest import SAMPLE_TEXTS

from stc_gpu.extract.batching import default_max_length, pad_batch, plan_batches, tokenize
from stc_gpu.models.synthetic import random_config, simple_tokenizer

RT_SNIPPETS = Path(__file__).parents[2] / "stc_gpu" / "demo" / "rt_snippets.csv.gz"


def _padding_ratio(lengths, batches):
    return sum(len(b) * lengths[b].max() for b in batches) / lengths.sum()


def test_plan_respects_budget_and_covers_every_text_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=300)
    batches = plan_batches(lengths, token_budget=128, max_pad_fraction=1)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(300))
    for batch in batches:
        assert len(batch) * lengths[batch].max() <= 128
    longest = [lengths[b].max() for b in batches]
    assert longest == sorted(longest, reverse=True)  # longest first: out-of-memory shows early


def test_sorted_buckets_pad_little_random_order_pads_a_lot():
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 60, size=2000)
    assert _padding_ratio(lengths, plan_batches(lengths, 1024)) < 1.05
    assert _padding_ratio(lengths, plan_batches(lengths, 1024, max_pad_fraction=0)) == 1
    random_batches = np.array_split(rng.permutation(2000), 2000 // 20)
    assert _padding_ratio(lengths, random_batches) > 1.3


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3])
def test_no_row_is_padded_beyond_the_fraction(fraction):
    lengths = np.random.default_rng(2).integers(1, 100, size=500)
    for batch in plan_batches(lengths, 4096, max_pad_fraction=fraction):
        assert lengths[batch].min() >= (1 - fraction) * lengths[batch].max()


def test_text_longer_than_budget_gets_its_own_batch():
    batches = plan_batches(np.array([3, 50, 2]), token_budget=10, max_pad_fraction=1)
    assert [b.tolist() for b in batches] == [[1], [0, 2]]


def test_bad_budget_is_rejected():
    with pytest.raises(ValueError, match="token_budget"):
        plan_batches(np.array([3]), token_budget=0)
    with pytest.raises(ValueError, match="max_pad_fraction"):
        plan_batches(np.array([3]), token_budget=8, max_pad_fraction=1.5)


def test_tokenize_counts_truncated_texts_and_keeps_special_tokens():
    tokenizer = simple_tokenizer(SAMPLE_TEXTS)
    long_text = " ".join(["word"] * 30)
    tokenized = tokenize(tokenizer, ["ok", long_text, "a b c d e f"], max_length=8)
    assert tokenized.lengths.tolist() == [3, 8, 8]
    assert tokenized.truncated.tolist() == [False, True, False]  # exactly 8 tokens is not cut
    assert tokenized.ids[1][0] == tokenizer.cls_token_id
    assert tokenized.ids[1][-1] == tokenizer.sep_token_id


def test_tokenize_rejects_a_bare_string_and_non_strings():
    tokenizer = simple_tokenizer(SAMPLE_TEXTS)
    with pytest.raises(ValueError, match="not one string"):
        tokenize(tokenizer, "a text", 8)
    with pytest.raises(ValueError, match="str"):
        tokenize(tokenizer, ["a", 3], 8)


def test_tokenize_rejects_texts_without_tokens():
    tokenizer = simple_tokenizer(SAMPLE_TEXTS, decoder=True)  # no special tokens
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        tokenize(tokenizer, ["ok", ""], 8)


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_batch(side):
    ids = [[5, 6, 7], [8], [9, 10]]
    batch = pad_batch(ids, np.array([0, 1]), pad_id=0, padding_side=side)
    assert batch.lengths.tolist() == [3, 1] and batch.n_tokens == 4 and batch.n_slots == 6
    if side == "right":
        assert batch.input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
        assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    else:
        assert batch.input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
        assert batch.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pad_batch(ids, np.array([2]), 0, side).input_ids.tolist() == [[9, 10]]


def test_default_max_length():
    tokenizer = simple_tokenizer(SAMPLE_TEXTS)  # model_max_length 64
    assert default_max_length(tokenizer, random_config("bert", max_positions=128)) == 64
    tokenizer.model_max_length = int(1e30)  # "unset" in transformers
    assert default_max_length(tokenizer, random_config("bert", max_positions=128)) == 128
    # RoBERTa's table has 42 rows; positions start at pad_token_id + 1 = 1, leaving 41
    assert default_max_length(tokenizer, random_config("roberta", max_positions=40)) == 41
    # the model's own limit, not a cap of 512: GPT-2 reads 1,024 tokens (the paper's setting)
    assert default_max_length(tokenizer, random_config("gpt2", max_positions=1024)) == 1024
    assert default_max_length(tokenizer, random_config("llama", max_positions=4096)) == 4096
    tokenizer.model_max_length = 2048
    assert default_max_length(tokenizer, random_config("gpt2", max_positions=4096)) == 2048


def test_default_max_length_needs_a_stated_limit():
    tokenizer = simple_tokenizer(SAMPLE_TEXTS)
    tokenizer.model_max_length = int(1e30)
    with pytest.raises(ValueError, match="pass max_length"):  # a config without a position table
        default_max_length(tokenizer, SimpleNamespace(model_type="custom"))


@pytest.mark.integration
def test_padding_ratio_on_rt_snippets_with_minilm_tokenizer():
    import pandas as pd

    from stc_gpu.models.loading import load_model_and_tokenizer

    _, tokenizer = load_model_and_tokenizer("all-MiniLM-L6-v2")
    texts = pd.read_csv(RT_SNIPPETS)["text"].tolist()[:2000]
    lengths = tokenize(tokenizer, texts, 128).lengths
    assert _padding_ratio(lengths, plan_batches(lengths, 8192)) <= 1.05
