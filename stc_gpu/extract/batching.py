"""Tokenisation with truncation accounting, and token-budget batching from length-sorted buckets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

#: A tokenizer's ``model_max_length`` at or above this is transformers' "no limit" sentinel.
_NO_LIMIT = 10**7
#: Largest fraction of a batch row that may be padding (length bucketing within the budget).
DEFAULT_MAX_PAD_FRACTION = 0.05


@dataclass(frozen=True)
class Tokenized:
    """Token ids of a list of texts, cut at ``max_length``.

    Attributes
    ----------
    ids : list of list of int, one per text (special tokens included)
    truncated : (n_texts,) bool array, True where a text was cut
    """

    ids: list
    truncated: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """(n_texts,) int64 token counts."""
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))


@dataclass(frozen=True)
class Batch:
    """A padded batch of texts.

    Attributes
    ----------
    rows : (B,) int64 array, positions of the batch's texts in the input
    lengths : (B,) int64 array, valid tokens per row
    input_ids, attention_mask : (B, T) long tensors (CPU)
    """

    rows: np.ndarray
    lengths: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def n_tokens(self) -> int:
        """Valid (non-pad) tokens in the batch."""
        return int(self.lengths.sum())

    @property
    def n_slots(self) -> int:
        """Token slots computed, padding included (B * T)."""
        return self.input_ids.numel()


def default_max_length(tokenizer, model_config) -> int:
    """The model's own limit: the smaller of the tokenizer's ``model_max_length`` and the model's
    position table (``max_position_embeddings`` or ``n_positions``), e.g. 1,024 for GPT-2.

    A ``model_max_length`` of 10^7 or more is transformers' "no limit" sentinel and is ignored.
    RoBERTa-style position tables reserve ``pad_token_id + 1`` entries, which are subtracted.
    Raises ValueError when neither states a limit (then pass ``max_length``).
    """
    limits = []
    tokenizer_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_max, int) and 0 < tokenizer_max < _NO_LIMIT:
        limits.append(tokenizer_max)
    for name in ("max_position_embeddings", "n_positions"):
        model_max = getattr(model_config, name, None)
        if isinstance(model_max, int) and model_max > 0:
            if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta"):
                model_max -= (model_config.pad_token_id or 0) + 1
            limits.append(model_max)
            break
    if not limits:
        raise ValueError("neither the tokenizer nor the model config states a maximum length: "
                         "pass max_length")
    return min(limits)


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> Tokenized:
    """Token ids of ``texts`` (special tokens added), each cut at ``max_length`` tokens.

    A text is counted as truncated when it has more than ``max_length`` tokens: texts are first
    encoded with room for one token more, and only those that fill it are encoded again at
    ``max_length`` (so truncation keeps the tokenizer's own special-token handling).
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string")
    texts = list(texts)
    if not texts:
        return Tokenized([], np.zeros(0, dtype=bool))
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("every text must be a str")

    def encode(batch, limit):
        return tokenizer(batch, truncation=True, max_length=limit, padding=False,
                         return_attention_mask=False)["input_ids"]

    ids = list(encode(texts, max_length + 1))
    truncated = np.fromiter((len(i) > max_length for i in ids), dtype=bool, count=len(ids))
    cut = np.flatnonzero(truncated)
    if cut.size:
        for row, row_ids in zip(cut, encode([texts[i] for i in cut], max_length)):
            ids[row] = row_ids
    empty = [i for i, row_ids in enumerate(ids) if not row_ids]
    if empty:
        raise ValueError(f"texts at positions {empty[:10]} produce no tokens with this tokenizer")
    return Tokenized(ids, truncated)


def plan_batches(lengths: np.ndarray, token_budget: int,
                 max_pad_fraction: float = DEFAULT_MAX_PAD_FRACTION) -> list[np.ndarray]:
    """Group texts into batches with ``rows * longest length <= token_budget``.

    Texts are sorted by length, longest first (so that an out-of-memory shows on the first
    batch), ties kept in input order. A batch takes the next texts while the budget allows and
    their length is at least ``(1 - max_pad_fraction)`` times its longest, so at most that
    fraction of any row is padding; a text longer than the budget gets a batch of its own.

    Returns
    -------
    list of (B,) int64 arrays of input positions
    """
    if token_budget < 1:
        raise ValueError(f"token_budget must be >= 1, got {token_budget}")
    if not 0 <= max_pad_fraction <= 1:
        raise ValueError(f"max_pad_fraction must be in [0, 1], got {max_pad_fraction}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    descending = -lengths[order]  # ascending, for searchsorted
    batches, start = [], 0
    while start < order.size:
        longest = int(lengths[order[start]])
        shortest = int(np.ceil((1 - max_pad_fraction) * longest))
        end = min(start + max(1, token_budget // longest),
                  int(np.searchsorted(descending, -shortest, side="right")))
        batches.append(order[start:end])
        start = end
    return batches


def pad_batch(ids: Sequence[Sequence[int]], rows: np.ndarray, pad_id: int,
              padding_side: str = "right") -> Batch:
    """Pad the token ids of ``rows`` to the longest of them, on ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    lengths = [len(ids[r]) for r in rows]
    width = max(lengths)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, n) in enumerate(zip(rows, lengths)):
        span = slice(0, n) if padding_side == "right" else slice(width - n, width)
        input_ids[i, span] = torch.as_tensor(ids[r], dtype=torch.long)
        mask[i, span] = 1
    return Batch(np.asarray(rows, dtype=np.int64), np.asarray(lengths, dtype=np.int64), input_ids,
                 mask)
