"""glibc allocator set-up: argon2's 19 MiB work areas are reused while hashing, returned after.

Each argon2id hash needs a 19 MiB work area. Two ways to get that wrong, both measured here:

- glibc's defaults keep a freed area in the hashing thread's own arena (the first free of an
  mmapped block raises the mmap threshold to its size), and `malloc_trim` cannot shrink the
  top of a thread's arena: a login burst grew a process by 19 MiB per pool thread, for good.
- Pinning the mmap threshold low gives every area back at once, so every hash maps and faults
  in 4,865 fresh pages: a verify went from 21 to 33 ms (11 ms of it in the kernel).

So the areas come from the main arena and stay there between hashes, and `release_free_memory`
(called by `passwords` once hashing pauses) returns every free page to the kernel.
"""

from __future__ import annotations

import ctypes
import functools
import os

# <malloc.h> mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

# Above an argon2 area (the largest value glibc accepts on 64-bit): served from the heap, reused.
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Two areas (one per hashing thread on 2 cores) stay free at the top of the heap between hashes.
_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError):  # not glibc (musl, macOS): their allocators differ
        return None
    return ctypes.CDLL(None, use_errno=True)


def configure_allocator() -> bool:
    """Set glibc up as described above; True if set (False off glibc).

    Call it at process start, before other threads exist. One arena for every thread, because
    `malloc_trim` returns the free pages of every arena but only the main arena's free top.
    Setting the thresholds explicitly also turns off glibc's own adjustment of them.
    """
    libc = _glibc()
    if libc is None:
        return False
    return all(
        libc.mallopt(parameter, value)
        for parameter, value in (
            (_M_ARENA_MAX, 1),
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES),
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES),
        )
    )


def release_free_memory() -> None:
    """Return every free heap page to the kernel (a few ms for two work areas: not on the loop)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
