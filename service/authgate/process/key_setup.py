"""The signing keys a process opens: the key-encryption key from the settings (or, with SQLite,
the data directory), an old `keys.json` imported once, and the ring that keeps them current."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from authgate.core.change_follower import ChangeFollower
from authgate.core.key_encryption import KeyEncryptionKey, generate_text
from authgate.core.key_file import IMPORTED_SUFFIX, KEY_FILE_NAME, FileKey, read_key_file
from authgate.core.key_management import KeyManagement, KeysUnusable
from authgate.core.key_ring import KeyRing
from authgate.process.settings import Settings
from authgate.store.database import Database
from authgate.store.signing_keys import SigningKeyStore

log = logging.getLogger(__name__)

KEK_FILE_NAME = "key-encryption-key"
# How old a key set may be used while the change log's tail is not current (caches off).
DEFAULT_KEY_SET_MAX_AGE = 0.1


async def open_keys(
    settings: Settings,
    database: Database,
    follower: ChangeFollower,
    *,
    prepare: bool,
    follow_algorithm: bool,
) -> tuple[KeyRing, KeyManagement]:
    """The ring a process signs and verifies with, and the operator's key actions. `prepare`
    (once per start) also imports an old key file and makes the first key, and with
    `follow_algorithm` (a server's start) stages a key for a newly configured algorithm;
    every process first checks that the KEK opens every stored key."""
    store = SigningKeyStore(database)
    sealed = [r for r in await store.all() if r.sealed_private is not None]
    kek = _key_encryption_key(settings, database, has_sealed_keys=bool(sealed))
    manager = KeyManagement(
        store,
        kek,
        algorithm=settings.algorithm,
        publish_ahead=settings.key_publish_ahead,
        retention=max(settings.access_token_lifetime, settings.refresh_token_lifetime),
    )
    legacy_path = settings.data_dir / KEY_FILE_NAME
    legacy = _read_legacy(legacy_path) if prepare else None
    if prepare:
        key_set = await manager.prepare(legacy, follow_algorithm=follow_algorithm)
    else:
        key_set = await manager.load()
    if legacy:
        _set_aside(legacy_path)
    max_age = settings.cache_staleness_ms / 1000 or DEFAULT_KEY_SET_MAX_AGE
    return KeyRing(key_set, manager.load, follower, max_age), manager


def _key_encryption_key(
    settings: Settings, database: Database, *, has_sealed_keys: bool
) -> KeyEncryptionKey:
    if settings.key_encryption_key:
        try:
            return KeyEncryptionKey.from_text(
                settings.key_encryption_key, settings.previous_key_encryption_key
            )
        except ValueError as error:
            raise KeysUnusable(str(error)) from None
    if database.dialect.name != "sqlite":
        raise KeysUnusable(
            "AUTHGATE_KEY_ENCRYPTION_KEY is required with PostgreSQL: make one with"
            " `authgate keys new-kek` and give the same one to every replica"
        )
    path = settings.data_dir / KEK_FILE_NAME
    if not path.exists():
        if has_sealed_keys:
            raise KeysUnusable(
                f"the database holds signing keys but {path} is missing: restore it, or set"
                " AUTHGATE_KEY_ENCRYPTION_KEY; no key was changed"
            )
        _create_secret_file(path, generate_text())
        log.info("generated the key-encryption key %s (mode 0600)", path)
    try:
        return KeyEncryptionKey.from_text(path.read_text())
    except ValueError as error:
        raise KeysUnusable(f"{path}: {error}") from None


def _create_secret_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600, written whole; a process that loses a race to create it
    keeps the winner's."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    finally:
        temporary.unlink()


def _read_legacy(path: Path) -> list[FileKey] | None:
    if not path.exists():
        return None
    try:
        return read_key_file(path)
    except ValueError as error:
        raise KeysUnusable(str(error)) from None


def _set_aside(path: Path) -> None:
    target = path.with_name(path.name + IMPORTED_SUFFIX)
    path.replace(target)
    log.warning(
        "signing keys: imported %s into the database and renamed it %s; it holds the keys in"
        " clear: delete it once your backups hold the database and the key-encryption key",
        path,
        target.name,
    )
