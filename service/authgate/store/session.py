"""One store operation's view of its connection: `:name` SQL in, tuples out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from authgate.store.dialects import Dialect

Row = tuple[Any, ...]


class Session:
    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self.dialect = dialect
        self.statements = 0  # statements completed: none means a retry cannot repeat a write
        # Subjects whose change-log rows this operation appended: once it commits, this
        # process forgets what it cached of them at once (store/change_log.py).
        self.changed_subjects: list[str] = []

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        row: Row | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        rows: list[Row] = self._execute(sql, params).fetchall()
        return rows

    def table_exists(self, name: str) -> bool:
        row = self.one(self.dialect.table_exists_sql, {"name": name})
        return row is not None and row[0] is not None

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Execute a write; the number of rows it touched."""
        return int(self._execute(sql, params).rowcount)

    def run_many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute a write once per row of parameters (psycopg pipelines them: one round trip)."""
        if rows:
            self._connection.cursor().executemany(self.dialect.sql(sql), rows)
            self.statements += 1

    def to_db_time(self, value: datetime) -> Any:
        return self.dialect.to_db_time(value)

    def from_db_time(self, value: Any) -> Any:
        """The stored time as an aware UTC datetime; None stays None."""
        return None if value is None else self.dialect.from_db_time(value)

    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        cursor = self._connection.execute(self.dialect.sql(sql), params or {})
        self.statements += 1
        return cursor
