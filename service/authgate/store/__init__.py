"""Persistence: SQLAlchemy Core over SQLite (default) or PostgreSQL, Alembic migrations."""

from .database import create_engine, migrate
from .users import UserStore

__all__ = ["UserStore", "create_engine", "migrate"]
