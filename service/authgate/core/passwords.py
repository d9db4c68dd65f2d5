"""argon2id password hashing at OWASP's parameters, run off the event loop.

The hashing threads share the machine's cores with any other workers, yield them to the rest
of the process when they are short, and give their 19 MiB work areas back to the kernel once
hashing pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authgate.core import django_hashes, memory

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)

T = TypeVar("T")

MIN_LENGTH = 8
# Bounds the hashing work one request can ask for.
MAX_LENGTH = 1024


# Once hashing has paused this long, the work areas go back to the kernel (see `memory`): a
# busy server reuses them, an idle one stays small.
IDLE_RELEASE_SECONDS = 1.0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# How much lower (nice) the hashing threads run than the process's other threads: the event
# loop, the store's threads and the change log's tail. When the cores are short (a burst,
# another tenant of the machine) a login waits for them, not every token check and not a
# revocation. With two busy processes taking cores from a soak at 500 requests/s, three runs
# each: the mix's p50 in that minute 4.8, 6.5, 2.8 ms against 8.9, 8.7, 10.2 at the same
# priority; logins alone just as fast (77.9 a second either way, eight runs at 1 worker).
HASHING_NICENESS = 10


def _yield_the_cores() -> None:
    """Run first in each hashing thread: lower its own priority. Linux only, where
    setpriority takes a thread's id; elsewhere that id would name a process."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    # Lowering a priority needs no privilege; a sandbox that forbids it leaves it as it was.
    with contextlib.suppress(OSError):
        lower = min(19, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS)
        os.setpriority(os.PRIO_PROCESS, thread, lower)


def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix="argon2", initializer=_yield_the_cores
    )


class _HashingPool:
    """The threads that hash; they give their memory back when hashing pauses.

    Used from one event loop at a time (a server's, or a CLI command's).
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._executor = _executor(threads)
        memory.make_room_for(threads)
        # Awaited hashes. A caller cancelled mid-hash stops counting while its thread finishes:
        # a release then may come early, and costs the next hash its page faults, nothing more.
        self._in_flight = 0
        self._last_done = 0.0
        self._release_armed_on: asyncio.AbstractEventLoop | None = None

    def resize(self, threads: int) -> None:
        """Use `threads` threads from now on (at start-up: the executor starts them lazily)."""
        if threads != self.threads:
            self._executor.shutdown(wait=False)  # queued and running hashes still finish
            self._executor = _executor(threads)
            self.threads = threads
            memory.make_room_for(threads)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            self._in_flight -= 1
            self._last_done = loop.time()
            # One timer per pause, not per hash; a timer left on a closed loop never fires.
            if self._release_armed_on is not loop:
                self._release_armed_on = loop
                loop.call_later(IDLE_RELEASE_SECONDS, self._release_if_idle, loop)

    def _release_if_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        quiet_for = loop.time() - self._last_done
        if self._in_flight or quiet_for < IDLE_RELEASE_SECONDS:
            wait = IDLE_RELEASE_SECONDS - (0.0 if self._in_flight else quiet_for)
            loop.call_later(wait, self._release_if_idle, loop)
            return
        self._release_armed_on = None
        # RuntimeError: the executor is shutting down with the interpreter; nothing to keep.
        with contextlib.suppress(RuntimeError):
            self._executor.submit(memory.release_free_memory)


# argon2 releases the GIL, so threads keep the event loop free; but it is CPU- and
# memory-bound (19 MiB a hash), so more threads than cores only queue inside the kernel and
# hold more memory (bench: 76-80 verifies/s with asyncio's default pool, 88-93 with 2 threads).
_POOL = _HashingPool(threads=usable_cores())


def share_cores(processes: int) -> None:
    """Hash on this process's share of the cores (at least one thread), when `processes`
    serve on one machine."""
    _POOL.resize(max(1, usable_cores() // processes))


async def _in_pool(function: Callable[..., T], *args: Any) -> T:
    return await _POOL.run(function, *args)


async def hash_password(password: str) -> str:
    return await _in_pool(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await _in_pool(_verify, password_hash, password)


async def verify_against_dummy(password: str) -> None:
    """Spend the time of a real verification, for unknown or inactive users."""
    await verify_password(_dummy_hash(), password)


async def spend_failure(password: str, verified_hash: str | None, legacy_cost: int) -> None:
    """Top a failed login up to the work every failed login does.

    `verified_hash` is the hash the password was checked against (None: no user, nothing
    checked yet). While the store holds Django hashes, the most costly of them
    `legacy_cost` PBKDF2-SHA256 iterations, every failed login does one argon2id
    verification and `legacy_cost` iterations' work, whichever account it named: a Django
    hash's own verification counts as its cost, and PBKDF2 makes up the rest. So an imported
    user that has not logged in yet fails in the same time as any other (docs/operations.md).
    """
    argon2_done = verified_hash is not None and not django_hashes.is_django_hash(verified_hash)
    legacy_done = 0
    if verified_hash is not None and not argon2_done:
        legacy_done = django_hashes.cost_of(verified_hash)
    top_up = max(0, legacy_cost - legacy_done)
    if argon2_done and not top_up:
        return
    await _in_pool(_spend, password, not argon2_done, top_up)


def _spend(password: str, argon2: bool, iterations: int) -> None:
    if argon2:
        _verify(_dummy_hash(), password)
    django_hashes.spend(iterations)


async def prepare() -> None:
    """Compute the dummy hash at start-up, in a thread, not inside the first login."""
    await _in_pool(_dummy_hash)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _verify(password_hash: str, password: str) -> bool:
    if django_hashes.is_django_hash(password_hash):  # an imported user's first login
        return django_hashes.verify(password_hash, password)
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("authgate-dummy-password")
