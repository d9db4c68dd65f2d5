"""A new SQLite database gets the newest schema from the committed statements, and that
schema is exactly the one the migrations make."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from authgate.store import fresh_schema
from authgate.store.schema_version import HEAD_REVISION, alembic_upgrade, is_current, migrate
from authgate.store.users import UserStore

from unit_fixtures import PASSWORD, open_database, sqlite_url, user_emails


def migrated_by_alembic(directory: Path, revision: str = "head") -> Path:
    path = directory / "alembic.sqlite3"
    alembic_upgrade(f"sqlite:///{path}", revision)
    return path


def schema_of(path: Path) -> list[tuple[str, str, str, str]]:
    """What a SQLite file holds: (type, name, table, sql) of every object, by name."""
    connection = sqlite3.connect(path)
    rows = connection.execute(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY name"
    ).fetchall()
    connection.close()
    return [tuple(row) for row in rows]


def test_the_committed_statements_are_the_migrations_own() -> None:
    assert fresh_schema.statements() == fresh_schema.migrated_statements(), (
        "migrations/head.sqlite.sql is stale: run `python -m authgate.store.fresh_schema`"
    )


async def test_a_new_database_holds_what_the_migrations_make(tmp_path: Path) -> None:
    async with open_database(sqlite_url(tmp_path)) as database:
        await migrate(database)
        assert await is_current(database)
        await UserStore(database).create_user("ada@example.com", PASSWORD)
        assert await database.read(user_emails) == ["ada@example.com"]

    made = schema_of(tmp_path / "x.sqlite3")
    assert made == schema_of(migrated_by_alembic(tmp_path))
    assert made[0][:3] == ("table", "alembic_version", "alembic_version")


async def test_a_database_with_tables_is_migrated_by_alembic(tmp_path: Path) -> None:
    older = migrated_by_alembic(tmp_path, "0005")
    async with open_database(f"sqlite:///{older}") as database:
        await UserStore(database).create_user("ada@example.com", PASSWORD)
        await migrate(database)

        assert await is_current(database)
        assert await database.read(user_emails) == ["ada@example.com"]
    assert "django_users" in {name for _, name, _, _ in schema_of(older)}


async def test_processes_starting_together_make_the_schema_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with open_database(url) as first, open_database(url) as second:
        await asyncio.gather(migrate(first), migrate(second))

        assert (await is_current(first), await is_current(second)) == (True, True)
    connection = sqlite3.connect(tmp_path / "x.sqlite3")
    stamped = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    assert stamped == [(HEAD_REVISION,)]
