"""Keep resident memory close to what the process uses: glibc's malloc otherwise keeps what was freed.

Two habits of glibc cost the most here (benchmarks/bench_startup.py measures them): it raises its mmap threshold
each time a large block is freed, so from the first batch on the model's activations (tens of MB per batch) come
from heap arenas that fragment and never shrink; and free pages inside the heap stay resident until trimmed
(the safety classifier's fit leaves about 50 MB of them)."""
from __future__ import annotations

import ctypes
import gc

_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): its allocator behaves otherwise, nothing to tune
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_heap_growth(threshold: int = 1 << 20) -> None:
    """Blocks of `threshold` bytes or more get their own mapping, unmapped when freed (a fixed threshold also
    turns off glibc's raising of it). Call once, early, in a process that runs the model."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS: after an index build or the classifier's fit,
    before a long-running server settles."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
