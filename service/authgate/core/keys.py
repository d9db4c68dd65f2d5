"""Signing keys by `kid`: generated on first start, kept in a 0600 file, rotated on demand.

The key file (`keys.json` in the data directory) lists every key with its algorithm; one is
active for signing, and all of them verify. The algorithm always comes from the key, never
from a token header (RFC 8725 §3.1).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

KEY_FILE_NAME = "keys.json"


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    created_at: int
    signing_key: Any
    verifying_key: Any
    # When a newer key took over signing; the key verifies until its last token expires.
    deactivated_at: int | None = None

    def public_jwk(self) -> dict[str, str] | None:
        """RFC 7517 JWK of the public key; None for a shared secret (never published)."""
        if self.algorithm == "HS256":
            return None
        algorithm = jwt.algorithms.get_default_algorithms()[self.algorithm]
        jwk: dict[str, str] = algorithm.to_jwk(self.verifying_key, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @classmethod
    def generate(cls, algorithm: str, now: int) -> Key:
        kid = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=")
        return cls.from_secret(kid, algorithm, now, _new_secret(algorithm))

    @classmethod
    def from_secret(
        cls,
        kid: str,
        algorithm: str,
        created_at: int,
        secret: bytes,
        deactivated_at: int | None = None,
    ) -> Key:
        if algorithm == "HS256":
            return cls(kid, algorithm, created_at, secret, secret, deactivated_at)
        private = serialization.load_pem_private_key(secret, password=None)
        return cls(kid, algorithm, created_at, private, private.public_key(), deactivated_at)

    def secret_bytes(self) -> bytes:
        if self.algorithm == "HS256":
            return bytes(self.signing_key)
        return bytes(
            self.signing_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _new_secret(algorithm: str) -> bytes:
    if algorithm == "HS256":
        return secrets.token_bytes(64)  # RFC 7518 §3.2: at least the hash size
    private: Any
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    return bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass(frozen=True)
class KeySet:
    """Every key we verify with, and the one we sign with."""

    keys: tuple[Key, ...]
    active_kid: str

    @property
    def active(self) -> Key:
        return self.by_kid(self.active_kid)  # type: ignore[return-value]

    @property
    def current(self) -> KeySet:
        return self  # a fixed set; KeyRing's `current` follows the key file

    def by_kid(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def with_new_active(self, algorithm: str, now: int, retire_after: int | None = None) -> KeySet:
        """A new signing key; the old active one keeps verifying. Keys deactivated more than
        `retire_after` seconds ago (every token they signed has expired) are dropped."""
        new = Key.generate(algorithm, now)
        kept = []
        for key in self.keys:
            if key.kid == self.active_kid:
                key = dataclasses.replace(key, deactivated_at=now)
            if (
                retire_after is None
                or key.deactivated_at is None
                or (key.deactivated_at + retire_after >= now)
            ):
                kept.append(key)
        return KeySet((*kept, new), new.kid)

    def jwks(self) -> list[dict[str, str]]:
        """Public keys that may have signed a live token, the active one first."""
        ordered = sorted(self.keys, key=lambda key: key.kid != self.active_kid)
        return [jwk for key in ordered if (jwk := key.public_jwk()) is not None]


def load_or_create(data_dir: Path, algorithm: str, now: int | None = None) -> KeySet:
    """Load the key file, creating it (0600) on first start.

    When the configured algorithm differs from the active key's, a key for it is added and made
    active; the old keys keep verifying the tokens they signed.
    """
    now = int(time.time()) if now is None else now
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        key_set = read_key_file(path)
        if key_set.active.algorithm == algorithm:
            return key_set
        key_set = key_set.with_new_active(algorithm, now)
    else:
        new = Key.generate(algorithm, now)
        key_set = KeySet((new,), new.kid)
    write_key_file(path, key_set)
    return key_set


def rotate(data_dir: Path, algorithm: str, retire_after: int, now: int | None = None) -> KeySet:
    """Add a new active signing key; older keys verify until their tokens have expired.

    Running servers pick the new key up from the file (KeyRing) without a restart.
    """
    now = int(time.time()) if now is None else now
    path = data_dir / KEY_FILE_NAME
    key_set = load_or_create(data_dir, algorithm, now).with_new_active(algorithm, now, retire_after)
    write_key_file(path, key_set)
    return key_set


class KeyRing:
    """The key set a running server uses, re-read when the key file changes (keys rotate)."""

    def __init__(self, path: Path, key_set: KeySet, check_every: float = 1.0) -> None:
        self.path = path
        self._key_set = key_set
        self._check_every = check_every
        self._checked_at = time.monotonic()
        self._mtime = _mtime(path)

    @property
    def current(self) -> KeySet:
        now = time.monotonic()
        if now - self._checked_at >= self._check_every:
            self._checked_at = now
            mtime = _mtime(self.path)
            if mtime != self._mtime:
                self._mtime = mtime
                self._key_set = read_key_file(self.path)
        return self._key_set

    @property
    def active(self) -> Key:
        return self.current.active

    def by_kid(self, kid: str) -> Key | None:
        return self.current.by_kid(kid)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_key_file(path: Path) -> KeySet:
    document = json.loads(path.read_text())
    keys = tuple(
        Key.from_secret(
            entry["kid"],
            entry["alg"],
            int(entry["created_at"]),
            base64.b64decode(entry["secret"]),
            entry.get("deactivated_at"),
        )
        for entry in document["keys"]
    )
    return KeySet(keys, document["active"])


def write_key_file(path: Path, key_set: KeySet) -> None:
    """Write atomically with mode 0600: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {
        "active": key_set.active_kid,
        "keys": [
            {
                "kid": key.kid,
                "alg": key.algorithm,
                "created_at": key.created_at,
                "secret": base64.b64encode(key.secret_bytes()).decode(),
                "deactivated_at": key.deactivated_at,
            }
            for key in key_set.keys
        ],
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
