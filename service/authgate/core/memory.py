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
# Free memory kept at the top of the heap between hashes: a 19 MiB area per hashing thread,
# with room for what is allocated between them (with less, glibc trims on free and every hash
# faults its area in again).
_ROOM_PER_WORK_AREA = 24 * 1024 * 1024
_MIN_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_MAX_MALLOPT_VALUE = 2**31 - 1  # mallopt takes an int

_configured = False
# How many hashing threads the heap keeps room for: the pool says (make_room_for).
_work_areas = 0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError, AttributeError):  # not glibc (musl, macOS; Windows: no confstr)
        return None
    return ctypes.CDLL(None, use_errno=True)


def configure_allocator() -> bool:
    """Set glibc up as described above, for the hashing pool's threads; True if all took.

    Call it at process start, before other threads exist. One arena for every thread, because
    `malloc_trim` returns the free pages of every arena but only the main arena's free top.
    Setting the thresholds explicitly also turns off glibc's own adjustment of them.
    """
    global _configured
    libc = _glibc()
    if libc is None:
        return False
    results = [
        libc.mallopt(_M_ARENA_MAX, 1),
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES),
        libc.mallopt(_M_TRIM_THRESHOLD, _trim_threshold(_work_areas)),
    ]
    _configured = True
    return all(results)


def make_room_for(work_areas: int) -> None:
    """The hashing pool's size: the heap keeps room for that many areas (applied at once if
    configure_allocator has run, else when it does)."""
    global _work_areas
    _work_areas = work_areas
    libc = _glibc()
    if _configured and libc is not None:
        libc.mallopt(_M_TRIM_THRESHOLD, _trim_threshold(work_areas))


def release_free_memory() -> None:
    """Return every free heap page to the kernel.

    It holds the allocator's one lock while it works (3 to 15 ms for two work areas), and
    every thread that allocates meanwhile waits, the event loop included: `passwords` calls
    it from its pool once hashing has paused, and the `--workers` supervisor once it has
    prepared the store. That is one pause of a few ms per burst of logins, not per request.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _trim_threshold(work_areas: int) -> int:
    wanted = max(_MIN_TRIM_THRESHOLD_BYTES, work_areas * _ROOM_PER_WORK_AREA)
    return min(wanted, _MAX_MALLOPT_VALUE)
