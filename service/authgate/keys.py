"""Signing keys by `kid`: generated on first start, kept in a 0600 file, rotated on demand.

The key file (`keys.json` in the data directory) lists every key with its algorithm; one is
active for signing, and all of them verify. The algorithm always comes from the key, never
from a token header (RFC 8725 §3.1).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @classmethod
    def generate(cls, algorithm: str, now: int) -> Key:
        kid = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=")
        return cls.from_secret(kid, algorithm, now, _new_secret(algorithm))

    @classmethod
    def from_secret(cls, kid: str, algorithm: str, created_at: int, secret: bytes) -> Key:
        if algorithm == "HS256":
            return cls(kid, algorithm, created_at, secret, secret)
        private = serialization.load_pem_private_key(secret, password=None)
        return cls(kid, algorithm, created_at, private, private.public_key())

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

    def by_kid(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def with_new_active(self, algorithm: str, now: int) -> KeySet:
        new = Key.generate(algorithm, now)
        return KeySet((*self.keys, new), new.kid)


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


def rotate(data_dir: Path, algorithm: str, now: int | None = None) -> KeySet:
    """Add a new active signing key; older keys stay for verification."""
    now = int(time.time()) if now is None else now
    path = data_dir / KEY_FILE_NAME
    key_set = read_key_file(path).with_new_active(algorithm, now)
    write_key_file(path, key_set)
    return key_set


def read_key_file(path: Path) -> KeySet:
    document = json.loads(path.read_text())
    keys = tuple(
        Key.from_secret(
            entry["kid"],
            entry["alg"],
            int(entry["created_at"]),
            base64.b64decode(entry["secret"]),
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
