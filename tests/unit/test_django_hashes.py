"""Django hash formats, and the work a failed login does whatever account it names."""

from __future__ import annotations

import base64
import hashlib

import pytest

from authgate.core import django_hashes, passwords


def pbkdf2_sha256(password: str, iterations: int = 1000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), b"salt", iterations)
    return f"pbkdf2_sha256${iterations}$salt${base64.b64encode(digest).decode()}"


def test_a_pbkdf2_sha256_hash_verifies_its_password_only() -> None:
    encoded = pbkdf2_sha256("right")
    assert django_hashes.verify(encoded, "right")
    assert not django_hashes.verify(encoded, "wrong")


def test_an_unusable_password_never_verifies_and_costs_nothing() -> None:
    assert not django_hashes.verify("!abcdef", "")
    assert django_hashes.parse("!abcdef").cost == 0


@pytest.mark.parametrize("encoded", ["md5$salt$abc", "pbkdf2_sha256$x$salt$abc", "argon2$bad"])
def test_unsupported_or_malformed_hashes_are_refused(encoded: str) -> None:
    with pytest.raises(django_hashes.UnsupportedHash):
        django_hashes.parse(encoded)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The hashing work done, as (kind, PBKDF2-SHA256 iterations of equal work)."""
    done: list[tuple[str, int]] = []
    monkeypatch.setattr(
        django_hashes, "spend", lambda iterations: done.append(("pbkdf2", iterations))
    )
    real_verify = django_hashes.verify

    def verify(encoded: str, password: str) -> bool:
        done.append(("pbkdf2", django_hashes.cost_of(encoded)))
        return real_verify(encoded, password)

    monkeypatch.setattr(django_hashes, "verify", verify)
    real = passwords._HASHER

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hash_: str, password: str) -> bool:
            done.append(("argon2", 0))
            return real.verify(hash_, password)

    monkeypatch.setattr(passwords, "_HASHER", Counting())
    return done


def total(done: list[tuple[str, int]]) -> tuple[int, int]:
    """(argon2id verifications, PBKDF2-SHA256 iterations) done."""
    return sum(1 for kind, _ in done if kind == "argon2"), sum(n for _, n in done)


async def test_every_failed_login_does_the_same_work_while_django_hashes_remain(
    work: list[tuple[str, int]],
) -> None:
    reference = 5000  # the costliest Django hash left
    django_hash = pbkdf2_sha256("right", 3000)
    argon2_hash = await passwords.hash_password("right")
    outcomes = {}
    for name, stored in (("unknown", None), ("django", django_hash), ("native", argon2_hash)):
        work.clear()
        if stored is not None:
            assert not await passwords.verify_password(stored, "wrong")
        await passwords.spend_failure("wrong", stored, reference)
        outcomes[name] = total(work)
    assert outcomes == {name: (1, reference) for name in outcomes}


async def test_without_django_hashes_a_failed_login_costs_one_argon2id_verification(
    work: list[tuple[str, int]],
) -> None:
    await passwords.spend_failure("wrong", None, 0)
    assert total(work) == (1, 0)
