"""Streaming z-score standardisation of (stacks of) feature matrices.

Statistics are accumulated chunk by chunk of rows: each chunk's mean and centred sum of squares are
computed (on data shifted by the first row) in the working precision (float32 for float16/32 input, float64 for float64 input) and
merged in float64 (Chan et al.'s pairwise update), so large store slabs never get a float64 copy.
Constant features get ``scale = 1`` (never NaN); NaN / inf anywhere raise ValueError.
"""
from __future__ import annotations

import torch

#: Upper bound on the elements of one chunk.
_CHUNK_ELEMENTS = 1 << 24


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 input, float32 for anything narrower."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _row_chunks(X: torch.Tensor):
    per_row = max(1, int(X.shape[:-2].numel()) * int(X.shape[-1]))
    step = max(1, _CHUNK_ELEMENTS // per_row)
    for start in range(0, X.shape[-2], step):
        yield start, X[..., start : start + step, :]


def _raise_if_not_finite(*stats: torch.Tensor) -> None:
    # a chunk's mean / sum of squares is finite iff all its values are (short of overflow)
    if not all(bool(torch.isfinite(s).all()) for s in stats):
        raise ValueError("X contains NaN or inf (or values too large for float arithmetic)")


def check_finite(X: torch.Tensor) -> None:
    """Raise ValueError if ``X`` holds a NaN or inf (chunked, no full-size temporaries)."""
    for _, chunk in _row_chunks(X):
        _raise_if_not_finite(chunk.to(working_dtype(chunk.dtype)).sum(dim=-2))


def fit_scaler(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and scale of the rows of ``X``.

    Parameters
    ----------
    X : (..., n, d) tensor of any float dtype (n >= 1).

    Returns
    -------
    mean, scale : (..., d) float64 tensors on ``X.device``; ``scale`` is the population standard
        deviation, replaced by 1 where it is 0 (constant features).
    """
    dtype = working_dtype(X.dtype)
    count = 0
    mean = torch.zeros(X.shape[:-2] + X.shape[-1:], dtype=torch.float64, device=X.device)
    sum_sq = torch.zeros_like(mean)
    shift = None
    for _, chunk in _row_chunks(X):
        chunk = chunk.to(dtype)
        rows = chunk.shape[-2]
        if shift is None:  # centring on a nearby value keeps float32 chunk sums accurate
            shift = chunk[..., :1, :].clone()
        centred_var, centred_mean = torch.var_mean(chunk - shift, dim=-2, correction=0)
        chunk_sum_sq = centred_var.double() * rows
        chunk_mean = shift.squeeze(-2).double() + centred_mean.double()
        _raise_if_not_finite(chunk_mean, chunk_sum_sq)
        total = count + rows
        delta = chunk_mean - mean
        mean = mean + delta * (rows / total)
        sum_sq = sum_sq + chunk_sum_sq + delta**2 * (count * rows / total)
        count = total
    scale = torch.sqrt(sum_sq / max(count, 1))
    # constant columns: every shifted value is exactly 0, so the spread is exactly 0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    return mean, scale


def feature_major_copy(
    X: torch.Tensor, dtype: torch.dtype, device: torch.device | str | None = None
) -> torch.Tensor:
    """A new feature-major ``(..., d, n)`` ``dtype`` copy of ``X (..., n, d)`` on ``device``.

    Copied chunk by chunk of rows (no full-size temporaries). Feature-major storage makes the
    solver's working-set gathers contiguous row copies, and the statistics of
    :func:`fit_scaler` on ``copy.transpose(-1, -2)`` reduce along contiguous memory.
    """
    device = X.device if device is None else torch.device(device)
    out = torch.empty(X.shape[:-2] + (X.shape[-1], X.shape[-2]), dtype=dtype, device=device)
    for start, chunk in _row_chunks(X):
        out[..., start : start + chunk.shape[-2]].copy_(chunk.transpose(-1, -2))
    return out


def standardize_feature_major_(Zt: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> None:
    """In place ``Zt = (Zt - mean) / scale`` for a feature-major ``Zt (..., d, n)``.

    ``mean``/``scale`` (..., d); the arithmetic runs in ``Zt.dtype`` (for float32 data this adds
    an error of the order of the data's own rounding).
    """
    Zt.sub_(mean.to(Zt).unsqueeze(-1)).mul_((1.0 / scale).to(Zt).unsqueeze(-1))
