"""Which migration the database is at, and bringing it to the newest (Alembic).

Checking is one query. Alembic and SQLAlchemy (0.35 s and ~30 MB to import) load only when
a migration actually runs, so a server starting on a current schema never imports them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from typing import Any

from authgate.store import fresh_schema
from authgate.store.database import Database
from authgate.store.database_url import parse_database_url
from authgate.store.session import Session

# The newest revision in migrations/versions (tests/unit/test_store.py holds the two equal).
HEAD_REVISION = "0006"

# Replicas starting together must not migrate together: PostgreSQL serializes them on this
# transaction-scoped advisory lock (SQLite serializes writers by itself).
_MIGRATION_LOCK = 0x41555448  # "AUTH"


async def is_current(database: Database) -> bool:
    """Whether the schema is at the newest migration (for deployments that migrate apart)."""
    return await database.read(_revision) == HEAD_REVISION


class MigrationFailed(OSError):
    """The migration stopped part-way (its transaction rolled back); the reason is logged."""


async def migrate(database: Database, *, in_child: bool = False) -> None:
    """Bring the database's schema to the newest migration (idempotent); a new SQLite
    database gets the newest schema at once (store/fresh_schema.py).

    `in_child` runs Alembic in a short-lived process: a server that migrated in-process
    would keep Alembic and SQLAlchemy (about 25 MB) imported for as long as it serves.
    """
    if await is_current(database):
        return
    if database.dialect.name == "sqlite":
        await database.write(fresh_schema.create, HEAD_REVISION)
        if await is_current(database):  # made now, or by a process starting with this one
            return
    await asyncio.to_thread(_upgrade_in_child if in_child else alembic_upgrade, database.url)


def _upgrade_in_child(url: str) -> None:
    child = multiprocessing.get_context("spawn").Process(
        target=_upgrade_and_exit, args=(url,), name="authgate-migrate"
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise MigrationFailed(f"the database migration failed (exit code {child.exitcode})")


def _upgrade_and_exit(url: str) -> None:
    try:
        alembic_upgrade(url)
    except Exception as error:  # one line for the operator, as every CLI error
        print(f"authgate: migration failed: {error}", file=sys.stderr)
        sys.exit(1)


def _revision(session: Session) -> str | None:
    if not session.table_exists("alembic_version"):
        return None
    row = session.one("SELECT version_num FROM alembic_version")
    return None if row is None else str(row[0])


def alembic_upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations up to `revision` (Alembic and SQLAlchemy are imported here)."""
    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(parse_database_url(url).for_sqlalchemy, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "authgate.store:migrations")
    return config
