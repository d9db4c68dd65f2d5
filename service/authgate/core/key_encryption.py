"""The key-encryption key: AES-256-GCM over every private signing key the store holds.

A sealed key is `version (1) | KEK id (8) | nonce (12) | ciphertext and tag`, with the key's
`kid` as associated data, so a sealed key moved onto another `kid`'s row does not open. The KEK
id (the first 8 bytes of a SHA-256 over the KEK) says which KEK sealed it, so a wrong KEK is
named as such, and a previous KEK still opens what it sealed while the keys are re-sealed
under a new one (`authgate keys rewrap`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = b"\x01"
KEK_BYTES = 32  # AES-256
ID_BYTES = 8
NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit random nonces, far below 2**32 per key


class KeyEncryptionError(Exception):
    """A sealed key that no KEK at hand opens: the wrong key, or a damaged row."""


def generate_text() -> str:
    """A new KEK as AUTHGATE_KEY_ENCRYPTION_KEY takes it: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(os.urandom(KEK_BYTES)).decode()


def _parse(text: str, name: str) -> bytes:
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(
            cleaned.replace("+", "-").replace("/", "_") + "=" * (-len(cleaned) % 4)
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEK_BYTES:
        raise ValueError(f"{name}: expected {KEK_BYTES} bytes in base64 (`authgate keys new-kek`)")
    return raw


class KeyEncryptionKey:
    def __init__(self, secret: bytes, previous: KeyEncryptionKey | None = None) -> None:
        if len(secret) != KEK_BYTES:
            raise ValueError(f"a key-encryption key is {KEK_BYTES} bytes")
        self.id = hashlib.sha256(b"authgate key-encryption key\x00" + secret).digest()[:ID_BYTES]
        self._aead = AESGCM(secret)
        # Opens what it sealed, never seals: the KEK being rotated out.
        self.previous = previous

    @classmethod
    def from_text(cls, text: str, previous_text: str = "") -> KeyEncryptionKey:
        previous = (
            cls(_parse(previous_text, "AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEY"))
            if previous_text
            else None
        )
        return cls(_parse(text, "AUTHGATE_KEY_ENCRYPTION_KEY"), previous)

    def __repr__(self) -> str:  # never the key itself
        return f"KeyEncryptionKey(id={self.id.hex()})"

    def seal(self, kid: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_VERSION + self.id + nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, kid: str, sealed: bytes) -> bytes:
        if sealed[:1] != FORMAT_VERSION or len(sealed) < 1 + ID_BYTES + NONCE_BYTES + 16:
            raise KeyEncryptionError(f"signing key {kid} is not a sealed key")
        sealed_by = sealed[1 : 1 + ID_BYTES]
        for kek in (self, self.previous):
            if kek is not None and kek.id == sealed_by:
                nonce = sealed[1 + ID_BYTES : 1 + ID_BYTES + NONCE_BYTES]
                body = sealed[1 + ID_BYTES + NONCE_BYTES :]
                try:
                    return kek._aead.decrypt(nonce, body, kid.encode())
                except InvalidTag:
                    raise KeyEncryptionError(
                        f"signing key {kid} fails its integrity check"
                    ) from None
        raise KeyEncryptionError(
            f"signing key {kid} was sealed by another key-encryption key (id {sealed_by.hex()},"
            f" this one is {self.id.hex()}): check AUTHGATE_KEY_ENCRYPTION_KEY"
        )

    def sealed_by_this(self, sealed: bytes) -> bool:
        return sealed[1 : 1 + ID_BYTES] == self.id
