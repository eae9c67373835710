"""Host memory bounded by the block, not by the dataset (glibc's ``malloc``).

An extraction allocates and frees large host buffers of a different size in every batch (the
activations of a length bucket, the pooled block). glibc serves a large request with its own
``mmap`` until the first such buffer is freed, then raises its mmap threshold (up to 32 MiB) and
serves later ones from the heap, where they fragment it: measured on a tiny BERT over short texts,
peak RSS grew by about 1 KB per row, without bound. A fixed threshold keeps every buffer from
:data:`MMAP_THRESHOLD` up in its own mapping, returned to the system when freed, and the growth
stops (``benchmarks/bench_extract_memory.py`` measures both).
"""
from __future__ import annotations

import ctypes
import functools
import platform

#: Host allocations from this size up get their own mapping: glibc's starting value, kept fixed
#: (1 MiB still let the RSS of a tiny BERT's extraction creep up by ~250 bytes per row).
MMAP_THRESHOLD = 128 << 10
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


@functools.cache
def bound_heap_growth() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process (once: later calls
    return the first answer without asking the C library again).

    Returns True when it is fixed; False where the C library is not glibc (nothing to do).
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
