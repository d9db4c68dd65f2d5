"""A new SQLite database gets the newest schema in one transaction, without Alembic.

Running the migrations on the first start cost about 0.5 s here (a child process importing
Alembic and SQLAlchemy, then six migrations): half of `authgate serve`'s first start. The
schema they leave is kept in `migrations/head.sqlite.sql`, statement by statement, and a new,
empty database gets those statements and the head revision instead (Alembic's cookbook way:
"build an up-to-date database from scratch", then stamp it). A database with any table in it
is migrated by Alembic as before.

`python -m authgate.store.fresh_schema` writes the file again from the migrations; a test
fails when it does not describe what they make.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from authgate.store.session import Session

SNAPSHOT = Path(__file__).with_name("migrations") / "head.sqlite.sql"
_SEPARATOR = ";\n\n"


def fits(session: Session) -> bool:
    """Whether this is a SQLite database with nothing in it yet."""
    if session.dialect.name != "sqlite":
        return False
    row = session.one("SELECT count(*) FROM sqlite_master")
    return row is not None and row[0] == 0


def create(session: Session, revision: str) -> bool:
    """Create the newest schema, stamped `revision`, if the database is still empty (checked
    in this write transaction: another process may have made it since); whether it did."""
    if not fits(session):
        return False
    for statement in statements():
        session.run(statement)
    stamp = "INSERT INTO alembic_version (version_num) VALUES (:revision)"
    session.run(stamp, {"revision": revision})
    return True


def statements() -> list[str]:
    """The file's statements, without its header comment."""
    text = "\n".join(line for line in SNAPSHOT.read_text().split("\n") if not line.startswith("--"))
    return [statement for statement in text.split(_SEPARATOR) if statement.strip()]


def migrated_statements() -> list[str]:
    """The statements that make what the migrations make, in the order they made it (SQLite's
    own objects and automatic indexes come with their tables)."""
    from authgate.store.schema_version import alembic_upgrade

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "migrated.sqlite3"
        alembic_upgrade(f"sqlite:///{path}")
        with sqlite3.connect(path) as connection:
            rows = connection.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
                " AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            ).fetchall()
        connection.close()
    return [str(row[0]) for row in rows]


if __name__ == "__main__":
    SNAPSHOT.write_text(
        "-- Written by `python -m authgate.store.fresh_schema` from the migrations; do not edit.\n"
        + _SEPARATOR.join(migrated_statements())
        + _SEPARATOR
    )
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
