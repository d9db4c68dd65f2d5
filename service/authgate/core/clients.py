"""Clients (service accounts): who they are, the scopes they may ask for, their secrets.

A secret is 256 random bits, shown once and stored as its SHA-256 digest. A slow hash such
as argon2 protects guessable passwords; nobody guesses 256 random bits, and argon2 would cost
about 20 ms of CPU on every token a service fetches. The digest is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from authgate.core.access import SCOPES
from authgate.core.users import USER_ID_SHAPE, new_user_id

MAX_NAME_LENGTH = 100
# Client ids cannot be mistaken for user ids (26 Crockford characters, no hyphen).
CLIENT_ID_PREFIX = "svc-"


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    scopes: frozenset[str]
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class NewSecret:
    """A client's secret as it is shown once, and the digest the store keeps."""

    client_id: str
    secret: str

    @property
    def digest(self) -> str:
        return secret_digest(self.secret)


MAX_SECRET_LENGTH = 256  # ours are 43 characters; anything far longer is not one of them


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + new_user_id()


def could_be_credentials(client_id: str, secret: str) -> bool:
    """Whether the pair has the shape of ours; anything else fails without a store trip."""
    return (
        client_id.startswith(CLIENT_ID_PREFIX)
        and USER_ID_SHAPE.fullmatch(client_id.removeprefix(CLIENT_ID_PREFIX)) is not None
        and 0 < len(secret) <= MAX_SECRET_LENGTH
        and secret.isascii()
    )


def new_secret(client_id: str) -> NewSecret:
    return NewSecret(client_id, secrets.token_urlsafe(32))  # 32 bytes: 256 bits


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(secret: str, digests: list[str]) -> bool:
    """Whether `secret` is one of the live secrets; every digest is compared, in constant time."""
    candidate = secret_digest(secret)
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(candidate, digest)
    return matched


def client_problems(name: str, scopes: frozenset[str]) -> dict[str, list[str]]:
    """What is wrong with a new client's name and scopes, by field."""
    problems: dict[str, list[str]] = {}
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        problems["name"] = [f"A name is 1 to {MAX_NAME_LENGTH} printable characters."]
    unknown = sorted(scopes - SCOPES.keys())
    if unknown:
        problems["scope"] = [f"Unknown scopes: {' '.join(unknown)}; known: {' '.join(SCOPES)}."]
    return problems
