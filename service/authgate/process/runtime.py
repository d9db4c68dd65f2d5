"""Assembling the core from settings: database, migrations, keys, throttle, bootstrap user."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authgate.core import passwords
from authgate.core.admin import Administration
from authgate.core.change_follower import ChangeFollower
from authgate.core.django_refresh import DjangoRefreshTokens
from authgate.core.errors import AuthError
from authgate.core.key_management import KeyManagement
from authgate.core.operations import AuthCore, RefreshPolicy
from authgate.core.subject_states import SubjectStates
from authgate.core.throttle import LoginThrottle
from authgate.core.tokens import TokenCodec
from authgate.core.verified_tokens import VerifiedTokens
from authgate.process.key_setup import open_keys
from authgate.process.settings import Settings
from authgate.store.change_log import prune_changes
from authgate.store.change_tail import tailing
from authgate.store.clients import ClientStore
from authgate.store.database import Database
from authgate.store.django_users import DjangoUserMap
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.schema_version import is_current, migrate
from authgate.store.users import UserStore

log = logging.getLogger(__name__)

# How often a serving process drops change-log rows older than the longest token lifetime.
PRUNE_INTERVAL = 600.0


class SchemaBehind(OSError):
    """Serving on an old schema would fail request by request; refuse to start instead."""


@dataclass(frozen=True)
class Runtime:
    core: AuthCore
    admin: Administration
    keys: KeyManagement


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    prepare: bool = True,
    serving: bool = False,
    caching: bool = False,
    follow_algorithm: bool = False,
) -> AsyncIterator[Runtime]:
    """The core and the operator's actions on a migrated store with loaded (or first-start
    generated) keys; the database connections close on exit.

    `prepare` migrates the store and creates the bootstrap user; a supervisor does that once
    for all its workers, which then open with `prepare=False`. A `serving` process migrates
    in a child, so that Alembic does not stay in its memory. `caching` keeps what the core
    checked in caches and tails the change log to keep them true (a process that serves;
    a command that does one thing and exits reads the store). `follow_algorithm`: a server
    starting stages a key when AUTHGATE_ALGORITHM changed (an operator's command, perhaps run
    with other settings, never does).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(settings.resolved_database_url)
    try:
        if prepare and settings.migrate_on_start:
            await migrate(database, in_child=serving)
        elif not await is_current(database):
            raise SchemaBehind("the database schema is not current: run `authgate migrate` first")
        await passwords.prepare()
        staleness = settings.cache_staleness_ms / 1000 if caching else 0.0
        follower = ChangeFollower(staleness)
        subjects = SubjectStates(follower, settings.cache_entries)
        database.on_commit = follower.forget
        key_ring, key_management = await open_keys(
            settings, database, follower, prepare=prepare, follow_algorithm=follow_algorithm
        )
        tokens = TokenCodec(
            key_ring,
            issuer=settings.issuer,
            audience=settings.audience,
            access_lifetime=settings.access_token_lifetime,
            refresh_lifetime=settings.refresh_token_lifetime,
            verified=VerifiedTokens(follower, settings.cache_entries),
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
        core = AuthCore(
            store,
            tokens,
            registry,
            throttle,
            policy,
            clients,
            subjects,
            jwks_max_age=min(300, settings.key_publish_ahead // 2),
            django_refresh=_django_refresh(settings, database),
        )
        runtime = Runtime(core, Administration(store, registry, clients), key_management)
        if prepare and settings.bootstrap_email:
            created = await runtime.admin.bootstrap(
                settings.bootstrap_email, settings.bootstrap_password
            )
            if created is not None:
                log.info("created bootstrap staff user %s", created.id)
        if staleness <= 0:
            yield runtime
            return
        retention = max(settings.access_token_lifetime, settings.refresh_token_lifetime)
        async with tailing(database, follower), _pruning(database, retention):
            yield runtime
    finally:
        database.close()


def _django_refresh(settings: Settings, database: Database) -> DjangoRefreshTokens | None:
    """Accepting a Django project's simplejwt refresh tokens, when its key is set."""
    if not settings.django_secret_key:
        return None
    return DjangoRefreshTokens(settings.django_secret_key, DjangoUserMap(database))


@contextlib.asynccontextmanager
async def _pruning(database: Database, retention: int) -> AsyncIterator[None]:
    """Drop change-log rows older than `retention` seconds, every PRUNE_INTERVAL."""

    async def prune_forever() -> None:
        while True:
            cutoff = datetime.now(UTC) - timedelta(seconds=retention)
            try:
                await database.write(prune_changes, cutoff)
            except AuthError as error:  # the store is down: the next round tries again
                log.warning("change log: pruning failed: %s", error)
            await asyncio.sleep(PRUNE_INTERVAL)

    task = asyncio.create_task(prune_forever(), name="authgate-change-prune")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
