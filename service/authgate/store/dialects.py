"""What differs between SQLite and PostgreSQL: connecting, placeholders, time values, errors.

Store operations are written once, as plain SQL with `:name` placeholders over a DBAPI
connection; a dialect adapts them to its driver.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from authgate.store.database_url import parse_database_url
from authgate.store.deadlines import OPERATION_DEADLINE


class Dialect(Protocol):
    name: str
    # How many connections (one thread each) serve reads, and how many writes; None: the
    # readers' threads write too.
    readers: int
    writers: int | None
    # One row whose first column is not NULL if the table `:name` exists.
    table_exists_sql: str
    # The change log (store/change_log.py): a statement that orders appenders by commit, one
    # that announces a new `:seq` at commit, and the channel it is announced on; empty where
    # the database needs none (SQLite: one writer at a time, read by polling).
    change_log_lock_sql: str
    change_notify_sql: str
    change_channel: str

    def connect(self) -> Any: ...

    def sql(self, statement: str) -> str: ...

    def to_db_time(self, value: datetime) -> Any: ...

    def from_db_time(self, value: Any) -> datetime: ...

    def begin(self, connection: Any) -> None: ...

    def is_unique_violation(self, error: BaseException) -> bool: ...

    def is_database_error(self, error: BaseException) -> bool: ...

    def is_lost(self, connection: Any) -> bool: ...

    def in_transaction(self, connection: Any) -> bool: ...


def dialect_for(url: str) -> Dialect:
    parsed = parse_database_url(url)
    if parsed.backend == "sqlite":
        return SqliteDialect(parsed.target)
    return PostgresDialect(parsed.target)


# SQLAlchemy's SQLite DATETIME format, which the tables were first written with: UTC wall
# time, always with microseconds, so text comparison orders it correctly.
def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass
class SqliteDialect:
    path: str
    name: str = "sqlite"
    # SQLite has one writer at a time: one writing connection, and one for reads, which WAL
    # never makes wait for the writer.
    readers: int = 1
    writers: int | None = 1
    table_exists_sql: str = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
    change_log_lock_sql: str = ""
    change_notify_sql: str = ""
    change_channel: str = ""

    def connect(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Autocommit; writes open their own `BEGIN IMMEDIATE`. Each connection stays on its
        # own thread, and `check_same_thread=False` only lets close() run from another.
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # WAL: readers never wait for the writer; a crash mid-write rolls back cleanly.
        _enter_wal(connection)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def sql(self, statement: str) -> str:
        return statement  # sqlite3 takes `:name` as it is

    def to_db_time(self, value: datetime) -> str:
        return _sqlite_time(value)

    def from_db_time(self, value: Any) -> datetime:
        # Naming the offset in the text is several times faster than .replace(tzinfo=UTC).
        return datetime.fromisoformat(value + "+00:00")

    def begin(self, connection: Any) -> None:
        # IMMEDIATE takes the write lock now, so busy_timeout applies; a deferred transaction
        # that upgrades from read to write fails at once when another process writes.
        connection.execute("BEGIN IMMEDIATE")

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and str(error).startswith("UNIQUE")

    def is_database_error(self, error: BaseException) -> bool:
        # OSError: the data directory could not be created or opened.
        return isinstance(error, sqlite3.Error | OSError)

    def is_lost(self, connection: Any) -> bool:
        return False  # a file does not drop its connections

    def in_transaction(self, connection: Any) -> bool:
        return bool(connection.in_transaction)


# `:name` placeholders, but not the `::` of a cast. (Our SQL has no string literals, where a
# `:word` would be rewritten too.)
_PLACEHOLDER = re.compile(r"(?<![:\w]):(\w+)")


# The change log's lock ("CHNG") and the channel its new rows are announced on.
_CHANGE_LOG_LOCK = 0x43484E47
CHANGE_CHANNEL = "authgate_changes"


@dataclass
class PostgresDialect:
    url: str
    name: str = "postgresql"
    # Queries wait on the network with the GIL released, so several run at once.
    readers: int = 10
    writers: int | None = None
    table_exists_sql: str = "SELECT to_regclass(:name)"
    change_log_lock_sql: str = f"SELECT pg_advisory_xact_lock({_CHANGE_LOG_LOCK})"
    change_notify_sql: str = f"SELECT pg_notify('{CHANGE_CHANNEL}', :seq)"
    change_channel: str = CHANGE_CHANNEL
    _statements: dict[str, str] = field(default_factory=dict, repr=False)

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.url,
            autocommit=True,  # a read is one round trip; writes open their own BEGIN
            # Bounded waits: an unreachable or stuck database answers 503 in seconds.
            connect_timeout=3,
            options="-c statement_timeout=5000 -c TimeZone=UTC",
            # A connection whose peer vanished fails within seconds instead of TCP's
            # minutes, so its thread is free again for a fresh one.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            # Unacknowledged for as long as a caller may wait: the connection is gone.
            tcp_user_timeout=int(OPERATION_DEADLINE * 1000),
        )

    def sql(self, statement: str) -> str:
        translated = self._statements.get(statement)
        if translated is None:
            translated = _PLACEHOLDER.sub(r"%(\1)s", statement.replace("%", "%%"))
            self._statements[statement] = translated
        return translated

    def to_db_time(self, value: datetime) -> datetime:
        return value

    def from_db_time(self, value: Any) -> datetime:
        stamp: datetime = value  # timestamptz, in the session's UTC
        return stamp

    def begin(self, connection: Any) -> None:
        connection.execute("BEGIN")

    def is_unique_violation(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, psycopg.errors.UniqueViolation)

    def is_database_error(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, psycopg.Error | OSError)

    def is_lost(self, connection: Any) -> bool:
        return bool(connection.closed or connection.broken)

    def in_transaction(self, connection: Any) -> bool:
        import psycopg

        return bool(connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


# How long a connection keeps trying to put a new database file into WAL mode.
_WAL_RETRY_SECONDS = 5.0


def _enter_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode (the mode stays with the file). Two connections opening a new
    file at once may both try, and SQLite answers one "database is locked" at once, without
    its busy handler (the two would deadlock otherwise): that one tries again, and finds the
    mode set (processes starting together on a new database, about 1 in 7 here)."""
    deadline = time.monotonic() + _WAL_RETRY_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
