"""Persistence: SQLAlchemy Core over SQLite (default) or PostgreSQL, Alembic migrations."""

from .database import create_engine, is_current, migrate
from .refresh_tokens import RefreshTokenRegistry, RegisteredToken, TokenState
from .users import UserStore

__all__ = [
    "RefreshTokenRegistry",
    "RegisteredToken",
    "TokenState",
    "UserStore",
    "create_engine",
    "is_current",
    "migrate",
]
