"""Signers: what the token code needs of a signing key, and nothing more.

A signer has a `kid`, an `alg`, a public JWK and `sign(bytes)`, which returns the JWS signature
of the signing input (RFC 7515 §5.1) in the JWS encoding: for ES256 that is `r || s`, 64
bytes, not DER (RFC 7518 §3.4). A KMS or HSM signer implements the same four members and
keeps its private key where it lives; the token code never sees a private key.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
_JWA = jwt.algorithms.get_default_algorithms()


class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> str: ...

    def public_jwk(self) -> dict[str, str] | None:
        """RFC 7517 JWK of the public key, with `kid`, `alg` and `use`; None for HS256."""

    def sign(self, message: bytes) -> bytes: ...


class LocalSigner:
    """A private key held in this process's memory (loaded from the store, where it is
    sealed under the key-encryption key)."""

    def __init__(self, kid: str, alg: str, private: bytes) -> None:
        self.kid = kid
        self.alg = alg
        self._algorithm = _JWA[alg]
        if alg == "HS256":
            self._key: Any = private
            self.verifying_key: Any = private
        else:
            self._key = serialization.load_pem_private_key(private, password=None)
            self.verifying_key = self._key.public_key()
        self._jwk = _public_jwk(kid, alg, self.verifying_key)

    def __repr__(self) -> str:  # never the key
        return f"LocalSigner(kid={self.kid!r}, alg={self.alg!r})"

    def public_jwk(self) -> dict[str, str] | None:
        return None if self._jwk is None else dict(self._jwk)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._algorithm.sign(message, self._key))


def _public_jwk(kid: str, alg: str, verifying_key: Any) -> dict[str, str] | None:
    if alg == "HS256":
        return None  # a shared secret is never published
    jwk: dict[str, str] = _JWA[alg].to_jwk(verifying_key, as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def verifying_key_from_jwk(jwk: dict[str, str]) -> Any:
    """The public key a JWK describes, in the form PyJWT verifies with."""
    return _JWA[jwk["alg"]].from_jwk(jwk)


def new_kid() -> str:
    """16 base64url characters (96 random bits), never starting with "-": the operator types
    the kid after `authgate keys retire`, where a leading "-" reads as an option."""
    kid = "-"
    while kid.startswith("-"):
        kid = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
    return kid


def new_private_key(alg: str) -> bytes:
    """A new private key: PKCS#8 PEM, or for HS256 the shared secret itself."""
    if alg == "HS256":
        return secrets.token_bytes(64)  # RFC 7518 §3.2: at least the hash size
    private: Any
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unsupported algorithm {alg!r}")
    return bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
