"""Masked pooling of token-level tensors over the token axis (the torch reference).

Masks decide everything: padded positions never contribute, whichever side the padding is on, and
whatever values (even NaN) the model left there.
"""
from __future__ import annotations

import torch

POOLS = ("mean", "max", "single")


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
                pools=POOLS, *, out_dtype: torch.dtype | None = None,
                padded: bool = True) -> dict[str, torch.Tensor]:
    """Pool ``x`` over valid tokens; the mean is accumulated in float32.

    Parameters
    ----------
    x : (B, T, U) tensor
    attention_mask : (B, T) tensor, nonzero at valid tokens
    single_index : (B,) long tensor, from :func:`single_token_index`
    pools : iterable of ``"mean"``, ``"max"``, ``"single"``
    out_dtype : dtype of the results (default ``x.dtype``)
    padded : False promises that every token is valid (the mask is all ones), which skips masking

    Returns
    -------
    dict pool -> (B, U) tensor of ``out_dtype``
    """
    out_dtype = out_dtype or x.dtype
    valid = attention_mask.bool().unsqueeze(-1)
    pooled = {}
    for pool in pools:
        if pool == "mean":
            summed = (x.masked_fill(~valid, 0) if padded else x).sum(dim=1, dtype=torch.float32)
            counts = attention_mask.sum(dim=1, dtype=torch.float32).unsqueeze(-1)
            pooled[pool] = (summed / counts).to(out_dtype)
        elif pool == "max":
            masked = x.masked_fill(~valid, float("-inf")) if padded else x
            pooled[pool] = masked.amax(dim=1).to(out_dtype)
        elif pool == "single":
            rows = torch.arange(x.shape[0], device=x.device)
            pooled[pool] = x[rows, single_index].to(out_dtype)
        else:
            raise ValueError(f"unknown pool {pool!r}; expected one of {POOLS}")
    return pooled
