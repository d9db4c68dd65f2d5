"""Small shared helpers for the unit tests: keys, a settable clock, tokens by hand, a temp store.

A plain module (not conftest.py): tests import what they use.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from authgate.core.access import Caller, scopes_of
from authgate.core.admin import Administration
from authgate.core.keys import Key, KeyRecord, KeySet
from authgate.core.operations import AuthCore, RefreshPolicy
from authgate.core.signers import LocalSigner, new_kid, new_private_key
from authgate.core.throttle import LoginThrottle
from authgate.core.tokens import TokenCodec
from authgate.core.users import User, new_user_id
from authgate.store.clients import ClientStore
from authgate.store.database import Database
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.schema_version import migrate
from authgate.store.session import Session
from authgate.store.users import UserStore, insert_user

ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
ISSUER = "authgate"
KEY_CREATED_AT = 1_700_000_000
NOW = 1_750_000_000
PASSWORD = "correct horse battery"


class Clock:
    """A clock the test sets by hand, injected where the code takes `clock`."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class HandKey(Key):
    """A key with its private half at hand, to sign tokens by hand as an attacker or a test."""

    signing_key: Any = None


def _generated(algorithm: str) -> HandKey:
    kid, private = new_kid(), new_private_key(algorithm)
    signer = LocalSigner(kid, algorithm, private)
    raw: Any = private
    if algorithm != "HS256":
        raw = serialization.load_pem_private_key(private, password=None)
    record = KeyRecord(kid, algorithm, signer.public_jwk(), None, KEY_CREATED_AT, KEY_CREATED_AT)
    return HandKey(record, signer.verifying_key, signer, raw)


@functools.cache
def key_for(algorithm: str) -> HandKey:
    """One generated key per algorithm for the whole run (RSA generation is slow)."""
    return _generated(algorithm)


@functools.cache
def other_key_for(algorithm: str) -> HandKey:
    """A second, unrelated key: what an attacker could sign with."""
    return _generated(algorithm)


def key_set_of(*keys: Key) -> KeySet:
    """A set in which each key signed after the one before it, the last signing now; every
    one of them verifies until long after NOW."""
    dated = []
    for n, key in enumerate(keys):
        until = None if n == len(keys) - 1 else KEY_CREATED_AT + n + 1
        record = dataclasses.replace(
            key.record, activates_at=KEY_CREATED_AT + n, deactivates_at=until
        )
        dated.append(dataclasses.replace(key, record=record))
    return KeySet(tuple(dated), retention=NOW)


def key_set_for(algorithm: str) -> KeySet:
    return key_set_of(key_for(algorithm))


def make_codec(
    algorithm: str = "EdDSA", *, clock: Clock | None = None, audience: str = ""
) -> TokenCodec:
    return TokenCodec(
        key_set_for(algorithm),
        issuer=ISSUER,
        audience=audience,
        access_lifetime=300,
        refresh_lifetime=86400,
        clock=clock or Clock(),
    )


# Tokens by hand.


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def good_claims(token_type: str = "access", **changes: Any) -> dict[str, Any]:
    """Claims that pass every check at NOW; `changes` set (or, with None, drop) claims."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "01USER",
        "user_id": "01USER",
        "token_type": token_type,
        "jti": "0123456789abcdef",
        "iat": NOW,
        "exp": NOW + 300,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def header_for(key: Key, typ: str = "at+jwt", **extra: Any) -> dict[str, Any]:
    return {"alg": key.algorithm, "kid": key.kid, "typ": typ, **extra}


def sign_by_hand(header: dict[str, Any], claims: dict[str, Any], key: Key) -> str:
    """A JWS with exactly this header (PyJWT's encode would validate or add fields)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    algorithm = jwt.get_algorithm_by_name(header["alg"])
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key.signing_key))
    return f"{signing_input}.{b64url(signature)}"


def sign(claims: dict[str, Any], key: Key, typ: str = "at+jwt") -> str:
    """A token signed by `key` with its kid, as ours are, carrying `claims`."""
    return sign_by_hand(header_for(key, typ), claims, key)


# A store on a temporary SQLite file.


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'x.sqlite3'}"


@asynccontextmanager
async def open_database(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    try:
        yield database
    finally:
        database.close()


@asynccontextmanager
async def open_store(data_dir: Path) -> AsyncIterator[UserStore]:
    """A migrated UserStore; the database closes on exit (in an async test or fixture)."""
    url = sqlite_url(data_dir)
    async with open_database(url) as database:
        await migrate(database)
        yield UserStore(database)


@asynccontextmanager
async def open_core(data_dir: Path) -> AsyncIterator[tuple[AuthCore, Administration]]:
    """An AuthCore (and the operator's actions) over a real store, a real TokenCodec on the
    wall clock and an in-memory login throttle."""
    async with open_store(data_dir) as store:
        registry = RefreshTokenRegistry(store.database)
        throttle = LoginThrottle("", "10/minute", "100/minute")
        tokens = TokenCodec(key_set_for("EdDSA"), issuer=ISSUER)
        clients = ClientStore(store.database)
        core = AuthCore(store, tokens, registry, throttle, RefreshPolicy(), clients)
        yield core, Administration(store, registry, clients)


async def insert_users(database: Database, count: int) -> list[str]:
    """Insert `count` users directly (no argon2: the hash is a placeholder); their ids, sorted."""
    ids = [new_user_id() for _ in range(count)]
    await database.write(_insert_placeholder_users, ids)
    return sorted(ids)


def _insert_placeholder_users(session: Session, ids: list[str]) -> None:
    for n, user_id in enumerate(ids):
        insert_placeholder_user(session, f"bulk{n}-{user_id}@example.com", user_id)


def insert_placeholder_user(session: Session, email: str, user_id: str = "") -> str:
    """One active, non-staff user, written by a store operation's own session (no argon2: the
    hash is a placeholder); its id."""
    user = User(user_id or new_user_id(), email, True, False, datetime.now(UTC), None)
    insert_user(session, user, "not-a-hash")
    return user.id


def user_emails(session: Session) -> list[str]:
    """Every user's email, sorted (a store operation)."""
    return [row[0] for row in session.all("SELECT email FROM users ORDER BY email")]


async def delete_user(database: Database, user_id: str) -> None:
    await database.write(_delete_user, user_id)


def _delete_user(session: Session, user_id: str) -> None:
    session.run("DELETE FROM users WHERE id = :id", {"id": user_id})


def as_caller(user: User) -> Caller:
    """The caller a fresh access token of `user` speaks for."""
    return Caller(user.id, scopes_of(user), user)
