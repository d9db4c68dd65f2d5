"""The tables, in SQLAlchemy Core. Alembic migrations create them; this mirrors the head."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, MetaData, String, Table

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(26), primary_key=True),
    # Stored normalized (trimmed, lower case), so the unique index is case-insensitive.
    Column("email", String(254), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login", DateTime(timezone=True), nullable=True),
    Index("users_email_key", "email", unique=True),
)
