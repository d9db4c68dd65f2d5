"""Persistence: plain SQL over SQLite (default) or PostgreSQL, Alembic migrations.

Import from the modules themselves (`authgate.store.users`, ...): this file imports nothing,
so that reading the database URL (`database_url`) at start-up does not load the store stack.
"""
