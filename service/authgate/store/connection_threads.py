"""Threads that each own one database connection and run whole store operations on it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from authgate.core.errors import AuthError, Reason, unavailable
from authgate.observability.metrics import STORE_ERRORS
from authgate.store.deadlines import Job
from authgate.store.dialects import Dialect
from authgate.store.session import Session

log = logging.getLogger(__name__)

_STOP = object()


class DuplicateRow(AuthError):
    """A write broke a unique constraint. The store that wrote knows what that means (an email
    already taken); anywhere else it is a random id colliding, which a retry mends."""

    def __init__(self) -> None:
        super().__init__(Reason.UNAVAILABLE, "The write collided with another; retry.")


class Abandoned(Exception):
    """The caller stopped waiting before the job committed: it rolled back instead."""


class ConnectionThreads:
    """Daemon threads, each with its own connection, taking jobs from one queue.

    Daemon threads, not an Executor: one stuck on a partitioned network must not keep the
    process from exiting.
    """

    def __init__(self, dialect: Dialect, count: int, role: str) -> None:
        self._dialect = dialect
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"authgate-db-{role}-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        if self._closed:
            raise unavailable()
        self._jobs.put(job)

    def close(self, timeout: float) -> None:
        """Stop every thread once its current job is done; wait `timeout` seconds in all."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(_STOP)
        until = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, until - time.monotonic()))

    def _serve(self) -> None:
        connection: Any = None
        while (job := self._jobs.get()) is not _STOP:
            if job.abandoned:  # the caller gave up while the job waited its turn
                continue
            connection, result, error = self._perform(connection, job)
            job.settle(result, error)
        if connection is not None:
            _close_quietly(connection)

    def _perform(self, connection: Any, job: Job) -> tuple[Any, Any, BaseException | None]:
        """Run the job; the connection to keep (None once unusable), its result or error."""
        reused = connection is not None
        session: Session | None = None
        try:
            if connection is None:
                connection = self._dialect.connect()
            session = Session(connection, self._dialect)
            return connection, self._transact(session, connection, job), None
        except Abandoned as error:
            return connection, None, error
        except Exception as error:
            dialect = self._dialect
            if connection is not None:
                lost = dialect.is_lost(connection)
                if lost or dialect.in_transaction(connection):
                    _close_quietly(connection)  # unusable, or stuck in a transaction
                    connection = None
                    nothing_ran = session is not None and session.statements == 0
                    if lost and reused and nothing_ran and not job.abandoned:
                        # A pooled connection that died while idle (a database restart):
                        # nothing ran, so run the job once more on a new connection.
                        return self._perform(None, job)
            if dialect.is_unique_violation(error):
                duplicate = DuplicateRow()
                duplicate.__cause__ = error
                return connection, None, duplicate
            if not dialect.is_database_error(error):
                return connection, None, error  # ours (an AuthError, or a bug): as it is
            STORE_ERRORS.inc()
            log.warning("store operation failed: %s", error)
            failure = unavailable()
            failure.__cause__ = error
            return connection, None, failure

    def _transact(self, session: Session, connection: Any, job: Job) -> Any:
        if not job.write:
            return job.work(session)
        self._dialect.begin(connection)
        try:
            result = job.work(session)
            if not job.begin_commit():
                raise Abandoned
            connection.execute("COMMIT")
        except BaseException:
            if not self._dialect.is_lost(connection):
                _rollback_quietly(connection)
            raise
        return result


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
