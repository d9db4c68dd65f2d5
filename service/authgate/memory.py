"""Process-wide memory set-up: glibc must hand argon2's 19 MiB work areas back to the kernel."""

from __future__ import annotations

import ctypes
import os

# <malloc.h>: mallopt(M_MMAP_THRESHOLD, bytes); 128 KiB is glibc's own starting value.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_mmap_threshold() -> bool:
    """Keep glibc from retaining freed argon2 blocks; True if set (False off glibc).

    Call it at process start, before the first hash. glibc serves an allocation above the
    threshold with its own mmap and unmaps it on free, but the first such free raises the
    threshold to that block's size (up to 32 MiB), so every later 19 MiB argon2 block comes
    from a per-thread arena that keeps it: one retained block per hashing thread (login burst:
    +38 MB per process here). Setting the threshold explicitly turns that adjustment off
    (mallopt(3)); it is what MALLOC_MMAP_THRESHOLD_=131072 would do from the environment.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # not glibc (musl, macOS): their allocators differ
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))
