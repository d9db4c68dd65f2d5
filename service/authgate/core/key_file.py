"""The key file earlier versions kept in the data directory (`keys.json`, mode 0600), read once
to import its keys into the store; nothing writes it any more."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

KEY_FILE_NAME = "keys.json"
IMPORTED_SUFFIX = ".imported"


@dataclass(frozen=True)
class FileKey:
    kid: str
    algorithm: str
    created_at: int
    secret: bytes  # PKCS#8 PEM, or the HS256 secret
    deactivated_at: int | None  # when a newer key took over signing
    active: bool


def read_key_file(path: Path) -> list[FileKey]:
    """Every key in the file; ValueError when it is not a key file."""
    try:
        document = json.loads(path.read_text())
        return [
            FileKey(
                entry["kid"],
                entry["alg"],
                int(entry["created_at"]),
                base64.b64decode(entry["secret"]),
                entry.get("deactivated_at"),
                entry["kid"] == document["active"],
            )
            for entry in document["keys"]
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a key file: {error}") from None
