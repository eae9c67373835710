"""Masked pooling against per-row loops, and span pooling against masked pooling."""
from __future__ import annotations

import pytest
import torch

from hypothesis import given, settings
from hypothesis import strategies as st

from stc_gpu.extract.pooling import length_spans, masked_pool, single_token_index, span_pool
from stc_gpu.vocabulary import POOLS


def _mask(lengths, width, side):
    positions = torch.arange(width)[None]
    lengths = torch.as_tensor(lengths)[:, None]
    valid = positions < lengths if side == "right" else positions >= width - lengths
    return valid.long()


def _loop_pool(x, mask, decoder):
    """Row-by-row pooling over the valid tokens only."""
    means, maxes, singles = [], [], []
    for row, valid in zip(x, mask.bool()):
        tokens = row[valid]
        means.append(tokens.double().mean(0).float())
        maxes.append(tokens.max(0).values)
        singles.append(tokens[-1] if decoder else tokens[0])
    return {"mean": torch.stack(means), "max": torch.stack(maxes), "single": torch.stack(singles)}


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("decoder", [True, False])
def test_pooling_matches_loops(side, decoder):
    torch.manual_seed(0)
    lengths = [1, 7, 3, 7, 5]
    x = torch.randn(5, 7, 11)
    mask = _mask(lengths, 7, side)
    x[~mask.bool()] = float("nan")  # pads must never leak, whatever they hold
    pooled = masked_pool(x, mask, single_token_index(mask, decoder))
    expected = _loop_pool(x, mask, decoder)
    for pool in POOLS:
        torch.testing.assert_close(pooled[pool], expected[pool])


@pytest.mark.parametrize("side", ["left", "right"])
def test_single_token_index(side):
    mask = _mask([1, 4, 2], 4, side)
    first = single_token_index(mask, decoder=False).tolist()
    last = single_token_index(mask, decoder=True).tolist()
    if side == "right":
        assert (first, last) == ([0, 0, 0], [0, 3, 1])
    else:
        assert (first, last) == ([3, 0, 2], [3, 3, 3])


def test_length_spans():
    assert length_spans([4, 4, 2, 2, 2, 1], 4, "right") == [(0, 2, 0, 4), (2, 5, 0, 2), (5, 6, 0, 1)]
    assert length_spans([2, 4, 2], 4, "left") == [(0, 1, 2, 4), (1, 2, 0, 4), (2, 3, 2, 4)]


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=12),
       sort=st.booleans(), side=st.sampled_from(["left", "right"]), decoder=st.booleans(),
       pools=st.sets(st.sampled_from(POOLS), min_size=1))
def test_span_pool_equals_masked_pool(lengths, sort, side, decoder, pools):
    if sort:
        lengths = sorted(lengths, reverse=True)
    width = max(lengths)
    torch.manual_seed(len(lengths))
    x = torch.randn(len(lengths), width, 6)
    mask = _mask(lengths, width, side)
    x[~mask.bool()] = float("nan")
    expected = masked_pool(x, mask, single_token_index(mask, decoder), pools)
    got = span_pool(x, length_spans(lengths, width, side), pools, decoder=decoder)
    assert sorted(got) == sorted(expected)
    for pool in pools:
        torch.testing.assert_close(got[pool], expected[pool])


def test_half_precision_mean_does_not_overflow():
    x = torch.full((1, 64, 4), 60000.0, dtype=torch.bfloat16)  # a sum in half precision would blow up
    x16 = torch.full((1, 64, 4), 60000.0, dtype=torch.float16)
    mask = torch.ones(1, 64, dtype=torch.long)
    index = single_token_index(mask, decoder=False)
    assert torch.isinf(x16.sum(dim=1)).all()  # the hazard the float32 accumulation avoids
    for tensor in (x, x16):
        for mean in (masked_pool(tensor, mask, index, ("mean",))["mean"],
                     span_pool(tensor, [(0, 1, 0, 64)], ("mean",), decoder=False)["mean"]):
            assert mean.dtype == tensor.dtype
            torch.testing.assert_close(mean.float(), torch.full((1, 4), 60000.0), rtol=1e-2, atol=0)


def test_subset_of_pools_and_out_dtype():
    x = torch.randn(2, 3, 4)
    mask = _mask([3, 2], 3, "right")
    pooled = masked_pool(x, mask, single_token_index(mask, False), ("max",),
                         out_dtype=torch.float16)
    assert list(pooled) == ["max"] and pooled["max"].dtype == torch.float16


def test_unknown_pool_is_rejected():
    x = torch.randn(1, 2, 3)
    mask = torch.ones(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="unknown pool 'median'"):
        masked_pool(x, mask, single_token_index(mask, False), ("median",))
    with pytest.raises(ValueError, match="unknown pool 'median'"):
        span_pool(x, [(0, 1, 0, 2)], ("median",), decoder=False)
