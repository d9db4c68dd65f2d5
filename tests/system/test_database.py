"""store.Database on SQLite and on a throwaway PostgreSQL database: transactions, failures,
reconnection and the deadline, driven through real connections."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from authgate.core.errors import AuthError, Reason
from authgate.store import deadlines
from authgate.store.database import Database
from authgate.store.dialects import PostgresDialect
from authgate.store.schema_version import MigrationFailed, migrate
from authgate.store.session import Session
from authgate.store.users import UserStore

from databases import temporary_postgres_database
from unit_fixtures import (
    PASSWORD,
    insert_placeholder_user,
    open_database,
    sqlite_url,
    user_emails,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    with temporary_postgres_database() as postgres_url:
        yield postgres_url


@pytest.fixture
async def database(url: str) -> AsyncIterator[Database]:
    """A migrated database on `url`; it closes when the test is over."""
    async with open_database(url) as database:
        await migrate(database)
        yield database


def _insert_then_fail(session: Session, email: str) -> None:
    insert_placeholder_user(session, email)
    raise ValueError("the operation fails after its first write")


async def test_a_write_that_fails_midway_leaves_nothing(database: Database) -> None:
    with pytest.raises(ValueError) as failed:
        await database.write(_insert_then_fail, "half@example.com")

    assert str(failed.value) == "the operation fails after its first write"
    assert await database.read(user_emails) == []


async def test_a_duplicate_email_is_already_exists_and_the_store_still_works(
    database: Database,
) -> None:
    store = UserStore(database)
    await store.create_user("ada@example.com", PASSWORD)
    with pytest.raises(AuthError) as duplicate:
        await store.create_user("ADA@example.com", "another password")
    await store.create_user("bob@example.com", PASSWORD)

    assert duplicate.value.reason is Reason.ALREADY_EXISTS
    assert await database.read(user_emails) == ["ada@example.com", "bob@example.com"]


async def test_a_unique_violation_elsewhere_asks_for_a_retry_and_names_no_email(
    database: Database,
) -> None:
    # Another writer's collision (a random id's, say) is not "that email is taken".
    user_id = await database.write(insert_placeholder_user, "ada@example.com")
    with pytest.raises(AuthError) as collided:
        await database.write(insert_placeholder_user, "bob@example.com", user_id)

    assert collided.value.reason is Reason.UNAVAILABLE
    assert "email" not in collided.value.detail
    assert await database.read(user_emails) == ["ada@example.com"]


async def test_an_sql_error_is_unavailable_and_the_connection_keeps_serving(
    database: Database,
) -> None:
    def broken(session: Session) -> None:
        session.one("SELECT no_such_column FROM users")

    with pytest.raises(AuthError) as failed:
        await database.read(broken)

    assert (failed.value.reason, await UserStore(database).count()) == (Reason.UNAVAILABLE, 0)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """A deadline of 0.3 s, so a test can outwait it."""
    monkeypatch.setattr(deadlines, "OPERATION_DEADLINE", 0.3)
    return 0.3


async def test_an_operation_past_the_deadline_is_unavailable_and_later_ones_are_served(
    database: Database, short_deadline: float
) -> None:
    release = threading.Event()

    def stuck(session: Session) -> str:
        release.wait(10)  # as a query on a partitioned connection would
        return "finished late"

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AuthError) as late:
        await database.read(stuck)
    waited = loop.time() - started
    release.set()
    count = await UserStore(database).count()

    assert late.value.reason is Reason.UNAVAILABLE
    # Answered at the first sweep past the deadline, long before the stuck job's 10 s (the
    # slack is for a loaded machine pausing the test, not for the sweep).
    assert short_deadline <= waited < short_deadline + 2 * deadlines.Deadlines.SWEEP_INTERVAL + 2
    assert count == 0


@pytest.mark.usefixtures("short_deadline")
async def test_a_write_past_the_deadline_rolls_back_instead_of_committing(
    database: Database,
) -> None:
    answered = threading.Event()

    def slow_insert(session: Session) -> None:
        insert_placeholder_user(session, "late@example.com")
        answered.wait(10)  # still inside the transaction when the caller hears 503

    with pytest.raises(AuthError) as late:
        await database.write(slow_insert)
    answered.set()
    # The same (only) writer thread runs this next: the late write is over by then.
    await database.write(insert_placeholder_user, "next@example.com")

    assert late.value.reason is Reason.UNAVAILABLE
    assert await database.read(user_emails) == ["next@example.com"]


@pytest.fixture
async def postgres_database() -> AsyncIterator[Database]:
    """A migrated database on a throwaway PostgreSQL database of the test's own."""
    with temporary_postgres_database() as url:
        async with open_database(url) as database:
            await migrate(database)
            yield database


async def test_connections_killed_while_idle_are_replaced_without_an_error(
    postgres_database: Database,
) -> None:
    database = postgres_database
    threads = PostgresDialect("").readers

    def wait_for_all(session: Session, barrier: threading.Barrier) -> list[str]:
        # Holds its thread until every thread has a job: each uses its own connection.
        barrier.wait(5)
        return user_emails(session)

    async def on_every_thread(database: Database) -> list[list[str]]:
        barrier = threading.Barrier(threads)
        return await asyncio.gather(*(database.read(wait_for_all, barrier) for _ in range(threads)))

    await UserStore(database).create_user("ada@example.com", PASSWORD)
    await on_every_thread(database)
    # Every connection the store holds dies, as when PostgreSQL restarts.
    with psycopg.connect(database.url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"  # not an autovacuum worker
        ).fetchall()
    assert len(killed) == threads
    await asyncio.sleep(0.2)

    assert await on_every_thread(database) == [["ada@example.com"]] * threads


def test_migrating_in_a_child_leaves_alembic_out_of_the_serving_process(tmp_path: Path) -> None:
    # A database with tables in it (a new one gets the schema without Alembic at all).
    older = tmp_path / "x.sqlite3"
    subprocess.run(
        [sys.executable, "-c", _MIGRATE_TO_0005, f"sqlite:///{older}"], check=True, timeout=60
    )
    script = (
        "import asyncio, sys\n"
        "from authgate.store.database import Database\n"
        "from authgate.store.schema_version import is_current, migrate\n"
        "async def main():\n"
        f"    url = {sqlite_url(tmp_path)!r}\n"
        "    database = Database(url)\n"
        "    await migrate(database, in_child=True)\n"
        "    current = await is_current(database)\n"
        "    database.close()\n"
        "    return current\n"
        "current = asyncio.run(main())\n"
        "print(current, 'alembic' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.split() == ["True", "False", "False"], done.stderr


_MIGRATE_TO_0005 = (
    "import sys\n"
    "from authgate.store.schema_version import alembic_upgrade\n"
    "alembic_upgrade(sys.argv[1], '0005')\n"
)


async def test_a_migration_failing_in_the_child_is_one_error(tmp_path: Path) -> None:
    def unknown_revision(session: Session) -> None:
        session.run("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        session.run("INSERT INTO alembic_version VALUES ('9999')")

    async with open_database(sqlite_url(tmp_path)) as database:
        await database.write(unknown_revision)

        with pytest.raises(MigrationFailed, match="exit code 1"):
            await migrate(database, in_child=True)


async def test_ping_of_unreachable_postgresql_is_unavailable() -> None:
    database = Database("postgresql://nobody@127.0.0.1:1/x")  # port 1: connection refused
    try:
        with pytest.raises(AuthError) as caught:
            await UserStore(database).ping()
    finally:
        database.close()

    assert caught.value.reason is Reason.UNAVAILABLE
