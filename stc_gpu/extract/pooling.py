"""Pooling of token-level tensors over the valid tokens (torch).

Padded positions never contribute, whichever side the padding is on, and whatever values (even
NaN) the model left there. Two implementations of the same pooling:

- :func:`masked_pool` reads an attention mask: the plain reference (and the contract of the fused
  GPU kernel in :mod:`stc_gpu.extract.kernels`);
- :func:`span_pool`, the extractor's default, reads *spans*: runs of consecutive rows of equal
  length, whose valid tokens form one rectangular view of the tensor. Batches built from
  length-sorted buckets have few spans, so pooling reduces views in place, with no masked copy.
"""
from __future__ import annotations

import torch

from stc_gpu.vocabulary import POOLS



def single_token_index(attention_mask: torch.Tensor, decoder: bool) -> torch.Tensor:
    """Position (B,) of each row's single token: last valid token for decoders, else first valid.

    Parameters
    ----------
    attention_mask : (B, T) tensor, nonzero at valid tokens; every row has at least one.
    decoder : bool
    """
    valid = attention_mask.bool()
    positions = torch.arange(valid.shape[1], device=valid.device).expand_as(valid)
    if decoder:
        return positions.masked_fill(~valid, -1).amax(dim=1)
    return positions.masked_fill(~valid, valid.shape[1]).amin(dim=1)


def masked_pool(x: torch.Tensor, attention_mask: torch.Tensor, single_index: torch.Tensor,
                pools=POOLS, *, out_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Pool ``x`` over valid tokens; the mean is accumulated in float32.

    Parameters
    ----------
    x : (B, T, U) tensor
    attention_mask : (B, T) tensor, nonzero at valid tokens
    single_index : (B,) long tensor, from :func:`single_token_index`
    pools : iterable of ``"mean"``, ``"max"``, ``"single"``
    out_dtype : dtype of the results (default ``x.dtype``)

    Returns
    -------
    dict pool -> (B, U) tensor of ``out_dtype``
    """
    out_dtype = out_dtype or x.dtype
    valid = attention_mask.bool().unsqueeze(-1)
    pooled = {}
    for pool in pools:
        if pool == "mean":
            summed = x.masked_fill(~valid, 0).sum(dim=1, dtype=torch.float32)
            counts = attention_mask.sum(dim=1, dtype=torch.float32).unsqueeze(-1)
            pooled[pool] = (summed / counts).to(out_dtype)
        elif pool == "max":
            pooled[pool] = x.masked_fill(~valid, float("-inf")).amax(dim=1).to(out_dtype)
        elif pool == "single":
            rows = torch.arange(x.shape[0], device=x.device)
            pooled[pool] = x[rows, single_index].to(out_dtype)
        else:
            raise ValueError(f"unknown pool {pool!r}; expected one of {POOLS}")
    return pooled


def length_spans(lengths, width: int, padding_side: str) -> list[tuple[int, int, int, int]]:
    """Spans ``(row_start, row_end, token_start, token_end)`` of a padded batch.

    Rows ``row_start:row_end`` all hold their valid tokens at ``token_start:token_end``; one span
    per run of consecutive rows of equal length.

    Parameters
    ----------
    lengths : (B,) valid tokens per row, each in 1..width
    width : T, the padded length
    padding_side : ``"right"`` (tokens first) or ``"left"``
    """
    spans, start = [], 0
    lengths = [int(n) for n in lengths]
    for row in range(1, len(lengths) + 1):
        if row == len(lengths) or lengths[row] != lengths[start]:
            n = lengths[start]
            tokens = (0, n) if padding_side == "right" else (width - n, width)
            spans.append((start, row, *tokens))
            start = row
    return spans


def span_pool(x: torch.Tensor, spans, pools=POOLS, *, decoder: bool,
              out_dtype: torch.dtype | None = None, out: dict | None = None
              ) -> dict[str, torch.Tensor]:
    """Pool ``x`` over the valid tokens given by ``spans`` (see :func:`length_spans`).

    Same results as :func:`masked_pool` (mean accumulated in float32; single token = last valid
    for decoders, else first), computed on views of ``x`` without masked copies.

    Parameters
    ----------
    x : (B, T, U) tensor
    spans : list of (row_start, row_end, token_start, token_end) covering rows 0..B-1
    decoder : bool
    out : optional dict pool -> (B, U) tensor to write into (its dtype wins over ``out_dtype``)

    Returns
    -------
    dict pool -> (B, U) tensor of ``out_dtype`` (default ``x.dtype``)
    """
    out_dtype = out_dtype or x.dtype
    unknown = set(pools) - set(POOLS)
    if unknown:
        raise ValueError(f"unknown pool {sorted(unknown)[0]!r}; expected one of {POOLS}")
    pooled = out if out is not None else {
        p: torch.empty((x.shape[0], x.shape[2]), dtype=out_dtype, device=x.device) for p in pools}
    for row_start, row_end, token_start, token_end in spans:
        view = x[row_start:row_end, token_start:token_end]
        rows = slice(row_start, row_end)
        if "mean" in pooled:
            pooled["mean"][rows] = view.mean(dim=1, dtype=torch.float32)
        if "max" in pooled:
            pooled["max"][rows] = view.amax(dim=1)
        if "single" in pooled:
            pooled["single"][rows] = view[:, -1 if decoder else 0]
    return pooled
