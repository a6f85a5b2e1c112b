"""Keep the CPU forward's large tensors in the process heap between frames (glibc only).

glibc serves an allocation above its mmap threshold (adaptive, at most 32 MiB) with a fresh
``mmap`` and unmaps it again on free, so every forward re-faults the pages of its largest
activations. At 512x853 a batch of two images crosses that threshold and takes about 300k minor
page faults per forward, over 1 s of kernel time on the 2-core development machine, while a
batch of one takes none (docs/benchmarks.md §2). Serving every allocation from the heap and
never trimming it makes the steady state fault-free. The price: the process keeps the heap of
its largest forward until it exits.
"""

from __future__ import annotations

import ctypes
import logging
import platform

LOG = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

_SETTINGS = (
    # Every allocation up to 1 GiB comes from the heap (a forward's tensors are far smaller).
    (_M_MMAP_THRESHOLD, 1 << 30),
    # Freed memory at the top of the heap is kept for the next forward.
    (_M_TRIM_THRESHOLD, 2**31 - 1),
    # Threads started later share the main arena: a thread arena unmaps each of its (64 MiB)
    # heaps once it is empty, whatever the thresholds. The node calls this before its threads.
    (_M_ARENA_MAX, 1),
)


def keep_cpu_heap() -> None:
    """Make glibc keep freed memory for reuse instead of unmapping it (process-wide, once is
    enough, idempotent). Does nothing where the C library is not glibc; a setting glibc refuses
    is logged and the others still apply."""
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    refused = [param for param, value in _SETTINGS if mallopt(param, value) != 1]
    if refused:
        LOG.warning('glibc refused mallopt %s: large CPU tensors stay freshly mapped', refused)
