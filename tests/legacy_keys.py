"""Key files as versions before keys moved into the database wrote them (`keys.json`, 0600),
and tokens those versions signed: what an upgrade must keep valid."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization

from authgate.core.signers import new_kid, new_private_key


@dataclass(frozen=True)
class LegacyKey:
    kid: str
    algorithm: str
    secret: bytes  # PKCS#8 PEM, or the HS256 secret
    created_at: int
    deactivated_at: int | None = None


def legacy_keys(*algorithms: str, now: int | None = None) -> list[LegacyKey]:
    """Keys as successive rotations left them: each but the last deactivated by the next."""
    now = int(time.time()) if now is None else now
    made = []
    for n, algorithm in enumerate(algorithms):
        last = n == len(algorithms) - 1
        created = now - 60 * (len(algorithms) - n)
        made.append(
            LegacyKey(
                new_kid(),
                algorithm,
                new_private_key(algorithm),
                created,
                None if last else created + 60,
            )
        )
    return made


def write_key_file(path: Path, keys: list[LegacyKey]) -> None:
    document = {
        "active": keys[-1].kid,
        "keys": [
            {
                "kid": key.kid,
                "alg": key.algorithm,
                "created_at": key.created_at,
                "secret": base64.b64encode(key.secret).decode(),
                "deactivated_at": key.deactivated_at,
            }
            for key in keys
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)


def legacy_token(
    key: LegacyKey, user_id: str, *, issuer: str = "authgate", token_type: str = "access"
) -> str:
    """A token as an earlier version signed it (PyJWT's encode, the kid and typ headers)."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": user_id,
        "user_id": user_id,
        "ver": 0,
        "token_type": token_type,
        "jti": uuid.uuid4().hex,
        "iat": now - 1,
        "exp": now + 300,
    }
    typ = "at+jwt" if token_type == "access" else "JWT"
    signing_key = key.secret
    if key.algorithm != "HS256":
        signing_key = serialization.load_pem_private_key(key.secret, password=None)
    return jwt.encode(
        claims, signing_key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": typ}
    )
