"""argon2id password hashing at OWASP's parameters, run off the event loop."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)

T = TypeVar("T")

MIN_LENGTH = 8
# Bounds the hashing work one request can ask for.
MAX_LENGTH = 1024


# argon2 releases the GIL, so threads keep the event loop free; but it is CPU- and
# memory-bound (19 MiB a hash), so more threads than cores only queue inside the kernel and
# hold more memory (bench: 76-80 verifies/s with asyncio's default pool, 88-93 with 2 threads).
_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


async def _in_pool(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, function, *args)


async def hash_password(password: str) -> str:
    return await _in_pool(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await _in_pool(_verify, password_hash, password)


async def verify_against_dummy(password: str) -> None:
    """Spend the time of a real verification, for unknown or inactive users."""
    await verify_password(_dummy_hash(), password)


async def prepare() -> None:
    """Compute the dummy hash at start-up, in a thread, not inside the first login."""
    await _in_pool(_dummy_hash)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("authgate-dummy-password")
