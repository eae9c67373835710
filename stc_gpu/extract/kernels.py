"""Fused masked pooling on the GPU: mean, max and single token of a (B, T, U) tensor in one pass.

A Triton kernel; ``triton`` is an optional import (the ``gpu`` extra). Each program owns one row and
``BLOCK_U`` units and walks the tokens once, accumulating the masked sum in float32 and the masked
max, then reads the row's single token. Same contract as :func:`stc_gpu.extract.pooling.masked_pool`,
the reference it is tested against (``tests/gpu/test_pooling_kernel.py``).
"""
from __future__ import annotations

import torch

from stc_gpu.vocabulary import POOLS


try:
    import triton
    import triton.language as tl
except ImportError:  # the CPU install has no triton
    triton = None

BLOCK_T = 32
BLOCK_U = 128


def fused_pool_available(device) -> bool:
    """True when the fused kernel can run on ``device`` (CUDA with triton installed)."""
    return triton is not None and torch.device(device).type == "cuda" and torch.cuda.is_available()


if triton is not None:
    @triton.jit
    def _masked_pool_kernel(x_ptr, mask_ptr, index_ptr, mean_ptr, max_ptr, single_ptr,
                            T, U, stride_xb, stride_xt, stride_xu, stride_mb, stride_mt,
                            WANT_MEAN: tl.constexpr, WANT_MAX: tl.constexpr,
                            WANT_SINGLE: tl.constexpr, BLOCK_T: tl.constexpr,
                            BLOCK_U: tl.constexpr):
        row = tl.program_id(0)
        units = tl.program_id(1) * BLOCK_U + tl.arange(0, BLOCK_U)
        units_ok = units < U
        x_row = x_ptr + row.to(tl.int64) * stride_xb
        total = tl.zeros([BLOCK_U], dtype=tl.float32)
        largest = tl.full([BLOCK_U], float("-inf"), dtype=tl.float32)
        count = tl.zeros([BLOCK_T], dtype=tl.float32)
        if WANT_MEAN or WANT_MAX:
            for start in range(0, T, BLOCK_T):
                tokens = start + tl.arange(0, BLOCK_T)
                valid = tl.load(mask_ptr + row * stride_mb + tokens * stride_mt,
                                mask=tokens < T, other=0) != 0
                both = valid[:, None] & units_ok[None, :]
                tile = tl.load(x_row + tokens[:, None] * stride_xt + units[None, :] * stride_xu,
                               mask=both, other=0.0).to(tl.float32)
                if WANT_MEAN:
                    total += tl.sum(tile, axis=0)
                    count += valid.to(tl.float32)
                if WANT_MAX:
                    largest = tl.maximum(largest, tl.max(tl.where(both, tile, float("-inf")), axis=0))
        out_offsets = row.to(tl.int64) * U + units
        if WANT_MEAN:
            mean = total / tl.sum(count, axis=0)
            tl.store(mean_ptr + out_offsets, mean.to(mean_ptr.dtype.element_ty), mask=units_ok)
        if WANT_MAX:
            tl.store(max_ptr + out_offsets, largest.to(max_ptr.dtype.element_ty), mask=units_ok)
        if WANT_SINGLE:
            token = tl.load(index_ptr + row).to(tl.int64)
            single = tl.load(x_row + token * stride_xt + units * stride_xu, mask=units_ok)
            tl.store(single_ptr + out_offsets, single.to(single_ptr.dtype.element_ty),
                     mask=units_ok)


def fused_masked_pool(x: torch.Tensor, attention_mask: torch.Tensor, single_index: torch.Tensor,
                      pools=POOLS, *, out_dtype: torch.dtype | None = None,
                      out: dict | None = None) -> dict[str, torch.Tensor]:
    """Fused-kernel twin of :func:`stc_gpu.extract.pooling.masked_pool`.

    Parameters
    ----------
    x : (B, T, U) CUDA tensor (fp16, bf16 or fp32), any strides
    attention_mask : (B, T) tensor, nonzero at valid tokens, on x's device
    single_index : (B,) long tensor
    pools : iterable of ``"mean"``, ``"max"``, ``"single"``
    out : optional dict pool -> contiguous (B, U) tensor to write into

    Returns
    -------
    dict pool -> (B, U) tensor of ``out_dtype`` (default ``x.dtype``)
    """
    if triton is None:
        raise RuntimeError("fused_masked_pool needs the triton package (pip install stc-gpu[gpu])")
    pools = tuple(pools)
    unknown = set(pools) - set(POOLS)
    if unknown:
        raise ValueError(f"unknown pools {sorted(unknown)}; expected values of {POOLS}")
    batch, n_tokens, n_units = x.shape
    out_dtype = out_dtype or x.dtype
    if out is None:
        out = {p: torch.empty((batch, n_units), dtype=out_dtype, device=x.device) for p in pools}
    elif not all(t.is_contiguous() and t.shape == (batch, n_units) for t in out.values()):
        raise ValueError("out tensors must be contiguous and (B, U)")
    placeholder = next(iter(out.values()))
    grid = (batch, triton.cdiv(n_units, BLOCK_U))
    _masked_pool_kernel[grid](
        x, attention_mask, single_index,
        out.get("mean", placeholder), out.get("max", placeholder), out.get("single", placeholder),
        n_tokens, n_units, x.stride(0), x.stride(1), x.stride(2),
        attention_mask.stride(0), attention_mask.stride(1),
        WANT_MEAN="mean" in pools, WANT_MAX="max" in pools, WANT_SINGLE="single" in pools,
        BLOCK_T=BLOCK_T, BLOCK_U=BLOCK_U)
    return out
