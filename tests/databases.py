"""Throwaway PostgreSQL databases for the suite's PostgreSQL run.

Each run creates its own database (and drops it after), so runs never collide. Under CI=true
an unreachable PostgreSQL fails the run; elsewhere the PostgreSQL half is skipped, loudly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

# The machine's PostgreSQL: trust auth, database `test` (override for other set-ups).
ADMIN_URL = os.environ.get(
    "AUTHGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextmanager
def temporary_postgres_database() -> Iterator[str]:
    """A fresh, empty database; its URL. Dropped afterwards, even if connections linger."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable under CI ({ADMIN_URL}): {error}")
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL}: {error}")
    name = f"authgate_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            info = admin.info
            yield f"postgresql://{info.user}@{info.host}:{info.port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def own_database(database_url: str) -> Iterator[str]:
    """A fresh store of the kind `database_url` names ('' is SQLite in the server's data dir),
    for a server a test starts itself."""
    if not database_url:
        yield ""
        return
    with temporary_postgres_database() as url:
        yield url
