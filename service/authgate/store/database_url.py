"""The one reading of AUTHGATE_DATABASE_URL: a SQLite file, or a PostgreSQL server.

Outside the store package on purpose: settings check the URL with it at start-up without
importing the store stack (which `serve --workers N` leaves to its workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DatabaseUrl:
    backend: Literal["sqlite", "postgresql"]
    # SQLite: the file's path. PostgreSQL: a libpq URI, `postgresql://…`.
    target: str

    @property
    def for_sqlalchemy(self) -> str:
        """The same database, with the sync driver Alembic migrates through."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.target}"
        return self.target.replace("postgresql://", "postgresql+psycopg://", 1)


def parse_database_url(url: str) -> DatabaseUrl:
    """`sqlite:///path` or `postgresql://…` (a `+driver` suffix in the scheme is ignored)."""
    scheme, _, rest = url.partition("://")
    backend = scheme.split("+", 1)[0]
    if backend == "sqlite":
        path = rest.removeprefix("/")
        if path in ("", ":memory:"):
            # Each connection would get its own empty database, and restarts lose every user.
            raise ValueError("an in-memory SQLite database is not supported: name a file")
        return DatabaseUrl("sqlite", path)
    if backend in ("postgresql", "postgres"):
        return DatabaseUrl("postgresql", f"postgresql://{rest}")
    raise ValueError(f"unsupported scheme {scheme!r}: use sqlite:///PATH or postgresql://…")
