"""Streaming z-score standardisation of (stacks of) feature matrices.

Statistics are accumulated chunk by chunk of rows in float64 (only one chunk is ever upcast), so
this works on large store slabs; constant features get ``scale = 1`` (never NaN), and every chunk is
checked for NaN / inf on the way.
"""
from __future__ import annotations

import torch

#: Upper bound on the elements of one float64 chunk (64 MiB).
_CHUNK_ELEMENTS = 1 << 23


def _rows_per_chunk(shape: torch.Size) -> int:
    per_row = max(1, int(torch.Size(shape[:-2]).numel()) * int(shape[-1]))
    return max(1, _CHUNK_ELEMENTS // per_row)


def _row_chunks(X: torch.Tensor):
    n = X.shape[-2]
    step = _rows_per_chunk(X.shape)
    for start in range(0, n, step):
        yield X[..., start : start + step, :]


def _check_finite(chunk: torch.Tensor) -> None:
    if not bool(torch.isfinite(chunk).all()):
        raise ValueError("X contains NaN or inf")


def check_finite(X: torch.Tensor) -> None:
    """Raise ValueError if ``X`` holds a NaN or inf (chunked, no full-size temporaries)."""
    for chunk in _row_chunks(X):
        _check_finite(chunk)


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
    count = 0
    mean = torch.zeros(X.shape[:-2] + X.shape[-1:], dtype=torch.float64, device=X.device)
    sum_sq = torch.zeros_like(mean)
    for chunk in _row_chunks(X):
        chunk = chunk.to(torch.float64)
        _check_finite(chunk)
        rows = chunk.shape[-2]
        chunk_mean = chunk.mean(dim=-2)
        chunk_sum_sq = ((chunk - chunk_mean.unsqueeze(-2)) ** 2).sum(dim=-2)
        total = count + rows
        delta = chunk_mean - mean
        mean = mean + delta * (rows / total)
        sum_sq = sum_sq + chunk_sum_sq + delta**2 * (count * rows / total)
        count = total
    scale = torch.sqrt(sum_sq / max(count, 1))
    # float noise can leave a tiny positive spread on constant columns; treat it as constant
    constant = scale <= 1e-12 * torch.clamp(mean.abs(), min=1.0)
    scale = torch.where(constant, torch.ones_like(scale), scale)
    return mean, scale


def standardized_copy(
    X: torch.Tensor,
    mean: torch.Tensor | None,
    scale: torch.Tensor | None,
    dtype: torch.dtype,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``(X - mean) / scale`` as a new ``dtype`` tensor on ``device``, computed chunk by chunk.

    ``mean``/``scale`` of shape ``(..., d)`` (or None for a plain finite-checked copy).
    """
    device = X.device if device is None else torch.device(device)
    out = torch.empty(X.shape, dtype=dtype, device=device)
    start = 0
    for chunk in _row_chunks(X):
        rows = chunk.shape[-2]
        chunk = chunk.to(device=device, dtype=torch.float64)
        _check_finite(chunk)
        if mean is not None:
            chunk = (chunk - mean.to(device).unsqueeze(-2)) / scale.to(device).unsqueeze(-2)
        out[..., start : start + rows, :] = chunk.to(dtype)
        start += rows
    return out
