"""argon2id hashing at OWASP's parameters (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from argon2 import PasswordHasher, Type

from authgate.core import passwords

PASSWORD = "correct horse battery"


def phc_parts(password_hash: str) -> dict[str, str]:
    """`$argon2id$v=19$m=19456,t=2,p=1$salt$hash` as {variant, v, m, t, p, salt, hash}."""
    empty, variant, version, params, salt, digest = password_hash.split("$")
    assert empty == ""
    parts = dict(pair.split("=") for pair in params.split(","))
    return {"variant": variant, **dict([version.split("=")]), **parts, "salt": salt, "hash": digest}


async def test_hash_is_argon2id_with_owasp_parameters() -> None:
    parts = phc_parts(await passwords.hash_password(PASSWORD))

    assert parts["variant"] == "argon2id"
    assert parts["v"] == "19"
    assert (parts["m"], parts["t"], parts["p"]) == ("19456", "2", "1")


async def test_hash_does_not_contain_the_password() -> None:
    assert PASSWORD not in await passwords.hash_password(PASSWORD)


async def test_same_password_hashes_differently_each_time() -> None:
    first = await passwords.hash_password(PASSWORD)
    second = await passwords.hash_password(PASSWORD)

    assert first != second
    assert phc_parts(first)["salt"] != phc_parts(second)["salt"]


async def test_right_password_verifies() -> None:
    password_hash = await passwords.hash_password(PASSWORD)

    assert await passwords.verify_password(password_hash, PASSWORD) is True


@pytest.mark.parametrize(
    "wrong", ["", "correct horse batter", "Correct horse battery", " " + PASSWORD]
)
async def test_wrong_password_does_not_verify(wrong: str) -> None:
    password_hash = await passwords.hash_password(PASSWORD)

    assert await passwords.verify_password(password_hash, wrong) is False


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
        "$argon2id$v=19$m=abc,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
async def test_garbage_hash_verifies_false_without_raising(garbage: str) -> None:
    assert await passwords.verify_password(garbage, PASSWORD) is False


async def test_verify_against_dummy_completes() -> None:
    assert await passwords.verify_against_dummy(PASSWORD) is None


async def test_our_hash_does_not_need_rehash() -> None:
    assert passwords.needs_rehash(await passwords.hash_password(PASSWORD)) is False


@pytest.mark.parametrize(
    "hasher",
    [
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID),
        PasswordHasher(time_cost=2, memory_cost=19456, parallelism=2, type=Type.ID),
        PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.I),
    ],
    ids=["weaker", "other-parallelism", "argon2i"],
)
def test_hash_with_other_parameters_needs_rehash(hasher: PasswordHasher) -> None:
    assert passwords.needs_rehash(hasher.hash(PASSWORD)) is True


async def test_hash_with_other_parameters_still_verifies() -> None:
    # Old hashes keep working until the next login rehashes them.
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)

    assert await passwords.verify_password(old, PASSWORD) is True


def test_garbage_hash_needs_rehash() -> None:
    assert passwords.needs_rehash("not a hash") is True


def test_the_pool_releases_memory_once_hashing_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Synchronous on purpose: each asyncio.run below is an event loop of its own, closed when
    # it returns, and loop lifetimes are what this test is about. The session's loop (the one
    # async tests share) does not run meanwhile, so a release timer that the shared hashing
    # pool armed there during an earlier test cannot fire into `releases`.
    releases: list[int] = []
    monkeypatch.setattr(passwords, "IDLE_RELEASE_SECONDS", 0.2)
    monkeypatch.setattr(passwords.memory, "release_free_memory", lambda: releases.append(1))
    pool = passwords._HashingPool(threads=2)

    async def hashing_then(pause: float) -> None:
        for _ in range(3):  # back to back: one pause at the end
            await asyncio.gather(*(pool.run(sum, [1, 2]) for _ in range(4)))
        await asyncio.sleep(pause)

    # A loop that closes before its pause is over (a CLI command) leaves its timer behind...
    asyncio.run(hashing_then(pause=0))
    assert releases == []
    # ...which must not keep the next loop from releasing, once, when its hashing pauses.
    asyncio.run(hashing_then(pause=1.0))
    assert releases == [1]


async def test_workers_on_one_machine_share_its_cores_for_hashing() -> None:
    cores = passwords.usable_cores()
    try:
        passwords.share_cores(2)
        assert passwords._POOL.threads == max(1, cores // 2)
        passwords.share_cores(cores * 4)  # more workers than cores: each still hashes
        assert passwords._POOL.threads == 1
        password_hash = await passwords.hash_password(PASSWORD)
        assert await passwords.verify_password(password_hash, PASSWORD)
    finally:
        passwords.share_cores(1)
    assert passwords._POOL.threads == cores


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
async def test_hashing_threads_yield_the_cores_to_the_event_loop() -> None:
    loop_niceness = _niceness()
    pool = passwords._HashingPool(threads=2)
    niceness = await asyncio.gather(*(pool.run(_niceness) for _ in range(4)))
    assert set(niceness) == {min(19, loop_niceness + passwords.HASHING_NICENESS)}
    assert _niceness() == loop_niceness  # the event loop's thread keeps its priority
