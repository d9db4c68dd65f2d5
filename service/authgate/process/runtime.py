"""Assembling the core from settings: database, migrations, keys, throttle, bootstrap user."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from authgate.core import keys, passwords
from authgate.core.admin import Administration
from authgate.core.operations import AuthCore, RefreshPolicy
from authgate.core.throttle import LoginThrottle
from authgate.core.tokens import TokenCodec
from authgate.process.settings import Settings
from authgate.store.clients import ClientStore
from authgate.store.database import Database
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.schema_version import is_current, migrate
from authgate.store.users import UserStore

log = logging.getLogger(__name__)


class SchemaBehind(OSError):
    """Serving on an old schema would fail request by request; refuse to start instead."""


@dataclass(frozen=True)
class Runtime:
    core: AuthCore
    admin: Administration


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, prepare: bool = True, serving: bool = False
) -> AsyncIterator[Runtime]:
    """The core and the operator's actions on a migrated store with loaded (or first-start
    generated) keys; the database connections close on exit.

    `prepare` migrates the store and creates the bootstrap user; a supervisor does that once
    for all its workers, which then open with `prepare=False`. A `serving` process migrates
    in a child, so that Alembic does not stay in its memory.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(settings.resolved_database_url)
    try:
        if prepare and settings.migrate_on_start:
            await migrate(database, in_child=serving)
        elif not await is_current(database):
            raise SchemaBehind("the database schema is not current: run `authgate migrate` first")
        await passwords.prepare()
        key_set = keys.load_or_create(settings.data_dir, settings.algorithm)
        tokens = TokenCodec(
            keys.KeyRing(settings.data_dir / keys.KEY_FILE_NAME, key_set),
            issuer=settings.issuer,
            audience=settings.audience,
            access_lifetime=settings.access_token_lifetime,
            refresh_lifetime=settings.refresh_token_lifetime,
        )
        store, registry = UserStore(database), RefreshTokenRegistry(database)
        clients = ClientStore(database)
        throttle = LoginThrottle(
            settings.redis_url, settings.login_limit_per_account, settings.login_limit_per_address
        )
        policy = RefreshPolicy(
            rotate=settings.rotate_refresh_tokens,
            grace=timedelta(seconds=settings.rotation_grace_seconds),
        )
        runtime = Runtime(
            AuthCore(store, tokens, registry, throttle, policy, clients),
            Administration(store, registry, clients),
        )
        if prepare and settings.bootstrap_email:
            created = await runtime.admin.bootstrap(
                settings.bootstrap_email, settings.bootstrap_password
            )
            if created is not None:
                log.info("created bootstrap staff user %s", created.id)
        yield runtime
    finally:
        database.close()
