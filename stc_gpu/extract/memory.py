"""Host memory bounded by the block, not by the dataset (glibc's ``malloc``), while extracting.

An extraction allocates and frees large host buffers of a different size in every batch (the
activations of a length bucket, the pooled block). glibc serves a large request with its own
``mmap`` until the first such buffer is freed, then raises its mmap threshold (up to 32 MiB) and
serves later ones from the heap, where they fragment it: measured on a tiny BERT over short texts,
peak RSS grew by about 1 KB per row, without bound. A fixed threshold keeps every buffer from
:data:`MMAP_THRESHOLD` up in its own mapping, returned to the system when freed, and the growth
stops (``benchmarks/bench_extract_memory.py`` measures both).

The bound is scoped (:func:`bounded_heap`): a fresh mapping per large buffer costs page faults
on first touch, which the fits after an extraction must not pay (every large tensor of a Newton
step would be one: measured 1.8x slower aggregation on 20 Newsgroups). On leaving the last
bounded scope the threshold is set to :data:`UNBOUNDED_MMAP_THRESHOLD`, where glibc's own dynamic
threshold ends up after the first large free, so large buffers come from the heap again.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
import threading
from typing import Iterator

#: Host allocations from this size up get their own mapping: glibc's starting value, kept fixed
#: (1 MiB still let the RSS of a tiny BERT's extraction creep up by ~250 bytes per row).
MMAP_THRESHOLD = 128 << 10
#: The threshold outside a bounded scope: glibc's largest dynamic value on 64-bit systems
#: (``DEFAULT_MMAP_THRESHOLD_MAX``), with the trim threshold at twice it, as glibc sets them
#: (inside a scope the trim threshold is glibc's default, 128 KiB, as the threshold).
UNBOUNDED_MMAP_THRESHOLD = 32 << 20
_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_depth = 0


@functools.cache
def _mallopt():
    """glibc's ``mallopt``, or None where the C library is not glibc (nothing to do)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None).mallopt


def _set_thresholds(mmap: int, trim: int) -> bool:
    """glibc's mmap and trim thresholds; False where it is not glibc or refuses them."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, trim)) & bool(mallopt(_M_MMAP_THRESHOLD, mmap))


@contextlib.contextmanager
def bounded_heap() -> Iterator[None]:
    """Within the scope (nested or concurrent scopes count as one), glibc's mmap threshold is
    fixed at :data:`MMAP_THRESHOLD`; on leaving the last one it is set to
    :data:`UNBOUNDED_MMAP_THRESHOLD` (nothing happens where the C library is not glibc)."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            _set_thresholds(MMAP_THRESHOLD, MMAP_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set_thresholds(UNBOUNDED_MMAP_THRESHOLD, 2 * UNBOUNDED_MMAP_THRESHOLD)
