"""Worker memory: large buffers given back to the system when they are freed.

glibc serves an allocation above its mmap threshold with its own mapping, unmapped on free; below it,
from the heap, which keeps freed memory. The threshold starts at 128 KiB and rises to the size of any
mapped block freed (up to 32 MiB), so after the first export chunk every chunk's buffers (the fetched
lines, their joined bytes, a few MB each) come from the heap and stay: a Parquet export of a million
spans peaked at 236–248 MB. With the threshold fixed at 1 MiB (which also stops it rising) the same
export peaked at 231–232 MB, in the same time (docs/performance.md). Set once per worker process
(`config/celery.py`); `WORKER_MALLOC_MMAP_THRESHOLD=0` leaves glibc's default. Other C libraries: no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt(3)


def worker_memory_setup() -> bool:
    """Fix glibc's mmap threshold at WORKER_MALLOC_MMAP_THRESHOLD bytes; False when not applied."""
    threshold = settings.WORKER_MALLOC_MMAP_THRESHOLD
    if threshold <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:  # not glibc (macOS, musl without mallopt)
        return False
    applied = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    if not applied:
        logger.warning("mallopt(M_MMAP_THRESHOLD, %s) was refused", threshold)
    return applied
