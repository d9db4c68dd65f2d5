"""The database: each store operation runs whole in one trip to a thread owning a connection.

An operation is a plain function over a `Session` (a few SQL statements). Running it whole on
one thread costs one hand-off each way, however many statements it makes; an asyncio driver
hands off every cursor call (SQLite through aiosqlite: five thread hops per lookup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..errors import AuthError, Reason, unavailable
from ..metrics import STORE_ERRORS
from .dialects import Dialect, dialect_for

log = logging.getLogger(__name__)

# No database call keeps a request waiting longer than this, whatever the network does:
# connect_timeout and statement_timeout cover a dead server, but not a partition that swallows
# packets on an open connection (its queries wait on TCP for minutes).
OPERATION_DEADLINE = 6.0

Params = ParamSpec("Params")
Result = TypeVar("Result")
Row = tuple[Any, ...]


class Session:
    """One operation's view of a connection: `:name` SQL in, tuples out."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect
        self.statements = 0  # statements completed: none means a retry cannot repeat a write

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        row: Row | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        rows: list[Row] = self._execute(sql, params).fetchall()
        return rows

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Execute a write; the number of rows it touched."""
        return int(self._execute(sql, params).rowcount)

    @property
    def dialect_name(self) -> str:
        return self._dialect.name

    def to_db_time(self, value: Any) -> Any:
        return None if value is None else self._dialect.to_db_time(value)

    def from_db_time(self, value: Any) -> Any:
        return None if value is None else self._dialect.from_db_time(value)

    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        cursor = self._connection.execute(self._dialect.sql(sql), params or {})
        self.statements += 1
        return cursor


Operation = Callable[Concatenate[Session, Params], Result]


class Database:
    def __init__(self, url: str) -> None:
        self.dialect = dialect_for(url)
        self._readers = _ConnectionThreads(self.dialect, self.dialect.readers, "reader")
        writers = self.dialect.writers
        self._writers = (
            self._readers
            if writers is None
            else _ConnectionThreads(self.dialect, writers, "writer")
        )
        self._deadlines = _Deadlines()

    async def read(
        self, operation: Operation[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        return await self._run(self._readers, False, operation, *args, **kwargs)

    async def write(
        self, operation: Operation[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        """Run `operation` in one transaction: all of its writes, or none."""
        return await self._run(self._writers, True, operation, *args, **kwargs)

    async def _run(
        self,
        threads: _ConnectionThreads,
        write: bool,
        operation: Operation[Params, Result],
        *args: Any,
        **kwargs: Any,
    ) -> Result:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Result] = loop.create_future()
        threads.submit(_Job(loop, outcome, write, lambda s: operation(s, *args, **kwargs)))
        self._deadlines.watch(loop, outcome)
        try:
            return await outcome
        finally:
            self._deadlines.forget(outcome)

    def close(self) -> None:
        self._readers.close()
        if self._writers is not self._readers:
            self._writers.close()


class _Deadlines:
    """Answers 503 for every operation still running OPERATION_DEADLINE seconds after it
    started. The work itself finishes (or its transaction rolls back) on its thread.

    One sweep every SWEEP_INTERVAL while operations run, not a timer per operation: the
    deadline is a backstop, and a timer per call costs as much as the call's own hand-off.
    """

    SWEEP_INTERVAL = 0.25

    def __init__(self) -> None:
        self._running: dict[asyncio.Future[Any], float] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, loop: asyncio.AbstractEventLoop, outcome: asyncio.Future[Any]) -> None:
        self._running[outcome] = loop.time() + OPERATION_DEADLINE
        if self._sweep is None or self._loop is not loop:
            self._loop = loop
            self._sweep = loop.call_later(self.SWEEP_INTERVAL, self._expire, loop)

    def forget(self, outcome: asyncio.Future[Any]) -> None:
        self._running.pop(outcome, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for outcome, deadline in list(self._running.items()):
            if deadline <= now:
                del self._running[outcome]
                if not outcome.done():
                    STORE_ERRORS.inc()
                    outcome.set_exception(unavailable())
        self._sweep = (
            loop.call_later(self.SWEEP_INTERVAL, self._expire, loop) if self._running else None
        )


class _Job:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        outcome: asyncio.Future[Any],
        write: bool,
        work: Callable[[Session], Any],
    ) -> None:
        self.loop, self.outcome, self.write, self.work = loop, outcome, write, work

    def settle(self, result: Any, error: BaseException | None) -> None:
        # RuntimeError: the loop has closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.outcome, result, error)


def _settle(outcome: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if outcome.done():  # timed out or cancelled meanwhile
        return
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(result)


_STOP = object()


class _ConnectionThreads:
    """Daemon threads, each with its own connection, taking jobs from one queue.

    Daemon threads, not an Executor: one stuck on a partitioned network must not keep the
    process from exiting.
    """

    def __init__(self, dialect: Dialect, count: int, role: str) -> None:
        self._dialect = dialect
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"authgate-db-{role}-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=1)

    def _serve(self) -> None:
        connection: Any = None
        while (job := self._jobs.get()) is not _STOP:
            if job.outcome.done():  # the caller gave up while the job waited its turn
                continue
            connection, result, error = self._perform(connection, job)
            job.settle(result, error)
        if connection is not None:
            connection.close()

    def _perform(self, connection: Any, job: _Job) -> tuple[Any, Any, BaseException | None]:
        """Run the job; the connection to keep (None once it is lost), its result or error."""
        reused = connection is not None
        session: Session | None = None
        try:
            if connection is None:
                connection = self._dialect.connect()
            session = Session(connection, self._dialect)
            return connection, self._transact(session, connection, job.write, job.work), None
        except Exception as error:
            if connection is not None and self._dialect.is_lost(connection):
                _close_quietly(connection)
                if reused and session is not None and session.statements == 0:
                    # A pooled connection that died while idle (a database restart):
                    # nothing ran, so run the job once more on a new connection.
                    return self._perform(None, job)
                connection = None
            if self._dialect.is_integrity_error(error):
                return connection, None, _already_exists(error)
            if not self._dialect.is_database_error(error):
                return connection, None, error  # ours (an AuthError, or a bug): as it is
            STORE_ERRORS.inc()
            log.warning("store operation failed: %s", error)
            return connection, None, _unavailable_from(error)

    def _transact(
        self, session: Session, connection: Any, write: bool, work: Callable[[Session], Any]
    ) -> Any:
        if not write:
            return work(session)
        self._dialect.begin(connection)
        try:
            result = work(session)
            connection.execute("COMMIT")
        except BaseException:
            if not self._dialect.is_lost(connection):
                _rollback_quietly(connection)
            raise
        return result


def _already_exists(error: BaseException) -> AuthError:
    failure = AuthError(Reason.ALREADY_EXISTS, "A user with that email already exists.")
    failure.__cause__ = error
    return failure


def _unavailable_from(error: BaseException) -> AuthError:
    failure = unavailable()
    failure.__cause__ = error
    return failure


def _rollback_quietly(connection: Any) -> None:
    try:
        connection.execute("ROLLBACK")
    except Exception:  # the connection is failing already; the error that matters is raised
        log.debug("rollback failed", exc_info=True)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # closing a broken connection may fail; it is dropped anyway
        log.debug("close failed", exc_info=True)
