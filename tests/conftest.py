"""Shared fixtures: tiny random models of every family, built offline."""
from __future__ import annotations

import pytest
import torch

from stc_gpu.models.synthetic import FAMILIES, random_model_and_tokenizer

SAMPLE_TEXTS = [
    "the movie was great and the actors were wonderful",
    "terrible plot , boring scenes",
    "ok",
    "an absolutely stunning piece of cinema that i will watch again and again and again",
    "not bad at all",
    "worst film of the year !",
    "a",
    "i loved it",
]

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(params=FAMILIES)
def family(request) -> str:
    return request.param


@pytest.fixture
def tiny(family):
    """``(family, model, tokenizer)`` for a 3-layer random model."""
    model, tokenizer = random_model_and_tokenizer(family, SAMPLE_TEXTS)
    return family, model, tokenizer
