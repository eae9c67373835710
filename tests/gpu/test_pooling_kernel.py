"""The fused Triton pooling kernel against the torch reference (CUDA, or Triton's interpreter)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import SAMPLE_TEXTS, cuda

from stc_gpu.extract.pooling import masked_pool, single_token_index
from stc_gpu.vocabulary import POOLS

REPO = Path(__file__).parents[2]


def _case(batch, tokens, units, side, dtype, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tokens, units, generator=generator) * 4
    lengths = torch.randint(1, tokens + 1, (batch,), generator=generator)
    lengths[0], lengths[-1] = tokens, 1
    positions = torch.arange(tokens)[None]
    valid = positions < lengths[:, None] if side == "right" else positions >= tokens - lengths[:, None]
    x[~valid] = float("nan")  # padding must never leak into a pool
    return x.to(device=device, dtype=dtype), valid.long().to(device)


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("shape", [(1, 1, 7), (5, 37, 300), (16, 128, 1536)])
def test_kernel_matches_reference(dtype, side, shape):
    pytest.importorskip("triton")
    from stc_gpu.extract.kernels import fused_masked_pool

    x, mask = _case(*shape, side, dtype, "cuda")
    for decoder in (True, False):
        index = single_token_index(mask, decoder)
        expected = masked_pool(x, mask, index, out_dtype=torch.float32)
        got = fused_masked_pool(x, mask, index, out_dtype=torch.float32)
        for pool in POOLS:
            torch.testing.assert_close(got[pool], expected[pool], rtol=1e-3, atol=1e-3)


@cuda
@pytest.mark.gpu
def test_kernel_handles_strides_and_pool_subsets():
    pytest.importorskip("triton")
    from stc_gpu.extract.kernels import fused_masked_pool

    x, mask = _case(4, 20, 64, "right", torch.float16, "cuda")
    strided = x.transpose(1, 2).contiguous().transpose(1, 2)
    index = single_token_index(mask, decoder=True)
    got = fused_masked_pool(strided, mask, index, ("max", "single"))
    expected = masked_pool(x, mask, index, ("max", "single"))
    assert sorted(got) == ["max", "single"] and got["max"].dtype == torch.float16
    for pool in got:
        torch.testing.assert_close(got[pool], expected[pool])


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("family", ["gpt2", "bert", "llama"])
def test_cuda_extraction_matches_cpu(family):
    from stc_gpu.extract import Extractor
    from stc_gpu.models.synthetic import random_model_and_tokenizer

    model, tokenizer = random_model_and_tokenizer(family, SAMPLE_TEXTS)
    cpu = Extractor(model, tokenizer, device="cpu", out_dtype="float32").extract(SAMPLE_TEXTS)
    backends = ["torch"] + (["triton"] if _has_triton() else [])
    for backend in backends:
        gpu = Extractor(model, tokenizer, device="cuda", pool_backend=backend,
                        token_budget=32, max_length=32)
        assert gpu.dtype == torch.float16 and gpu.pool_backend == backend
        block = gpu.extract(SAMPLE_TEXTS)
        for key, expected in cpu.features.items():
            np.testing.assert_allclose(block.features[key].astype(np.float32), expected,
                                       rtol=2e-2, atol=2e-2, err_msg=f"{backend} {key}")


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


#: (batch, tokens, units, padding side): right and left padding, each batch holding a full-length
#: and a one-token text (see :func:`_case`), and a batch of one one-token text.
INTERPRETER_CASES = [(3, 5, 200, "right"), (4, 70, 130, "left"), (5, 33, 64, "right"),
                     (5, 33, 64, "left"), (1, 1, 7, "right"), (1, 1, 7, "left")]


@pytest.mark.skipif(not _has_triton(), reason="needs the triton package (the dev extra has it)")
def test_kernel_in_triton_interpreter():
    """Triton's CPU interpreter runs the same kernel on CPU tensors (no GPU needed)."""
    script = textwrap.dedent(f"""
        import torch
        from stc_gpu.extract.kernels import fused_masked_pool
        from stc_gpu.extract.pooling import masked_pool, single_token_index
        from tests.gpu.test_pooling_kernel import _case
        for batch, tokens, units, side in {INTERPRETER_CASES!r}:
            x, mask = _case(batch, tokens, units, side, torch.float32, "cpu")
            assert mask.sum(1).min() == 1  # a one-token text in every batch
            for decoder in (True, False):
                index = single_token_index(mask, decoder)
                expected, got = masked_pool(x, mask, index), fused_masked_pool(x, mask, index)
                for pool in expected:
                    torch.testing.assert_close(got[pool], expected[pool])
                subset = fused_masked_pool(x.transpose(1, 2).contiguous().transpose(1, 2), mask,
                                           index, ("max", "single"))
                assert sorted(subset) == ["max", "single"]
                torch.testing.assert_close(subset["max"], expected["max"])
            one = mask.sum(1) == 1  # a one-token text: its three pools are that token
            for pool in ("mean", "max"):
                torch.testing.assert_close(got[pool][one], got["single"][one])
        print("ok")
    """)
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + sys.path)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
