"""argon2id password hashing at OWASP's parameters, run off the event loop."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)

MIN_LENGTH = 8
# Bounds the hashing work one request can ask for.
MAX_LENGTH = 1024


async def hash_password(password: str) -> str:
    # argon2 releases the GIL, so a thread keeps the event loop free.
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, password)


async def verify_against_dummy(password: str) -> None:
    """Spend the time of a real verification, for unknown or inactive users."""
    await verify_password(_dummy_hash(), password)


async def prepare() -> None:
    """Compute the dummy hash at start-up, in a thread, not inside the first login."""
    await asyncio.to_thread(_dummy_hash)


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
