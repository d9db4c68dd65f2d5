"""Filler users in bulk, straight into a migrated store: no argon2 (a placeholder hash).

As tests/unit_fixtures.py insert_users: ids from authgate.core.users.new_user_id (ULIDs, so
they sort in insertion order), the `users` table of authgate.store.schema. A million rows take
seconds: one prepared INSERT run over a generator in SQLite, COPY in PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.dialects import sqlite

from authgate.core.users import new_user_id
from authgate.store.schema import users

PLACEHOLDER_HASH = "$bench$not-a-password-hash"
CHUNK = 50_000


def _rows(start: int, count: int, created: Any) -> Iterator[dict[str, Any]]:
    for n in range(start, start + count):
        yield {
            "id": new_user_id(),
            "email": f"filler{n}@example.com",
            "password_hash": PLACEHOLDER_HASH,
            "is_active": True,
            "is_staff": False,
            "created_at": created,
            "last_login": None,
            "token_version": 0,
        }


def insert_sqlite(database: Path, start: int, count: int) -> None:
    """`count` users into AuthGate's SQLite file (WAL: a running server keeps serving)."""
    dialect = sqlite.dialect()
    compiled = users.insert().compile(dialect=dialect)
    names = list(compiled.positiontup or ())
    # The exact text SQLAlchemy stores for a DateTime on SQLite.
    created = sqlite.DATETIME().bind_processor(dialect)(datetime.now(UTC).replace(tzinfo=None))  # type: ignore[misc]
    rows = ([row[name] for name in names] for row in _rows(start, count, created))
    connection = sqlite3.connect(database, timeout=30)
    try:
        connection.execute("PRAGMA synchronous=OFF")  # this connection only; filler is disposable
        while chunk := list(islice(rows, CHUNK)):
            with connection:
                connection.executemany(str(compiled), chunk)
    finally:
        connection.close()


def middle_id_sqlite(database: Path) -> tuple[str, int, str]:
    connection = sqlite3.connect(database, timeout=30)
    try:
        (total,) = connection.execute("SELECT count(*) FROM users").fetchone()
        (middle,) = connection.execute(
            "SELECT id FROM users ORDER BY id LIMIT 1 OFFSET ?", (total // 2,)
        ).fetchone()
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM users WHERE id > ? ORDER BY id LIMIT 51", (middle,)
        ).fetchall()
    finally:
        connection.close()
    return middle, total, " / ".join(str(row[-1]) for row in plan)


def insert_postgres(url: str, start: int, count: int) -> None:
    created = datetime.now(UTC)
    columns = [column.name for column in users.columns]
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY users ({', '.join(columns)}) FROM STDIN") as copy:
            for row in _rows(start, count, created):
                copy.write_row([row[name] for name in columns])
        cursor.execute("ANALYZE users")


def middle_id_postgres(url: str) -> tuple[str, int, str]:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        total = cursor.execute("SELECT count(*) FROM users").fetchone()[0]  # type: ignore[index]
        middle = cursor.execute(
            "SELECT id FROM users ORDER BY id LIMIT 1 OFFSET %s", (total // 2,)
        ).fetchone()[0]  # type: ignore[index]
        plan = cursor.execute(
            "EXPLAIN SELECT * FROM users WHERE id > %s ORDER BY id LIMIT 51", (middle,)
        ).fetchall()
    return middle, total, " / ".join(row[0].strip() for row in plan[:2])


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
