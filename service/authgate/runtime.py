"""Assembling the core from settings: database, migrations, keys, bootstrap user."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from . import keys
from .core import AuthCore
from .settings import Settings
from .store import UserStore, create_engine, migrate
from .tokens import TokenCodec

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[AuthCore]:
    """An AuthCore on a migrated store with loaded (or first-start generated) keys."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        key_set = keys.load_or_create(settings.data_dir, settings.algorithm)
        tokens = TokenCodec(
            key_set,
            issuer=settings.issuer,
            audience=settings.audience,
            access_lifetime=settings.access_token_lifetime,
            refresh_lifetime=settings.refresh_token_lifetime,
        )
        core = AuthCore(UserStore(engine), tokens)
        if settings.bootstrap_email:
            created = await core.bootstrap(settings.bootstrap_email, settings.bootstrap_password)
            if created is not None:
                log.info("created bootstrap staff user %s", created.id)
        yield core
    finally:
        await engine.dispose()
