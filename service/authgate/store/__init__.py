"""Persistence: plain SQL over SQLite (default) or PostgreSQL, Alembic migrations."""

from .database import Database
from .refresh_tokens import RefreshTokenRegistry, RegisteredToken, TokenState
from .schema_version import is_current, migrate
from .users import UserStore

__all__ = [
    "Database",
    "RefreshTokenRegistry",
    "RegisteredToken",
    "TokenState",
    "UserStore",
    "is_current",
    "migrate",
]
