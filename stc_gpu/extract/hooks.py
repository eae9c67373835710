"""Forward hooks at the capture sites of a model: the hidden states entering or leaving a block, the
FFN activations entering its down projection, and the final-norm output (``final.L``)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from stc_gpu.extract.sites import site_rank
from stc_gpu.models.adapters import ModelAdapter
from stc_gpu.vocabulary import FINAL


class StopForward(Exception):
    """Raised by the hook of the last captured site to skip the rest of the forward pass."""


@contextmanager
def capture_sites(adapter: ModelAdapter, layers: dict, sink: Callable, *, stop: bool = True):
    """Hooks calling ``sink(kind, layer, tensor)`` at every site of ``layers`` (kind -> indices).

    ``tensor`` is the site's (B, T, units) token-level tensor. With ``stop``, the hook of the last
    site raises :class:`StopForward` (the caller catches it). Hooks are removed on exit, errors
    included.
    """
    sites = sorted(((kind, layer) for kind, idx in layers.items() for layer in idx),
                   key=lambda s: site_rank(*s))
    last = sites[-1] if (sites and stop) else None

    def emit(kind, layer, tensor):
        sink(kind, layer, tensor)
        if (kind, layer) == last:
            raise StopForward

    def hidden_in(layer):
        def hook(module, args, kwargs):
            hidden = args[0] if args else kwargs.get("hidden_states", kwargs.get("x"))
            emit("hidden", layer, hidden)
        return hook

    def output_of(kind, layer):
        def hook(module, args, output):
            emit(kind, layer, output[0] if isinstance(output, tuple) else output)
        return hook

    def ffn_in(layer):
        def hook(module, args):
            emit("ffn", layer, args[0])
        return hook

    handles = []
    try:
        for kind, layer in sites:
            if kind == "ffn":
                handles.append(adapter.ffn_down[layer].register_forward_pre_hook(ffn_in(layer)))
            elif kind == FINAL:
                module = adapter.final_norm or adapter.blocks[layer - 1]
                handles.append(module.register_forward_hook(output_of(FINAL, layer)))
            elif layer == 0:
                handles.append(adapter.blocks[0].register_forward_pre_hook(
                    hidden_in(0), with_kwargs=True))
            else:
                handles.append(adapter.blocks[layer - 1].register_forward_hook(
                    output_of("hidden", layer)))
        yield
    finally:
        for handle in handles:
            handle.remove()
