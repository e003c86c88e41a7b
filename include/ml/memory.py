"""Hand memory freed by a fit's big steps back to the operating system.

glibc keeps freed blocks in its heap for reuse: after the first large array is freed it raises its mmap
threshold to 32 MB, so pandas' columns (16 MB each at 2 M rows) land in the heap, and their space stays in
the process's RSS after they are freed. Arrow's pool keeps its own. A worker's memory limit counts RSS, so a
per-system fit trims both between steps: at 500 stations and 26 weeks this took ~0.3 GB off its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") else None  # glibc only (not musl, not macOS)


def release() -> None:
    """Return the free pages of the C heap and Arrow's unused memory to the system (where the C library can)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)
