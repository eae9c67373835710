"""The pooled rows of a batch, from the site hooks to the block's arrays: pooled into device buffers
(:class:`PoolingSink`), then copied to host memory in input order (:class:`HostCopier`; on CUDA
through pinned memory on a side stream, overlapping the next batch)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


class PoolingSink:
    """Pools each site's tensor of the current batch into per-(kind, pool) device buffers."""

    def __init__(self, layers: dict, pools):
        self.position = {k: {layer: i for i, layer in enumerate(idx)} for k, idx in layers.items()}
        self.pools = pools
        self.pool = self.buffers = None

    def start(self, pool: Callable, buffers: dict) -> None:
        """Next batch: ``pool(x, out=...)`` fills dict pool -> (B, U); buffers (kind, pool) ->
        (n_layers, B, U)."""
        self.pool, self.buffers = pool, buffers

    def __call__(self, kind: str, layer: int, x: torch.Tensor) -> None:
        position = self.position[kind][layer]
        self.pool(x, out={p: self.buffers[(kind, p)][position] for p in self.pools})


class HostCopier:
    """Moves pooled device rows into the output arrays (input order).

    On CUDA the copy goes to pinned memory on a side stream, and the rows of batch k are scattered
    into the output after batch k+1 has been queued; elsewhere it is synchronous.
    """

    def __init__(self, out: dict, device: torch.device):
        self.out, self.device, self.pending = out, device, None
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def submit(self, rows: np.ndarray, tensors: dict) -> None:
        if self.stream is None:
            self._scatter(rows, tensors)
            return
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            host = {}
            for key, tensor in tensors.items():
                host[key] = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
                host[key].copy_(tensor, non_blocking=True)
                tensor.record_stream(self.stream)
            event = torch.cuda.Event()
            event.record(self.stream)
        self.flush()
        self.pending = (rows, host, event)

    def flush(self) -> None:
        if self.pending is not None:
            rows, host, event = self.pending
            event.synchronize()
            self._scatter(rows, host)
            self.pending = None

    def _scatter(self, rows: np.ndarray, tensors: dict) -> None:
        for key, tensor in tensors.items():
            self.out[key][:, rows, :] = tensor.numpy()
