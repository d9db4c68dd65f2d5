"""Engine creation and migrations: SQLite by default, PostgreSQL by URL, same code."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import AuthError, Reason, unavailable
from ..metrics import STORE_ERRORS

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def async_url(url: str) -> str:
    """Pick the asyncio driver for a plain `sqlite:///…` or `postgresql://…` URL."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a connection that died while idle is replaced, not handed out
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        # Bounded waits: an unreachable or stuck database answers 503 in seconds, not never.
        connect_args={"connect_timeout": 3, "options": "-c statement_timeout=5000"},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer; a crash mid-write rolls back cleanly.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "authgate.store:migrations")
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


# Replicas starting together must not migrate together: PostgreSQL serializes them on this
# transaction-scoped advisory lock (SQLite serializes writers by itself).
_MIGRATION_LOCK = 0x41555448  # "AUTH"


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


# No database call outlives this, whatever the network does: connect_timeout and
# statement_timeout cover a dead server, but not a partition that swallows packets on a pooled
# connection (its ping and queries wait on TCP for minutes).
OPERATION_DEADLINE = 6.0

Result = TypeVar("Result")


def bounded(
    operation: Callable[..., Coroutine[Any, Any, Result]],
) -> Callable[..., Coroutine[Any, Any, Result]]:
    """Answer 503 after OPERATION_DEADLINE seconds; the abandoned work is cancelled in the
    background (its transaction rolls back), since the driver's own cancellation may wait on
    the same lost network."""

    @functools.wraps(operation)
    async def within_deadline(*args: Any, **kwargs: Any) -> Result:
        task = asyncio.ensure_future(operation(*args, **kwargs))
        try:
            done, _ = await asyncio.wait({task}, timeout=OPERATION_DEADLINE)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done:
            return task.result()
        task.cancel()
        task.add_done_callback(_discard_outcome)
        STORE_ERRORS.inc()
        raise unavailable()

    return within_deadline


def _discard_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


@asynccontextmanager
async def connect(engine: AsyncEngine, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
    """A connection (a transaction when writing); database failures become AuthErrors."""
    try:
        if write:
            async with engine.begin() as connection:
                yield connection
        else:
            async with engine.connect() as connection:
                yield connection
    except exc.IntegrityError as error:
        raise AuthError(Reason.ALREADY_EXISTS, "A user with that email already exists.") from error
    except (exc.DBAPIError, exc.InterfaceError, OSError, TimeoutError) as error:
        STORE_ERRORS.inc()
        raise unavailable() from error


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the schema is at the newest migration (for deployments that migrate apart)."""
    async with engine.connect() as connection:
        return bool(await connection.run_sync(_at_head))


def _at_head(connection: Connection) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(connection).get_current_revision() == head
