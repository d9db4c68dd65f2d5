"""Django's password hash formats, verified natively (no Django at run time).

Users imported from Django keep their Django hash until their first login, which verifies it
here and rehashes the password to AuthGate's argon2id. The formats are Django's own
(`django.contrib.auth.hashers`): `pbkdf2_sha256$ITERATIONS$SALT$B64`, `pbkdf2_sha1$...`,
`argon2$argon2id$v=19$m=...,t=...,p=...$SALT$HASH`, `bcrypt_sha256$$2b$ROUNDS$...` (with the
`bcrypt` package installed), and `!...`, Django's unusable password, which never verifies.

Each hash also has a cost, in PBKDF2-SHA256 iterations of equal work, so a failed login can
be topped up to the same work whatever the account (core/passwords.py, `spend_failure`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

UNUSABLE_PREFIX = "!"  # Django's set_unusable_password()
_PBKDF2 = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
_ARGON2_PARAMETERS = re.compile(r"m=(\d+),t=(\d+),p=(\d+)")
_BCRYPT = re.compile(r"\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}")

# Measured on the reference machine (docs/operations.md, "Moving from Django and simplejwt"):
# PBKDF2-SHA256 244 ms per million iterations, PBKDF2-SHA1 about the same (19-31 ms per
# 100,000), Django's argon2 (m=102400, t=2, p=8) 469 ms, bcrypt at 12 rounds 438 ms. So
# the work of a hash in PBKDF2-SHA256 iterations:
_SHA1_ITERATION = 1.0
_ARGON2_KIB_PASS = 9.4  # iterations per KiB of memory per pass: 469 ms / (102400 KiB * 2)
_BCRYPT_ROUND_UNIT = 438  # iterations per 2**rounds: 438 ms / 2**12
# Beyond Django's own defaults by far (PBKDF2: 1,000,000 iterations in Django 5.2): a
# bound on the work one imported hash can make every failed login do.
MAX_COST = 20_000_000


class UnsupportedHash(ValueError):
    """Not a Django hash AuthGate verifies; the message says why, in a few words."""


@dataclass(frozen=True)
class DjangoHash:
    algorithm: str
    # The work one verification takes, in PBKDF2-SHA256 iterations (0: never verifies).
    cost: int


def is_django_hash(encoded: str) -> bool:
    """Whether `encoded` is a Django hash (else it is AuthGate's own argon2id)."""
    return not encoded.startswith("$argon2")


def parse(encoded: str) -> DjangoHash:
    """The algorithm and cost of a Django hash; UnsupportedHash when it is none we verify."""
    if encoded.startswith(UNUSABLE_PREFIX):
        return DjangoHash("unusable", 0)
    algorithm, _, rest = encoded.partition("$")
    cost = 0
    if algorithm in _PBKDF2:
        parts = rest.split("$")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or not parts[2]:
            raise UnsupportedHash(f"malformed {algorithm} hash")
        scale = _SHA1_ITERATION if algorithm == "pbkdf2_sha1" else 1.0
        cost = int(int(parts[0]) * scale)
    elif algorithm == "argon2":
        found = _ARGON2_PARAMETERS.search(rest)
        if not rest.startswith(("argon2id$", "argon2i$")) or found is None:
            raise UnsupportedHash("malformed argon2 hash")
        cost = int(int(found[1]) * int(found[2]) * _ARGON2_KIB_PASS)
    elif algorithm == "bcrypt_sha256":
        found = _BCRYPT.fullmatch(rest)
        if found is None:
            raise UnsupportedHash("malformed bcrypt_sha256 hash")
        if not _has_bcrypt():
            raise UnsupportedHash("bcrypt_sha256 needs the bcrypt package installed")
        cost = (1 << int(found[1])) * _BCRYPT_ROUND_UNIT
    else:
        raise UnsupportedHash(f"unsupported hash algorithm {algorithm[:32]!r}")
    if cost > MAX_COST:
        raise UnsupportedHash(f"{algorithm} work factor beyond {MAX_COST:,} PBKDF2 iterations")
    return DjangoHash(algorithm, cost)


def cost_of(encoded: str) -> int:
    """A stored Django hash's cost (0 for one that no longer parses: it never verifies)."""
    try:
        return parse(encoded).cost
    except UnsupportedHash:
        return 0


def verify(encoded: str, password: str) -> bool:
    """Whether `password` matches the Django hash `encoded` (blocking: run it in a thread)."""
    algorithm, _, rest = encoded.partition("$")
    secret = password.encode()
    if algorithm in _PBKDF2:
        iterations, salt, expected = rest.split("$", 2)
        digest = hashlib.pbkdf2_hmac(_PBKDF2[algorithm], secret, salt.encode(), int(iterations))
        return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), expected)
    if algorithm == "argon2":
        # Django stores argon2-cffi's own encoding after its "argon2" prefix.
        try:
            return PasswordHasher().verify("$" + rest, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if algorithm == "bcrypt_sha256" and _has_bcrypt():
        import bcrypt

        # Django's BCryptSHA256PasswordHasher: bcrypt of the SHA-256 hex digest, so passwords
        # longer than bcrypt's 72 bytes still count whole.
        prehashed = hashlib.sha256(secret).hexdigest().encode("ascii")
        try:
            return bcrypt.checkpw(prehashed, rest.encode("ascii"))
        except ValueError:
            return False
    return False  # unusable, or a format this process cannot check


def spend(iterations: int) -> None:
    """Do `iterations` PBKDF2-SHA256 iterations of work and throw the result away."""
    if iterations > 0:
        hashlib.pbkdf2_hmac("sha256", b"authgate-equal-work", b"authgate-salt", iterations)


def _has_bcrypt() -> bool:
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return False
    return True
